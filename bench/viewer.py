"""Bench of the browser slice viewer in headless Chromium (Streamlit 1.67, components v2).

Measures, on a synthetic noisy 512 x 512 x 120 CT (tests/apps/viewer_demo_app.py):
- payload: bytes, build seconds (Python), in-plane factor;
- open, three ways (server cache warm each time, as the reading page's prefetch makes it):
  in the app (click -> another case's first slice painted: "next item", "open a case"),
  reload (same browser, HTTP cache warm: a reader coming back), and first visit (a fresh
  browser context: Streamlit's whole frontend is fetched too), with the split into
  "component called" and "decoded"; websocket bytes received;
- scroll: keydown (ArrowDown/ArrowUp) -> new slice painted, N presses, median and p95;
- references in the same run: a Streamlit fragment rerun (button click -> new text shown),
  the cheapest server round trip a slice change could possibly cost; and opening the same
  page with a tiny 64 x 64 x 8 case (Streamlit's own page load, which the viewer cannot
  shorten);
- reruns: websocket bytes and re-decodes after a fragment rerun and a full rerun.

Writes bench/results/viewer.json. Run: ``nice -n 10 python bench/viewer.py [--panels 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(REPO / "tests" / "apps"))
from viewer_synthetic import panel_maps, synthetic_case  # noqa: E402

from livseg.viewer_payload import without_ct  # noqa: E402
from tests.browser_utils import launch_browser, start_streamlit, stop_streamlit  # noqa: E402

APP = REPO / "tests" / "apps" / "viewer_demo_app.py"
GOALS = {"scroll_median_ms": 50.0, "open_s": 1.5, "payload_mb": 8.0}


def _ws_counter(page) -> dict:
    box = {"bytes": 0, "frames": 0}

    def on_ws(ws):
        def on_frame(payload):
            box["bytes"] += len(payload) if isinstance(payload, (bytes, str)) else 0
            box["frames"] += 1

        ws.on("framereceived", on_frame)

    page.on("websocket", on_ws)
    return box


def _ct_header(payload) -> dict:
    """The CT part of a payload's JSON header (encoding, HU step, body mask)."""
    from livseg.viewer_payload import decode_payload

    return decode_payload(without_ct(payload).data)["header"]["ct"]


def open_page(browser, url: str, viewport=(1400, 950)) -> tuple:
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    # time at which Streamlit shows its first element (the text above the viewer)
    page.add_init_script(
        "new MutationObserver((m, obs) => { if (document.querySelector("
        "'[data-testid=\"stMarkdown\"]')) { window.__firstElement = performance.now();"
        " obs.disconnect(); } }).observe(document, {childList: true, subtree: true});"
    )
    ws = _ws_counter(page)
    page.goto(url)
    page.wait_for_function(
        "() => window.__viewerStats && (window.__viewerStats.opens.length > 0"
        " || window.__viewerStats.errors.length > 0)",
        timeout=120_000,
    )
    errors = page.evaluate("window.__viewerStats.errors")
    if errors:
        raise RuntimeError(f"viewer errors: {errors}")
    opened = page.evaluate("window.__viewerStats.opens[0]")
    opened["t_first_element"] = page.evaluate("window.__firstElement ?? null")
    return context, page, ws, opened


def press_latencies(page, n: int) -> list[float]:
    page.locator("canvas.lsv-canvas").first.click()
    lat = []
    for i in range(n):
        key = "ArrowDown" if (i // 10) % 2 == 0 else "ArrowUp"
        before = page.evaluate("window.__viewerStats.draws.length")
        page.keyboard.press(key)
        page.wait_for_function(
            f"() => window.__viewerStats.draws.length > {before}"
            " && window.__viewerStats.draws.at(-1).latency_ms !== undefined",
            timeout=10_000,
        )
        lat.append(float(page.evaluate("window.__viewerStats.draws.at(-1).latency_ms")))
        page.wait_for_timeout(30)
    return lat


def reload_open_s(page, n: int) -> list[float]:
    """Reload the page in the same browser context (HTTP cache warm, as when a reader comes
    back to the app): navigation -> first slice painted, seconds."""
    out = []
    for _ in range(n):
        page.reload()
        page.wait_for_function(
            "() => window.__viewerStats && window.__viewerStats.opens.length > 0", timeout=60_000
        )
        out.append(float(page.evaluate("window.__viewerStats.opens[0].t_painted")) / 1000)
    return out


OTHER_CASES = [f"case {seed}" for seed in range(1, 5)]  # tests/apps/viewer_demo_app.py


def switch_open_s(page, labels: list[str]) -> list[float]:
    """Open other cases inside the running app (what "next item" or picking a case does):
    click -> that CT's first slice painted, seconds. Each label should be a case this browser
    has not seen yet (its bytes travel and are decoded); the server's cache is warm, as the
    reading page's prefetch makes it."""
    out = []
    for label in labels:
        before = page.evaluate("window.__viewerStats.opens.length")
        t0 = page.evaluate("performance.now()")
        page.get_by_text(label, exact=True).click()
        page.wait_for_function(
            f"() => window.__viewerStats.opens.length > {before}", timeout=60_000
        )
        out.append(
            (float(page.evaluate("window.__viewerStats.opens.at(-1).t_painted")) - t0) / 1000
        )
        page.wait_for_timeout(300)
    return out


def fragment_rerun_ms(page, n: int) -> list[float]:
    out = []
    for _ in range(n):
        text = page.get_by_text("scores submitted:").inner_text()
        count = int(text.rsplit(":", 1)[1])
        t0 = time.perf_counter()
        page.get_by_role("button", name="Submit score").click()
        page.get_by_text(f"scores submitted: {count + 1}").wait_for(timeout=10_000)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def screenshot(path: Path) -> None:
    """docs/viewer.png: phantom case 0 (livseg.phantom), liver window, the slice with most tumour."""
    import numpy as np

    from livseg.phantom import generate_case

    labels = generate_case(0).labels
    k = int(np.argmax((labels == 2).sum(axis=(0, 1))))
    liver_xy = np.argwhere(labels[:, :, k] == 1).mean(axis=0)
    env = {"LSV_PHANTOM": "1", "LSV_SLICE": str(k), "LSV_PRESET": "liver", "LSV_HEIGHT": "620"}
    url, proc = start_streamlit(APP, env=env, timeout=180)
    try:
        with launch_browser() as browser:
            ctx, page, _, _ = open_page(browser, url, viewport=(900, 900))
            canvas = page.locator("canvas.lsv-canvas").first
            bb = canvas.bounding_box()
            nx, ny = labels.shape[:2]
            # hover a liver voxel so the HU readout shows (axial: x to the right, y upwards)
            page.mouse.move(
                bb["x"] + (liver_xy[0] + 0.5) / nx * bb["width"],
                bb["y"] + (ny - liver_xy[1] - 0.5) / ny * bb["height"],
            )
            page.wait_for_timeout(300)
            page.locator('[data-testid="stBidiComponentIsolated"]').screenshot(path=str(path))
            ctx.close()
    finally:
        stop_streamlit(proc)
    print(f"wrote {path} (phantom case 0, axial slice {k})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="512,512,120")
    ap.add_argument("--panels", type=int, default=1)
    ap.add_argument("--presses", type=int, default=40)
    ap.add_argument("--opens", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "viewer.json"))
    ap.add_argument("--phantom", action="store_true", help="livseg.phantom case 0 instead")
    ap.add_argument("--screenshot", help="only write a screenshot (e.g. docs/viewer.png) and exit")
    args = ap.parse_args()
    if args.screenshot:
        screenshot(Path(args.screenshot))
        return 0
    shape = tuple(int(v) for v in args.shape.split(","))

    from livseg.viewer_payload import build_payload

    spacing = (0.75, 0.75, 5.0)
    if args.phantom:
        from livseg.phantom import generate_case

        case = generate_case(0)
        hu, labels, spacing = case.volume.array, case.labels, case.volume.spacing
        shape = hu.shape
    else:
        hu, labels = synthetic_case(shape)
    builds = []
    for _ in range(2):
        t0 = time.perf_counter()
        payload = build_payload(hu, spacing, panel_maps(labels, args.panels), title="Case 7F3K")
        builds.append(time.perf_counter() - t0)
    full = build_payload(hu, spacing, labels, downsample=1, max_bytes=10**9)
    raw_int16_mb = hu.size * 2 / 1e6
    del hu, labels

    env = {"LSV_SHAPE": args.shape, "LSV_PANELS": str(args.panels)}
    if args.phantom:
        env["LSV_PHANTOM"] = "1"
    url, proc = start_streamlit(APP, env=env, timeout=120)
    result: dict = {
        "data": "livseg.phantom case 0" if args.phantom else "synthetic (tests/apps)",
        "shape": list(shape),
        "panels": args.panels,
        "load_average_1min_at_start": os.getloadavg()[0],
        "cpu_count": os.cpu_count(),
    }
    try:
        with launch_browser() as browser:
            ctx, page, ws, cold = open_page(browser, url)  # fills the server's cache
            switch_open_s(page, OTHER_CASES)  # builds the other cases' payloads on the server
            ctx.close()
            opens = []
            for _ in range(args.opens):
                ctx, page, ws, opened = open_page(browser, url)
                opens.append({**opened, "ws_bytes": ws["bytes"], "ws_frames": ws["frames"]})
                if len(opens) < args.opens:
                    ctx.close()
            reloads = reload_open_s(page, args.opens)
            switches = switch_open_s(page, OTHER_CASES)  # new to this browser context
            lat = press_latencies(page, args.presses)
            rerun = fragment_rerun_ms(page, 10)
            n_opens = page.evaluate("window.__viewerStats.opens.length")
            ws_before = ws["bytes"]
            page.get_by_role("button", name="Submit score").click()
            page.wait_for_timeout(1500)
            frag_bytes = ws["bytes"] - ws_before
            ws_before = ws["bytes"]
            runs = int(page.get_by_text("runs ").inner_text().rsplit(" ", 1)[1])
            page.get_by_role("button", name="Full rerun").click()
            page.get_by_text(f"runs {runs + 1}").wait_for(timeout=20_000)
            page.wait_for_timeout(1500)
            full_bytes = ws["bytes"] - ws_before
            redecodes = page.evaluate("window.__viewerStats.opens.length") - n_opens
            lat_after = press_latencies(page, 10)
            page.keyboard.press("s")  # sagittal: strided reads through the whole volume
            page.wait_for_timeout(300)
            lat_sag = press_latencies(page, 20)
            ctx.close()
    finally:
        stop_streamlit(proc)

    # reference in the same run: the same page with a tiny case (64 x 64 x 8, a few kB)
    url, proc = start_streamlit(APP, env={"LSV_SHAPE": "64,64,8", "LSV_PANELS": "1"}, timeout=120)
    try:
        with launch_browser() as browser:
            ctx, page, ws, _ = open_page(browser, url)
            ctx.close()
            tiny = []
            for _ in range(args.opens):
                ctx, page, ws, opened = open_page(browser, url)
                tiny.append(opened)
                ctx.close()
    finally:
        stop_streamlit(proc)

    open_s = [o["t_painted"] / 1000 for o in opens]
    tiny_open_s = statistics.median(o["t_painted"] / 1000 for o in tiny)
    result.update(
        {
            "payload_bytes": payload.nbytes,
            "payload_mb": payload.nbytes / 1e6,
            "payload_full_resolution_mb": full.nbytes / 1e6,
            "raw_int16_mb": raw_int16_mb,
            "ct_factor": payload.ct_factor,
            "ct_hu_step": _ct_header(payload)["hu_step"],
            "ct_body_only": _ct_header(payload).get("body_only", False),
            "ct_encoding": _ct_header(payload)["encoding"],
            "build_payload_s_median": statistics.median(builds),
            "cold_open_s_server_builds_payload": cold["t_painted"] / 1000,
            "open_s_median": statistics.median(open_s),
            "open_s_in_app_median": statistics.median(switches),
            "open_s_in_app_all": switches,
            "open_s_reload_median": statistics.median(reloads),
            "open_s_reload_all": reloads,
            "open_s_all": open_s,
            "open_component_called_s_median": statistics.median(o["t_call"] / 1000 for o in opens),
            "open_first_streamlit_element_s_median": statistics.median(
                o["t_first_element"] / 1000 for o in opens if o["t_first_element"]
            ),
            "open_decode_s_median": statistics.median(
                (o["t_decoded"] - o["t_call"]) / 1000 for o in opens
            ),
            "reference_open_s_tiny_case_median": tiny_open_s,
            "reference_first_streamlit_element_s_tiny_case_median": statistics.median(
                o["t_first_element"] / 1000 for o in tiny if o["t_first_element"]
            ),
            "open_s_over_tiny_case_s": statistics.median(open_s) - tiny_open_s,
            "open_ws_bytes_median": statistics.median(o["ws_bytes"] for o in opens),
            "scroll_ms_median": statistics.median(lat),
            "scroll_ms_p95": sorted(lat)[int(0.95 * (len(lat) - 1))],
            "scroll_ms_max": max(lat),
            "scroll_presses": len(lat),
            "scroll_ms_median_after_reruns": statistics.median(lat_after),
            "scroll_ms_median_sagittal": statistics.median(lat_sag),
            "reference_fragment_rerun_ms_median": statistics.median(rerun),
            "ratio_fragment_rerun_over_scroll": statistics.median(rerun) / statistics.median(lat),
            "fragment_rerun_ws_bytes": frag_bytes,
            "full_rerun_ws_bytes": full_bytes,
            "full_rerun_redecodes": redecodes,
            "goals": GOALS,
        }
    )
    result["load_average_1min_at_end"] = os.getloadavg()[0]
    result["meets_goals"] = (
        result["scroll_ms_median"] <= GOALS["scroll_median_ms"]
        and result["open_s_in_app_median"] <= GOALS["open_s"]
        and result["open_s_reload_median"] <= GOALS["open_s"]
        and result["payload_mb"] <= GOALS["payload_mb"]
    )
    # stated apart: the first visit also loads Streamlit's frontend (~100 files)
    result["first_visit_open_within_goal"] = result["open_s_median"] <= GOALS["open_s"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for k, v in result.items():
        print(f"{k:45s} {v:.3f}" if isinstance(v, float) else f"{k:45s} {v}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
