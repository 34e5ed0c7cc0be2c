"""Accounts: bcrypt password hashes, sign-in with lockout, readers, password changes.

No default account and no default password exist anywhere: the first coordinator is created
explicitly (``create_first_coordinator``, from the app's first screen or ``python -m db
create-coordinator``); coordinators then create readers, whose generated initial password
is returned once and must be changed at first sign-in.

Passwords are hashed with bcrypt (cost ``LIVSEG_BCRYPT_ROUNDS``, default 12: about 0.27 s a
hash on the reference machine) and never stored or logged in clear. A new password needs
``MIN_PASSWORD_LENGTH`` (12) characters and must not be guessable: zxcvbn's estimate must
reach ``MIN_PASSWORD_SCORE`` (3 of 4, about 10^8 guesses), which refuses its 30,000 most
common passwords, dictionary words, keyboard walks, repeats, dates and the username itself.

Sign-in is throttled per username, whether or not the account exists (``login_throttle``,
keyed by the sha256 of the normalised name): each attempt is counted BEFORE its password is
checked, in one write transaction (``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN
IMMEDIATE`` on SQLite), so parallel attempts cannot all be checked: after
``MAX_FAILED_LOGINS`` attempts the name is locked for ``LOCKOUT_BASE_S`` seconds, doubling
with each further failure up to ``LOCKOUT_MAX_S``, and at most ``MAX_FAILED_LOGINS``
passwords are ever checked per lock period. Unknown names get the same messages, the same
bcrypt check (against a dummy hash) and the same lock as accounts, so names cannot be
enumerated. A correct password forgives the failures counted before it.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import secrets
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

import bcrypt
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    import pandas as pd

from db import audit, web_sessions
from db.access import Actor, load_actor, require_coordinator
from db.engine import write_transaction
from db.errors import AccessDenied, AuthError, InvalidInput, NotFound
from db.models import ROLES, LoginThrottle, User, utcnow

__all__ = [
    "Actor",
    "AuthError",
    "MIN_PASSWORD_LENGTH",
    "authenticate",
    "change_password",
    "create_first_coordinator",
    "create_reader",
    "create_user",
    "has_users",
    "has_coordinator",
    "list_users",
    "reset_password",
    "set_active",
]

BCRYPT_ROUNDS_ENV = "LIVSEG_BCRYPT_ROUNDS"
DEFAULT_BCRYPT_ROUNDS = 12
MIN_PASSWORD_LENGTH = 12
MIN_PASSWORD_SCORE = 3  # zxcvbn's 0-4 scale: 3 = "safely unguessable", >= 10^8 guesses
MAX_PASSWORD_BYTES = 72  # bcrypt's limit
MAX_FAILED_LOGINS = 5
LOCKOUT_BASE_S = 30.0
LOCKOUT_MAX_S = 900.0
THROTTLE_FORGET_S = 86_400.0  # a name's count is forgotten a day after its last attempt
_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


def _actor(user: User) -> Actor:
    return Actor(user.id, user.username, user.role, bool(user.must_change_password))


# ------------------------------------------------------------------------------ hashing


def bcrypt_rounds() -> int:
    """The bcrypt cost factor: ``LIVSEG_BCRYPT_ROUNDS`` (4-16) or 12."""
    raw = os.environ.get(BCRYPT_ROUNDS_ENV, "").strip()
    if not raw:
        return DEFAULT_BCRYPT_ROUNDS
    try:
        rounds = int(raw)
    except ValueError:
        raise InvalidInput(f"{BCRYPT_ROUNDS_ENV} must be an integer 4-16, got {raw!r}") from None
    if not 4 <= rounds <= 16:
        raise InvalidInput(f"{BCRYPT_ROUNDS_ENV} must be between 4 and 16, got {rounds}")
    return rounds


def check_password_rules(password: object, username: str | None = None) -> str:
    """The password if it is acceptable, else InvalidInput saying why.

    Acceptable: text of 12+ characters and at most 72 UTF-8 bytes (bcrypt's limit), no
    leading / trailing spaces, no NUL, and not guessable (zxcvbn score >= 3: not one of
    its common passwords, not a dictionary word, keyboard walk, repeat or date, and not
    built from ``username`` or 'livseg').
    """
    from zxcvbn import zxcvbn

    if not isinstance(password, str):
        raise InvalidInput("The password must be text.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    try:
        size = len(password.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput("The password holds characters that are not valid text.") from None
    if size > MAX_PASSWORD_BYTES:
        raise InvalidInput(f"The password must be at most {MAX_PASSWORD_BYTES} bytes long.")
    if password.strip() != password or not password.strip():
        raise InvalidInput("The password must not start or end with spaces.")
    if "\x00" in password:
        raise InvalidInput("The password must not contain NUL characters.")
    hints = ["livseg", "liver", "reader", "coordinator"] + ([username] if username else [])
    strength = zxcvbn(password, user_inputs=hints)
    if strength["score"] < MIN_PASSWORD_SCORE:
        advice = strength["feedback"].get("warning") or "it would be guessed quickly"
        raise InvalidInput(
            f"This password is too easy to guess ({advice.rstrip('.')}). Use a longer phrase "
            "of several unrelated words, or mix in digits and symbols."
        )
    return password


def hash_password(password: str, username: str | None = None) -> str:
    """A bcrypt hash of ``password`` (after ``check_password_rules``)."""
    check_password_rules(password, username)
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(bcrypt_rounds())).decode()


def _verify(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
    except ValueError:
        return False


@lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> str:
    return bcrypt.hashpw(b"livseg-no-such-user", bcrypt.gensalt(rounds)).decode()


def generate_password() -> str:
    """A random initial password (16 URL-safe characters, ~96 bits)."""
    return secrets.token_urlsafe(12)


def normalise_username(username: object) -> str:
    """Lower-case, stripped username; InvalidInput unless 2-64 of a-z 0-9 . _ - ."""
    if not isinstance(username, str):
        raise InvalidInput("The username must be text.")
    name = username.strip().lower()
    if not _USERNAME_RE.match(name):
        raise InvalidInput(
            "The username must have 2-64 characters: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit."
        )
    return name


# ------------------------------------------------------------------------------ accounts


def has_users(session: Session) -> bool:
    """True once any account exists (the app shows 'create the coordinator' before that)."""
    return session.scalar(select(func.count()).select_from(User)) > 0


def has_coordinator(session: Session) -> bool:
    """True once a coordinator account exists."""
    stmt = select(func.count()).select_from(User).where(User.role == "coordinator")
    return session.scalar(stmt) > 0


def _insert_user(
    session: Session,
    actor_id: int | None,
    username: str,
    role: str,
    password_hash: str,
    must_change: bool,
    *,
    self_created: bool = False,
) -> User:
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise InvalidInput(f"The username '{username}' is already taken.")
    now = utcnow()
    user = User(
        username=username,
        password_hash=password_hash,
        role=role,
        active=True,
        must_change_password=must_change,
        created_at=now,
        password_changed_at=now,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        raise InvalidInput(f"The username '{username}' is already taken.") from None
    # the first coordinator creates herself
    audit.record(
        session,
        user.id if self_created else actor_id,
        "user.create",
        "user",
        user.id,
        after={"username": username, "role": role, "active": True},
    )
    return user


def create_first_coordinator(session: Session, username: str, password: str) -> Actor:
    """Create the first coordinator account; refused once any coordinator exists."""
    name = normalise_username(username)
    password_hash = hash_password(password, name)  # slow: outside the write transaction

    def work() -> Actor:
        if has_coordinator(session):
            raise AccessDenied(
                "A coordinator account already exists; further accounts are created by a "
                "coordinator."
            )
        user = _insert_user(
            session, None, name, "coordinator", password_hash, False, self_created=True
        )
        return _actor(user)

    return write_transaction(session, work)


def create_user(
    session: Session, coordinator, username: str, role: str, password: str | None = None
) -> tuple[Actor, str]:
    """Create an account (coordinator only). Returns (the account, its initial password).

    Without ``password`` a random one is generated; show it once, it is not stored in clear.
    The user must change a generated password at first sign-in.
    """
    if role not in ROLES:
        raise InvalidInput(f"The role must be one of {', '.join(ROLES)}, got {role!r}.")
    name = normalise_username(username)
    initial = password if password is not None else generate_password()
    password_hash = hash_password(initial, name)

    def work() -> Actor:
        acting = require_coordinator(session, coordinator)
        user = _insert_user(session, acting.id, name, role, password_hash, password is None)
        return _actor(user)

    return write_transaction(session, work), initial


def create_reader(
    session: Session, coordinator, username: str, password: str | None = None
) -> tuple[Actor, str]:
    """Create a reader account (coordinator only): (the reader, her initial password)."""
    return create_user(session, coordinator, username, "reader", password)


def _lock_seconds(failures: int) -> float:
    if failures < MAX_FAILED_LOGINS:
        return 0.0
    return min(LOCKOUT_BASE_S * 2 ** (failures - MAX_FAILED_LOGINS), LOCKOUT_MAX_S)


def throttle_key(username: str) -> str:
    """The ``login_throttle`` key of a typed username: sha256 of its normalised form."""
    return hashlib.sha256(username.strip().lower().encode("utf-8", "replace")).hexdigest()


def _locked_message(wait_s: float) -> str:
    return (
        "Too many failed sign-ins with this username: sign-in is locked for "
        f"{math.ceil(wait_s)} s more."
    )


def _reserve_attempt(session: Session, key: str, now: datetime) -> tuple[int, float]:
    """Count one sign-in attempt for ``key`` before its password is checked.

    Runs inside the caller's write transaction, with the throttle row locked (FOR UPDATE
    on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises the whole transaction), so parallel
    attempts are counted one after the other. Returns (this attempt's number, 0) when it
    may be checked, or (0, seconds left) while the name is locked. The attempt that
    reaches ``MAX_FAILED_LOGINS`` sets the lock at once: later ones wait for it, however
    its own check turns out.
    """
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(LoginThrottle)
        .values(name_sha256=key, failures=0, locked_until=None, last_attempt_at=now)
        .on_conflict_do_nothing(index_elements=["name_sha256"])
    )
    row = session.execute(
        select(LoginThrottle.failures, LoginThrottle.locked_until)
        .where(LoginThrottle.name_sha256 == key)
        .with_for_update()
    ).one()
    if row.locked_until is not None and row.locked_until > now:
        return 0, (row.locked_until - now).total_seconds()
    number = row.failures + 1
    lock_s = _lock_seconds(number)
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.name_sha256 == key)
        .values(
            failures=number,
            last_attempt_at=now,
            locked_until=now + timedelta(seconds=lock_s) if lock_s else None,
        )
    )
    # names not tried for a day are forgotten (the table holds every name ever tried)
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_attempt_at < now - timedelta(seconds=THROTTLE_FORGET_S),
            LoginThrottle.name_sha256 != key,
        )
    )
    return number, 0.0


def _forgive(session: Session, key: str, number: int) -> None:
    """A correct password: forget the attempts counted up to and including ``number``.

    Attempts counted after it (still being checked in parallel) stay counted; the lock
    goes (it can only have been set by one of the forgiven attempts).
    """
    failures = session.scalar(
        select(LoginThrottle.failures).where(LoginThrottle.name_sha256 == key).with_for_update()
    )
    if failures is None:
        return
    left = max(0, failures - number)
    if left == 0:
        session.execute(delete(LoginThrottle).where(LoginThrottle.name_sha256 == key))
    else:
        session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.name_sha256 == key)
            .values(failures=left, locked_until=None)
        )


def authenticate(
    session: Session, username: str, password: str, *, now: datetime | None = None
) -> Actor:
    """Check a sign-in; returns the Actor or raises AuthError with the reason.

    Reasons: wrong username or password (the same message for both), sign-in locked for
    N s after repeated failures with this name (known or unknown alike), account
    deactivated (only said after a correct password). Every attempt costs one write
    transaction and one bcrypt check (a dummy hash for unknown names), known name or not.
    """
    name = username.strip().lower() if isinstance(username, str) else ""
    password = password if isinstance(password, str) else ""
    now = now or utcnow()
    if session.in_transaction():
        session.commit()
    key = throttle_key(name)
    number, wait = write_transaction(session, lambda: _reserve_attempt(session, key, now))
    if not number:
        raise AuthError(_locked_message(wait), retry_after_s=wait)
    user = None
    if _USERNAME_RE.match(name):  # anything else (NUL, spaces, ...) names no account
        user = session.scalar(
            select(User).where(User.username == name).execution_options(populate_existing=True)
        )
    session.commit()
    stored = user.password_hash if user is not None else _dummy_hash(bcrypt_rounds())
    ok = bool(password) and _verify(password, stored) and user is not None  # slow: no txn
    if not ok:
        lock_s = _lock_seconds(number)
        if lock_s:

            def record_lock() -> None:
                audit.record(
                    session,
                    None,
                    "user.locked" if user is not None else "login.locked",
                    "user" if user is not None else "login",
                    user.id if user is not None else None,
                    after={"failed_logins": number, "locked_s": lock_s},
                )

            write_transaction(session, record_lock)
            raise AuthError(
                f"Wrong username or password. After {number} failed sign-ins, sign-in with "
                f"this username is locked for {int(lock_s)} s.",
                retry_after_s=lock_s,
            )
        raise AuthError("Wrong username or password.")

    def succeed() -> None:
        _forgive(session, key, number)
        if user.active:
            session.execute(update(User).where(User.id == user.id).values(last_login_at=now))

    write_transaction(session, succeed)
    if not user.active:
        raise AuthError("This account is deactivated. Please contact the study coordinator.")
    return _actor(user)


def change_password(
    session: Session,
    actor,
    old_password: str,
    new_password: str,
    *,
    keep_session_token: str | None = None,
) -> None:
    """Change the acting user's own password (the old one is required).

    Ends every web session of the account except the one of ``keep_session_token`` (the
    browser that changed it): another browser signed in with the old password must sign in
    again.
    """
    if old_password == new_password:
        raise InvalidInput("The new password must differ from the old one.")
    user = load_actor(session, actor)
    user_id, stored, name = user.id, user.password_hash, user.username
    session.commit()
    check_password_rules(new_password, name)
    if not isinstance(old_password, str) or not _verify(old_password, stored):
        raise AuthError("The current password is wrong; the password was not changed.")
    new_hash = hash_password(new_password, name)

    def work() -> None:
        load_actor(session, actor)
        session.execute(
            update(User)
            .where(User.id == user_id)
            .values(
                password_hash=new_hash, must_change_password=False, password_changed_at=utcnow()
            )
        )
        audit.record(session, user_id, "user.change_password", "user", user_id)
        web_sessions.revoke_all(
            session,
            user_id,
            actor_id=user_id,
            reason="password changed",
            keep_token=keep_session_token,
        )

    write_transaction(session, work)


def _user_by_name(session: Session, username: str) -> User:
    name = normalise_username(username)
    user = session.scalar(
        select(User).where(User.username == name).execution_options(populate_existing=True)
    )
    if user is None:
        raise NotFound(f"No account named '{name}'.")
    return user


def reset_password(session: Session, coordinator, username: str) -> str:
    """Give ``username`` a new generated password (coordinator only); returns it once.

    Also clears a lockout and ends every web session of the account (her browsers must sign
    in again); the user must change the password at next sign-in.
    """
    initial = generate_password()
    new_hash = hash_password(initial)

    def work() -> None:
        acting = require_coordinator(session, coordinator)
        user = _user_by_name(session, username)
        session.execute(
            update(User)
            .where(User.id == user.id)
            .values(
                password_hash=new_hash,
                must_change_password=True,
                password_changed_at=utcnow(),
            )
        )
        session.execute(
            delete(LoginThrottle).where(LoginThrottle.name_sha256 == throttle_key(user.username))
        )
        audit.record(session, acting.id, "user.reset_password", "user", user.id)
        web_sessions.revoke_all(session, user.id, actor_id=acting.id, reason="password reset")

    write_transaction(session, work)
    return initial


def set_active(session: Session, coordinator, username: str, active: bool) -> None:
    """Activate or deactivate an account (coordinator only; not one's own account).

    Deactivating ends every web session of the account.
    """
    if not isinstance(active, bool):
        raise InvalidInput("active must be True or False.")

    def work() -> None:
        acting = require_coordinator(session, coordinator)
        user = _user_by_name(session, username)
        if user.id == acting.id and not active:
            raise InvalidInput("You cannot deactivate your own account.")
        before = {"active": user.active}
        user.active = active
        audit.record(
            session,
            acting.id,
            "user.set_active",
            "user",
            user.id,
            before=before,
            after={"active": active},
        )
        if not active:
            web_sessions.revoke_all(session, user.id, actor_id=acting.id, reason="deactivated")

    write_transaction(session, work)


def list_users(session: Session, coordinator) -> pd.DataFrame:
    """All accounts (coordinator only): id, username, role, active, must_change_password,
    locked_until, created_at, last_login_at. No password material."""
    import pandas as pd

    require_coordinator(session, coordinator)
    columns = [
        "id",
        "username",
        "role",
        "active",
        "must_change_password",
        "locked_until",
        "created_at",
        "last_login_at",
    ]
    now = utcnow()
    locks = dict(
        session.execute(
            select(LoginThrottle.name_sha256, LoginThrottle.locked_until).where(
                LoginThrottle.locked_until > now
            )
        ).all()
    )
    rows = []
    for u in session.scalars(select(User).order_by(User.id)):
        row = {c: getattr(u, c) for c in columns if c != "locked_until"}
        row["locked_until"] = locks.get(throttle_key(u.username))
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)
