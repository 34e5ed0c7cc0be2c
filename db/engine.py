"""The database engine, sessions, migrations and the write-transaction helper.

Default database: the SQLite file ``livseg.db`` in the workspace folder
(``livseg.workspace.workspace_dir()``), in WAL mode with foreign keys on, a busy
timeout and ``synchronous=FULL`` (see ``sqlite_synchronous``). Any SQLAlchemy URL can be given instead through ``LIVSEG_DATABASE_URL`` (or the
``url`` argument), e.g. ``postgresql+psycopg://user:pw@host/livseg``.

On SQLite, write transactions start with ``BEGIN IMMEDIATE`` (the write lock is taken at
the start, so two writers never deadlock on a lock upgrade) and read transactions with a
plain ``BEGIN``. ``write_transaction`` is the unit of work: the outermost call on a session
owns the one transaction (nested db functions only flush into it) and retries it when it
found the database locked, with jittered exponential backoff, so "database is locked" never
reaches a user and a failure half-way leaves nothing behind. A write waits for a database
that makes no progress at most ``busy_budget_s()`` (5 s, ``LIVSEG_DB_BUSY_S``), then raises
``DatabaseBusy`` (the Reading page shows it and keeps the answer for a retry) and records
the event in ``busy_log_path()`` (``<workspace>/logs/database-busy.jsonl``).
"""

from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from db.errors import DatabaseBusy

T = TypeVar("T")

DATABASE_URL_ENV = "LIVSEG_DATABASE_URL"
SYNCHRONOUS_ENV = "LIVSEG_SQLITE_SYNCHRONOUS"
SQLITE_BUSY_TIMEOUT_MS = 10_000
WRITE_OPTION = "livseg_write"
BUSY_MS_OPTION = "livseg_busy_ms"  # how long this write may wait for the lock (ms)
BUSY_BUDGET_ENV = "LIVSEG_DB_BUSY_S"
DEFAULT_BUSY_BUDGET_S = 5.0  # a write gives up after this long without any progress
MAX_CONTENDED_S = 60.0  # ... and after this long in all, even while others commit
BUSY_CHECK_MS = 1000  # each try waits at most this long for the lock
BUSY_MESSAGE = (
    "The database is busy with other work (waited {s:.0f} s); nothing was saved. "
    "Please try again in a moment."
)
log = logging.getLogger("livseg.db")
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_engines: dict[tuple[int, str], Engine] = {}
_initialised: set[tuple[int, str]] = set()
_lock = threading.Lock()
_init_lock = threading.Lock()
_PG_MIGRATION_LOCK = 7_405_921_001  # arbitrary constant key of pg_advisory_xact_lock


def default_url() -> str:
    """``LIVSEG_DATABASE_URL`` if set, else the workspace's SQLite file."""
    from livseg.workspace import workspace_dir

    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    return url or f"sqlite:///{workspace_dir() / 'livseg.db'}"


def sqlite_synchronous() -> str:
    """SQLite's ``synchronous`` setting: ``LIVSEG_SQLITE_SYNCHRONOUS`` (FULL or NORMAL).

    FULL (default): every commit is fsync'ed before the function returns, so an
    acknowledged score survives a power cut too (about +4-10 ms a write here). NORMAL (WAL):
    safe against process crashes and corruption, but the last commits can be lost on a
    power cut.
    """
    value = os.environ.get(SYNCHRONOUS_ENV, "").strip().upper() or "FULL"
    if value not in ("FULL", "NORMAL"):
        raise ValueError(f"{SYNCHRONOUS_ENV} must be FULL or NORMAL, got {value!r}")
    return value


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    """``PRAGMA journal_mode = WAL``, waiting up to the busy timeout for the lock.

    On a file still in rollback-journal mode (a brand-new database) the switch needs the
    write lock, and SQLite answers "database is locked" at once, without its busy handler,
    while another connection holds it (another process converting or migrating the same new
    file). Once a file is in WAL mode the pragma takes no lock.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))


def _configure_sqlite(engine: Engine) -> None:
    synchronous = sqlite_synchronous()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # pragma: no cover - driver hook
        # let SQLAlchemy (below) emit BEGIN itself instead of the sqlite3 module
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        _enable_wal(cursor)
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        options = conn.get_execution_options()
        if options.get(WRITE_OPTION):
            if options.get(BUSY_MS_OPTION) is not None:  # what is left of the budget
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(options[BUSY_MS_OPTION])}")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: ``default_url()``), one per URL and process.

    Does not create tables: call ``init_db(engine)`` once at start-up (the app and the CLI do).
    """
    url = url or default_url()
    key = (os.getpid(), url)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            if url.startswith("sqlite"):
                if url.startswith("sqlite:///") and ":memory:" not in url:
                    Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(
                        parents=True, exist_ok=True
                    )
                engine = create_engine(
                    url,
                    connect_args={
                        "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                        "check_same_thread": False,
                    },
                    pool_size=20,
                    max_overflow=20,
                )
                _configure_sqlite(engine)
            else:
                engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=30)
            _engines[key] = engine
        return engine


def _alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def init_db(engine: Engine) -> None:
    """Create or upgrade the schema to the newest migration (idempotent, cheap when current).

    Runs inside one write transaction (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
    PostgreSQL), so processes starting at the same time do not race.
    """
    key = (os.getpid(), str(engine.url))
    if key in _initialised:
        return
    from alembic import command

    with _init_lock:  # Alembic's context is process-global: one migration at a time
        if key in _initialised:
            return
        cfg = _alembic_config()
        with engine.connect() as conn:
            conn = conn.execution_options(**{WRITE_OPTION: True})
            if conn.dialect.name == "postgresql":
                # other processes wait here until this migration commits
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            else:
                # BEGIN IMMEDIATE now: Alembic then runs every step inside this one
                # transaction (an external one) instead of committing after each migration
                # (its SQLite default), which let a second process take the lock between two
                # steps and repeat a step this process had planned
                conn.begin()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
        _initialised.add(key)


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None before ``init_db``)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """The newest migration shipped with this code."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def new_session(engine: Engine | None = None) -> Session:
    """A plain Session on ``engine`` (default engine if None); objects stay usable after commit."""
    return Session(engine or get_engine(), expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """``with session_scope(engine) as session:`` committed on success, rolled back on error."""
    session = new_session(engine)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_sqlite(session_or_engine: Session | Engine) -> bool:
    """True when the session's / engine's database is SQLite."""
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else session_or_engine
    )
    return bind.dialect.name == "sqlite"


def _is_retryable(exc: DBAPIError) -> bool:
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        text = str(orig).lower()
        return "locked" in text or "busy" in text
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    # PostgreSQL: serialization_failure, deadlock_detected, lock_not_available (lock_timeout)
    return code in ("40001", "40P01", "55P03")


def busy_budget_s() -> float:
    """Seconds a write transaction may wait for other writers, all retries together:
    ``LIVSEG_DB_BUSY_S`` or 5. Then ``DatabaseBusy`` (the page keeps the user's answer)."""
    raw = os.environ.get(BUSY_BUDGET_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_BUSY_BUDGET_S
    except ValueError:
        raise ValueError(f"{BUSY_BUDGET_ENV} must be a number of seconds, got {raw!r}") from None
    if not 0 < value <= 600:
        raise ValueError(f"{BUSY_BUDGET_ENV} must be in (0, 600] seconds, got {raw!r}")
    return value


def busy_log_path() -> Path:
    """The JSON-lines file of writes that gave up on a busy database (for the coordinator)."""
    from livseg.workspace import workspace_dir

    return workspace_dir() / "logs" / "database-busy.jsonl"


def _record_busy(work: Callable, waited_s: float, attempts: int, exc: BaseException) -> None:
    """Log a write that gave up: the app's log and ``busy_log_path()`` (never the database,
    which is what is busy). Never raises."""
    action = getattr(work, "__qualname__", repr(work)).split(".<locals>")[0]
    event_record = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "action": action,
        "waited_s": round(waited_s, 2),
        "attempts": attempts,
        "error": str(getattr(exc, "orig", exc))[:200],
        "pid": os.getpid(),
    }
    log.warning("database busy: %s gave up after %.1f s", action, waited_s)
    try:
        path = busy_log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(event_record) + "\n")
    except OSError:
        log.exception("cannot write %s", busy_log_path())


def busy_events(limit: int = 100) -> list[dict]:
    """The last ``limit`` writes that gave up on a busy database, oldest first."""
    path = busy_log_path()
    if not path.is_file():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines()[-limit:]:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


UNIT_OF_WORK_KEY = "livseg_unit_of_work"  # session.info flag: a unit of work is open
WROTE_KEY = "livseg_wrote"  # session.info flag: this transaction flushed changes
# how often a PostgreSQL unique-constraint race (two transactions inserting the same name)
# is retried: the retry sees the other transaction's row and takes the "exists" path
UNIQUE_RACE_ATTEMPTS = 3


@event.listens_for(Session, "after_flush")
def _mark_wrote(session: Session, _flush_context) -> None:  # pragma: no cover - ORM hook
    session.info[WROTE_KEY] = True


@event.listens_for(Session, "after_transaction_end")
def _clear_wrote(session: Session, transaction) -> None:  # pragma: no cover - ORM hook
    if transaction.parent is None:
        session.info.pop(WROTE_KEY, None)


class PendingChanges(RuntimeError):
    """A write transaction was asked for on a session holding changes nobody committed."""


def in_unit_of_work(session: Session) -> bool:
    """True while ``session`` runs inside :func:`write_transaction` (the caller's unit)."""
    return bool(session.info.get(UNIT_OF_WORK_KEY))


def has_pending_changes(session: Session) -> bool:
    """True when ``session`` holds changes not yet committed (unflushed or flushed)."""
    return bool(session.new or session.dirty or session.deleted or session.info.get(WROTE_KEY))


def _is_unique_race(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code == "23505"  # PostgreSQL unique_violation


def write_transaction(
    session: Session, work: Callable[[], T], *, attempts: int = 500, first_wait_s: float = 0.02
) -> T:
    """Run ``work()`` as ONE unit of work on ``session`` and commit it; returns its result.

    The unit of work is the outermost call: a db function that calls ``write_transaction``
    while another one is running on the same session (``record_run`` registering a method,
    a run and its metrics; ``register_demo``; a service call) only runs its ``work`` inside
    the caller's transaction (its changes are flushed, not committed) and the outermost call
    commits everything at once or nothing. Retries happen at that boundary only: a
    transaction that finds the database locked (SQLite) or hits a serialisation failure /
    deadlock (PostgreSQL) is rolled back and the whole ``work`` re-run, with jittered
    exponential backoff (from ``first_wait_s``, at most 1 s a wait), up to ``attempts``
    tries, then ``DatabaseBusy`` (recorded in ``busy_log_path()`` for the coordinator). It
    gives up once the database made no progress for ``busy_budget_s()`` (5 s): one program
    holding the lock fails a Submit after 5 s; a queue of other writers that keep committing
    (SQLite's ``PRAGMA data_version`` moves) is waited through, up to ``MAX_CONTENDED_S``
    (60 s). Each try waits at most 1 s for the lock (SQLite's busy timeout, PostgreSQL's
    ``lock_timeout``) so that progress is looked at in between. A unique-constraint race on PostgreSQL (two transactions
    inserting the same name) is re-run up to ``UNIQUE_RACE_ATTEMPTS`` times (the retry sees
    the other row), then re-raised. ``work`` must only touch the database and must be
    safe to re-run (it is, when it reads before it writes).

    A read-only transaction the session has open is ended first (on SQLite the write lock
    must be taken at BEGIN); changes the caller made and did not commit raise
    ``PendingChanges`` instead of being committed behind her back. On SQLite the
    transaction begins with BEGIN IMMEDIATE.
    """
    if in_unit_of_work(session):
        return work()
    if session.in_transaction():
        if has_pending_changes(session):
            raise PendingChanges(
                "write_transaction: the session holds uncommitted changes; commit or roll "
                "them back first, or make them part of this unit of work."
            )
        session.commit()  # a read-only transaction: nothing is written
    unique_races = 0
    budget = busy_budget_s()
    started = last_progress = time.monotonic()
    hard_stop = started + max(budget, MAX_CONTENDED_S)
    progress: _WriteProgress | None = None
    try:
        for attempt in range(attempts):
            session.info[UNIT_OF_WORK_KEY] = True
            try:
                left_ms = int((last_progress + budget - time.monotonic()) * 1000)
                wait_ms = max(50, min(left_ms, SQLITE_BUSY_TIMEOUT_MS, BUSY_CHECK_MS))
                conn = session.connection(
                    execution_options={WRITE_OPTION: True, BUSY_MS_OPTION: wait_ms}
                )
                if conn.dialect.name == "postgresql":  # row / table locks: the same budget
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{wait_ms}ms'")
                result = work()
                session.commit()
                return result
            except (OperationalError, DBAPIError) as exc:
                session.rollback()
                if isinstance(exc, IntegrityError) and _is_unique_race(exc):
                    unique_races += 1
                    if unique_races >= UNIQUE_RACE_ATTEMPTS:
                        raise
                    continue
                if not _is_retryable(exc):
                    raise
                now = time.monotonic()
                if progress is None:
                    progress = _WriteProgress(session)
                elif progress.moved():  # others commit: a queue of writers, not a stuck one
                    last_progress = now
                stalled = now - last_progress
                if attempt == attempts - 1 or stalled >= budget - 0.05 or now >= hard_stop:
                    _record_busy(work, now - started, attempt + 1, exc)
                    raise DatabaseBusy(BUSY_MESSAGE.format(s=now - started)) from exc
                backoff = min(first_wait_s * 2**attempt, 1.0, budget - stalled)
                time.sleep(backoff * random.uniform(0.5, 1.0))
            except BaseException:
                session.rollback()
                raise
            finally:
                session.info.pop(UNIT_OF_WORK_KEY, None)
    finally:
        if progress is not None:
            progress.close()
    raise DatabaseBusy(BUSY_MESSAGE.format(s=time.monotonic() - started))


class _WriteProgress:
    """Whether other connections committed since the last look: SQLite's ``PRAGMA
    data_version`` on one side connection (it changes with every commit of another
    connection). Elsewhere (PostgreSQL queues lock waiters fairly) it never moves."""

    def __init__(self, session: Session) -> None:
        self._conn: sqlite3.Connection | None = None
        url = session.get_bind().url
        if url.get_backend_name() == "sqlite" and url.database and ":memory:" not in url.database:
            try:
                self._conn = sqlite3.connect(url.database, timeout=0, check_same_thread=False)
                self._last = self._version()
            except sqlite3.Error:
                self.close()

    def _version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def moved(self) -> bool:
        if self._conn is None:
            return False
        try:
            version = self._version()
        except sqlite3.Error:
            return False
        moved, self._last = version != self._last, version
        return moved

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def dispose_engine(engine: Engine) -> None:
    """Close the pooled connections of ``engine`` and forget it (tests, URL changes)."""
    with _lock:
        for key in [k for k, e in _engines.items() if e is engine]:
            del _engines[key]
        _initialised.discard((os.getpid(), str(engine.url)))
    engine.dispose()
