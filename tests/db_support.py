"""Helpers of the database tests (tests/test_db_*.py): the engine on each backend and a
small populated study.

Each test module declares its own parametrised fixture with these two lines::

    @pytest.fixture(params=backend_params())
    def db_engine(request, tmp_path, monkeypatch):
        yield from open_test_engine(request.param, monkeypatch)
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text

from db import auth, catalog, studies
from db.access import SYSTEM
from db.engine import default_url, dispose_engine, get_engine, init_db, session_scope
from db.models import Base
from tests import postgres_server

METHODS = ("unet2d", "unet3d", "attention_unet", "classical")
_template_lock = threading.Lock()
_template: dict[str, str] = {}


def backend_params() -> list:
    """pytest params: SQLite always, PostgreSQL (skipped with the reason when unavailable)."""
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]


def _postgres_database() -> str:
    """URL of this test process's migrated PostgreSQL database (created once)."""
    with _template_lock:
        if "url" not in _template:
            try:
                url = postgres_server.fresh_database(f"livseg_t_{os.getpid()}")
            except postgres_server.PostgresUnavailable:
                raise
            except Exception:
                # a given LIVSEG_TEST_POSTGRES_URL whose user may not create databases:
                # use its own database (its LivSeg tables are emptied before each test)
                if not os.environ.get(postgres_server.ENV_URL):
                    raise
                url = postgres_server.server_url()
            engine = get_engine(url)
            init_db(engine)
            dispose_engine(engine)
            _template["url"] = url
        return _template["url"]


def postgres_test_url() -> str:
    """URL of an emptied, migrated PostgreSQL database; skips the test if none possible.

    One database per test process; every table is truncated (identities restarted) here,
    so each test starts from an empty schema as with a fresh SQLite file.
    """
    try:
        url = _postgres_database()
    except postgres_server.PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL not available: {exc}")
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()
    return url


def open_test_engine(backend: str, monkeypatch, *, durable: bool = False):
    """Generator for a fixture: a migrated engine of ``backend`` ("sqlite" / "postgresql").

    Sets a low bcrypt cost (LIVSEG_BCRYPT_ROUNDS=4) and, unless ``durable``, SQLite's
    synchronous=NORMAL, for speed. SQLite: the workspace's
    default file (each test has its own workspace). PostgreSQL: an emptied database.
    """
    monkeypatch.setenv("LIVSEG_BCRYPT_ROUNDS", "4")
    if not durable:  # skip SQLite's fsync per commit, except where durability is tested
        monkeypatch.setenv("LIVSEG_SQLITE_SYNCHRONOUS", "NORMAL")
    url = default_url() if backend == "sqlite" else postgres_test_url()
    engine = get_engine(url)
    init_db(engine)
    try:
        yield engine
    finally:
        dispose_engine(engine)


@dataclass
class StudySetup:
    """A populated database: coordinator, readers (Actors) with passwords, one study."""

    coordinator: auth.Actor
    readers: list[auth.Actor]
    passwords: dict[str, str]
    study_id: int
    cases: list[str]
    methods: list[str]


def populate(
    engine,
    n_cases: int = 4,
    methods: tuple[str, ...] = METHODS,
    n_readers: int = 3,
    *,
    open_it: bool = True,
    study_name: str = "Pilot",
    **study_options,
) -> StudySetup:
    """Coordinator 'coord', readers r00.., cases case_000.., one run per case x method
    (prediction path /runs/<method>/<case>.nii.gz, version '<method>-v1'), one study."""
    cases = [f"case_{i:03d}" for i in range(n_cases)]
    with session_scope(engine) as s:
        coordinator = auth.create_first_coordinator(s, "coord", "coordinator-pass-1")
        readers, passwords = [], {}
        for i in range(n_readers):
            user, password = auth.create_reader(s, coordinator, f"r{i:02d}")
            readers.append(user)
            passwords[user.username] = password
        for m in methods:
            catalog.register_method(s, SYSTEM, m, description=f"the {m} method")
        for c in cases:
            catalog.register_case(
                s,
                SYSTEM,
                c,
                f"/data/cases/{c}_ct.nii.gz",
                f"/data/cases/{c}_seg.nii.gz",
                check_files=False,
            )
            for j, m in enumerate(methods):
                catalog.register_run(
                    s,
                    SYSTEM,
                    c,
                    m,
                    f"/runs/{m}/{c}.nii.gz",
                    10.0 + j,
                    device="cpu",
                    method_version=f"{m}-v1",
                    check_files=False,
                )
        study_id = studies.create_study(
            s,
            coordinator,
            study_name,
            cases=cases,
            methods=list(methods),
            readers=[r.username for r in readers],
            **study_options,
        )
        if open_it:
            studies.open_study(s, coordinator, study_id)
    return StudySetup(coordinator, readers, passwords, study_id, cases, list(methods))
