"""Schema, engine settings and the append-only audit log, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from db.engine import default_url, get_engine, head_revision, init_db, schema_revision
from db.models import Base
from tests.db_support import backend_params, open_test_engine, populate

EXPECTED_TABLES = {
    "users",
    "cases",
    "methods",
    "runs",
    "evaluations",
    "lesion_detections",
    "studies",
    "study_readers",
    "items",
    "assignments",
    "scores",
    "audit_events",
    "web_sessions",
    "login_throttle",
    "study_questions",
    "answers",
    "item_flags",
    "alembic_version",
}
HEAD = "0010_flag_resolution"


@pytest.fixture(params=backend_params())
def db_engine(request, monkeypatch):
    yield from open_test_engine(request.param, monkeypatch)


def test_migrated_schema_matches_models(db_engine):
    assert set(inspect(db_engine).get_table_names()) == EXPECTED_TABLES
    with db_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []
    assert schema_revision(db_engine) == head_revision() == HEAD


def test_init_db_is_idempotent(db_engine):
    from db.engine import _initialised

    _initialised.clear()  # force a second real upgrade run
    init_db(db_engine)
    assert schema_revision(db_engine) == HEAD


def test_unique_score_per_assignment_and_checks_are_in_the_database(db_engine):
    setup = populate(db_engine, n_cases=1, methods=("unet2d",), n_readers=1)
    with db_engine.connect() as conn:
        aid = conn.execute(text("SELECT id FROM assignments")).scalar_one()
        insert = text(
            "INSERT INTO scores (assignment_id, value, seconds_spent, revision, created_at, "
            "updated_at) VALUES (:a, :v, 1.0, 1, '2026-01-01', '2026-01-01')"
        )
        conn.execute(insert, {"a": aid, "v": 3})
        conn.commit()
        with pytest.raises(DBAPIError):  # second score for the same assignment
            conn.execute(insert, {"a": aid, "v": 4})
        conn.rollback()
        with pytest.raises(DBAPIError):  # Likert out of range, bypassing the API
            conn.execute(text("DELETE FROM scores"))
            conn.execute(insert, {"a": aid, "v": 6})
        conn.rollback()
        with pytest.raises(DBAPIError):  # foreign key to a missing assignment
            conn.execute(insert, {"a": 999_999, "v": 3})
        conn.rollback()
    assert setup.study_id


def test_audit_events_are_append_only(db_engine):
    populate(db_engine, n_cases=1, methods=("unet2d",), n_readers=1)
    with db_engine.connect() as conn:
        n = conn.execute(text("SELECT COUNT(*) FROM audit_events")).scalar_one()
        assert n > 0
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("UPDATE audit_events SET action = 'forged'"))
        conn.rollback()
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("DELETE FROM audit_events"))
        conn.rollback()
        assert conn.execute(text("SELECT COUNT(*) FROM audit_events")).scalar_one() == n
        forged = conn.execute(
            text("SELECT COUNT(*) FROM audit_events WHERE action = 'forged'")
        ).scalar_one()
        assert forged == 0


def test_default_database_is_wal_sqlite_in_the_workspace(_isolated_workspace, monkeypatch):
    url = default_url()
    assert url == f"sqlite:///{_isolated_workspace / 'livseg.db'}"
    engine = get_engine()
    init_db(engine)
    assert (_isolated_workspace / "livseg.db").is_file()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    # read independently of SQLAlchemy: the file itself is in WAL mode
    raw = sqlite3.connect(_isolated_workspace / "livseg.db")
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


def test_database_url_comes_from_the_environment(tmp_path, monkeypatch):
    target = tmp_path / "elsewhere.db"
    monkeypatch.setenv("LIVSEG_DATABASE_URL", f"sqlite:///{target}")
    assert default_url() == f"sqlite:///{target}"
    init_db(get_engine())
    assert target.is_file()


def test_write_transactions_begin_immediate_on_sqlite(_isolated_workspace):
    """A write transaction holds SQLite's write lock from its start (BEGIN IMMEDIATE):
    another connection cannot start writing meanwhile."""
    from sqlalchemy.orm import Session

    from db.engine import write_transaction

    engine = get_engine()
    init_db(engine)
    seen = {}

    def work():
        other = sqlite3.connect(_isolated_workspace / "livseg.db", timeout=0.05)
        try:
            other.execute("BEGIN IMMEDIATE")
            seen["other_got_lock"] = True
        except sqlite3.OperationalError as exc:
            seen["other_got_lock"] = False
            seen["error"] = str(exc)
        finally:
            other.close()
        return 1

    with Session(engine) as session:
        assert write_transaction(session, work) == 1
    assert seen == {"other_got_lock": False, "error": "database is locked"}


def test_migration_downgrades_and_upgrades_again(db_engine):
    from alembic import command

    from db.engine import _alembic_config, dispose_engine

    cfg = _alembic_config()
    with db_engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
        conn.commit()
    assert set(inspect(db_engine).get_table_names()) <= {"alembic_version"}
    assert schema_revision(db_engine) is None
    url = db_engine.url.render_as_string(hide_password=False)
    dispose_engine(db_engine)  # init_db again for real, not from the per-process cache
    engine = get_engine(url)
    try:
        init_db(engine)
        assert set(inspect(engine).get_table_names()) == EXPECTED_TABLES
        with engine.connect() as conn:  # the append-only triggers came back too
            conn.execute(
                text(
                    "INSERT INTO audit_events (at, action, entity) VALUES ('2026-01-01', 'a', 'b')"
                )
            )
            conn.commit()
            with pytest.raises(DBAPIError, match="append-only"):
                conn.execute(text("DELETE FROM audit_events"))
            conn.rollback()
    finally:
        dispose_engine(engine)


def _init_in_child(url, barrier, queue):
    try:
        barrier.wait(timeout=60)
        engine = get_engine(url)
        init_db(engine)
        queue.put(("ok", schema_revision(engine)))
    except Exception as exc:
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def test_a_connection_waits_for_another_process_converting_a_new_file_to_wal(tmp_path):
    """SQLite answers ``PRAGMA journal_mode = WAL`` with "database is locked" at once, busy
    timeout or not, while another connection holds the write lock of a file still in
    rollback-journal mode (a brand-new database, which another process is converting or
    migrating). The connection must wait for it, not fail: seen as a rare failure of six
    processes starting together on an empty file."""
    import threading

    from db.engine import dispose_engine

    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE early (i INTEGER)")  # a rollback-journal file, as SQLite makes it
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO early VALUES (1)")
    release = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    release.start()
    engine = get_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM early").scalar() == 1
    finally:
        release.join()
        holder.close()
        dispose_engine(engine)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_processes_starting_together_on_an_empty_database_migrate_once(backend, tmp_path):
    import multiprocessing
    import os

    from tests import postgres_server

    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        try:
            url = postgres_server.fresh_database(f"livseg_init_{os.getpid()}")
        except postgres_server.PostgresUnavailable as exc:
            pytest.skip(f"PostgreSQL not available: {exc}")
        except Exception as exc:  # a given server where this user may not create databases
            if not os.environ.get(postgres_server.ENV_URL):
                raise
            pytest.skip(f"cannot create an empty database on {postgres_server.ENV_URL}: {exc}")
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(6), ctx.Queue()
    procs = [ctx.Process(target=_init_in_child, args=(url, barrier, queue)) for _ in range(6)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == [("ok", HEAD)] * 6
    engine = get_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) == EXPECTED_TABLES
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM alembic_version")).scalar_one() == 1
    finally:
        from db.engine import dispose_engine

        dispose_engine(engine)
        if backend == "postgresql":
            postgres_server.drop_database(f"livseg_init_{os.getpid()}")


def test_migration_0003_fills_the_design_of_existing_studies(db_engine):
    """Downgraded to 0002 and upgraded again, a study's design comes back from its audit
    record: cases_per_reader and the case / method ids in the order chosen."""
    from alembic import command

    from db import studies
    from db.engine import _alembic_config, session_scope

    setup = populate(db_engine, n_cases=3, methods=("unet2d", "classical"), n_readers=1)
    with session_scope(db_engine) as s:
        sid = studies.create_study(
            s, setup.coordinator, "Subset", cases=["case_002", "case_000", "case_001"],
            methods=["classical", "unet2d"], readers=["r00"], cases_per_reader=2,
        )  # fmt: skip
    design = "SELECT id, cases_per_reader, case_order, method_order FROM studies ORDER BY id"
    cfg = _alembic_config()
    with db_engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002_web_sessions")
        conn.commit()
        assert "case_order" not in {c["name"] for c in inspect(conn).get_columns("studies")}
        command.upgrade(cfg, "head")
        conn.commit()
        rows = conn.execute(text(design)).all()
        ids = dict(conn.execute(text("SELECT name, id FROM cases")).all())
        mids = dict(conn.execute(text("SELECT name, id FROM methods")).all())

    def as_list(value):
        return json.loads(value) if isinstance(value, str) else value

    got = [(i, k, as_list(c), as_list(m)) for i, k, c, m in rows]
    assert got == [
        (setup.study_id, None, [ids[f"case_{i:03d}"] for i in range(3)], [mids["unet2d"], mids["classical"]]),
        (sid, 2, [ids["case_002"], ids["case_000"], ids["case_001"]], [mids["classical"], mids["unet2d"]]),
    ]  # fmt: skip


def test_migration_0009_keeps_existing_assignments_real(db_engine):
    """Downgraded to 0008 (no practice column) and upgraded again, every existing assignment
    reads as a real (non-practice) one."""
    from alembic import command

    from db.engine import _alembic_config

    populate(db_engine, n_cases=2, methods=("unet2d",), n_readers=2)
    cfg = _alembic_config()
    with db_engine.connect() as conn:
        n = conn.execute(text("SELECT COUNT(*) FROM assignments")).scalar_one()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0008_item_flags")
        conn.commit()
        assert "practice" not in {c["name"] for c in inspect(conn).get_columns("assignments")}
        command.upgrade(cfg, "head")
        conn.commit()
        flags = conn.execute(text("SELECT practice FROM assignments")).scalars().all()
    assert n == 4 and len(flags) == 4 and not any(flags)


def test_migration_0010_keeps_existing_flags_open(db_engine):
    """Downgraded to 0009 (no resolved_at) and upgraded again, an existing flag is open."""
    from alembic import command

    from db import reading
    from db.engine import _alembic_config, session_scope

    setup = populate(db_engine, n_cases=1, methods=("unet2d",), n_readers=1)
    with session_scope(db_engine) as s:
        item = reading.next_item(s, setup.readers[0])
        reading.flag_item(s, setup.readers[0], item.assignment_id, "unsure")
    cfg = _alembic_config()
    with db_engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0009_practice_items")
        conn.commit()
        assert "resolved_at" not in {c["name"] for c in inspect(conn).get_columns("item_flags")}
        command.upgrade(cfg, "head")
        conn.commit()
        rows = conn.execute(text("SELECT reason, resolved_at FROM item_flags")).all()
    assert rows == [("unsure", None)]
