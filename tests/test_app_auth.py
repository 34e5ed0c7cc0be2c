"""App sign-in flow and roles (streamlit AppTest): first start, sign-in errors, forced password
change, sign out, and every coordinator page refusing readers and signed-out sessions."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1 import app_test as app_test_module

from tests.apps import app_testing
from tests.apps.app_testing import (
    APP,
    REPO,
    TIMEOUT_S,
    coordinator_app,
    page_dump,
    reader_app,
    signed_in_app,
    texts,
    user_id,
)
from tests.apps.study_fixture import COORDINATOR as COORD

seeded, workspace = app_testing.seeded, app_testing.workspace  # fixtures

COORDINATOR_PAGES = ["overview", "cases", "models", "study", "report"]


def _users(ws) -> list[tuple[str, str]]:
    path = ws / "livseg.db"
    if not path.exists():
        return []
    with sqlite3.connect(path) as con:
        return con.execute("select username, role from users order by id").fetchall()


def _sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="signin_username").input(username)
    at.text_input(key="signin_password").input(password)
    return at.button[0].click().run()


def _change_password(at: AppTest, current: str, new: str, *, repeat: str | None = None) -> AppTest:
    """Send the Account page's change-password form (``repeat`` defaults to ``new``)."""
    fields = {t.label: t for t in at.text_input}
    fields["Current password"].input(current)
    fields["New password"].input(new)
    fields["Repeat the new password"].input(new if repeat is None else repeat)
    return at.button[0].click().run()


def test_first_start_creates_the_coordinator(monkeypatch, _isolated_workspace):
    monkeypatch.setenv("LIVSEG_BCRYPT_ROUNDS", "4")
    ws = _isolated_workspace
    at = signed_in_app(None)
    assert texts(at, "subheader") == ["First start: create the coordinator account"]
    assert _users(ws) == []

    # different passwords: refused, nothing created
    at.text_input(key="first_username").input("alice")
    at.text_input(key="first_password").input("long-enough-1")
    at.text_input(key="first_repeat").input("long-enough-2")
    at.button[0].click().run()
    assert any("differ" in e for e in texts(at, "error"))
    assert _users(ws) == []

    # a too short password: the database's rule, shown as is
    at.text_input(key="first_password").input("short")
    at.text_input(key="first_repeat").input("short")
    at.button[0].click().run()
    assert any("at least 12 characters" in e for e in texts(at, "error"))
    assert _users(ws) == []

    at.text_input(key="first_password").input("long-enough-1")
    at.text_input(key="first_repeat").input("long-enough-1")
    at.button[0].click().run()
    assert not at.exception
    assert _users(ws) == [("alice", "coordinator")]
    assert at.session_state["signed_in_user"].role == "coordinator"
    assert [c.value for c in at.sidebar.caption] == ["Signed in as **alice** (coordinator)"]
    assert "Create the demo" in [b.label for b in at.button]

    # a second browser session: the first-start form is gone, only sign-in
    again = signed_in_app(None)
    assert texts(again, "subheader") == ["Sign in"]
    again = _sign_in(again, "alice", "wrong-password")
    assert any("password" in e.lower() for e in texts(again, "error"))
    assert "signed_in_user" not in again.session_state
    again = _sign_in(again, "alice", "long-enough-1")
    assert again.session_state["signed_in_user"].username == "alice"


def test_empty_sign_in_fields_are_refused(workspace):
    at = _sign_in(signed_in_app(None), "", "")
    assert texts(at, "error") == ["Please enter your username and your password."]
    assert "signed_in_user" not in at.session_state


def test_reader_must_replace_her_initial_password(workspace, seeded):
    username, initial = seeded.result.new_passwords[0]
    at = _sign_in(signed_in_app(None), username, initial)
    assert not at.exception
    user = at.session_state["signed_in_user"]
    assert (user.username, user.role, user.must_change_password) == (username, "reader", True)
    # only the account page, with the reason
    assert texts(at, "title") == ["Account"]
    assert any("choose your own password" in w for w in texts(at, "warning"))
    with pytest.raises(ValueError):
        at.switch_page("pages/reading.py")

    _change_password(at, initial, "my-own-secret-9")
    assert not at.exception
    assert at.session_state["signed_in_user"].must_change_password is False

    # now the reading page opens and her new password works in a new session
    fresh = _sign_in(signed_in_app(None), username, "my-own-secret-9")
    assert fresh.session_state["signed_in_user"].must_change_password is False
    assert _on_reading_page(fresh)


def test_change_password_mismatch_changes_nothing(workspace, seeded):
    at = coordinator_app(workspace)
    at.switch_page("pages/account.py").run()
    _change_password(at, "coordinator-pass-1", "another-pass-1", repeat="another-pass-2")
    assert texts(at, "error") == ["The two new passwords differ. Nothing was changed."]
    ok = _sign_in(signed_in_app(None), "coord", "coordinator-pass-1")
    assert ok.session_state["signed_in_user"].role == "coordinator"


def test_sign_out_forgets_the_session(workspace):
    at = coordinator_app(workspace)
    at.switch_page("pages/account.py").run()
    [sign_out] = [b for b in at.button if b.label == "Sign out"]
    sign_out.click().run()
    assert "signed_in_user" not in at.session_state
    # (AppTest keeps requesting the account page it was switched to: it refuses)
    assert texts(at, "subheader") == ["Sign in"] or texts(at, "error") == ["Please sign in first."]
    assert [b.label for b in at.button] in ([], ["Sign in"])


def test_reader_navigation_offers_no_coordinator_page(workspace):
    at = reader_app(workspace)
    assert _on_reading_page(at)
    for page in COORDINATOR_PAGES:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"pages/{page}.py")
    at.switch_page("pages/account.py").run()
    assert texts(at, "title") == ["Account"]


@pytest.mark.parametrize("page", COORDINATOR_PAGES)
def test_each_coordinator_page_refuses_a_reader(workspace, page):
    """The page's own check, run directly (as if the router had let her through)."""
    at = reader_app(workspace, script=REPO / "pages" / f"{page}.py")
    assert not at.exception
    assert texts(at, "error") == ["Not allowed: this page is for study coordinators only."]
    assert len(at.get("dataframe")) == 0 and len(at.get("metric")) == 0
    assert len(at.get("table")) == 0 and len(at.button) == 0


@pytest.mark.parametrize("page", [*COORDINATOR_PAGES, "reading", "account"])
def test_every_page_refuses_a_signed_out_session(workspace, page):
    at = signed_in_app(None, script=REPO / "pages" / f"{page}.py")
    assert texts(at, "error") == ["Please sign in first."]
    assert len(at.button) == 0


def test_reading_page_refuses_a_coordinator(workspace):
    at = coordinator_app(workspace, script=REPO / "pages" / "reading.py")
    assert texts(at, "error") == ["Not allowed: this page is for readers only."]
    assert len(at.button) == 0


def test_deactivated_account_is_signed_out(workspace):
    at = reader_app(workspace, "reader2")
    with sqlite3.connect(workspace / "livseg.db") as con:
        con.execute("update users set active = 0 where id = ?", (user_id(workspace, "reader2"),))
    at.run()
    assert any("deactivated" in e for e in texts(at, "error"))
    assert "signed_in_user" not in at.session_state


def test_app_script_exists():
    assert APP.exists() and TIMEOUT_S > 0


# ------------------------------------------------------------------ sign-in across reloads
# AppTest cannot send cookies (st.context.cookies comes from the websocket handshake), so these
# tests replace pages._shared.cookie_token, the one place the app reads the cookie from.


def _engine(ws):
    from db.engine import get_engine

    return get_engine(f"sqlite:///{ws / 'livseg.db'}")


def _start_web_session(ws, username: str) -> str:
    """A web session of ``username`` started as a password sign-in would: its token."""
    from db import web_sessions
    from db.engine import session_scope

    with session_scope(_engine(ws)) as s:
        return web_sessions.start(s, SimpleNamespace(id=user_id(ws, username)))


def _browser(monkeypatch, cookie: str | None, *, url_path: str | None = None) -> AppTest:
    """A new app session (a reload, a new tab) whose browser sends ``cookie``; optionally
    opened at the address ``url_path`` (a deep link), as the browser asks for it."""
    monkeypatch.setattr("pages._shared.cookie_token", lambda: cookie)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    if url_path is not None:
        from streamlit.util import calc_hash

        # AppTest starts every run in Streamlit's pages/-folder mode, which runs a page file
        # by itself; a real server leaves it at its first request (pages/_shared
        # .route_through_app, checked by the e2e test). Here app.py routes every address.
        monkeypatch.setattr(app_test_module, "PagesManager", _NavigationPagesManager)
        # no public way to open an address: request /<url_path>'s page hash (st.Page hashes
        # its url_path), as the browser's first request does
        at._page_hash = calc_hash(url_path)
    return at.run()


class _NavigationPagesManager(PagesManager):
    """AppTest's pages manager, with the pages/-folder mode off (as st.navigation sets it)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


def _has_own_password(ws, username: str) -> str:
    """Give ``username`` the coordinator's password as her own (no change required): it."""
    with sqlite3.connect(ws / "livseg.db") as con:
        con.execute(
            "update users set password_hash = (select password_hash from users where username = ?),"
            " must_change_password = 0 where username = ?",
            (COORD[0], username),
        )
    return COORD[1]


def _web_session_rows(ws) -> list[tuple[str, bool]]:
    with sqlite3.connect(ws / "livseg.db") as con:
        return con.execute(
            "select u.username, w.revoked_at is null from web_sessions w "
            "join users u on u.id = w.user_id order by w.id"
        ).fetchall()


def _on_reading_page(at: AppTest) -> bool:
    """The Reading page is on screen: its compact header names the item ("Item <code>"),
    or its title says "Reading" once the queue is complete."""
    return texts(at, "title") == ["Reading"] or any(
        s.startswith("Item ") for s in texts(at, "subheader")
    )


def _no_noise(at: AppTest, page_info: str | None = None) -> None:
    """No exception, error, warning or info on screen, except the page's own info note that
    starts with ``page_info`` (e.g. the Overview's note on an existing demo)."""
    assert not at.exception
    infos = [i for i in texts(at, "info") if not (page_info and i.startswith(page_info))]
    assert texts(at, "error") == [] and texts(at, "warning") == [] and infos == []


def test_password_sign_in_starts_a_web_session_and_sets_the_cookie(workspace, monkeypatch):
    at = _sign_in(_browser(monkeypatch, None), *COORD)
    token = at.session_state["_web_session_token"]
    pending = at.session_state["_livseg_cookie_pending"]
    assert pending["action"] == "set" and pending["token"] == token
    assert pending["name"] == "livseg_session" and pending["max_age"] == 7 * 24 * 3600
    assert _web_session_rows(workspace) == [(COORD[0], True)]
    # only the hash is stored
    with sqlite3.connect(workspace / "livseg.db") as con:
        assert token not in repr(con.execute("select * from web_sessions").fetchall())


def test_a_reload_with_the_cookie_stays_signed_in(workspace, monkeypatch):
    token = _sign_in(_browser(monkeypatch, None), *COORD).session_state["_web_session_token"]
    again = _browser(monkeypatch, token)  # F5: a new session, the browser sends the cookie
    _no_noise(again, page_info="A demo is already set up")
    assert again.session_state["signed_in_user"].username == COORD[0]
    assert texts(again, "title")[0] == "LivSeg" and "Create the demo" in [
        b.label for b in again.button
    ]
    assert [c.value for c in again.sidebar.caption] == [
        f"Signed in as **{COORD[0]}** (coordinator)"
    ]
    assert "_livseg_cookie_pending" not in again.session_state  # nothing to set again


def test_a_reader_resumes_reading_after_a_reload(workspace, monkeypatch):
    _has_own_password(workspace, "reader1")
    at = _browser(monkeypatch, _start_web_session(workspace, "reader1"))
    _no_noise(at)
    assert _on_reading_page(at)
    assert at.session_state["signed_in_user"].role == "reader"


@pytest.mark.parametrize("cookie", ["", "garbage", "x" * 43, "y" * 4000])
def test_unknown_cookie_shows_the_plain_sign_in_screen(workspace, monkeypatch, cookie):
    at = _browser(monkeypatch, cookie)
    _no_noise(at)
    assert texts(at, "subheader") == ["Sign in"]
    assert "signed_in_user" not in at.session_state


def test_expired_or_ended_cookie_shows_the_plain_sign_in_screen(workspace, monkeypatch):
    from db import web_sessions
    from db.engine import session_scope

    expired, ended = (_start_web_session(workspace, "reader1") for _ in range(2))
    with sqlite3.connect(workspace / "livseg.db") as con:  # idle for 13 hours
        con.execute(
            "update web_sessions set last_seen_at = datetime('now', '-13 hours') "
            "where token_sha256 = ?",
            (web_sessions.token_sha256(expired),),
        )
    with session_scope(_engine(workspace)) as s:
        web_sessions.end(s, ended)
    for token in (expired, ended):
        at = _browser(monkeypatch, token)
        _no_noise(at)
        assert texts(at, "subheader") == ["Sign in"]
        assert "signed_in_user" not in at.session_state


def test_cookie_of_a_deactivated_account_does_not_sign_in(workspace, monkeypatch):
    token = _start_web_session(workspace, "reader2")
    with sqlite3.connect(workspace / "livseg.db") as con:  # behind the API's back: no revoke
        con.execute("update users set active = 0 where id = ?", (user_id(workspace, "reader2"),))
    at = _browser(monkeypatch, token)
    _no_noise(at)
    assert texts(at, "subheader") == ["Sign in"]
    assert "signed_in_user" not in at.session_state


def test_sign_out_ends_the_web_session_and_clears_the_cookie(workspace, monkeypatch):
    at = _sign_in(_browser(monkeypatch, None), *COORD)
    token = at.session_state["_web_session_token"]
    at = _browser(monkeypatch, token)  # reloaded: signed in from the cookie
    at.switch_page("pages/account.py").run()
    [sign_out] = [b for b in at.button if b.label == "Sign out"]
    sign_out.click().run()
    assert "signed_in_user" not in at.session_state
    assert at.session_state["_livseg_cookie_pending"]["action"] == "clear"
    assert _web_session_rows(workspace) == [(COORD[0], False)]
    at.run()  # the handshake's cookie of this session does not sign her in again
    assert "signed_in_user" not in at.session_state
    # a reload sending the old cookie (had the clearing failed) gets the sign-in screen
    again = _browser(monkeypatch, token)
    _no_noise(again)
    assert texts(again, "subheader") == ["Sign in"]


def test_password_change_signs_out_her_other_browsers(workspace, monkeypatch):
    here = _browser(monkeypatch, _start_web_session(workspace, COORD[0]))
    elsewhere = _browser(monkeypatch, _start_web_session(workspace, COORD[0]))
    assert elsewhere.session_state["signed_in_user"].username == COORD[0]
    here.switch_page("pages/account.py").run()
    _change_password(here, COORD[1], "coordinator-pass-2")
    assert texts(here, "success") == ["Password changed."]
    assert [alive for _, alive in _web_session_rows(workspace)] == [True, False]
    # the other browser's next click: signed out, told why, at the sign-in screen
    elsewhere.run()
    assert "signed_in_user" not in elsewhere.session_state
    assert texts(elsewhere, "subheader") == ["Sign in"]
    assert any("please sign in again" in i for i in texts(elsewhere, "info"))
    here.run()  # this browser stays signed in
    assert here.session_state["signed_in_user"].username == COORD[0]


@pytest.mark.parametrize("url_path", ["study", "cases", "report", "account"])
def test_deep_link_signed_out_shows_sign_in_then_the_page(workspace, monkeypatch, url_path):
    at = _browser(monkeypatch, None, url_path=url_path)
    _no_noise(at)  # the sign-in screen at once (Streamlit's "page not found" is not sent)
    assert texts(at, "subheader") == ["Sign in"]
    at = _sign_in(at, *COORD)
    assert not at.exception
    expected = {"study": "Study", "cases": "Cases", "report": "Report", "account": "Account"}
    assert texts(at, "title")[0] == expected[url_path]


def test_deep_link_to_a_coordinator_page_refuses_a_reader_after_sign_in(workspace, monkeypatch):
    reader = "reader3"
    _has_own_password(workspace, reader)
    at = _browser(monkeypatch, _start_web_session(workspace, reader), url_path="study")
    assert texts(at, "error") == ["Not allowed: this page is for study coordinators only."]
    assert len(at.button) == 0 and len(at.get("dataframe")) == 0
    # signed out: the same address asks for the sign-in first, then refuses
    password = _has_own_password(workspace, reader)
    at = _browser(monkeypatch, None, url_path="study")
    assert texts(at, "subheader") == ["Sign in"]
    at = _sign_in(at, reader, password)
    assert texts(at, "error") == ["Not allowed: this page is for study coordinators only."]
    assert "Create a study" not in page_dump(at)


def test_deep_link_with_a_required_password_change_lands_on_the_page_after(
    workspace, seeded, monkeypatch
):
    username, initial = seeded.result.new_passwords[0]
    at = _sign_in(_browser(monkeypatch, None, url_path="account"), username, initial)
    assert texts(at, "title") == ["Account"]
    at = _browser(monkeypatch, None, url_path="home")
    at = _sign_in(at, username, initial)
    assert texts(at, "title") == ["Account"]  # first her own password, at any address
    assert texts(at, "error") == []
    _change_password(at, initial, "my-own-secret-9")
    assert not at.exception
    assert _on_reading_page(at)
    assert "account_go_home" not in at.session_state
    at.switch_page("pages/account.py").run()  # the Account page stays reachable
    assert texts(at, "title") == ["Account"]
