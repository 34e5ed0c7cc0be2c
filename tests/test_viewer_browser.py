"""The slice viewer in headless Chromium: drawing, keys, orientation, HU readout, reruns.

One Streamlit server (tests/apps/viewer_demo_app.py, synthetic 256 x 256 x 40 case with two
linked panels, sent at full resolution) and one browser for the module.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.browser_utils import count_ws_bytes, launch_browser, streamlit_server, wait_viewer_opened

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
from viewer_synthetic import synthetic_case  # noqa: E402

pytestmark = pytest.mark.e2e

APP = Path(__file__).resolve().parent / "apps" / "viewer_demo_app.py"
SHAPE = (256, 256, 40)


@pytest.fixture(scope="module")
def server():
    with streamlit_server(APP, {"LSV_SHAPE": ",".join(map(str, SHAPE)), "LSV_PANELS": "2"}) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with launch_browser() as b:
        yield b


@pytest.fixture(scope="module")
def case():
    hu, labels = synthetic_case(SHAPE)
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16), labels


@pytest.fixture
def page(server, browser):
    context = browser.new_context(viewport={"width": 1300, "height": 950})
    pg = context.new_page()
    pg.ws_bytes = count_ws_bytes(pg)
    pg.goto(server)
    wait_viewer_opened(pg, 1, no_errors=False)
    yield pg
    context.close()


def _slice_label(page) -> str:
    return page.locator(".lsv-slicelbl").inner_text()


def _slice_number(page, expect: int | None = None) -> int:
    """The 1-based slice number shown; waits (up to 2 s) for ``expect`` if given."""
    if expect is not None:
        page.wait_for_function(
            "n => { const r = document.querySelector('[data-testid=stBidiComponentIsolated]')"
            ".shadowRoot.querySelector('.lsv-slicelbl');"
            " return r && r.textContent.split(' ')[1] === String(n); }",
            arg=expect,
            timeout=2000,
        )
    return int(_slice_label(page).split()[1])


def _hover(page, fx: float, fy: float, panel: int = 0) -> tuple[tuple[int, int, int], int, str]:
    canvas = page.locator("canvas.lsv-canvas").nth(panel)
    bb = canvas.bounding_box()
    page.mouse.move(bb["x"] + fx * bb["width"], bb["y"] + fy * bb["height"])
    status = page.locator(".lsv-status")
    voxel = tuple(int(v) for v in status.get_attribute("data-voxel").split(","))
    return voxel, int(status.get_attribute("data-hu")), status.inner_text()


def test_opens_draws_both_panels_and_counts_payload_bytes(page):
    assert page.evaluate("window.__viewerStats.errors") == []
    assert page.locator("canvas.lsv-canvas").count() == 2
    assert _slice_label(page) == "Axial 21 / 40"  # middle slice k = 20, shown 1-based
    text = page.get_by_text("payload ").first.inner_text()
    nbytes = int(text.split()[1])
    # the payload crosses the websocket once (plus a few kB of Streamlit messages)
    assert nbytes <= page.ws_bytes["bytes"] <= nbytes + 200_000
    # the canvas really shows CT: the middle pixel is not black, the corner is (air)
    pixels = page.evaluate(
        """() => { const c = document.querySelector('[data-testid=stBidiComponentIsolated]')
                 .shadowRoot.querySelector('canvas.lsv-canvas');
                 const x = c.getContext('2d');
                 return [Array.from(x.getImageData(c.width / 2, c.height / 2, 1, 1).data),
                         Array.from(x.getImageData(2, 2, 1, 1).data)]; }"""
    )
    assert pixels[0][0] > 40 and pixels[1][:3] == [0, 0, 0]


def test_keys_scroll_and_do_not_capture_likert_keys(page):
    page.evaluate(
        "window.__pageKeys = []; document.addEventListener('keydown',"
        " e => window.__pageKeys.push(e.key))"
    )
    page.locator("canvas.lsv-canvas").first.click()  # focus (click moves the cross point)
    start = _slice_number(page)
    page.keyboard.press("ArrowDown")
    assert _slice_number(page, start - 1) == start - 1
    page.keyboard.press("PageUp")
    assert _slice_number(page, start + 9) == start + 9
    page.mouse.wheel(0, 120)  # wheel down = one slice towards the feet
    assert _slice_number(page, start + 8) == start + 8
    for key in ["1", "3", "5", "Enter"]:
        page.keyboard.press(key)
    page.wait_for_timeout(100)
    assert page.evaluate("window.__pageKeys") == ["1", "3", "5", "Enter"]
    assert _slice_number(page) == start + 8
    # the scrolling keys themselves stay inside the viewer
    assert "ArrowDown" not in page.evaluate("window.__pageKeys")
    lat = page.evaluate("window.__viewerStats.draws.filter(d => d.latency_ms).length")
    assert lat >= 2  # draws caused by key presses record their latency for the bench


def test_hu_and_label_under_cursor_match_the_volume(page, case):
    hu, labels = case
    for fx, fy in [(0.5, 0.5), (0.3, 0.45), (0.72, 0.6), (0.5, 0.8)]:
        (i, j, k), value, text = _hover(page, fx, fy)
        assert value == hu[i, j, k]
        name = {0: None, 1: "liver", 2: "tumour"}[int(labels[i, j, k])]
        assert (name in text) if name else ("liver" not in text and "tumour" not in text)


def _render_puts_x0_on_the_left() -> bool:
    """The display convention of livseg.render (server PNGs), which the viewer must follow."""
    from livseg.render import display_slice

    probe = np.zeros((2, 2, 1), np.uint8)
    probe[0, :, 0] = 1
    return bool(display_slice(probe, "axial", 0)[:, 0].all())


def test_display_orientation_axial_and_sagittal(page):
    nx, ny, nz = SHAPE
    x0_left = _render_puts_x0_on_the_left()
    # axial, radiological: patient's right on the viewer's left, anterior at the top
    (i_left, _, _), _, _ = _hover(page, 0.05, 0.5)
    (i_right, _, _), _, _ = _hover(page, 0.95, 0.5)
    (_, j_top, _), _, _ = _hover(page, 0.5, 0.05)
    (_, j_bottom, _), _, _ = _hover(page, 0.5, 0.95)
    if not x0_left:
        i_left, i_right = nx - 1 - i_left, nx - 1 - i_right
    assert i_left < nx * 0.1 and i_right > nx * 0.9
    assert j_top > ny * 0.9 and j_bottom < ny * 0.1
    page.locator("canvas.lsv-canvas").first.click()
    page.keyboard.press("s")
    expect(page.locator(".lsv-slicelbl")).to_have_text("Sagittal 129 / 256")
    # sagittal: anterior on the left, superior at the top; height/width = 40*5 / (256*0.75) mm
    (_, j_left, k_top), _, _ = _hover(page, 0.02, 0.01)
    (_, j_right, k_bottom), _, _ = _hover(page, 0.98, 0.99)
    assert j_left > ny * 0.9 and j_right < ny * 0.1
    assert k_top == nz - 1 and k_bottom == 0
    bb = page.locator("canvas.lsv-canvas").first.bounding_box()
    assert bb["height"] / bb["width"] == pytest.approx((nz * 5.0) / (ny * 0.75), rel=0.03)
    page.keyboard.press("c")
    expect(page.locator(".lsv-slicelbl")).to_have_text("Coronal 129 / 256")
    # coronal: patient's right on the left, superior at the top
    (i_left, _, k_top), _, _ = _hover(page, 0.02, 0.01)
    (i_right, _, k_bottom), _, _ = _hover(page, 0.98, 0.99)
    if not x0_left:
        i_left, i_right = nx - 1 - i_left, nx - 1 - i_right
    assert i_left < nx * 0.1 and i_right > nx * 0.9
    assert k_top == nz - 1 and k_bottom == 0


def test_window_presets_overlay_toggles_and_reset(page):
    page.locator("canvas.lsv-canvas").first.click()
    w, lvl = page.locator("input.lsv-num").nth(0), page.locator("input.lsv-num").nth(1)
    expect(w).to_have_value("400")
    expect(lvl).to_have_value("40")
    page.keyboard.press("l")
    expect(w).to_have_value("150")
    expect(lvl).to_have_value("90")
    page.keyboard.press("o")
    expect(page.get_by_role("button", name="Outline")).to_have_count(1)
    tumour_btn = page.locator("button.lsv-btn", has_text="Tumour")
    expect(tumour_btn).to_have_class("lsv-btn lsv-on")
    page.keyboard.press("t")
    expect(tumour_btn).to_have_class("lsv-btn")
    # left drag: 2 HU of width per px to the right, 2 HU of level per px upwards
    bb = page.locator("canvas.lsv-canvas").first.bounding_box()
    x0, y0 = bb["x"] + bb["width"] / 2, bb["y"] + bb["height"] / 2
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 20, y0 - 5, steps=4)
    page.mouse.move(x0 + 40, y0 - 20, steps=4)
    page.mouse.up()
    expect(w).to_have_value("230")
    expect(lvl).to_have_value("130")
    page.keyboard.press("+")
    page.keyboard.press("PageUp")
    expect(page.locator(".lsv-slicelbl")).to_have_text("Axial 31 / 40")
    page.keyboard.press("r")
    expect(w).to_have_value("400")
    expect(lvl).to_have_value("40")
    expect(tumour_btn).to_have_class("lsv-btn lsv-on")
    expect(page.locator(".lsv-slicelbl")).to_have_text("Axial 21 / 40")


def test_reruns_do_not_resend_or_redecode_the_volume(page):
    page.locator("canvas.lsv-canvas").first.click()
    page.keyboard.press("PageDown")
    _slice_number(page, 11)
    label = _slice_label(page)
    before = page.ws_bytes["bytes"]
    page.get_by_role("button", name="Submit score").click()  # fragment rerun
    page.get_by_text("scores submitted: 1").wait_for()
    page.get_by_role("button", name="Full rerun").click()  # whole-script rerun
    page.get_by_text("runs 2").wait_for()
    page.wait_for_timeout(500)
    assert page.ws_bytes["bytes"] - before < 20_000  # cached message: a reference, not 3 MB
    assert page.evaluate("window.__viewerStats.opens.length") == 1
    assert _slice_label(page) == label  # the reader's slice survives the rerun


def test_next_item_of_the_same_case_reuses_the_decoded_ct(page):
    # 40 slices = 5 slabs of 8: the first paints, the other four follow
    page.wait_for_function("() => window.__viewerStats.slabs_decoded === 5", timeout=10_000)
    page.get_by_text("second").click()  # same CT, one label map instead of two
    expect(page.locator("canvas.lsv-canvas")).to_have_count(1)
    page.wait_for_function("() => window.__viewerStats.opens.length === 2")
    assert page.evaluate("window.__viewerStats.slabs_decoded") == 5  # no CT inflated again
    assert page.evaluate("window.__viewerStats.errors") == []


def _canvas_rgb(page, fx: float, fy: float, panel: int = 0) -> list[int]:
    return page.evaluate(
        """([fx, fy, p]) => { const c = document.querySelector('[data-testid=stBidiComponentIsolated]')
             .shadowRoot.querySelectorAll('canvas.lsv-canvas')[p];
             return Array.from(c.getContext('2d').getImageData(
               Math.floor(fx * c.width), Math.floor(fy * c.height), 1, 1).data).slice(0, 3); }""",
        [fx, fy, panel],
    )


def test_overlay_colours_are_fixed_per_structure(page, case):
    from scipy import ndimage

    from livseg.render import LIVER_RGB, TUMOUR_RGB

    _, labels = case
    nx, ny, k = SHAPE[0], SHAPE[1], SHAPE[2] // 2
    for value, rgb in ((1, LIVER_RGB), (2, TUMOUR_RGB)):
        inner = ndimage.binary_erosion(labels[:, :, k] == value, iterations=4)
        i, j = np.argwhere(inner)[len(np.argwhere(inner)) // 2]
        fx, fy = (i + 0.5) / nx, (ny - 1 - j + 0.5) / ny  # axial: y upwards
        if not _render_puts_x0_on_the_left():
            fx = 1 - fx
        for panel in (0, 1):  # the same structure has the same colour in every panel
            got = _canvas_rgb(page, fx, fy, panel)
            # 40 % overlay on grey: the colour's dominant channel dominates the pixel
            assert int(np.argmax(got)) == int(np.argmax(rgb)), (value, panel, got)
    page.locator("canvas.lsv-canvas").first.click()
    page.keyboard.press("h")  # overlays off: the same pixel is grey again
    page.wait_for_timeout(200)
    got = _canvas_rgb(page, fx, fy, 0)
    assert max(got) - min(got) <= 2


def test_mirrored_x_convention_keeps_hu_and_labels_consistent(browser, case):
    """With the other x display convention (x index 0 on the right) hover still maps right."""
    hu, labels = case
    env = {"LSV_SHAPE": ",".join(map(str, SHAPE)), "LSV_FLIP_X": "1"}
    with streamlit_server(APP, env) as url:
        context = browser.new_context(viewport={"width": 1300, "height": 950})
        try:
            pg = context.new_page()
            pg.goto(url)
            wait_viewer_opened(pg, 1)
            (i_left, _, _), _, _ = _hover(pg, 0.02, 0.5)
            (i_right, _, _), _, _ = _hover(pg, 0.98, 0.5)
            assert i_left > SHAPE[0] * 0.9 and i_right < SHAPE[0] * 0.1
            for fx, fy in [(0.3, 0.45), (0.72, 0.6)]:
                (i, j, k), value, _ = _hover(pg, fx, fy)
                assert value == hu[i, j, k]
            # the liver (low x in the synthetic case) is now drawn on the right half
            inner = np.argwhere(labels[:, :, SHAPE[2] // 2] == 1)
            i, j = inner[len(inner) // 2]
            rgb = _canvas_rgb(pg, 1 - (i + 0.5) / SHAPE[0], (SHAPE[1] - 1 - j + 0.5) / SHAPE[1])
            from livseg.render import LIVER_RGB

            assert int(np.argmax(rgb)) == int(np.argmax(LIVER_RGB))
        finally:
            context.close()


def test_reported_state_and_a_damaged_payload(browser):
    """report_state=True sends the view back to Python; a truncated payload shows an error."""
    env = {"LSV_SHAPE": ",".join(map(str, SHAPE)), "LSV_REPORT": "1", "LSV_CORRUPT": "1"}
    with streamlit_server(APP, env) as url:
        context = browser.new_context(viewport={"width": 1300, "height": 1400})
        try:
            pg = context.new_page()
            pg.goto(url)
            pg.wait_for_function(
                "() => window.__viewerStats && window.__viewerStats.opens.length > 0"
            )
            viewers = pg.locator('[data-testid="stBidiComponentIsolated"]')
            expect(viewers.nth(1).locator(".lsv-error")).to_contain_text(
                "payload truncated", timeout=10_000
            )
            assert pg.evaluate("window.__viewerStats.errors.length") >= 1
            # a CT without label maps: drawn, HU under the cursor, no structure named
            ct_only = viewers.nth(2)
            ct_only.scroll_into_view_if_needed()
            pg.wait_for_function("() => window.__viewerStats.opens.length >= 2")
            expect(ct_only.locator(".lsv-title")).to_have_text("CT only")
            assert ct_only.locator(".lsv-vol").count() == 0
            hu_small, _ = synthetic_case((64, 48, 12))
            box = ct_only.locator("canvas.lsv-canvas").bounding_box()
            pg.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5)
            status = ct_only.locator(".lsv-status")
            i, j, k = (int(v) for v in status.get_attribute("data-voxel").split(","))
            assert int(status.get_attribute("data-hu")) == int(
                np.clip(np.rint(hu_small[i, j, k]), -1024, 3071)
            )
            assert "liver" not in status.inner_text() and "tumour" not in status.inner_text()
            viewers.nth(0).locator("canvas.lsv-canvas").first.click()
            pg.keyboard.press("PageDown")
            pg.keyboard.press("l")
            # debounced 0.6 s, then a rerun shows what Python received
            pg.get_by_text("reported: axial slice 10 W 150").wait_for(timeout=15_000)
        finally:
            context.close()
