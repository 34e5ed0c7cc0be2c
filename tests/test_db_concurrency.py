"""Concurrency and crash safety of score submission (SQLite file and PostgreSQL).

- 30 readers in 30 threads (+10 second tabs) and 30 readers in 30 separate processes
  submit at once: every score stored exactly once, none lost, no error reaches a reader.
- A process killed with SIGKILL in the middle of a burst leaves a consistent database
  holding every score it acknowledged.
- A writer that finds SQLite locked retries instead of failing.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from db import auth, reading
from db.engine import dispose_engine, get_engine, session_scope
from tests.db_support import backend_params, open_test_engine, populate

REPO = Path(__file__).resolve().parents[1]
N_READERS = 30
ITEMS = 4  # per reader: 2 cases x 2 methods


@pytest.fixture(params=backend_params())
def db_engine(request, monkeypatch):
    yield from open_test_engine(request.param, monkeypatch, durable=True)


def expected_score(assignment_id: int) -> int:
    return assignment_id % 5 + 1


def _read_all(reader, engine) -> list[str]:
    """One tab of one reader: score every item, each submitted twice (a double click)."""
    statuses = []
    with session_scope(engine) as s:
        while (item := reading.next_item(s, reader)) is not None:
            aid = item.assignment_id
            for _ in range(2):
                result = reading.submit_score(
                    s, reader, aid, expected_score(aid), None, 1.5, client_token=f"tab-{aid}"
                )
                statuses.append(result.status)
    return statuses


def _check_every_score_once(engine, n_expected: int) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.id, COUNT(s.id), MIN(s.value) FROM assignments a "
                "LEFT JOIN scores s ON s.assignment_id = a.id GROUP BY a.id"
            )
        ).all()
        creates = conn.execute(
            text("SELECT COUNT(*) FROM audit_events WHERE action = 'score.create'")
        ).scalar_one()
    assert len(rows) == n_expected
    assert [r for r in rows if r[1] != 1] == []  # every assignment: exactly one score
    assert [r for r in rows if r[2] != expected_score(r[0])] == []
    assert creates == n_expected


def test_30_reader_threads_and_second_tabs_store_every_score_once(db_engine):
    setup = populate(db_engine, n_cases=2, methods=("unet2d", "classical"), n_readers=N_READERS)
    tabs = list(setup.readers) + list(setup.readers[:10])  # 10 readers with two tabs
    barrier = threading.Barrier(len(tabs))
    statuses: list[str] = []
    errors: list[str] = []

    def run(reader):
        try:
            barrier.wait(timeout=60)
            statuses.extend(_read_all(reader, db_engine))
        except Exception as exc:  # any error reaching a reader fails the test
            errors.append(f"{reader.username}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=(r,)) for r in tabs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert statuses.count("created") == N_READERS * ITEMS
    assert set(statuses) <= {"created", "duplicate"}
    _check_every_score_once(db_engine, N_READERS * ITEMS)


def _process_reader(url, username, password, barrier, queue):
    """Child process: its own engine, sign-in, then read everything (double clicks)."""
    try:
        engine = get_engine(url)
        barrier.wait(timeout=60)
        with session_scope(engine) as s:
            reader = auth.authenticate(s, username, password)
        statuses = _read_all(reader, engine)
        queue.put((username, "ok", statuses.count("created")))
    except Exception as exc:
        queue.put((username, "error", f"{type(exc).__name__}: {exc}"))


def test_30_reader_processes_store_every_score_once(db_engine):
    setup = populate(db_engine, n_cases=2, methods=("unet2d", "classical"), n_readers=N_READERS)
    url = db_engine.url.render_as_string(hide_password=False)
    db_engine.dispose()  # no pooled connection crosses the fork
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(N_READERS), ctx.Queue()
    procs = [
        ctx.Process(
            target=_process_reader,
            args=(url, r.username, setup.passwords[r.username], barrier, queue),
        )
        for r in setup.readers
    ]
    for p in procs:
        p.start()
    reports = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * N_READERS
    assert [r for r in reports if r[1] != "ok"] == []
    assert sorted(r[2] for r in reports) == [ITEMS] * N_READERS
    _check_every_score_once(db_engine, N_READERS * ITEMS)


CHILD = """
import sys
from db import auth, reading
from db.engine import get_engine, session_scope
url, username, password = sys.argv[1:4]
engine = get_engine(url)
with session_scope(engine) as s:
    reader = auth.authenticate(s, username, password)
    print("ready", flush=True)
    while (item := reading.next_item(s, reader)) is not None:
        aid = item.assignment_id
        result = reading.submit_score(s, reader, aid, aid % 5 + 1, "burst", 0.5)
        print(result.assignment_id, flush=True)  # acknowledged only after the commit
"""


def test_sigkill_mid_burst_keeps_every_acknowledged_score(db_engine):
    setup = populate(db_engine, n_cases=40, methods=("unet2d", "classical"), n_readers=1)
    reader = setup.readers[0]
    url = db_engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, reader.username, setup.passwords[reader.username]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    acknowledged: list[int] = []
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        while len(acknowledged) < 25:
            line = child.stdout.readline()
            assert line, f"child ended early: {child.stderr.read()}"
            acknowledged.append(int(line))
        time.sleep(0.003)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        rest, _ = child.communicate(timeout=30)
    acknowledged += [int(x) for x in rest.split()]
    assert child.returncode == -signal.SIGKILL
    assert 25 <= len(acknowledged) < 80  # killed mid-burst, not after the end

    if db_engine.dialect.name == "sqlite":
        raw = sqlite3.connect(db_engine.url.database)
        try:
            assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
        finally:
            raw.close()
    dispose_engine(db_engine)
    engine = get_engine(url)
    with engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT assignment_id, value FROM scores")).all())
        creates = conn.execute(
            text("SELECT COUNT(*) FROM audit_events WHERE action = 'score.create'")
        ).scalar_one()
    missing = [a for a in acknowledged if stored.get(a) != expected_score(a)]
    assert missing == []
    # at most one score committed whose acknowledgement the kill cut off
    assert len(acknowledged) <= len(stored) <= len(acknowledged) + 1
    assert creates == len(stored)  # score and its audit event: one transaction
    # reading resumes right after the last stored score and completes
    with session_scope(engine) as s:
        item = reading.next_item(s, reader)
        assert item.position == len(stored) + 1
        reading.submit_score(s, reader, item.assignment_id, 3, None, 1.0)
    dispose_engine(engine)


def test_submit_retries_while_sqlite_is_locked(_isolated_workspace, monkeypatch):
    """Another process holds the write lock longer than the busy timeout: the submit waits
    through retries and succeeds; no 'database is locked' reaches the reader."""
    import db.engine as engine_module

    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 20)
    monkeypatch.setenv("LIVSEG_BCRYPT_ROUNDS", "4")
    engine = get_engine()
    engine_module.init_db(engine)
    setup = populate(engine, n_cases=1, methods=("unet2d",), n_readers=1)
    reader = setup.readers[0]
    with session_scope(engine) as s:
        item = reading.next_item(s, reader)
    locker = sqlite3.connect(
        _isolated_workspace / "livseg.db", isolation_level=None, check_same_thread=False
    )
    locker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.4, lambda: locker.execute("COMMIT"))
    release.start()
    try:
        start = time.perf_counter()
        with session_scope(engine) as s:
            result = reading.submit_score(s, reader, item.assignment_id, 5, None, 1.0)
        waited = time.perf_counter() - start
    finally:
        release.join()
        locker.close()
        dispose_engine(engine)
    assert result.status == "created"
    assert waited >= 0.35  # it really waited for the lock (busy timeout alone is 20 ms)


def test_two_tabs_racing_on_the_same_item_store_one_score(db_engine):
    """Both tabs submit the same item at the same instant, 8 times over: each time exactly
    one 'created'; the other tab gets 'duplicate' (same answer) or a clear ScoreLocked
    (different answer, edits forbidden), never a database error."""
    from db.errors import ScoreLocked

    setup = populate(db_engine, n_cases=4, methods=("unet2d", "classical"), n_readers=1)
    reader = setup.readers[0]
    outcomes: list[tuple[str, str]] = []
    for round_no in range(8):
        with session_scope(db_engine) as s:
            aid = reading.next_item(s, reader).assignment_id
        barrier = threading.Barrier(2)
        got: list[str] = []

        def tab(value: int, got=got, barrier=barrier, aid=aid) -> None:
            barrier.wait(timeout=30)
            try:
                with session_scope(db_engine) as s:
                    got.append(reading.submit_score(s, reader, aid, value, None, 1.0).status)
            except ScoreLocked:
                got.append("locked")
            except Exception as exc:
                got.append(f"error {type(exc).__name__}: {exc}")

        same = round_no % 2 == 0
        value = expected_score(aid)
        other = value if same else value % 5 + 1
        threads = [threading.Thread(target=tab, args=(v,)) for v in (value, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        outcomes.append(tuple(sorted(got)))
        assert sorted(got) == (["created", "duplicate"] if same else ["created", "locked"])
    with db_engine.connect() as conn:
        n_scores = conn.execute(text("SELECT COUNT(*) FROM scores")).scalar_one()
        n_creates = conn.execute(
            text("SELECT COUNT(*) FROM audit_events WHERE action = 'score.create'")
        ).scalar_one()
    assert (n_scores, n_creates, len(outcomes)) == (8, 8, 8)
