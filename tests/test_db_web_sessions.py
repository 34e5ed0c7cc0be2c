"""Web sessions (sign-in that survives a reload): start / resume / end, idle and absolute
expiry, revocation on password change / reset / deactivation, only the token's hash stored."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from db import auth, web_sessions
from db.access import SYSTEM
from db.engine import session_scope
from db.errors import AccessDenied
from db.models import AuditEvent, WebSession, utcnow
from tests.db_support import backend_params, open_test_engine


@pytest.fixture(params=backend_params())
def db_engine(request, monkeypatch):
    yield from open_test_engine(request.param, monkeypatch)


@pytest.fixture
def people(db_engine):
    """A coordinator and a reader who has set her own password: (coordinator, reader)."""
    with session_scope(db_engine) as s:
        boss = auth.create_first_coordinator(s, "boss", "coordinator-pass-1")
        reader, _ = auth.create_reader(s, boss, "anna", password="anna-own-pass-1")
    return boss, reader


def _resume(engine, token, **kw):
    with session_scope(engine) as s:
        return web_sessions.resume(s, token, **kw)


def _start(engine, user, **kw) -> str:
    with session_scope(engine) as s:
        return web_sessions.start(s, user, **kw)


def _actions(engine) -> list[str]:
    with session_scope(engine) as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_start_resume_end(db_engine, people):
    _, reader = people
    token = _start(db_engine, reader, user_agent="Mozilla/5.0 test")
    assert isinstance(token, str) and len(token) >= 43  # token_urlsafe(32)
    assert _resume(db_engine, token) == reader
    assert _resume(db_engine, token) == reader  # any number of reloads
    with session_scope(db_engine) as s:
        assert web_sessions.end(s, token) is True
        assert web_sessions.end(s, token) is False  # already ended: nothing to do
    assert _resume(db_engine, token) is None
    actions = _actions(db_engine)
    assert actions.count("user.sign_in") == 1 and actions.count("user.sign_out") == 1


def test_two_browsers_have_separate_sessions(db_engine, people):
    boss, reader = people
    first, second = _start(db_engine, reader), _start(db_engine, reader)
    other = _start(db_engine, boss)
    assert len({first, second, other}) == 3
    with session_scope(db_engine) as s:
        web_sessions.end(s, first)
    assert _resume(db_engine, first) is None
    assert _resume(db_engine, second) == reader
    assert _resume(db_engine, other) == boss


@pytest.mark.parametrize(
    "token", ["", "x", "not-a-token", "A" * 43, "A" * 5000, None, 42, b"bytes", ["list"]]
)
def test_unknown_or_malformed_token_gives_none(db_engine, people, token):
    _start(db_engine, people[1])
    assert _resume(db_engine, token) is None
    with session_scope(db_engine) as s:
        assert web_sessions.end(s, token) is False


def test_only_the_tokens_hash_is_stored(db_engine, people):
    token = _start(db_engine, people[1])
    with db_engine.connect() as conn:
        everything = ""
        for table in ("web_sessions", "audit_events", "users"):
            rows = conn.execute(text(f"SELECT * FROM {table}")).mappings().all()
            everything += repr([dict(r) for r in rows])
    assert token not in everything
    assert hashlib.sha256(token.encode()).hexdigest() in everything


def test_idle_expiry_slides_with_use(db_engine, people):
    _, reader = people
    t0 = utcnow()
    token = _start(db_engine, reader, now=t0)
    idle = web_sessions.IDLE_TIMEOUT
    # used again shortly before the idle limit: the window slides
    t1 = t0 + idle - timedelta(minutes=5)
    assert _resume(db_engine, token, now=t1) == reader
    t2 = t1 + idle - timedelta(minutes=5)  # past t0 + idle, but within t1 + idle
    assert _resume(db_engine, token, now=t2) == reader
    # then left alone longer than the idle limit
    assert _resume(db_engine, token, now=t2 + idle + timedelta(seconds=1)) is None


def test_absolute_expiry_even_when_used(db_engine, people):
    _, reader = people
    t0 = utcnow()
    token = _start(db_engine, reader, now=t0)
    step = web_sessions.IDLE_TIMEOUT / 2
    at = t0
    while at + step < t0 + web_sessions.ABSOLUTE_LIFETIME:
        at += step
        assert _resume(db_engine, token, now=at) == reader
    assert _resume(db_engine, token, now=t0 + web_sessions.ABSOLUTE_LIFETIME) is None


def test_frequent_resumes_do_not_write_every_time(db_engine, people):
    _, reader = people
    t0 = utcnow()
    token = _start(db_engine, reader, now=t0)
    _resume(db_engine, token, now=t0 + timedelta(seconds=10))
    with session_scope(db_engine) as s:
        assert s.scalar(select(WebSession.last_seen_at)) == t0
    later = t0 + web_sessions.TOUCH_INTERVAL
    _resume(db_engine, token, now=later)
    with session_scope(db_engine) as s:
        assert s.scalar(select(WebSession.last_seen_at)) == later


def test_password_change_ends_the_other_browsers_only(db_engine, people):
    _, reader = people
    here, elsewhere = _start(db_engine, reader), _start(db_engine, reader)
    with session_scope(db_engine) as s:
        auth.change_password(
            s, reader, "anna-own-pass-1", "anna-new-pass-2", keep_session_token=here
        )
    assert _resume(db_engine, here) == reader
    assert _resume(db_engine, elsewhere) is None
    # without a session to keep (e.g. the command line): every browser signs in again
    with session_scope(db_engine) as s:
        auth.change_password(s, reader, "anna-new-pass-2", "anna-new-pass-3")
    assert _resume(db_engine, here) is None
    assert _actions(db_engine).count("user.sessions_ended") == 2


def test_failed_password_change_ends_nothing(db_engine, people):
    _, reader = people
    token = _start(db_engine, reader)
    with session_scope(db_engine) as s, pytest.raises(auth.AuthError):
        auth.change_password(s, reader, "wrong-old-pass-1", "anna-new-pass-2")
    assert _resume(db_engine, token) == reader


def test_password_reset_ends_every_session(db_engine, people):
    boss, reader = people
    token, boss_token = _start(db_engine, reader), _start(db_engine, boss)
    with session_scope(db_engine) as s:
        auth.reset_password(s, boss, "anna")
    assert _resume(db_engine, token) is None
    assert _resume(db_engine, boss_token) == boss  # nobody else's


def test_deactivation_ends_every_session_and_reactivation_does_not_revive(db_engine, people):
    boss, reader = people
    token = _start(db_engine, reader)
    with session_scope(db_engine) as s:
        auth.set_active(s, SYSTEM, "anna", False)
    assert _resume(db_engine, token) is None
    with session_scope(db_engine) as s:
        auth.set_active(s, boss, "anna", True)
    assert _resume(db_engine, token) is None  # she signs in again
    with session_scope(db_engine) as s, pytest.raises(AccessDenied):
        auth.set_active(s, boss, "anna", False)
        web_sessions.start(s, reader)  # a deactivated account gets no new session


def test_deactivated_account_is_refused_even_with_a_live_session_row(db_engine, people):
    """If the flag is changed behind the API's back, resume still checks the account."""
    _, reader = people
    token = _start(db_engine, reader)
    with db_engine.begin() as conn:
        conn.execute(text("UPDATE users SET active = :f WHERE username = 'anna'"), {"f": False})
    assert _resume(db_engine, token) is None


def test_resume_reports_the_current_role_and_password_state(db_engine, people):
    boss, _ = people
    with session_scope(db_engine) as s:
        fresh, initial = auth.create_reader(s, boss, "ben")
    token = _start(db_engine, fresh)
    resumed = _resume(db_engine, token)
    assert resumed.must_change_password is True and resumed.role == "reader"
    with session_scope(db_engine) as s:
        auth.change_password(s, fresh, initial, "ben-own-pass-1", keep_session_token=token)
    assert _resume(db_engine, token).must_change_password is False


def test_sessions_ended_long_ago_are_deleted_at_the_next_sign_in(db_engine, people):
    boss, reader = people
    t0 = utcnow()
    retention = web_sessions.RETENTION
    _start(db_engine, reader, now=t0)  # absolute expiry t0 + 7 days: deleted below
    old_revoked = _start(db_engine, reader, now=t0 + timedelta(days=1))
    with session_scope(db_engine) as s:
        assert web_sessions.end(s, old_revoked, now=t0 + timedelta(days=1))
    idle_recent = _start(db_engine, reader, now=t0 + timedelta(days=30))
    # a sign-in after the retention of the first two: those rows go, the recent one stays
    now = t0 + web_sessions.ABSOLUTE_LIFETIME + retention + timedelta(days=2)
    fresh = _start(db_engine, boss, now=now)
    with db_engine.connect() as conn:
        stored = set(conn.execute(text("SELECT token_sha256 FROM web_sessions")).scalars())
    digest = web_sessions.token_sha256
    assert stored == {digest(idle_recent), digest(fresh)}
    assert _resume(db_engine, fresh, now=now) == boss
    # the audit log still has every sign-in and the sign-out
    assert _actions(db_engine).count("user.sign_in") >= 4
    assert "user.sign_out" in _actions(db_engine)
