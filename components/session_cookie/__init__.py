"""Sets or clears the browser's sign-in cookie ``livseg_session`` (Streamlit components v2).

Streamlit 1.67 reads cookies (``st.context.cookies``, from the websocket handshake) but has
no API to set one, so this tiny component runs ``document.cookie = ...`` in the page itself
(components v2 mount in the page, not in an iframe). The cookie holds only the random web
session token (``db.web_sessions``); it never goes into a URL.

A page asks for a change with ``request_set(token, max_age_s)`` or ``request_clear()``;
``sync()`` (called by app.py on every run) renders the component while a change is pending,
and the browser's acknowledgement (a trigger, one rerun) ends it. So a run cut short by
``st.rerun`` / ``st.switch_page`` cannot lose the change, and the token is sent to the
browser only until it is stored.
"""

from __future__ import annotations

import secrets
from functools import partial

import streamlit as st

COOKIE_NAME = "livseg_session"
COMPONENT_NAME = "livseg_session_cookie"
_PENDING_KEY = "_livseg_cookie_pending"
_WIDGET_KEY = "livseg-session-cookie"

_JS = """
export default function (component) {
  const { data, setTriggerValue } = component;
  if (!data || typeof data.nonce !== "string" || typeof data.name !== "string") return;
  if (window.__livsegCookieDone === data.nonce) return;
  const set = data.action === "set" && typeof data.token === "string";
  const parts = [
    data.name + "=" + (set ? data.token : ""),
    "Path=/",
    "Max-Age=" + (set ? Math.max(0, Math.floor(data.max_age)) : 0),
    "SameSite=Strict",
  ];
  if (window.location.protocol === "https:") parts.push("Secure");
  document.cookie = parts.join("; ");
  window.__livsegCookieDone = data.nonce;
  setTriggerValue("done", data.nonce);
}
"""

_renderer = st.components.v2.component(COMPONENT_NAME, js=_JS, isolate_styles=True)


def request_set(token: str, max_age_s: int) -> None:
    """Have the browser keep ``token`` in the ``livseg_session`` cookie for ``max_age_s``."""
    st.session_state[_PENDING_KEY] = {
        "action": "set",
        "token": token,
        "max_age": int(max_age_s),
        "name": COOKIE_NAME,
        "nonce": secrets.token_hex(8),
    }


def request_clear() -> None:
    """Have the browser delete its ``livseg_session`` cookie."""
    st.session_state[_PENDING_KEY] = {
        "action": "clear",
        "name": COOKIE_NAME,
        "nonce": secrets.token_hex(8),
    }


def _acknowledged(nonce: str) -> None:
    pending = st.session_state.get(_PENDING_KEY)
    if pending and pending["nonce"] == nonce:
        del st.session_state[_PENDING_KEY]


def sync() -> None:
    """Render the cookie component while a change is pending (call once per run)."""
    pending = st.session_state.get(_PENDING_KEY)
    if not pending:
        return
    _renderer(
        key=_WIDGET_KEY,
        data=pending,
        height=0,
        on_done_change=partial(_acknowledged, pending["nonce"]),
    )
