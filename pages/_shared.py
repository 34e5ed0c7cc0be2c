"""What every screen of the app shares: the database engine, who is signed in, role checks.

Not a page itself (app.py lists the pages). Only server-side state lives here:
``st.session_state`` never reaches the browser unless a widget shows it.

Signing in survives a reload: a password sign-in starts a web session (``db.web_sessions``)
whose random token the browser keeps in the ``livseg_session`` cookie
(``components.session_cookie``); a new websocket session (reload, new tab, deep link) sends
the cookie in its handshake and ``resume_signed_in_user`` signs it in again while the web
session is active. Signing out ends the web session and clears the cookie.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import streamlit as st

COORDINATOR, READER = "coordinator", "reader"
_USER_KEY = "signed_in_user"
_TOKEN_KEY = "_web_session_token"  # this browser's web session (server side only)
_DEAD_TOKEN_KEY = "_web_session_dead"  # a cookie token that must not sign in again
_NOTICE_KEY = "_sign_in_notice"  # shown once on the sign-in screen


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


def session_token() -> str | None:
    """The web session token of this browser session (None when signed in without one)."""
    return st.session_state.get(_TOKEN_KEY)


def cookie_token() -> str | None:
    """The ``livseg_session`` cookie the browser sent when this websocket session opened.

    Read from the handshake, so a cookie set after that is seen only after a reload.
    """
    from components.session_cookie import COOKIE_NAME

    try:
        value = st.context.cookies.get(COOKIE_NAME)
    except Exception:  # no browser context (bare mode)
        return None
    return value or None


def resume_signed_in_user(token: str | None) -> SignedInUser | None:
    """The signed-in user, signing this session in from the browser's cookie ``token`` if it
    belongs to an active web session (a reload, a new tab, a deep link).

    A token that does not sign in (unknown, expired, revoked, deactivated account) is
    remembered and not looked up again in this session; nothing is shown for it.
    """
    user = current_user()
    if user is not None or not token or token == st.session_state.get(_DEAD_TOKEN_KEY):
        return user
    from db import web_sessions

    with db_session() as session:
        actor = web_sessions.resume(session, token)
    if actor is None:
        st.session_state[_DEAD_TOKEN_KEY] = token
        return None
    st.session_state[_TOKEN_KEY] = token
    return sign_in_as(actor)


def start_signed_in_session(user) -> SignedInUser:
    """After a password sign-in: start a web session, have the browser keep its token in the
    cookie (so a reload keeps her signed in) and sign this session in."""
    from components.session_cookie import request_set
    from db import web_sessions

    try:
        agent = st.context.headers.get("User-Agent")
    except Exception:  # no browser context (bare mode)
        agent = None
    with db_session() as session:
        token = web_sessions.start(session, user, user_agent=agent)
    signed = sign_in_as(user)
    st.session_state[_TOKEN_KEY] = token
    st.session_state.pop(_DEAD_TOKEN_KEY, None)
    request_set(token, int(web_sessions.ABSOLUTE_LIFETIME.total_seconds()))
    return signed


def sign_in_notice() -> str | None:
    """The message the sign-in screen shows once (why she was signed out), if any."""
    return st.session_state.pop(_NOTICE_KEY, None)


def sign_out(notice: str | None = None) -> None:
    """End this browser's web session, clear its cookie and forget everything this browser
    session held (user, pending forms, shown passwords).

    ``notice``: a message the sign-in screen shows once.
    """
    from components.session_cookie import request_clear

    token = session_token()
    if token is not None:
        from db import web_sessions

        with db_session() as session:
            web_sessions.end(session, token)
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    # the handshake's cookie (read when this websocket opened) must not sign her in again
    handshake = cookie_token()
    if handshake:
        st.session_state[_DEAD_TOKEN_KEY] = handshake
    if notice:
        st.session_state[_NOTICE_KEY] = notice
    request_clear()


def require_role(*roles: str) -> SignedInUser:
    """Stop the page with a refusal unless the signed-in user has one of ``roles``.

    The account is re-read from the database on every run: a deactivated account (or one
    whose role changed) is signed out at once, and so is a browser whose web session was
    ended elsewhere (password changed in another browser, reset, signed out, expired).
    """
    route_through_app()
    user = current_user()
    if user is None:
        st.error("Please sign in first.")
        st.stop()
    token = session_token()
    with db_session() as session:
        acting_user(session, user)
        if token is not None:
            from db import web_sessions

            ended = web_sessions.resume(session, token) is None
        else:  # signed in without a web session (tests)
            ended = False
    if ended:
        sign_out("Your sign-in has ended (expired, or ended elsewhere): please sign in again.")
        st.rerun()
    if user.role not in roles:
        refuse_page(READER if roles == (READER,) else COORDINATOR)
    return user


def route_through_app() -> None:
    """Rerun through app.py's router when Streamlit ran this page file by itself.

    Until a script run has called ``st.navigation``, Streamlit treats the ``pages/`` folder
    as an old-style multipage app: the first request after a server (re)start for an address
    such as /study (a deep link, or an open tab reconnecting) runs pages/study.py directly,
    without app.py (no sign-in from the cookie, no role menu; the sidebar lists every file
    of pages/). Switching that mode off and rerunning lets app.py route the same address.
    (AppTest starts every run in that mode and its tests run page files on purpose: left
    alone there.)
    """
    from streamlit import config
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory and not config.get_option("global.appTest"):
        PagesManager.uses_pages_directory = False  # what st.navigation does on its first call
        st.rerun()


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
