"""Sign-in screen. On first start (no account yet) it creates the coordinator account instead:
there is no default password anywhere.

app.py shows it at every address while signed out (deep links); a successful sign-in starts a
web session whose cookie keeps her signed in across reloads, and the rerun lands on the page
of the address she opened."""

from __future__ import annotations

import streamlit as st

from db import auth
from db.errors import LivsegDBError
from pages._shared import db_session, sign_in_notice, start_signed_in_session

st.title("LivSeg")
st.caption("Reader studies of liver and liver-tumour CT segmentation")


def _sign_in(account_of, username: str, password: str) -> None:
    """Start a signed-in session for the account ``account_of(session, username, password)``
    returns (the first coordinator created, or an authenticated account) and rerun; its
    refusal is shown."""
    try:
        with db_session() as session:
            user = account_of(session, username.strip(), password)
        start_signed_in_session(user)
    except LivsegDBError as exc:
        st.error(str(exc))
    else:
        st.rerun()


with db_session() as session:
    first_start = not auth.has_users(session)

if first_start:
    st.subheader("First start: create the coordinator account")
    st.write(
        "No account exists yet. The coordinator sets up studies, creates the readers' accounts "
        "and sees the results. Choose a username and a password (at least 12 characters, "
        "not a common one)."
    )
    with st.form("first_coordinator"):
        username = st.text_input("Username", key="first_username")
        password = st.text_input("Password", type="password", key="first_password")
        repeat = st.text_input("Repeat the password", type="password", key="first_repeat")
        create = st.form_submit_button("Create the coordinator account", type="primary")
    if create:
        if password != repeat:
            st.error("The two passwords differ. Please type the same password twice.")
        else:
            _sign_in(auth.create_first_coordinator, username, password)
else:
    st.subheader("Sign in")
    notice = sign_in_notice()
    if notice:
        st.info(notice, icon=":material/logout:")
    with st.form("sign_in"):
        username = st.text_input("Username", key="signin_username")
        password = st.text_input("Password", type="password", key="signin_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        if not username.strip() or not password:
            st.error("Please enter your username and your password.")
        else:
            _sign_in(auth.authenticate, username, password)
