"""Bench of the reading transactions on the default SQLite database (WAL, BEGIN IMMEDIATE).

For a study of 30 cases x 4 methods x 3 readers and one of 300 cases x 4 methods x 10
readers, measures the latency of
- ``next item``: ``with session_scope(engine) as s: reading.next_item(s, reader)``,
- one score submission: ``with session_scope(engine) as s: reading.submit_score(...)``,
each timed as the page runs it (a fresh Session per call), readers taken round-robin, on a
database that already holds the scores of the earlier rounds. Reference in the same run:
a bare durable write (one INSERT + COMMIT with the same engine and pragmas), the floor a
submission cannot go below; ratios are given against it. Also: a sign-in at the default
bcrypt cost (12), which should take ~0.2-0.3 s.

Both SQLite durability settings are measured: synchronous=FULL (the default: each commit
fsync'ed) and NORMAL (``LIVSEG_SQLITE_SYNCHRONOUS=NORMAL``). Writes bench/results/scoring.json. Run: ``nice -n 10 python bench/scoring.py [--samples N]``.
Goals: median <= 20 ms and p95 <= 50 ms for both operations. ``--postgres`` adds the same
runs on PostgreSQL (LIVSEG_TEST_POSTGRES_URL or a throw-away local server).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GOALS_MS = {"median": 20.0, "p95": 50.0}
CONFIGS = [(30, 4, 3), (300, 4, 10)]
METHODS = ("unet2d", "unet3d", "attention_unet", "classical")


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    k = 0.95 * (len(ordered) - 1)
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _summary(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "p95_ms": round(_p95(ms), 3),
        "max_ms": round(max(ms), 3),
    }


def build(engine, n_cases: int, n_methods: int, n_readers: int):
    from db import auth, catalog, studies
    from db.access import SYSTEM
    from db.engine import session_scope

    methods = METHODS[:n_methods]
    cases = [f"case_{i:03d}" for i in range(n_cases)]
    with session_scope(engine) as s:
        boss = auth.create_first_coordinator(s, "coord", "bench-coordinator")
        readers = [auth.create_reader(s, boss, f"r{i:02d}")[0] for i in range(n_readers)]
        for m in methods:
            catalog.register_method(s, SYSTEM, m)
        for c in cases:
            catalog.register_case(s, SYSTEM, c, f"/data/{c}.nii.gz", check_files=False)
            for m in methods:
                catalog.register_run(
                    s, SYSTEM, c, m, f"/runs/{m}/{c}.nii.gz", 1.0, check_files=False
                )
        t0 = time.perf_counter()
        sid = studies.create_study(
            s,
            boss,
            "Bench",
            cases=cases,
            methods=list(methods),
            readers=[r.username for r in readers],
            seed=1,
        )
        create_s = time.perf_counter() - t0
        studies.open_study(s, boss, sid)
    return readers, create_s


def reference_write(engine, samples: int) -> list[float]:
    """A bare durable write: INSERT one row + COMMIT (BEGIN IMMEDIATE), same engine."""
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_ref (v INTEGER)"))
    times = []
    for i in range(samples):
        t0 = time.perf_counter()
        with engine.connect() as conn:
            conn = conn.execution_options(livseg_write=True)
            conn.execute(text("INSERT INTO bench_ref (v) VALUES (:v)"), {"v": i})
            conn.commit()
        times.append(time.perf_counter() - t0)
    return times


def run_config(
    n_cases: int, n_methods: int, n_readers: int, samples: int, url: str | None = None
) -> dict:
    """One study size on a new SQLite file (or on the empty database at ``url``)."""
    from db import reading
    from db.engine import dispose_engine, get_engine, init_db, session_scope

    with tempfile.TemporaryDirectory(prefix="livseg-bench-") as tmp:
        engine = get_engine(url or f"sqlite:///{Path(tmp) / 'bench.db'}")
        init_db(engine)
        t0 = time.perf_counter()
        readers, create_s = build(engine, n_cases, n_methods, n_readers)
        build_s = time.perf_counter() - t0
        # warm-up: one round per reader (first queries, caches)
        for reader in readers:
            with session_scope(engine) as s:
                item = reading.next_item(s, reader)
            with session_scope(engine) as s:
                reading.submit_score(s, reader, item.assignment_id, 4, None, 3.0)
        next_times, submit_times = [], []
        for i in range(samples):
            reader = readers[i % len(readers)]
            t0 = time.perf_counter()
            with session_scope(engine) as s:
                item = reading.next_item(s, reader)
            t1 = time.perf_counter()
            with session_scope(engine) as s:
                reading.submit_score(s, reader, item.assignment_id, i % 5 + 1, "bench", 3.0)
            t2 = time.perf_counter()
            next_times.append(t1 - t0)
            submit_times.append(t2 - t1)
        ref = reference_write(engine, samples)
        dispose_engine(engine)
    nxt, sub, ref_s = _summary(next_times), _summary(submit_times), _summary(ref)
    result = {
        "cases": n_cases,
        "methods": n_methods,
        "readers": n_readers,
        "assignments": n_cases * n_methods * n_readers,
        "setup_s": round(build_s, 2),
        "create_study_s": round(create_s, 3),
        "next_item": nxt,
        "submit_score": sub,
        "reference_insert_commit": ref_s,
        "submit_over_reference_median": round(sub["median_ms"] / ref_s["median_ms"], 2),
        "next_item_over_reference_median": round(nxt["median_ms"] / ref_s["median_ms"], 2),
    }
    result["meets_goal"] = all(
        r["median_ms"] <= GOALS_MS["median"] and r["p95_ms"] <= GOALS_MS["p95"] for r in (nxt, sub)
    )
    return result


def login_time(samples: int = 5) -> dict:
    """Sign-in latency at the default bcrypt cost (LIVSEG_BCRYPT_ROUNDS unset)."""
    from db import auth
    from db.engine import dispose_engine, get_engine, init_db, session_scope

    saved = os.environ.pop("LIVSEG_BCRYPT_ROUNDS", None)
    try:
        with tempfile.TemporaryDirectory(prefix="livseg-bench-") as tmp:
            engine = get_engine(f"sqlite:///{Path(tmp) / 'login.db'}")
            init_db(engine)
            with session_scope(engine) as s:
                auth.create_first_coordinator(s, "coord", "bench-password")
            times = []
            for _ in range(samples):
                t0 = time.perf_counter()
                with session_scope(engine) as s:
                    auth.authenticate(s, "coord", "bench-password")
                times.append(time.perf_counter() - t0)
            dispose_engine(engine)
        return {
            "bcrypt_rounds": auth.bcrypt_rounds(),
            "n": samples,
            "median_s": round(statistics.median(times), 3),
        }
    finally:
        if saved is not None:
            os.environ["LIVSEG_BCRYPT_ROUNDS"] = saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=300, help="timed rounds per study")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "scoring.json"))
    parser.add_argument(
        "--only-default",
        action="store_true",
        help="only synchronous=FULL (the default), not also NORMAL",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also on PostgreSQL (LIVSEG_TEST_POSTGRES_URL or a throw-away local server)",
    )
    args = parser.parse_args(argv)
    os.environ["LIVSEG_BCRYPT_ROUNDS"] = "4"  # account set-up only; login timed separately
    results = []
    modes = ["FULL", "NORMAL"] if not args.only_default else ["FULL"]
    for mode, (n_cases, n_methods, n_readers) in [(m, c) for m in modes for c in CONFIGS]:
        os.environ["LIVSEG_SQLITE_SYNCHRONOUS"] = mode
        res = {"synchronous": mode, **run_config(n_cases, n_methods, n_readers, args.samples)}
        results.append(res)
        print(
            f"[synchronous={mode}{' (default)' if mode == 'FULL' else ''}] "
            f"{n_cases} cases x {n_methods} methods x {n_readers} readers "
            f"({res['assignments']} assignments, study created in {res['create_study_s']} s): "
            f"next_item median {res['next_item']['median_ms']} ms p95 "
            f"{res['next_item']['p95_ms']} ms; submit median {res['submit_score']['median_ms']} "
            f"ms p95 {res['submit_score']['p95_ms']} ms; reference INSERT+COMMIT median "
            f"{res['reference_insert_commit']['median_ms']} ms (submit = "
            f"{res['submit_over_reference_median']}x); goal met: {res['meets_goal']}"
        )
    os.environ.pop("LIVSEG_SQLITE_SYNCHRONOUS", None)
    postgres = []
    if args.postgres:
        from tests import postgres_server

        for i, (n_cases, n_methods, n_readers) in enumerate(CONFIGS):
            try:
                url = postgres_server.fresh_database(f"livseg_bench_{os.getpid()}_{i}")
            except postgres_server.PostgresUnavailable as exc:
                print(f"PostgreSQL skipped: {exc}")
                break
            res = run_config(n_cases, n_methods, n_readers, args.samples, url=url)
            postgres.append(res)
            print(
                f"[postgresql] {n_cases} x {n_methods} x {n_readers}: next_item median "
                f"{res['next_item']['median_ms']} ms p95 {res['next_item']['p95_ms']} ms; "
                f"submit median {res['submit_score']['median_ms']} ms p95 "
                f"{res['submit_score']['p95_ms']} ms; reference INSERT+COMMIT median "
                f"{res['reference_insert_commit']['median_ms']} ms"
            )
    login = login_time()
    print(f"sign-in at bcrypt cost {login['bcrypt_rounds']}: median {login['median_s']} s")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "bench": "scoring",
        "goals_ms": GOALS_MS,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "sqlite": results,
        "postgresql": postgres,
        "postgresql_note": "throw-away local server started with fsync=off (tests' settings) "
        "unless LIVSEG_TEST_POSTGRES_URL was set; not a durability-equivalent comparison",
        "login": login,
        "note": "each call timed with its own session_scope, as a page runs it; "
        "single process; the machine was shared with other jobs",
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
