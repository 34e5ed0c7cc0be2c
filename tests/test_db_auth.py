"""Accounts: first coordinator, bcrypt hashes, sign-in errors and lockout, roles, changes."""

from __future__ import annotations

from datetime import timedelta

import bcrypt
import pytest
from sqlalchemy import select, text

from db import auth
from db.access import SYSTEM
from db.engine import head_revision, session_scope
from db.errors import AccessDenied, AuthError, InvalidInput, NotFound
from db.models import AuditEvent, utcnow
from tests.db_support import backend_params, open_test_engine


@pytest.fixture(params=backend_params())
def db_engine(request, monkeypatch):
    yield from open_test_engine(request.param, monkeypatch)


def _throttle_rows(engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT name_sha256, failures, locked_until FROM login_throttle")
        ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def _user_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM users")).scalar_one()


def test_first_start_has_no_account_and_no_default_password(db_engine):
    with session_scope(db_engine) as s:
        assert not auth.has_users(s)
        for name, password in [("admin", "admin"), ("admin", "password"), ("root", "root")]:
            with pytest.raises(AuthError, match="Wrong username or password"):
                auth.authenticate(s, name, password)
    assert _user_count(db_engine) == 0


def test_first_coordinator_then_refused(db_engine):
    with session_scope(db_engine) as s:
        boss = auth.create_first_coordinator(s, " Alice ", "correct horse")
        assert (boss.username, boss.role, boss.must_change_password) == (
            "alice",
            "coordinator",
            False,
        )
        with pytest.raises(AccessDenied, match="already exists"):
            auth.create_first_coordinator(s, "mallory", "another-password")
        assert auth.authenticate(s, "ALICE", "correct horse") == boss
    assert _user_count(db_engine) == 1


def test_password_is_stored_only_as_a_bcrypt_hash(db_engine):
    password = "Very-Secret-Phrase-42"
    with session_scope(db_engine) as s:
        auth.create_first_coordinator(s, "alice", password)
    with db_engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM users")).mappings().all()
        audit = conn.execute(text("SELECT * FROM audit_events")).mappings().all()
    stored = rows[0]["password_hash"]
    assert stored.startswith("$2b$04$")  # bcrypt, cost from LIVSEG_BCRYPT_ROUNDS=4
    assert bcrypt.checkpw(password.encode(), stored.encode())  # independent check
    assert not bcrypt.checkpw(b"wrong", stored.encode())
    everything = repr(rows) + repr(audit)
    assert password not in everything


def test_default_bcrypt_cost_is_12(monkeypatch):
    monkeypatch.delenv("LIVSEG_BCRYPT_ROUNDS", raising=False)
    assert auth.bcrypt_rounds() == 12
    monkeypatch.setenv("LIVSEG_BCRYPT_ROUNDS", "3")
    with pytest.raises(InvalidInput, match="between 4 and 16"):
        auth.bcrypt_rounds()


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("a", "long-enough-pw", "username"),
        ("bad name", "long-enough-pw", "username"),
        ("", "long-enough-pw", "username"),
        ("alice", "short", "at least 12"),
        ("alice", "x" * 73, "72 bytes"),
        ("alice", " padded-password ", "spaces"),
        ("alice", 12345678, "text"),
    ],
)
def test_bad_account_input_is_refused_and_nothing_written(db_engine, username, password, message):
    with session_scope(db_engine) as s, pytest.raises(InvalidInput, match=message):
        auth.create_first_coordinator(s, username, password)
    assert _user_count(db_engine) == 0


def test_wrong_password_lockout_and_unlock(db_engine):
    with session_scope(db_engine) as s:
        boss = auth.create_first_coordinator(s, "alice", "correct horse")
        reader, initial = auth.create_reader(s, boss, "bob")
        t0 = utcnow()
        for _ in range(auth.MAX_FAILED_LOGINS - 1):
            with pytest.raises(AuthError, match="^Wrong username or password.$"):
                auth.authenticate(s, "bob", "not-his-password", now=t0)
        with pytest.raises(AuthError, match="locked for 30 s") as locked:
            auth.authenticate(s, "bob", "not-his-password", now=t0)
        assert locked.value.retry_after_s == pytest.approx(30.0)
        # while locked even the right password is refused, with the time left
        with pytest.raises(AuthError, match="locked for 20 s more"):
            auth.authenticate(s, "bob", initial, now=t0 + timedelta(seconds=10))
        # after the lock: a 6th failure doubles it
        with pytest.raises(AuthError, match="locked for 60 s"):
            auth.authenticate(s, "bob", "still-wrong", now=t0 + timedelta(seconds=31))
        later = t0 + timedelta(seconds=31 + 61)
        assert auth.authenticate(s, "bob", initial, now=later).id == reader.id
    # the correct password forgave every failure: nothing is left counted for bob
    assert _throttle_rows(db_engine) == {}


def test_reader_creation_change_reset_and_deactivate(db_engine):
    with session_scope(db_engine) as s:
        boss = auth.create_first_coordinator(s, "alice", "correct horse")
        reader, initial = auth.create_reader(s, boss, "Bob")
        assert len(initial) >= 16 and reader.role == "reader" and reader.must_change_password
        signed = auth.authenticate(s, "bob", initial)
        assert signed.must_change_password
        with pytest.raises(AuthError, match="current password is wrong"):
            auth.change_password(s, signed, "not-it", "bobs-new-password")
        auth.change_password(s, signed, initial, "bobs-new-password")
        with pytest.raises(AuthError):
            auth.authenticate(s, "bob", initial)
        assert not auth.authenticate(s, "bob", "bobs-new-password").must_change_password
        fresh = auth.reset_password(s, boss, "bob")
        assert fresh != "bobs-new-password"
        assert auth.authenticate(s, "bob", fresh).must_change_password
        auth.set_active(s, boss, "bob", False)
        with pytest.raises(AuthError, match="deactivated"):
            auth.authenticate(s, "bob", fresh)
        # a deactivated reader's stale Actor is refused everywhere
        with pytest.raises(AccessDenied, match="deactivated"):
            auth.change_password(s, signed, fresh, "another-password")
        auth.set_active(s, boss, "bob", True)
        assert auth.authenticate(s, "bob", fresh).id == reader.id
        with pytest.raises(InvalidInput, match="own account"):
            auth.set_active(s, boss, "alice", False)
        with pytest.raises(InvalidInput, match="already taken"):
            auth.create_reader(s, boss, "BOB")
        with pytest.raises(NotFound):
            auth.set_active(s, boss, "nobody", False)
        actions = s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions.count("user.set_active") == 2
    assert "user.change_password" in actions and "user.reset_password" in actions


def test_coordinator_only_account_actions_refuse_readers(db_engine):
    with session_scope(db_engine) as s:
        boss = auth.create_first_coordinator(s, "alice", "correct horse")
        reader, _ = auth.create_reader(s, boss, "bob")
        for call in (
            lambda: auth.create_reader(s, reader, "eve"),
            lambda: auth.create_user(s, reader, "eve", "coordinator", "eves-own-password-1"),
            lambda: auth.reset_password(s, reader, "alice"),
            lambda: auth.set_active(s, reader, "alice", False),
            lambda: auth.list_users(s, reader),
        ):
            with pytest.raises(AccessDenied) as err:
                call()
            assert isinstance(err.value, PermissionError)
        # the command line acts as SYSTEM
        other, _ = auth.create_user(s, SYSTEM, "carol", "coordinator", "carols-password")
        assert other.role == "coordinator"
        users = auth.list_users(s, boss)
    assert list(users["username"]) == ["alice", "bob", "carol"]
    assert "password_hash" not in users.columns
    assert _user_count(db_engine) == 3


def test_cli_creates_coordinator_and_reader(tmp_path, monkeypatch, capsys):
    from db.__main__ import main

    monkeypatch.setenv("LIVSEG_BCRYPT_ROUNDS", "4")
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("cli-password-1\n"))
    assert (
        main(["--url", url, "create-coordinator", "--username", "Chief", "--password-stdin"]) == 0
    )
    assert main(["--url", url, "create-reader", "--username", "ann"]) == 0
    out = capsys.readouterr().out
    initial = out.split("first sign-in): ")[1].split()[0]
    assert main(["--url", url, "create-reader", "--username", "ann"]) == 2
    assert "already taken" in capsys.readouterr().err
    from db.engine import get_engine

    with session_scope(get_engine(url)) as s:
        assert auth.authenticate(s, "chief", "cli-password-1").role == "coordinator"
        assert auth.authenticate(s, "ann", initial).role == "reader"


def test_python_dash_m_db_runs_as_a_program(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    url = f"sqlite:///{tmp_path / 'prog.db'}"
    env = {"PATH": "/usr/bin:/bin", "LIVSEG_BCRYPT_ROUNDS": "4", "PYTHONPATH": str(repo)}

    def db_program(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        """``python -m db --url URL ARGS`` in a fresh process (its output as text)."""
        return subprocess.run(
            [sys.executable, "-m", "db", "--url", url, *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=repo,
            env=env,
            timeout=60,
        )

    run = db_program("create-coordinator", "--username", "x1", "--password-stdin", stdin="short\n")
    assert run.returncode == 2
    assert "at least 12 characters" in run.stderr and "Traceback" not in run.stderr
    status = db_program("status")
    assert status.returncode == 0
    newest = head_revision()  # the migrations' head (pinned in test_db_schema.HEAD)
    assert f"schema revision: {newest} (newest: {newest})" in status.stdout
    assert "coordinator: none yet" in status.stdout
