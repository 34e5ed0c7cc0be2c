"""Sign-in screen. On first start (no account yet) it creates the coordinator account instead:
there is no default password anywhere."""

from __future__ import annotations

import streamlit as st

from db import auth
from db.errors import LivsegDBError
from pages._shared import db_session, sign_in_as

st.title("LivSeg")
st.caption("Reader studies of liver and liver-tumour CT segmentation")

with db_session() as session:
    first_start = not auth.has_users(session)

if first_start:
    st.subheader("First start: create the coordinator account")
    st.write(
        "No account exists yet. The coordinator sets up studies, creates the readers' accounts "
        "and sees the results. Choose a username and a password (at least 8 characters)."
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
            try:
                with db_session() as session:
                    user = auth.create_first_coordinator(session, username.strip(), password)
                    sign_in_as(user)
            except LivsegDBError as exc:
                st.error(str(exc))
            else:
                st.rerun()
else:
    st.subheader("Sign in")
    with st.form("sign_in"):
        username = st.text_input("Username", key="signin_username")
        password = st.text_input("Password", type="password", key="signin_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        if not username.strip() or not password:
            st.error("Please enter your username and your password.")
        else:
            try:
                with db_session() as session:
                    user = auth.authenticate(session, username.strip(), password)
                    sign_in_as(user)
            except LivsegDBError as exc:
                st.error(str(exc))
            else:
                st.rerun()
