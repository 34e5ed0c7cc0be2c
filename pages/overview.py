"""Overview screen (coordinator): what the workspace holds, and the one-button demo."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages._shared import COORDINATOR, acting_user, db_session, require_role

user = require_role(COORDINATOR)
st.title("LivSeg")
st.caption("Reader studies of liver and liver-tumour CT segmentation")

from db import demo as db_demo  # noqa: E402  (after the role check: nothing runs for others)
from livseg.demo import DemoConfig, DemoError, prepare_demo  # noqa: E402

with db_session() as session:
    counts = db_demo.workspace_counts(session)
columns = st.columns(len(counts))
for column, (label, value) in zip(columns, counts.items(), strict=True):
    column.metric(label, value)

passwords = st.session_state.get("demo_passwords")
if passwords:
    st.warning(
        "Reader accounts created. **Note these passwords now: they are shown only once** "
        "(a reader can change hers under Account).",
        icon=":material/key:",
    )
    st.table(
        pd.DataFrame(passwords, columns=["username", "initial password"]).set_index("username")
    )
    if st.button("I have noted the passwords"):
        del st.session_state["demo_passwords"]
        st.rerun()

st.subheader("Demo")
try:
    config = DemoConfig.from_env()
except ValueError as exc:
    st.error(str(exc))
    st.stop()
st.write(
    f"One click sets up a complete demo: {config.n_cases} synthetic phantom CT cases ({config.size} size), "
    "every available segmentation method run on them, the metrics, three reader accounts and an open "
    "blinded study in which every reader scores every (case, method) item."
)
if st.button("Create the demo", type="primary", icon=":material/rocket_launch:", key="create_demo"):
    bar = st.progress(0.0, text="Starting…")

    def progress(fraction: float, text: str) -> None:
        bar.progress(min(1.0, fraction), text=text)

    try:
        files = prepare_demo(config, progress=progress)
        with db_session() as session:
            result = db_demo.register_demo(session, acting_user(session, user), files)
    except (DemoError, ValueError) as exc:
        st.error(f"The demo could not be created: {exc}")
    except Exception as exc:  # noqa: BLE001 - e.g. a disk full while writing the cases
        st.error(f"The demo could not be created: {type(exc).__name__}: {exc}")
    else:
        bar.progress(1.0, text="Done")
        st.session_state["demo_passwords"] = [list(pair) for pair in result.new_passwords]
        st.session_state["demo_done"] = (
            f"Demo ready in {files.seconds:.0f} s: study '{result.study_name}' is open with "
            f"{len(files.case_ids)} cases x {len(files.methods)} methods for {len(result.readers)} readers."
            + (f" Skipped methods: {', '.join(files.skipped)}." if files.skipped else "")
        )
        st.rerun()
done = st.session_state.get("demo_done")
if done:
    st.success(done)
