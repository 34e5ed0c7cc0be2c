"""LivSeg's Streamlit app: signs the user in and offers each role only its own pages.

Run with ``streamlit run app.py``. The pages are the files in pages/ (one screen each),
registered here with st.navigation / st.Page, so Streamlit's automatic listing of pages/ is
off and a reader's menu never lists a coordinator's page. A reader who opens a coordinator
page's address gets a refusal from this router (and each page checks the role itself too).

Signing in survives a reload: with no user in this session, the browser's ``livseg_session``
cookie is tried first (pages/_shared.resume_signed_in_user). Signed out, every page address
is the sign-in screen (hidden pages), so a deep link such as /study asks for the sign-in at
once and the rerun after signing in lands on the requested page (if the role may see it).
"""

from __future__ import annotations

import streamlit as st

from components import session_cookie
from pages._shared import COORDINATOR, READER, cookie_token, refuse_page, resume_signed_in_user

st.set_page_config(page_title="LivSeg", page_icon=":material/biotech:", layout="wide")

# url path -> (file, title, icon), in menu order. Each role's first page and the sign-in page
# share the url path HOME (so the same page hash): the rerun after signing in lands on the
# role's home page instead of a page that no longer exists.
HOME = "home"
COORDINATOR_PAGES = {
    HOME: ("pages/overview.py", "Overview", ":material/home:"),
    "cases": ("pages/cases.py", "Cases", ":material/view_in_ar:"),
    "models": ("pages/models.py", "Models", ":material/model_training:"),
    "study": ("pages/study.py", "Study", ":material/groups:"),
    "report": ("pages/report.py", "Report", ":material/table_chart:"),
}
READER_PAGES = {
    HOME: ("pages/reading.py", "Reading", ":material/visibility:"),
}
ACCOUNT_PAGE = ("pages/account.py", "Account", ":material/person:")
SIGN_IN_PAGE = ("pages/sign_in.py", "Sign in", ":material/login:")
# every address of the app other than HOME (deep links)
OTHER_URL_PATHS = [
    *(url for url in COORDINATOR_PAGES if url != HOME),
    *(url for url in READER_PAGES if url != HOME),
    "account",
]


def _page(url_path: str, spec: tuple[str, str, str], *, default: bool = False) -> st.Page:
    path, title, icon = spec
    return st.Page(path, title=title, icon=icon, url_path=url_path, default=default)


def _refusal(url_path: str) -> st.Page:
    """A hidden page at a coordinator page's address that only refuses (no page code runs)."""
    return st.Page(refuse_page, title="Not allowed", url_path=url_path, visibility="hidden")


def _hidden(url_path: str, spec: tuple[str, str, str]) -> st.Page:
    """A hidden page: ``spec``'s screen at another address (no menu entry)."""
    path, title, icon = spec
    return st.Page(path, title=title, icon=icon, url_path=url_path, visibility="hidden")


user = resume_signed_in_user(cookie_token())  # this session's user, or the cookie's
if user is None:
    # before sign-in every address shows the sign-in screen (first start: create the
    # coordinator); the rerun after signing in stays at the address, now the real page
    navigation = st.navigation(
        [
            _page(HOME, SIGN_IN_PAGE, default=True),
            *(_hidden(url, SIGN_IN_PAGE) for url in OTHER_URL_PATHS),
        ],
        position="hidden",
    )
elif user.must_change_password and user.role in (COORDINATOR, READER):
    # a generated (initial or reset) password must be replaced before anything else
    navigation = st.navigation(
        [
            _page("account", ACCOUNT_PAGE, default=True),
            *(_hidden(url, ACCOUNT_PAGE) for url in [HOME, *OTHER_URL_PATHS] if url != "account"),
        ],
        position="hidden",
    )
elif user.role == COORDINATOR:
    study_pages = [
        _page(url, spec, default=(url == HOME)) for url, spec in COORDINATOR_PAGES.items()
    ]
    navigation = st.navigation(
        {"Study coordination": study_pages, "You": [_page("account", ACCOUNT_PAGE)]}
    )
elif user.role == READER:
    reading = [_page(url, spec, default=True) for url, spec in READER_PAGES.items()]
    hidden = [_refusal(url) for url in COORDINATOR_PAGES if url != HOME]
    navigation = st.navigation(
        {"Reading": reading, "You": [_page("account", ACCOUNT_PAGE), *hidden]}
    )
else:  # an unknown role gets nothing
    navigation = st.navigation(
        [st.Page(refuse_page, title="Not allowed", url_path="refused")], position="hidden"
    )

if user is not None:
    st.sidebar.caption(f"Signed in as **{user.username}** ({user.role})")
if navigation.url_path != "account":
    # a required password change made at another address (e.g. a deep link) lands on that
    # address's page itself: the account page's "go home" request is void
    st.session_state.pop("account_go_home", None)
session_cookie.sync()  # set / clear the browser's sign-in cookie when a change is pending
navigation.run()
