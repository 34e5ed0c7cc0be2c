"""The slice viewer's three-view layout in headless Chromium, issue 13 (Build, Viewer): axial,
coronal and sagittal views of one panel with a linked crosshair, the readout at the crosshair
voxel, the overlay in every view, the physical aspect ratio, the layout kept as a setting
(tests/apps/viewer_demo_app.py). References are the test's own numpy arrays."""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest

import components.slice_viewer as slice_viewer_module
from livseg.render import LIVER_RGB, TUMOUR_RGB
from tests.browser_utils import launch_browser, streamlit_server, wait_viewer_opened

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
from viewer_synthetic import synthetic_case  # noqa: E402

pytestmark = pytest.mark.e2e

APP = Path(__file__).resolve().parent / "apps" / "viewer_demo_app.py"
SHAPE = (96, 80, 24)
SPACING = (0.75, 0.75, 5.0)  # mm: 5 mm slices, the coronal view is 120 mm high, 72 mm wide
ROOT = "document.querySelector('[data-testid=stBidiComponentIsolated]').shadowRoot"
VIEW3 = ROOT + ".querySelector('canvas.lsv-view3[data-view=' + JSON.stringify(v) + ']')"


@pytest.fixture(scope="module")
def case():
    hu, labels = synthetic_case(SHAPE)
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16), labels


@pytest.fixture(scope="module")
def page_url():
    env = {
        "LSV_SHAPE": ",".join(map(str, SHAPE)),
        "LSV_SPACING": ",".join(map(str, SPACING)),
        "LSV_HEIGHT": "760",
    }
    with streamlit_server(APP, env) as url:
        yield url


def _view_slice(page, view: str) -> int:
    return int(page.evaluate(f"v => {VIEW3}.dataset.slice", view))


def _pixel(page, view: str, col: float, row: float, w: int, h: int) -> list[int]:
    """RGBA of the view's canvas at the centre of image pixel (col, row) of a w x h image."""
    return page.evaluate(
        f"""([v, col, row, w, h]) => {{
            const cv = {VIEW3};
            const x = Math.floor((col + 0.5) * cv.width / w), y = Math.floor((row + 0.5) * cv.height / h);
            return Array.from(cv.getContext('2d').getImageData(x, y, 1, 1).data);
        }}""",
        [view, col, row, w, h],
    )


def _grey(hu: np.ndarray, width: float, level: float) -> np.ndarray:
    """The viewer's window: 0-255, truncated (its look-up table is a Uint8Array)."""
    lo = level - width / 2
    return np.floor(np.clip((hu.astype(np.float64) - lo) / width * 255, 0, 255))


def _median_ms(page, expr: str) -> float | None:
    values = page.evaluate(expr)
    return round(statistics.median(values), 1) if values else None


def test_three_views_link_the_crosshair_readout_overlay_and_aspect(case, page_url):
    hu, labels = case
    nx, ny, nz = SHAPE
    flip = bool(slice_viewer_module.FLIP_X)
    with launch_browser() as browser:
        context = browser.new_context(viewport={"width": 1300, "height": 950})
        page = context.new_page()
        page.goto(f"{page_url}/?reader=r-three")
        wait_viewer_opened(page)
        page.locator("canvas.lsv-canvas").first.click()
        page.keyboard.press("x")  # three views
        page.wait_for_function(f"v => {VIEW3} && {VIEW3}.offsetWidth > 0", arg="coronal")
        k = _view_slice(page, "axial")
        assert k == nz // 2  # the axial slice is kept
        # a liver voxel off the tumour, on the axial slice on screen
        cand = np.argwhere(labels[:, :, k] == 1)
        i, j = (int(v) for v in cand[len(cand) // 3])
        axial = page.locator("canvas.lsv-view3[data-view=axial]")
        bb = axial.bounding_box()
        col = (nx - 1 - i) if flip else i
        axial.click(
            position={
                "x": (col + 0.5) / nx * bb["width"],
                "y": (ny - 1 - j + 0.5) / ny * bb["height"],
            }
        )
        page.wait_for_function(
            f"([v, s]) => {VIEW3}.dataset.slice === String(s)", arg=["coronal", j]
        )
        assert _view_slice(page, "sagittal") == i
        assert _view_slice(page, "axial") == k
        status = page.locator(".lsv-status")
        assert status.get_attribute("data-voxel") == f"{i},{j},{k}"
        assert int(status.get_attribute("data-hu")) == hu[i, j, k]
        assert "liver" in status.inner_text()

        # the coronal view (slice j): grey per the window where no label, the overlay colour
        # blended at the toolbar's opacity where the label is set (bilinear CT: tolerance by
        # the voxel's 3x3 neighbourhood)
        width = float(page.locator("input.lsv-num").nth(0).input_value())
        level = float(page.locator("input.lsv-num").nth(1).input_value())
        alpha = float(page.locator("input.lsv-range").input_value())
        plane = hu[:, j, :]
        grey = _grey(plane, width, level)
        rng = np.random.default_rng(3)
        checked = {0: 0, 1: 0, 2: 0}
        errors = []
        for _ in range(400):
            i2, k2 = int(rng.integers(1, nx - 1)), int(rng.integers(1, nz - 1))
            if abs(i2 - i) < 2 or k2 == k:  # off the crosshair lines
                continue
            lab = int(labels[i2, j, k2])
            if checked[lab] >= 25 or np.ptp(labels[i2 - 1 : i2 + 2, j, k2 - 1 : k2 + 2]):
                continue
            near = grey[i2 - 1 : i2 + 2, k2 - 1 : k2 + 2]
            spread = float(near.max() - near.min())
            if spread > 40:
                continue
            col2 = (nx - 1 - i2) if flip else i2
            rgba = _pixel(page, "coronal", col2, nz - 1 - k2, nx, nz)
            g = grey[i2, k2]
            colour = {0: (g, g, g), 1: LIVER_RGB, 2: TUMOUR_RGB}[lab]
            expected = [g * (1 - alpha) + c * alpha if lab else g for c in colour]
            tol = (1 - alpha if lab else 1) * (spread / 2) + 3
            err = max(abs(a - b) for a, b in zip(rgba[:3], expected, strict=True))
            assert err <= tol, (i2, k2, lab, rgba, expected)
            errors.append(err)
            checked[lab] += 1
        assert checked[0] >= 10 and checked[1] >= 10, checked
        assert statistics.median(errors) <= 3

        # physical aspect: height / width = (nz * sz) / (nx * sx)
        cb = page.locator("canvas.lsv-view3[data-view=coronal]").bounding_box()
        ratio = (nz * SPACING[2]) / (nx * SPACING[0])
        assert abs(cb["height"] - cb["width"] * ratio) <= 2, (cb, ratio)
        sb = page.locator("canvas.lsv-view3[data-view=sagittal]").bounding_box()
        assert abs(sb["height"] - sb["width"] * (nz * SPACING[2]) / (ny * SPACING[1])) <= 2

        # a click in the sagittal view moves y and z: axial and coronal follow
        sag = page.locator("canvas.lsv-view3[data-view=sagittal]")
        j3, k3 = 20, 5
        sag.click(
            position={
                "x": (ny - 1 - j3 + 0.5) / ny * sb["width"],
                "y": (nz - 1 - k3 + 0.5) / nz * sb["height"],
            }
        )
        page.wait_for_function(
            f"([v, s]) => {VIEW3}.dataset.slice === String(s)", arg=["axial", k3]
        )
        assert _view_slice(page, "coronal") == j3 and _view_slice(page, "sagittal") == i
        assert status.get_attribute("data-voxel") == f"{i},{j3},{k3}"
        assert int(status.get_attribute("data-hu")) == hu[i, j3, k3]

        # timing (printed, not asserted): three-view redraws per view, then the axial single
        # view; ArrowUp acts on the active view (the sagittal one, clicked last)
        page.keyboard.press("a")
        page.evaluate("window.__viewerStats.draws.length = 0")
        for n in range(16):
            page.keyboard.press("ArrowUp" if n % 2 == 0 else "ArrowDown")
            page.wait_for_timeout(60)
        page.wait_for_timeout(300)
        three = {
            v: _median_ms(
                page,
                f"window.__viewerStats.draws.filter(d => d.views_ms).map(d => d.views_ms.{v})",
            )
            for v in ("axial", "coronal", "sagittal")
        }
        three_latency = _median_ms(
            page,
            "window.__viewerStats.draws.filter(d => d.views_ms && d.latency_ms).map(d => d.latency_ms)",
        )

        # the layout is a kept setting: a reload (the next session) opens in three views
        page.reload()
        wait_viewer_opened(page)
        page.wait_for_function(f"v => {VIEW3} && {VIEW3}.offsetWidth > 0", arg="axial")
        page.locator("canvas.lsv-view3[data-view=axial]").click()
        page.keyboard.press("x")  # back to one view
        page.wait_for_function(f"v => {VIEW3}.offsetWidth === 0", arg="axial")
        assert page.locator("canvas.lsv-canvas").first.is_visible()
        page.evaluate("window.__viewerStats.draws.length = 0")
        for n in range(16):
            page.keyboard.press("ArrowUp" if n % 2 == 0 else "ArrowDown")
            page.wait_for_timeout(60)
        page.wait_for_timeout(300)
        single = _median_ms(
            page,
            "window.__viewerStats.draws.filter(d => !d.views_ms && d.latency_ms).map(d => d.latency_ms)",
        )
        print(
            f"\nthree views {SHAPE}: draw ms per view (median) {three}, key-to-paint {three_latency} ms;"
            f" one axial view key-to-paint {single} ms; load average {os.getloadavg()}"
        )
        context.close()
