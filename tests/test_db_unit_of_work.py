"""The unit of work (db.engine.write_transaction): one caller, one transaction.

A failure injected half-way through recording a run leaves nothing behind (no run without
metrics), a retry records exactly one run, nested db functions only flush into their
caller's transaction, changes nobody committed are refused instead of committed, and a
unique-constraint race on PostgreSQL is retried at the boundary. Checked with plain SQL on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, event, text

from db import catalog
from db.access import SYSTEM
from db.engine import PendingChanges, session_scope, write_transaction
from db.models import Method
from tests.db_support import backend_params, open_test_engine

EVALUATION = {
    "liver": {"dsc": 0.91, "hd_mm": 4.5},
    "tumour": {
        "dsc": 0.62,
        "hd_mm": 7.0,
        "lesion_table": [
            {"lesion": 1, "detected": True, "diameter_mm": 12.0, "volume_ml": 0.9},
            {"lesion": 2, "detected": False, "diameter_mm": 6.0, "volume_ml": 0.1},
        ],
    },
}


@pytest.fixture(params=backend_params())
def db_engine(request, monkeypatch):
    yield from open_test_engine(request.param, monkeypatch)


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("methods", "runs", "evaluations", "lesion_detections")
        }


def _run(tmp_path, seconds: float = 1.5) -> SimpleNamespace:
    labels = tmp_path / "runs" / "unet2d" / "7.nii.gz"
    labels.parent.mkdir(parents=True, exist_ok=True)
    labels.write_bytes(b"stand-in prediction file")
    return SimpleNamespace(
        method="unet2d", labels_path=labels, seconds=seconds, device="cpu", version="v1"
    )


def _case(engine) -> None:
    with session_scope(engine) as s:
        catalog.register_case(s, SYSTEM, "case-7", "/x/ct.nii.gz", None, check_files=False)


def test_failure_half_way_leaves_no_run_and_a_retry_records_one(db_engine, tmp_path, monkeypatch):
    _case(db_engine)
    run = _run(tmp_path)
    real = catalog.add_lesion_detections

    def broken(*args, **kwargs):
        raise RuntimeError("disk full while storing the lesions")

    monkeypatch.setattr(catalog, "add_lesion_detections", broken)
    with session_scope(db_engine) as s, pytest.raises(RuntimeError, match="disk full"):
        catalog.record_run(s, SYSTEM, "case-7", run, EVALUATION)
    # the method, the run and its metrics were all part of the failed unit: none is stored
    assert _counts(db_engine) == {"methods": 0, "runs": 0, "evaluations": 0, "lesion_detections": 0}

    monkeypatch.setattr(catalog, "add_lesion_detections", real)
    with session_scope(db_engine) as s:
        first = catalog.record_run(s, SYSTEM, "case-7", run, EVALUATION)
    with session_scope(db_engine) as s:  # the same run file recorded again (a retry)
        again = catalog.record_run(s, SYSTEM, "case-7", _run(tmp_path, 2.5), EVALUATION)
    assert again == first
    assert _counts(db_engine) == {"methods": 1, "runs": 1, "evaluations": 4, "lesion_detections": 2}
    with db_engine.connect() as conn:
        seconds = conn.execute(text("SELECT seconds FROM runs")).scalar_one()
        detected = conn.execute(
            text("SELECT lesion, detected FROM lesion_detections ORDER BY lesion")
        ).all()
    assert seconds == 2.5
    assert [(lesion, bool(d)) for lesion, d in detected] == [(1, True), (2, False)]


def test_nested_db_functions_commit_only_with_their_caller(db_engine):
    other = create_engine(db_engine.url)  # a second connection sees only committed rows
    try:
        with session_scope(db_engine) as s:

            def work() -> None:
                catalog.register_method(s, SYSTEM, "unet2d", "first")
                catalog.register_method(s, SYSTEM, "classical", "second")
                with other.connect() as conn:
                    seen = conn.execute(text("SELECT count(*) FROM methods")).scalar_one()
                assert seen == 0  # nothing committed while the unit is open
                raise ValueError("the user's action failed at its end")

            with pytest.raises(ValueError, match="at its end"):
                write_transaction(s, work)
        assert _counts(db_engine)["methods"] == 0
    finally:
        other.dispose()


def test_changes_nobody_committed_are_refused_not_committed(db_engine):
    with session_scope(db_engine) as s:
        s.add(Method(name="stray", description=""))
        s.flush()
        with pytest.raises(PendingChanges, match="uncommitted changes"):
            catalog.register_method(s, SYSTEM, "unet2d")
        s.rollback()
    assert _counts(db_engine)["methods"] == 0


@pytest.fixture(params=[p for p in backend_params() if p.id == "postgresql"])
def pg_engine(request, monkeypatch):
    yield from open_test_engine(request.param, monkeypatch)


def test_a_unique_race_on_postgresql_is_retried(pg_engine):
    """Another transaction inserts the same method name between our check and our insert:
    the unit of work is re-run and finds that row (PostgreSQL; SQLite's BEGIN IMMEDIATE
    makes the race impossible there)."""
    db_engine = pg_engine
    other = create_engine(db_engine.url)
    raced = []
    try:
        with session_scope(db_engine) as s:

            @event.listens_for(s, "before_flush")
            def _race(session, *_args) -> None:
                if not raced:
                    raced.append(True)
                    with other.begin() as conn:
                        conn.execute(
                            text(
                                "INSERT INTO methods (name, description, created_at) "
                                "VALUES ('unet2d', 'theirs', now())"
                            )
                        )

            method_id = catalog.register_method(s, SYSTEM, "unet2d", "ours")
        with db_engine.connect() as conn:
            rows = conn.execute(text("SELECT id, description FROM methods")).all()
    finally:
        other.dispose()
    assert raced and rows == [(method_id, "ours")]
