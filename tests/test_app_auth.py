"""App sign-in flow and roles (streamlit AppTest): first start, sign-in errors, forced password
change, sign out, and every coordinator page refusing readers and signed-out sessions."""

from __future__ import annotations

import sqlite3

import pytest
from streamlit.testing.v1 import AppTest

from tests.apps import app_testing
from tests.apps.app_testing import (
    APP,
    REPO,
    TIMEOUT_S,
    coordinator_app,
    reader_app,
    signed_in_app,
    texts,
    user_id,
)

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
    assert any("at least 8 characters" in e for e in texts(at, "error"))
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

    fields = {t.label: t for t in at.text_input}
    fields["Current password"].input(initial)
    fields["New password"].input("my-own-secret-9")
    fields["Repeat the new password"].input("my-own-secret-9")
    at.button[0].click().run()
    assert not at.exception
    assert at.session_state["signed_in_user"].must_change_password is False

    # now the reading page opens and her new password works in a new session
    fresh = _sign_in(signed_in_app(None), username, "my-own-secret-9")
    assert fresh.session_state["signed_in_user"].must_change_password is False
    assert texts(fresh, "title") == ["Reading"]


def test_change_password_mismatch_changes_nothing(workspace, seeded):
    at = coordinator_app(workspace)
    at.switch_page("pages/account.py").run()
    fields = {t.label: t for t in at.text_input}
    fields["Current password"].input("coordinator-pass-1")
    fields["New password"].input("another-pass-1")
    fields["Repeat the new password"].input("another-pass-2")
    at.button[0].click().run()
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
    assert texts(at, "title") == ["Reading"]
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
