"""Load bench of the real app: N concurrent readers score their queues through
``streamlit run app.py`` on 127.0.0.1 (issue 14 item 13).

One headless Chromium (Debian's) with one browser context per reader, driven concurrently
(Playwright's async API). Each reader signs in, then for every item of her queue: waits
``--pause`` seconds (looking at it), changes the slice once (ArrowUp in the viewer: key ->
slice painted, the viewer's own timing), picks a score and presses Submit (click -> the next
item's first slice painted). The server's CPU and memory (the streamlit process and its
children, from /proc) are sampled every 0.5 s.

At the end the database is read back: every score a reader saw acknowledged is stored
exactly once, no assignment has two scores; errors in any reader count as failures.

    nice -n 10 python bench/app_load.py --readers 5            # this shared machine
    python bench/app_load.py --readers 30                       # the goal: p95 next <= 3 s

Prints p50 / p95 of both latencies, server CPU (mean / max, % of one core) and peak RSS,
the load average, and writes bench/results/app_load.json. The bench's own Chromium runs on
the same machine as the server and competes with it for the CPU: on 2 cores the figures
are an upper bound of what the server alone would give.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser_utils import (  # noqa: E402
    CHROMIUM_ARGS,
    chromium_path,
    start_streamlit,
    stop_streamlit,
)

GOAL_P95_NEXT_S = 3.0
PASSWORD = "bench-load-reader-pass-1"
RESULTS = REPO / "bench" / "results" / "app_load.json"


# --------------------------------------------------------------------------- workspace


def make_workspace(root: Path, n_readers: int, n_cases: int, methods: tuple[str, ...]) -> dict:
    """The demo's files and runs (small phantoms) + ``n_readers`` readers with a known
    password + one open study over every case x method for all of them."""
    os.environ["LIVSEG_WORKSPACE"] = str(root)
    from db import auth, studies
    from db.access import SYSTEM
    from db.demo import create_demo
    from db.engine import get_engine, init_db, session_scope
    from livseg.demo import DemoConfig

    engine = get_engine(f"sqlite:///{root / 'livseg.db'}")
    init_db(engine)
    with session_scope(engine) as session:
        _, demo = create_demo(
            session, SYSTEM, DemoConfig(n_cases=n_cases, size="small", methods=methods)
        )
    names = [f"load{i:02d}" for i in range(1, n_readers + 1)]
    with session_scope(engine) as session:
        for name in names:
            auth.create_reader(session, SYSTEM, name, PASSWORD)
        study_id = studies.create_study(
            session,
            SYSTEM,
            "Load bench",
            cases=demo.cases,
            methods=demo.methods,
            readers=names,
            seed=1,
        )
        studies.open_study(session, SYSTEM, study_id)
    engine.dispose()
    return {"readers": names, "items_per_reader": len(demo.cases) * len(demo.methods)}


# --------------------------------------------------------------------------- server probe


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _cpu_ticks_and_rss(pids: list[int]) -> tuple[int, int]:
    ticks = rss_kb = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime + stime
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss_kb += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return ticks, rss_kb


class ServerProbe(threading.Thread):
    """Samples the server's CPU (% of one core) and RSS (MB) every ``every_s`` seconds."""

    def __init__(self, pid: int, every_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.every_s = pid, every_s
        self.cpu: list[float] = []
        self.rss_mb: list[float] = []
        self._halt = threading.Event()

    def run(self) -> None:
        hz = os.sysconf("SC_CLK_TCK")
        last_ticks, last_t = _cpu_ticks_and_rss(_tree(self.pid))[0], time.monotonic()
        while not self._halt.wait(self.every_s):
            ticks, rss = _cpu_ticks_and_rss(_tree(self.pid))
            now = time.monotonic()
            self.cpu.append(100.0 * (ticks - last_ticks) / hz / (now - last_t))
            self.rss_mb.append(rss / 1024)
            last_ticks, last_t = ticks, now

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


# --------------------------------------------------------------------------- one reader


async def read_queue(browser, url: str, username: str, items: int, pause_s: float) -> dict:
    """Sign in as ``username`` and score ``items`` items; latencies and acknowledgements."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    out: dict = {"reader": username, "next_s": [], "slice_s": [], "saved": 0, "errors": []}
    try:
        await page.goto(url, timeout=120_000)
        await page.get_by_label("Username").fill(username)
        await page.get_by_label("Password", exact=True).fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_function(
            "() => window.__viewerStats?.opens.length > 0", timeout=180_000
        )
        for k in range(items):
            await page.wait_for_timeout(int(pause_s * 1000))
            # slice change: one ArrowUp in the viewer, key -> slice painted (viewer's clock)
            n_draws = await page.evaluate("window.__viewerStats.draws.length")
            await page.locator(".lsv-root").first.focus()  # as a click into the viewer does
            await page.keyboard.press("ArrowUp")
            await page.wait_for_function(
                f"() => window.__viewerStats.draws.slice({n_draws})"
                ".some(d => d.latency_ms !== undefined)",
                timeout=60_000,
            )
            latency = await page.evaluate(
                f"window.__viewerStats.draws.slice({n_draws})"
                ".find(d => d.latency_ms !== undefined).latency_ms"
            )
            out["slice_s"].append(float(latency) / 1000)
            # Submit -> the next item's first slice painted (the last: the "complete" note)
            before = await page.evaluate("window.__viewerStats.opens.length")
            score = 1 + (k % 5)
            await page.get_by_role("button", name=f"{score} –").click()
            await page.get_by_text(f"Your score: {score}").wait_for(timeout=60_000)
            t0 = await page.evaluate("performance.now()")
            await page.get_by_role("button", name="Submit").click()
            if k < items - 1:
                await page.wait_for_function(
                    f"() => window.__viewerStats.opens.length > {before}", timeout=120_000
                )
                painted = await page.evaluate("window.__viewerStats.opens.at(-1).t_painted")
                out["next_s"].append((float(painted) - float(t0)) / 1000)
            else:
                await page.get_by_text("Your queue is complete").wait_for(timeout=120_000)
            out["saved"] += 1
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the others
        out["errors"].append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        await context.close()
    return out


async def drive(url: str, readers: list[str], items: int, pause_s: float, stagger_s: float):
    from playwright.async_api import async_playwright

    exe = chromium_path()
    if exe is None:
        raise SystemExit("no Chromium found: install Debian's chromium or set LIVSEG_CHROMIUM")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:

            async def one(i: int, name: str) -> dict:
                await asyncio.sleep(i * stagger_s)  # readers do not all sign in at one instant
                return await read_queue(browser, url, name, items, pause_s)

            return await asyncio.gather(*(one(i, n) for i, n in enumerate(readers)))
        finally:
            await browser.close()


# --------------------------------------------------------------------------- checks


def stored_scores(root: Path) -> dict:
    """Per reader: scores stored; assignments with more than one score (must be none)."""
    import sqlite3

    with sqlite3.connect(root / "livseg.db") as con:
        per_reader = dict(
            con.execute(
                "select u.username, count(s.id) from users u join assignments a on a.reader_id ="
                " u.id left join scores s on s.assignment_id = a.id group by u.username"
            ).fetchall()
        )
        doubled = con.execute(
            "select count(*) from (select assignment_id from scores group by assignment_id "
            "having count(*) > 1)"
        ).fetchone()[0]
    return {"per_reader": per_reader, "assignments_with_two_scores": doubled}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readers", type=int, default=5, help="concurrent readers (goal: 30)")
    ap.add_argument("--cases", type=int, default=2, help="demo cases (small phantoms)")
    ap.add_argument("--methods", default="classical,unet2d", help="demo methods (comma list)")
    ap.add_argument("--items", type=int, default=0, help="items per reader (0: her queue)")
    ap.add_argument("--pause", type=float, default=3.0, help="seconds spent on each item")
    ap.add_argument("--stagger", type=float, default=0.5, help="seconds between sign-ins")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    result: dict = {
        "what": "N readers scoring their queues in the real app (streamlit run app.py)",
        "readers": args.readers,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "pause_s": args.pause,
        "goal_p95_next_s": GOAL_P95_NEXT_S,
    }
    with tempfile.TemporaryDirectory(prefix="livseg-load-") as tmp:
        root = Path(tmp) / "workspace"
        root.mkdir()
        t0 = time.perf_counter()
        setup = make_workspace(root, args.readers, args.cases, methods)
        result["setup_s"] = time.perf_counter() - t0
        items = args.items or setup["items_per_reader"]
        result["items_per_reader"] = items
        env = {"LIVSEG_WORKSPACE": str(root), "LIVSEG_BCRYPT_ROUNDS": "12"}
        url, proc = start_streamlit(REPO / "app.py", env=env, timeout=180)
        probe = ServerProbe(proc.pid)
        probe.start()
        t_run = time.perf_counter()
        try:
            readers = asyncio.run(drive(url, setup["readers"], items, args.pause, args.stagger))
        finally:
            probe.stop()
            stop_streamlit(proc)
        result["run_s"] = time.perf_counter() - t_run
        check = stored_scores(root)
    next_s = [t for r in readers for t in r["next_s"]]
    slice_s = [t for r in readers for t in r["slice_s"]]
    errors = [f"{r['reader']}: {e}" for r in readers for e in r["errors"]]
    mismatched = [
        r["reader"] for r in readers if check["per_reader"].get(r["reader"], 0) != r["saved"]
    ]
    result.update(
        {
            "next_item_s": {"p50": _pct(next_s, 0.5), "p95": _pct(next_s, 0.95), "n": len(next_s)},
            "slice_change_s": {
                "p50": _pct(slice_s, 0.5),
                "p95": _pct(slice_s, 0.95),
                "n": len(slice_s),
            },
            "server_cpu_pct_of_one_core": {
                "mean": statistics.fmean(probe.cpu) if probe.cpu else None,
                "max": max(probe.cpu, default=None),
            },
            "server_rss_mb_peak": max(probe.rss_mb, default=None),
            "errors": errors,
            "scores_acknowledged": sum(r["saved"] for r in readers),
            "scores_stored": sum(check["per_reader"].values()),
            "readers_whose_stored_count_differs": mismatched,
            "assignments_with_two_scores": check["assignments_with_two_scores"],
            "load_average_at_end": os.getloadavg(),
        }
    )
    ok = not errors and not mismatched and check["assignments_with_two_scores"] == 0
    p95 = result["next_item_s"]["p95"]
    result["every_score_stored_once"] = ok
    result["meets_goal"] = bool(ok and p95 is not None and p95 <= GOAL_P95_NEXT_S)
    print(
        f"{args.readers} readers x {items} items (pause {args.pause} s): "
        f"next item p50 {result['next_item_s']['p50']:.2f} s / p95 {p95:.2f} s; "
        f"slice change p50 {result['slice_change_s']['p50'] * 1000:.0f} ms / p95 "
        f"{result['slice_change_s']['p95'] * 1000:.0f} ms"
        if next_s and slice_s
        else f"{args.readers} readers: no latencies measured"
    )
    cpu = result["server_cpu_pct_of_one_core"]
    print(
        f"server CPU mean {cpu['mean'] or 0:.0f} % / max {cpu['max'] or 0:.0f} % of one core, "
        f"peak RSS {result['server_rss_mb_peak'] or 0:.0f} MB; errors {len(errors)}; scores "
        f"acknowledged {result['scores_acknowledged']}, stored {result['scores_stored']}, "
        f"doubled {check['assignments_with_two_scores']}; load average "
        f"{result['load_average_at_start'][0]:.2f} -> {result['load_average_at_end'][0]:.2f}"
    )
    for e in errors[:10]:
        print("  error:", e)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
