"""Models screen (coordinator)."""

from __future__ import annotations

import streamlit as st

from pages._shared import COORDINATOR, require_role

user = require_role(COORDINATOR)
st.title("Models")
st.info("This screen is being built.")
