"""Account screen for everyone: change the password (her other browsers are signed out), sign
out (this browser's web session ends and its cookie is cleared)."""

from __future__ import annotations

import streamlit as st

from db import auth
from db.errors import LivsegDBError
from pages._shared import (
    COORDINATOR,
    READER,
    acting_user,
    db_session,
    password_changed,
    require_role,
    session_token,
    sign_out,
)

user = require_role(COORDINATOR, READER)
HOME_PAGE = "pages/overview.py" if user.role == COORDINATOR else "pages/reading.py"
if st.session_state.pop("account_go_home", False):  # her own password is set: start working
    st.switch_page(HOME_PAGE)
st.title("Account")
st.write(f"Signed in as **{user.username}** ({user.role}).")

if user.must_change_password:
    st.warning(
        "You are signed in with a password made for you. Please choose your own password now; "
        "the other pages open once it is changed.",
        icon=":material/key:",
    )
st.subheader("Change password")
with st.form("change_password", clear_on_submit=True):
    old = st.text_input("Current password", type="password")
    new = st.text_input("New password", type="password")
    repeat = st.text_input("Repeat the new password", type="password")
    change = st.form_submit_button("Change password")
if change:
    if new != repeat:
        st.error("The two new passwords differ. Nothing was changed.")
    else:
        try:
            with db_session() as session:
                # her other browsers (signed in with the old password) must sign in again
                auth.change_password(
                    session,
                    acting_user(session, user),
                    old,
                    new,
                    keep_session_token=session_token(),
                )
        except LivsegDBError as exc:
            st.error(f"{exc} Nothing was changed.")
        else:
            was_required = user.must_change_password
            password_changed()
            if was_required:  # the full menu appears; go to her home page
                st.session_state["account_go_home"] = True
                st.rerun()
            st.success("Password changed.")

st.subheader("Sign out")
if st.button("Sign out", icon=":material/logout:"):
    sign_out()  # ends the web session and clears the browser's cookie
    if user.must_change_password:  # her only page is this one: the router falls back
        st.rerun()
    # the role's home page shares its address with the sign-in page
    st.switch_page(HOME_PAGE)
