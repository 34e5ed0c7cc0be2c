"""Bench of the reader's "next item" in the real app, headless Chromium: Submit -> the next
item's CT painted.

Builds a demo workspace (full-size 512 x 512 phantom cases, the four methods, an open study;
``python -m db demo``'s code), signs a reader in and scores items one after the other with a
pause between items (a reader looks at each item for a while; the default 6 s is shorter than
any real reading). For each submit: seconds from the click on Submit to the next item's first
slice painted in the browser, and the payload bytes. Run twice in the same process: with the
server prefetching the next item (the app's default) and with LIVSEG_PREFETCH=0 (reference).

Writes bench/results/reading_open.json. Run: ``nice -n 10 python bench/reading_open.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser_utils import launch_browser, start_streamlit, stop_streamlit  # noqa: E402

GOAL_S = 1.0  # issue 13: Submit -> next item painted, median
READER_PASSWORD = "bench-reader-pass-1"


def make_workspace(root: Path, n_cases: int, size: str) -> None:
    """A demo workspace with reader1's and reader2's passwords set (no forced change)."""
    os.environ["LIVSEG_WORKSPACE"] = str(root)
    from db import auth
    from db.access import SYSTEM
    from db.demo import create_demo
    from db.engine import get_engine, init_db, session_scope
    from livseg.demo import DemoConfig

    engine = get_engine(f"sqlite:///{root / 'livseg.db'}")
    init_db(engine)
    with session_scope(engine) as session:
        _, result = create_demo(session, SYSTEM, DemoConfig(n_cases=n_cases, size=size))
    for username in ("reader1", "reader2"):
        initial = dict(result.new_passwords)[username]
        with session_scope(engine) as session:
            reader = auth.authenticate(session, username, initial)
            auth.change_password(session, reader, initial, READER_PASSWORD)
    engine.dispose()


def _opens(page) -> int:
    return int(page.evaluate("(window.__viewerStats || {opens: []}).opens.length"))


def run_reader(url: str, username: str, items: int, pause_s: float) -> list[dict]:
    """Sign ``username`` in, then score ``items`` items; per submit the open time."""
    out = []
    with launch_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 950})
        page.goto(url)
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password", exact=True).fill(READER_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_function("() => window.__viewerStats?.opens.length > 0", timeout=120_000)
        for _ in range(items):
            page.wait_for_timeout(int(pause_s * 1000))
            before = _opens(page)
            position = page.get_by_text(" of ").first.inner_text()
            page.get_by_role("button", name="4 –").click()
            page.get_by_text("Your score: 4").wait_for(timeout=30_000)
            t0 = page.evaluate("performance.now()")
            page.get_by_role("button", name="Submit").click()
            page.wait_for_function(
                f"() => window.__viewerStats.opens.length > {before}", timeout=120_000
            )
            opened = page.evaluate("window.__viewerStats.opens.at(-1)")
            out.append(
                {
                    "from": position,
                    "open_s": (float(opened["t_painted"]) - t0) / 1000,
                    "payload_bytes": int(opened["bytes"]),
                }
            )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=3)
    ap.add_argument("--size", default="full")
    ap.add_argument("--items", type=int, default=6, help="submits per run (< items per reader)")
    ap.add_argument("--pause", type=float, default=6.0, help="seconds on each item")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "reading_open.json"))
    args = ap.parse_args()

    result: dict = {
        "what": "reader Submit click -> next item's first slice painted (real app, Chromium)",
        "cases": args.cases,
        "size": args.size,
        "pause_s": args.pause,
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_start": os.getloadavg()[0],
        "goal_s": GOAL_S,
    }
    with tempfile.TemporaryDirectory(prefix="livseg-bench-") as tmp:
        root = Path(tmp) / "workspace"
        root.mkdir()
        t0 = time.perf_counter()
        make_workspace(root, args.cases, args.size)
        result["demo_build_s"] = time.perf_counter() - t0
        # each run has its own reader (her own queue from item 1)
        for label, prefetch, reader in (
            ("prefetch", "1", "reader1"),
            ("no_prefetch", "0", "reader2"),
        ):
            env = {"LIVSEG_WORKSPACE": str(root), "LIVSEG_PREFETCH": prefetch}
            url, proc = start_streamlit(REPO / "app.py", env=env, timeout=180)
            try:
                runs = run_reader(url, reader, args.items, args.pause)
            finally:
                stop_streamlit(proc)
            times = [r["open_s"] for r in runs]
            result[label] = {
                "open_s_median": statistics.median(times),
                "open_s_max": max(times),
                "open_s_all": times,
                "payload_mb_median": statistics.median(r["payload_bytes"] for r in runs) / 1e6,
            }
            print(
                f"{label:12s} next item open: median {statistics.median(times):.2f} s, "
                f"all {[round(t, 2) for t in times]}",
                flush=True,
            )
    result["ratio_no_prefetch_over_prefetch"] = (
        result["no_prefetch"]["open_s_median"] / result["prefetch"]["open_s_median"]
    )
    result["meets_goal"] = result["prefetch"]["open_s_median"] <= GOAL_S
    result["load_average_1min_at_end"] = os.getloadavg()[0]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
