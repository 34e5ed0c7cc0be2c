"""Load bench of the real app: N concurrent readers score their queues through
``streamlit run app.py`` on 127.0.0.1 (issue 14 item 13).

Two kinds of reader, one bench (``--client``):

* ``ws`` (the default for 10 readers or more): a light client that speaks Streamlit's
  websocket protocol (bench/streamlit_ws_client.py: BackMsg reruns with widget states,
  ForwardMsg deltas decoded, no renderer). It does what a reader's browser asks of the server:
  load the page, submit the sign-in form, acknowledge the sign-in cookie component, click a
  score (a fragment rerun), click Submit (the callback stores the score, then a full rerun
  sends the next item with its CT payload). **Next item (ws)** = from the Submit frame sent
  to the next item's viewer element (the component delta carrying its CT payload) received
  and decoded; it includes the server's callback (the score's transaction), the page script's
  full rerun, the payload (cached or built), the transfer over loopback and the protobuf
  parse; it does not include what a browser adds after that (React render, the viewer's
  decode of the payload, the first canvas paint; ~0.1-0.3 s for one reader in
  bench/reading_open.py). ``next_item_run_done_s`` is Submit -> that rerun's
  ``script_finished``.
* ``chromium``: headless Chromium contexts (Playwright), the reader's real browser. With
  ``--client ws``, ``--chromium-readers`` (default 3) extra Chromium readers read beside
  the websocket readers: slice change is measured in a browser only (scrolling never
  reaches the server: ArrowUp -> slice painted, the viewer's own clock), and their Submit ->
  next item *painted* shows what the browser adds under the same load.

Readers' think time: before choosing each item's score a reader looks at the item for a
time drawn from a log-normal distribution (median ``--think`` s, sigma 0.5, clipped to
0.25-4 x the median), seeded per reader (``--seed``); she presses Submit as soon as her
choice is shown. ``--think 0`` is the stress variant (no think time: every reader submits
as fast as the server answers). By default the bench runs both (``--variants``), each on a
fresh workspace and server.

Sampled every 0.5 s from /proc: the server's CPU (the streamlit process and its children,
% of one core) and RSS, the bench's own CPU (this process + its Chromium, without the
server), the whole machine's busy CPU and the load average. At the end the database is read
back: every score a reader saw acknowledged ("Saved: ...") is stored exactly once, no
assignment has two scores; an exception on a page, an ``st.error``, a missing
acknowledgement or a timeout count as errors.

    /work/tools/paused python bench/app_load.py --readers 30      # the goal: p95 <= 3 s
    python bench/app_load.py --readers 5 --client chromium --variants think

Where the tail comes from: every next-item sample is kept (reader, position of the item in
her queue, Submit time since the readers started), split into those submitted while readers
were still signing in and those after the last sign-in, per position and per 10 s of the run.

Prints the figures and writes bench/results/app_load.json: a top-level ``summary``, both
variants under ``runs``, the earlier all-Chromium run, and the file's ``history`` (earlier
runs, moved there by hand) kept as it was.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import math
import os
import random
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from tests.browser_utils import (  # noqa: E402
    CHROMIUM_ARGS,
    chromium_path,
    start_streamlit,
    stop_streamlit,
)

GOAL_P95_NEXT_S = 3.0
PASSWORD = "bench-load-reader-pass-1"
RESULTS = REPO / "bench" / "results" / "app_load.json"
THINK_SIGMA = 0.5
# the last run with 30 Chromium readers (before the websocket client), kept for the record
EARLIER_CHROMIUM_RUN = {
    "commit": "35593ae",
    "client": "chromium (30 headless contexts in one Chromium)",
    "readers": 30,
    "items_per_reader": 3,
    "think": "3.0 s fixed pause per item",
    "next_item_painted_s": {"p50": 8.47, "p95": 15.01, "n": 30},
    "slice_change_s": {"p50": 0.079, "p95": 0.475, "n": 47},
    "server_cpu_pct_of_one_core": {"mean": 23.0, "max": 127.5},
    "server_rss_mb_peak": 499.4,
    "reader_timeouts": 30,
    "scores_acknowledged": 30,
    "scores_stored": 45,
    "assignments_with_two_scores": 0,
    "load_average_1min": [0.52, 2.37],
    "limit": "the bench's own 30 Chromium renderers on the same 2 cores, not the server",
}


# --------------------------------------------------------------------------- workspace


def make_workspace(
    root: Path, names: list[str], n_cases: int, methods: tuple[str, ...], size: str
) -> dict:
    """The demo's files and runs (phantoms of ``size``) + readers ``names`` with a known
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
            session, SYSTEM, DemoConfig(n_cases=n_cases, size=size, methods=methods)
        )
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
    return {"items_per_reader": len(demo.cases) * len(demo.methods)}


# --------------------------------------------------------------------------- think time


class ThinkTime:
    """Seconds a reader looks at an item before scoring it: log-normal, median ``median_s``,
    sigma THINK_SIGMA, clipped to 0.25-4 x the median; one seeded stream per reader."""

    def __init__(self, median_s: float, seed: int, reader_index: int) -> None:
        self.median_s = median_s
        self._rng = random.Random(seed * 100_003 + reader_index)

    def draw(self) -> float:
        if self.median_s <= 0:
            return 0.0
        value = self._rng.lognormvariate(math.log(self.median_s), THINK_SIGMA)
        return min(4 * self.median_s, max(0.25 * self.median_s, value))

    @staticmethod
    def describe(median_s: float, seed: int) -> dict:
        if median_s <= 0:
            return {"model": "none: each reader submits as soon as the server answers"}
        return {
            "model": "log-normal per item, before choosing the score; Submit as soon as "
            "the choice is shown",
            "median_s": median_s,
            "sigma": THINK_SIGMA,
            "clip_s": [0.25 * median_s, 4 * median_s],
            "seed": seed,
        }


# --------------------------------------------------------------------------- probe


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        out.setdefault(ppid, []).append(int(entry.name))
    return out


def _tree(pid: int, children: dict[int, list[int]], skip: set[int] = frozenset()) -> list[int]:
    """``pid`` and its descendants, without the subtrees rooted at ``skip``."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in skip:
            continue
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


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


class Probe(threading.Thread):
    """Every ``every_s``: server CPU (% of one core) and RSS (MB), the bench's own CPU (this
    process and its children other than the server), the machine's busy CPU (% of one
    core, out of cpu_count x 100) and the 1-minute load average."""

    def __init__(self, server_pid: int, every_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.server_pid, self.every_s = server_pid, every_s
        self.server_cpu: list[float] = []
        self.server_rss_mb: list[float] = []
        self.bench_cpu: list[float] = []
        self.machine_cpu: list[float] = []
        self.load1: list[float] = []
        self.t: list[float] = []  # perf_counter of each sample
        self._halt = threading.Event()

    def _sample(self) -> tuple[int, int, int, tuple[int, int]]:
        children = _children()
        server_ticks, rss = _cpu_ticks_and_rss(_tree(self.server_pid, children))
        bench_ticks, _ = _cpu_ticks_and_rss(_tree(os.getpid(), children, {self.server_pid}))
        return server_ticks, rss, bench_ticks, _machine_ticks()

    def run(self) -> None:
        hz = os.sysconf("SC_CLK_TCK")
        ncpu = os.cpu_count() or 1
        last, last_t = self._sample(), time.monotonic()
        while not self._halt.wait(self.every_s):
            now_s, now_t = self._sample(), time.monotonic()
            dt = now_t - last_t
            self.server_cpu.append(100.0 * (now_s[0] - last[0]) / hz / dt)
            self.server_rss_mb.append(now_s[1] / 1024)
            self.bench_cpu.append(100.0 * (now_s[2] - last[2]) / hz / dt)
            busy, total = now_s[3][0] - last[3][0], now_s[3][1] - last[3][1]
            self.machine_cpu.append(100.0 * ncpu * busy / total if total else 0.0)
            self.load1.append(os.getloadavg()[0])
            self.t.append(time.perf_counter())
            last, last_t = now_s, now_t

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)

    def summary(self) -> dict:
        def mm(values: list[float]) -> dict:
            return {
                "mean": statistics.fmean(values) if values else None,
                "max": max(values, default=None),
            }

        return {
            "server_cpu_pct_of_one_core": mm(self.server_cpu),
            "server_rss_mb_peak": max(self.server_rss_mb, default=None),
            "server_rss_mb_start_end": (
                [self.server_rss_mb[0], self.server_rss_mb[-1]] if self.server_rss_mb else None
            ),
            "bench_clients_cpu_pct_of_one_core": mm(self.bench_cpu),
            "machine_busy_cpu_pct_of_one_core": mm(self.machine_cpu),
            "load_average_1min_max": max(self.load1, default=None),
        }


def drain(proc) -> collections.deque:
    """Read the server's log in a thread (a full pipe would stall the server); keep the
    last 200 lines."""
    tail: collections.deque = collections.deque(maxlen=200)

    def run() -> None:
        try:
            for line in proc.stdout:
                tail.append(line.rstrip())
        except (ValueError, OSError):
            pass

    threading.Thread(target=run, daemon=True).start()
    return tail


def start_profiler(pid: int, stem: Path, think_s: float):
    """py-spy (pip install py-spy) sampling the server while the readers run: collapsed
    stacks of every thread, idle ones left out, in ``<stem>-think<s>.txt``."""
    import shutil
    import subprocess

    exe = shutil.which("py-spy")
    if exe is None:
        raise SystemExit("--profile needs py-spy (pip install py-spy)")
    out = stem.with_name(f"{stem.name}-think{think_s:g}.txt")
    cmd = [exe, "record", "-p", str(pid), "-r", "50", "-f", "raw", "-o", str(out)]
    return subprocess.Popen([*cmd, "--nonblocking", "--subprocesses"])


# --------------------------------------------------------------------------- ws reader


def _new_reader_result(username: str, client: str) -> dict:
    return {
        "reader": username,
        "client": client,
        "sign_in_s": None,
        "signed_in_at": None,
        "next_s": [],
        "samples": [],
        "next_done_s": [],
        "choice_s": [],
        "slice_s": [],
        "saved": 0,
        "errors": [],
        "warnings": [],
    }


async def ws_read_queue(
    url: str, username: str, items: int, think: ThinkTime, timeout_s: float
) -> dict:
    """Sign ``username`` in over the websocket protocol and score ``items`` items."""
    from streamlit_ws_client import StreamlitClient

    out = _new_reader_result(username, "ws")
    app = StreamlitClient(url, timeout_s=timeout_s)

    def viewer(page):
        return page.component("slice_viewer")

    try:
        await app.connect()
        page = app.page
        user, pw = page.find("text_input", "Username"), page.find("text_input", "Password")
        sign_in = page.find("button", "Sign in")
        if not (user and pw and sign_in):
            raise RuntimeError(f"no sign-in form on the first page: {page.texts()[:5]}")
        t0 = await app.submit_form(sign_in, {user: username, pw: PASSWORD})
        await app.wait_for(lambda p: viewer(p) is not None)
        out["sign_in_s"] = viewer(page).received_at - t0
        out["signed_in_at"] = viewer(page).received_at
        await app.wait_idle()
        cookie = page.component("session_cookie")
        if cookie is not None:  # the browser stores the cookie and acknowledges it
            nonce = json.loads(cookie.proto.json)["nonce"]
            await app.component_event(cookie, "done", nonce)
            await app.wait_idle()
        for k in range(items):
            await asyncio.sleep(think.draw())
            shown = viewer(page)
            if shown is None:
                raise RuntimeError(f"item {k + 1}: no viewer on the page: {page.texts()[:5]}")
            score = 1 + (k % 5)
            t0 = await app.click(page.find("button", f"{score} –*"))
            await app.wait_for(
                lambda p, s=score: (
                    not p.running and p.find("markdown", f"Your score: **{s}**") is not None
                )
            )
            out["choice_s"].append(time.perf_counter() - t0)
            n_alerts = len(page.alerts)
            t0 = await app.click(page.find("button", "Submit"))
            if k < items - 1:
                await app.wait_for(lambda p, old=shown.id: getattr(viewer(p), "id", old) != old)
                out["next_s"].append(viewer(page).received_at - t0)
                # (position of the next item, Submit sent at [perf_counter], next item s)
                out["samples"].append((k + 1, t0, out["next_s"][-1]))
            else:
                await app.wait_for(lambda p: p.find("alert", "Your queue is complete*"))
            await app.wait_idle()
            out["next_done_s"].append(time.perf_counter() - t0)
            new = page.alerts[n_alerts:]
            if any(body.startswith("Saved: item ") for _, body in new):
                out["saved"] += 1
            else:
                out["errors"].append(f"item {k + 1}: no 'Saved' acknowledgement: {new}")
            out["warnings"] += [body for fmt, body in new if fmt == 2]  # Alert.WARNING
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the others
        out["errors"].append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        await app.close()
    out["errors"] += app.page.errors
    out["errors"] += [f"st.error: {body[:200]}" for fmt, body in app.page.alerts if fmt == 1]
    out["bytes_received"] = app.bytes_received
    return out


# --------------------------------------------------------------------------- chromium reader


async def chromium_read_queue(
    browser, url: str, username: str, items: int, think: ThinkTime, timeout_s: float
) -> dict:
    """Sign in as ``username`` in a browser context and score ``items`` items; per item one
    slice change (ArrowUp -> slice painted) and Submit -> the next item's slice painted."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    out = _new_reader_result(username, "chromium")
    ms = int(timeout_s * 1000)
    try:
        t0 = time.perf_counter()
        await page.goto(url, timeout=ms)
        await page.get_by_label("Username").fill(username, timeout=ms)
        await page.get_by_label("Password", exact=True).fill(PASSWORD, timeout=ms)
        await page.get_by_role("button", name="Sign in").click(timeout=ms)
        await page.wait_for_function("() => window.__viewerStats?.opens.length > 0", timeout=ms)
        out["sign_in_s"] = time.perf_counter() - t0  # includes the page load
        out["signed_in_at"] = time.perf_counter()
        for k in range(items):
            await page.wait_for_timeout(int(think.draw() * 1000))
            # slice change: one ArrowUp in the viewer, key -> slice painted (viewer's clock)
            n_draws = await page.evaluate("window.__viewerStats.draws.length")
            await page.locator(".lsv-root").first.focus()  # as a click into the viewer does
            await page.keyboard.press("ArrowUp")
            await page.wait_for_function(
                f"() => window.__viewerStats.draws.slice({n_draws})"
                ".some(d => d.latency_ms !== undefined)",
                timeout=ms,
            )
            latency = await page.evaluate(
                f"window.__viewerStats.draws.slice({n_draws})"
                ".find(d => d.latency_ms !== undefined).latency_ms"
            )
            out["slice_s"].append(float(latency) / 1000)
            # Submit -> the next item's first slice painted (the last: the "complete" note)
            before = await page.evaluate("window.__viewerStats.opens.length")
            score = 1 + (k % 5)
            await page.get_by_role("button", name=f"{score} –").click(timeout=ms)
            await page.get_by_text(f"Your score: {score}").wait_for(timeout=ms)
            t0 = await page.evaluate("performance.now()")
            t_submit = time.perf_counter()
            await page.get_by_role("button", name="Submit").click(timeout=ms)
            if k < items - 1:
                await page.wait_for_function(
                    f"() => window.__viewerStats.opens.length > {before}", timeout=ms
                )
                painted = await page.evaluate("window.__viewerStats.opens.at(-1).t_painted")
                out["next_s"].append((float(painted) - float(t0)) / 1000)
                out["samples"].append((k + 1, t_submit, out["next_s"][-1]))
            else:
                await page.get_by_text("Your queue is complete").wait_for(timeout=ms)
            out["saved"] += 1
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the others
        out["errors"].append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        await context.close()
    return out


async def drive(
    url: str,
    ws_names: list[str],
    chromium_names: list[str],
    items: int,
    think_s: float,
    seed: int,
    stagger_s: float,
    timeout_s: float,
) -> list[dict]:
    """All readers at once (sign-ins ``stagger_s`` apart); their results."""
    names = ws_names + chromium_names

    async def one(i: int, name: str, browser) -> dict:
        await asyncio.sleep(i * stagger_s)  # readers do not all sign in at one instant
        think = ThinkTime(think_s, seed, i)
        if browser is None:
            return await ws_read_queue(url, name, items, think, timeout_s)
        return await chromium_read_queue(browser, url, name, items, think, timeout_s)

    if not chromium_names:
        return await asyncio.gather(*(one(i, n, None) for i, n in enumerate(names)))
    from playwright.async_api import async_playwright

    exe = chromium_path()
    if exe is None:
        raise SystemExit("no Chromium found: install Debian's chromium or set LIVSEG_CHROMIUM")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        try:
            return await asyncio.gather(
                *(one(i, n, browser if n in chromium_names else None) for i, n in enumerate(names))
            )
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


def _dist(values: list[float]) -> dict:
    return {"p50": _pct(values, 0.5), "p95": _pct(values, 0.95), "n": len(values)}


# --------------------------------------------------------------------------- one run


def run_variant(args, think_s: float) -> dict:
    """One bench run on a fresh workspace and server; its result."""
    if args.client == "ws":
        ws_names = [f"load{i:02d}" for i in range(1, args.readers + 1)]
        chromium_names = [f"view{i:02d}" for i in range(1, args.chromium_readers + 1)]
    else:
        ws_names, chromium_names = [], [f"load{i:02d}" for i in range(1, args.readers + 1)]
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    result: dict = {
        "client": args.client,
        "readers_ws": len(ws_names),
        "readers_chromium": len(chromium_names),
        "think_time": ThinkTime.describe(think_s, args.seed),
        "cases": args.cases,
        "methods": list(methods),
        "size": args.size,
        "server_options": list(args.server_option),
        "load_average_at_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="livseg-load-") as tmp:
        root = Path(tmp) / "workspace"
        root.mkdir()
        t0 = time.perf_counter()
        setup = make_workspace(root, ws_names + chromium_names, args.cases, methods, args.size)
        result["setup_s"] = time.perf_counter() - t0
        items = args.items or setup["items_per_reader"]
        result["items_per_reader"] = items
        env = {"LIVSEG_WORKSPACE": str(root), "LIVSEG_BCRYPT_ROUNDS": "12"}
        extra = [f"--{opt.split('=', 1)[0]}={opt.split('=', 1)[1]}" for opt in args.server_option]
        url, proc = start_streamlit(REPO / "app.py", env=env, timeout=180, extra_args=extra)
        log_tail = drain(proc)
        probe = Probe(proc.pid)
        probe.start()
        spy = start_profiler(proc.pid, args.profile, think_s) if args.profile else None
        t_run = time.perf_counter()
        try:
            readers = asyncio.run(
                drive(
                    url,
                    ws_names,
                    chromium_names,
                    items,
                    think_s,
                    args.seed,
                    args.stagger,
                    args.timeout,
                )
            )
        finally:
            probe.stop()
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                spy.wait(timeout=60)
            stop_streamlit(proc)
        result["run_s"] = time.perf_counter() - t_run
        check = stored_scores(root)

    def gather(key: str, client: str) -> list[float]:
        return [t for r in readers if r["client"] == client for t in r[key]]

    errors = [f"{r['reader']}: {e}" for r in readers for e in r["errors"]]
    mismatched = [
        r["reader"] for r in readers if check["per_reader"].get(r["reader"], 0) != r["saved"]
    ]
    main = "ws" if ws_names else "chromium"
    result.update(
        {
            "next_item_s": {
                **_dist(gather("next_s", main)),
                "what": (
                    "Submit frame sent -> the next item's viewer delta (with its CT payload) "
                    "received and decoded by the websocket client; no browser render/paint"
                    if main == "ws"
                    else "Submit click -> the next item's first slice painted (Chromium)"
                ),
            },
            "next_item_run_done_s": _dist(gather("next_done_s", "ws")),
            "choice_s": _dist(gather("choice_s", "ws")),
            "sign_in_s": _dist([r["sign_in_s"] for r in readers if r["sign_in_s"] is not None]),
            "chromium_next_item_painted_s": _dist(gather("next_s", "chromium")),
            "slice_change_s": {
                **_dist(gather("slice_s", "chromium")),
                "what": "Chromium readers: ArrowUp -> slice painted (browser only)",
            },
            **probe.summary(),
            "errors": errors,
            "warnings": [f"{r['reader']}: {w}" for r in readers for w in r["warnings"]],
            "scores_acknowledged": sum(r["saved"] for r in readers),
            "scores_stored": sum(check["per_reader"].values()),
            "readers_whose_stored_count_differs": mismatched,
            "assignments_with_two_scores": check["assignments_with_two_scores"],
            "ws_mb_received_per_reader": statistics.fmean(
                [r["bytes_received"] / 1e6 for r in readers if "bytes_received" in r] or [0]
            ),
            "server_log_tracebacks": sum("Traceback" in line for line in log_tail),
            "load_average_at_end": os.getloadavg(),
            "tail": tail_analysis(readers, main, t_run),
            "chromium_tail": tail_analysis(readers, "chromium", t_run) if main == "ws" else None,
            "timeline_columns": ["s", "server_rss_mb", "server_cpu_pct", "load1"],
            "timeline": timeline(probe, t_run),
        }
    )
    expected = len(readers) * items
    ok = (
        not errors
        and not mismatched
        and check["assignments_with_two_scores"] == 0
        and result["scores_stored"] == expected
    )
    p95 = result["next_item_s"]["p95"]
    result["every_score_stored_once"] = ok
    result["meets_goal"] = bool(ok and p95 is not None and p95 <= GOAL_P95_NEXT_S)
    return result


def timeline(probe: Probe, t_run: float, every_s: float = 5.0) -> list[list[float]]:
    """[s since the readers started, server RSS MB, server CPU %, load average] every
    ``every_s`` (the probe's samples thinned)."""
    out, next_t = [], 0.0
    for t, rss, cpu, load in zip(
        probe.t, probe.server_rss_mb, probe.server_cpu, probe.load1, strict=False
    ):
        if t - t_run >= next_t:
            out.append([round(t - t_run, 1), round(rss, 1), round(cpu), round(load, 2)])
            next_t += every_s
    return out


def tail_analysis(readers: list[dict], client: str, t_run: float) -> dict:
    """Where the next-item tail comes from: every sample (reader, position of the next item
    in her queue, Submit sent in s since the readers started, next item s); the figures for
    the items submitted while readers were still signing in and after the last sign-in;
    per item position and per 10 s of the run; the slowest samples."""
    rows = [
        [r["reader"], k, round(t - t_run, 2), round(v, 3)]
        for r in readers
        if r["client"] == client
        for k, t, v in r["samples"]
    ]
    signed = [r["signed_in_at"] for r in readers if r["signed_in_at"] is not None]
    last_sign_in = max(signed) - t_run if signed else None
    after = [v for _, _, t, v in rows if last_sign_in is not None and t >= last_sign_in]
    during = [v for _, _, t, v in rows if last_sign_in is None or t < last_sign_in]
    by_pos: dict[int, list[float]] = {}
    by_bin: dict[int, list[float]] = {}
    for _, k, t, v in rows:
        by_pos.setdefault(k, []).append(v)
        by_bin.setdefault(int(t // 10) * 10, []).append(v)
    over = [row for row in rows if row[3] > GOAL_P95_NEXT_S]
    return {
        "last_sign_in_done_s": last_sign_in,
        "next_item_submitted_during_sign_ins_s": _dist(during),
        "next_item_submitted_after_last_sign_in_s": _dist(after),
        "next_item_by_position_s": {str(k): _dist(v) for k, v in sorted(by_pos.items())},
        "next_item_by_10s_of_run_s": {f"{b}-{b + 10}": _dist(v) for b, v in sorted(by_bin.items())},
        "samples_over_goal": len(over),
        "readers_with_a_sample_over_goal": len({row[0] for row in over}),
        "slowest": sorted(rows, key=lambda row: -row[3])[:10],
        "samples_columns": ["reader", "position", "submit_at_s", "next_item_s"],
        "samples": sorted(rows, key=lambda row: row[2]),
    }


def _ms(d: dict) -> str:
    if not d.get("n"):
        return "-"
    return f"p50 {d['p50'] * 1000:.0f} ms / p95 {d['p95'] * 1000:.0f} ms (n {d['n']})"


def report(name: str, r: dict) -> None:
    cpu, bench = r["server_cpu_pct_of_one_core"], r["bench_clients_cpu_pct_of_one_core"]
    machine = r["machine_busy_cpu_pct_of_one_core"]
    print(
        f"[{name}] {r['readers_ws']} ws + {r['readers_chromium']} Chromium readers x "
        f"{r['items_per_reader']} items, think {r['think_time'].get('median_s', 0)} s median"
    )
    print(
        f"  next item ({r['client']}): {_ms(r['next_item_s'])}; run done {_ms(r['next_item_run_done_s'])}"
    )
    print(
        f"  Chromium next item painted {_ms(r['chromium_next_item_painted_s'])}; "
        f"slice change {_ms(r['slice_change_s'])}; sign-in {_ms(r['sign_in_s'])}"
    )
    print(
        f"  server CPU mean {cpu['mean'] or 0:.0f} % / max {cpu['max'] or 0:.0f} % of one core, "
        f"peak RSS {r['server_rss_mb_peak'] or 0:.0f} MB; bench clients CPU mean "
        f"{bench['mean'] or 0:.0f} %; machine busy mean {machine['mean'] or 0:.0f} % "
        f"of {100 * (os.cpu_count() or 1)} %"
    )
    print(
        f"  errors {len(r['errors'])}; scores acknowledged {r['scores_acknowledged']}, stored "
        f"{r['scores_stored']}, doubled {r['assignments_with_two_scores']}; load average "
        f"{r['load_average_at_start'][0]:.2f} -> max {r['load_average_1min_max'] or 0:.2f} -> "
        f"{r['load_average_at_end'][0]:.2f}; meets goal: {r['meets_goal']}"
    )
    tail = r["tail"]
    print(
        f"  last sign-in done at {tail['last_sign_in_done_s'] or 0:.1f} s; next item during "
        f"sign-ins {_ms(tail['next_item_submitted_during_sign_ins_s'])}, after "
        f"{_ms(tail['next_item_submitted_after_last_sign_in_s'])}; {tail['samples_over_goal']} "
        f"samples over {GOAL_P95_NEXT_S} s from {tail['readers_with_a_sample_over_goal']} readers"
    )
    rss = r["server_rss_mb_start_end"] or [0, 0]
    print(
        f"  server RSS start {rss[0]:.0f} MB, peak {r['server_rss_mb_peak'] or 0:.0f} MB, "
        f"end {rss[1]:.0f} MB"
    )
    for e in r["errors"][:10]:
        print("  error:", e)


def summary(runs: dict, args) -> dict:
    """The headline figures of this invocation, per variant (seconds, rounded)."""

    def r(d: dict) -> dict:
        return {k: (round(d[k], 2) if d.get(k) is not None else None) for k in ("p50", "p95")}

    out: dict = {
        "config": "as committed (.streamlit/config.toml)"
        + (f" + {', '.join(args.server_option)}" if args.server_option else ""),
        "readers": f"{args.readers} ws + {args.chromium_readers if args.client == 'ws' else 0}"
        " Chromium",
        "goal": f"next item p95 <= {GOAL_P95_NEXT_S} s",
    }
    for name, run in runs.items():
        tail = run["tail"]
        rss = run["server_rss_mb_start_end"] or [None, None]
        out[name] = {
            "next_item_s": r(run["next_item_s"]),
            "next_item_after_last_sign_in_s": r(tail["next_item_submitted_after_last_sign_in_s"]),
            "next_item_during_sign_ins_s": r(tail["next_item_submitted_during_sign_ins_s"]),
            "chromium_next_item_painted_s": r(run["chromium_next_item_painted_s"]),
            "sign_in_s": r(run["sign_in_s"]),
            "server_cpu_mean_pct_of_one_core": round(run["server_cpu_pct_of_one_core"]["mean"]),
            "server_rss_mb_start_peak_end": [
                round(v) if v is not None else None
                for v in (rss[0], run["server_rss_mb_peak"], rss[1])
            ],
            "load_average_1min_start_max_end": [
                round(run["load_average_at_start"][0], 1),
                round(run["load_average_1min_max"] or 0, 1),
                round(run["load_average_at_end"][0], 1),
            ],
            "errors": len(run["errors"]),
            "every_score_stored_once": run["every_score_stored_once"],
            "meets_goal": run["meets_goal"],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--readers", type=int, default=30, help="concurrent readers (goal: 30)")
    ap.add_argument(
        "--client",
        choices=("ws", "chromium"),
        default=None,
        help="reader client (default: ws for 10 readers or more, else chromium)",
    )
    ap.add_argument(
        "--chromium-readers",
        type=int,
        default=3,
        help="with --client ws: extra Chromium readers (slice change, next item painted)",
    )
    ap.add_argument("--cases", type=int, default=2, help="demo cases")
    ap.add_argument("--size", choices=("small", "full"), default="small", help="phantom size")
    ap.add_argument("--methods", default="classical,unet2d", help="demo methods (comma list)")
    ap.add_argument("--items", type=int, default=0, help="items per reader (0: her queue)")
    ap.add_argument("--think", type=float, default=3.0, help="median think time per item (s)")
    ap.add_argument(
        "--variants",
        default="think,no_think",
        help="comma list: think (--think s), no_think (stress: 0 s)",
    )
    ap.add_argument("--seed", type=int, default=1, help="seed of the think times")
    ap.add_argument("--stagger", type=float, default=0.5, help="seconds between sign-ins")
    ap.add_argument("--timeout", type=float, default=120.0, help="per step, seconds")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument(
        "--server-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a streamlit option for the server, e.g. runner.postScriptGC=false (repeatable)",
    )
    ap.add_argument(
        "--profile", type=Path, default=None, help="py-spy the server: collapsed stacks to PATH-*"
    )
    args = ap.parse_args(argv)
    if args.client is None:
        args.client = "ws" if args.readers >= 10 else "chromium"
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(variants) - {"think", "no_think"}
    if unknown:
        ap.error(f"unknown variants: {sorted(unknown)}")
    out: dict = {
        "what": "N readers scoring their queues in the real app (streamlit run app.py)",
        "cpu_count": os.cpu_count(),
        "goal_p95_next_s": GOAL_P95_NEXT_S,
        "runs": {},
    }
    ok = True
    for name in variants:
        result = run_variant(args, args.think if name == "think" else 0.0)
        out["runs"][name] = result
        report(name, result)
        ok = ok and result["every_score_stored_once"]
    out["summary"] = summary(out["runs"], args)
    out["earlier_chromium_only_run"] = EARLIER_CHROMIUM_RUN
    if args.out.exists():  # earlier runs kept for the record (moved there by hand)
        out["history"] = json.loads(args.out.read_text()).get("history", {})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
