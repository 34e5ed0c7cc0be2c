"""What every screen of the app shares: the database engine, who is signed in, role checks.

Not a page itself (app.py lists the pages). Only server-side state lives here:
``st.session_state`` never reaches the browser unless a widget shows it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import streamlit as st

COORDINATOR, READER = "coordinator", "reader"
_USER_KEY = "signed_in_user"


@dataclass(frozen=True)
class SignedInUser:
    """The signed-in account, as the pages keep it in the session (no password material)."""

    id: int
    username: str
    role: str
    must_change_password: bool = False


def database_url() -> str:
    """The database the app uses: LIVSEG_DATABASE_URL or the workspace's SQLite file."""
    from livseg.workspace import workspace_dir

    return os.environ.get("LIVSEG_DATABASE_URL") or f"sqlite:///{workspace_dir() / 'livseg.db'}"


@st.cache_resource(show_spinner=False)
def _engine_for(url: str):
    from db.engine import get_engine, init_db

    engine = get_engine(url)
    init_db(engine)
    return engine


def engine():
    """The app's SQLAlchemy engine (created and migrated once per database URL)."""
    return _engine_for(database_url())


@contextmanager
def db_session():
    """A database session committed on success, rolled back on error."""
    from db.engine import session_scope

    with session_scope(engine()) as session:
        yield session


def current_user() -> SignedInUser | None:
    """The signed-in user of this browser session, or None."""
    return st.session_state.get(_USER_KEY)


def sign_in_as(user) -> SignedInUser:
    """Remember ``user`` (anything with id, username, role) as signed in for this session."""
    signed = SignedInUser(
        id=int(user.id),
        username=str(user.username),
        role=str(user.role),
        must_change_password=bool(getattr(user, "must_change_password", False)),
    )
    st.session_state[_USER_KEY] = signed
    return signed


def password_changed() -> None:
    """Record in the session that the user has set her own password."""
    user = current_user()
    if user is not None:
        st.session_state[_USER_KEY] = SignedInUser(user.id, user.username, user.role, False)


def sign_out() -> None:
    """Forget everything this browser session held (user, pending forms, shown passwords)."""
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def require_role(*roles: str) -> SignedInUser:
    """Stop the page with a refusal unless the signed-in user has one of ``roles``.

    The account is re-read from the database on every run: a deactivated account (or one
    whose role changed) is signed out at once.
    """
    user = current_user()
    if user is None:
        st.error("Please sign in first.")
        st.stop()
    with db_session() as session:
        acting_user(session, user)
    if user.role not in roles:
        refuse_page(READER if roles == (READER,) else COORDINATOR)
    return user


def refuse_page(for_role: str = COORDINATOR) -> None:
    """Show the refusal a user sees on a page that is not for her role, then stop."""
    who = "readers" if for_role == READER else "study coordinators"
    st.error(f"Not allowed: this page is for {who} only.")
    st.stop()


def acting_user(session, user: SignedInUser):
    """The signed-in user as the database's acting user, re-checked there (active, role).

    A deactivated or deleted account is signed out with a message (the page stops).
    """
    from db.access import load_actor
    from db.errors import AccessDenied

    try:
        row = load_actor(session, user)
    except AccessDenied as exc:
        sign_out()
        st.error(f"{exc} Please contact the study coordinator.")
        st.stop()
    if row.role != user.role:
        sign_out()
        st.error("Your role has changed: please sign in again.")
        st.stop()
    return user
