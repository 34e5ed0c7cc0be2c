"""Web sessions: a browser's sign-in that survives a reload of the page.

Signing in (``start``) makes a random token (``secrets.token_urlsafe(32)``, 256 bits) that the
app keeps in the browser's ``livseg_session`` cookie; the database stores only the token's
sha256, so a copy of the database signs nobody in. ``resume(token)`` gives the account back
while the session is active: not revoked, younger than ``ABSOLUTE_LIFETIME`` and used within
``IDLE_TIMEOUT`` (sliding: each resume moves ``last_seen_at``), and the account still active.
Anything else (unknown, malformed, expired, revoked token, deactivated account) gives None,
never an error. ``end(token)`` signs one browser out; ``revoke_all`` (called by
``db.auth`` inside its own transactions) ends every session of an account on a password
change (except the browser that changed it), a reset and a deactivation.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from db import audit
from db.access import Actor, load_actor
from db.engine import write_transaction
from db.models import User, WebSession, utcnow
from db.text import text_problem

__all__ = [
    "ABSOLUTE_LIFETIME",
    "IDLE_TIMEOUT",
    "end",
    "resume",
    "revoke_all",
    "start",
    "token_sha256",
]

IDLE_TIMEOUT = timedelta(hours=12)  # unused this long: signed out
ABSOLUTE_LIFETIME = timedelta(days=7)  # at most this long after signing in, used or not
TOUCH_INTERVAL = timedelta(minutes=1)  # last_seen_at is written at most this often
# ended sessions are deleted this long after they ended (the audit log keeps sign-in / out)
RETENTION = timedelta(days=30)
TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 128  # a longer cookie value is not one of ours: not even hashed
MAX_USER_AGENT_CHARS = 256


def token_sha256(token: str) -> str:
    """The hex sha256 of ``token`` (what the database stores instead of the token)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _plausible(token: object) -> bool:
    return isinstance(token, str) and 0 < len(token) <= MAX_TOKEN_CHARS


def start(
    session: Session, user, *, user_agent: str | None = None, now: datetime | None = None
) -> str:
    """Start a web session for ``user`` (an active account) and return its new token.

    Give the token to the browser (cookie) and nowhere else; it is not stored. Audited as
    ``user.sign_in``. Sessions that ended (revoked or expired) more than ``RETENTION`` ago are
    deleted on the way, so the table does not grow without bound.
    """
    token = secrets.token_urlsafe(TOKEN_BYTES)
    digest = token_sha256(token)
    agent = user_agent[:MAX_USER_AGENT_CHARS] if isinstance(user_agent, str) else None
    if agent is not None and text_problem(agent):  # a header, not typed text: dropped
        agent = None

    def work() -> None:
        row = load_actor(session, user)  # AccessDenied for a deactivated / unknown account
        at = now or utcnow()
        session.execute(
            delete(WebSession).where(
                or_(
                    WebSession.expires_at < at - RETENTION,
                    WebSession.revoked_at < at - RETENTION,
                    WebSession.last_seen_at < at - IDLE_TIMEOUT - RETENTION,
                )
            )
        )
        web = WebSession(
            user_id=row.id,
            token_sha256=digest,
            created_at=at,
            expires_at=at + ABSOLUTE_LIFETIME,
            last_seen_at=at,
            user_agent=agent,
        )
        session.add(web)
        session.flush()
        audit.record(session, row.id, "user.sign_in", "user", row.id, after={"web_session": web.id})

    write_transaction(session, work)
    return token


def _is_active(web: WebSession, user: User, now: datetime) -> bool:
    return (
        web.revoked_at is None
        and web.expires_at > now
        and web.last_seen_at + IDLE_TIMEOUT > now
        and bool(user.active)
    )


def resume(session: Session, token: object, *, now: datetime | None = None) -> Actor | None:
    """The account of the active web session with ``token``, or None.

    None for anything but an active session of an active account (no error, no audit).
    Moves the session's ``last_seen_at`` (idle expiry), at most once per ``TOUCH_INTERVAL``.
    """
    if not _plausible(token):
        return None
    now = now or utcnow()
    if session.in_transaction():
        session.commit()
    found = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_sha256 == token_sha256(token))
        .execution_options(populate_existing=True)
    ).first()
    session.commit()
    if found is None:
        return None
    web, user = found
    if not _is_active(web, user, now):
        return None
    actor = Actor.of(user)
    if now - web.last_seen_at >= TOUCH_INTERVAL:
        web_id = web.id

        def touch() -> int:
            result = session.execute(
                update(WebSession)
                .where(WebSession.id == web_id, WebSession.revoked_at.is_(None))
                .values(last_seen_at=now)
            )
            return result.rowcount

        if write_transaction(session, touch) == 0:  # revoked meanwhile
            return None
    return actor


def end(session: Session, token: object, *, now: datetime | None = None) -> bool:
    """Sign the browser holding ``token`` out (revoke its session); False if none was active.

    Audited as ``user.sign_out``.
    """
    if not _plausible(token):
        return False
    digest = token_sha256(token)

    def work() -> bool:
        web = session.scalar(
            select(WebSession)
            .where(WebSession.token_sha256 == digest, WebSession.revoked_at.is_(None))
            .execution_options(populate_existing=True)
        )
        if web is None:
            return False
        web.revoked_at = now or utcnow()
        audit.record(
            session,
            web.user_id,
            "user.sign_out",
            "user",
            web.user_id,
            after={"web_session": web.id},
        )
        return True

    return write_transaction(session, work)


def revoke_all(
    session: Session,
    user_id: int,
    *,
    actor_id: int | None,
    reason: str,
    keep_token: str | None = None,
    now: datetime | None = None,
) -> int:
    """Revoke every active web session of ``user_id`` (but the one of ``keep_token``).

    Runs in the caller's write transaction (``db.auth``: password change, reset,
    deactivation) and audits ``user.sessions_ended`` when any was ended. Returns the count.
    """
    stmt = update(WebSession).where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
    if _plausible(keep_token):
        stmt = stmt.where(WebSession.token_sha256 != token_sha256(keep_token))
    count = session.execute(stmt.values(revoked_at=now or utcnow())).rowcount or 0
    if count:
        audit.record(
            session,
            actor_id,
            "user.sessions_ended",
            "user",
            user_id,
            after={"count": count, "reason": reason},
        )
    return count
