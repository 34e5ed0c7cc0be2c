"""Overview screen (coordinator): what the workspace holds, and the one-button demo (a
background job, ``db.jobs``; a second demo only after a confirmation)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages._shared import COORDINATOR, db_session, engine, require_role

user = require_role(COORDINATOR)
st.title("LivSeg")
st.caption("Reader studies of liver and liver-tumour CT segmentation")

from db import demo as db_demo  # noqa: E402  (after the role check: nothing runs for others)
from db import jobs  # noqa: E402
from livseg.demo import DemoConfig  # noqa: E402

DEMO_JOB = ("demo", str(engine().url))  # one demo at a time per database

with db_session() as session:
    counts = db_demo.workspace_counts(session)
    existing = db_demo.existing_demo(session)
columns = st.columns(len(counts))
for column, (label, value) in zip(columns, counts.items(), strict=True):
    column.metric(label, value)

job = jobs.latest(*DEMO_JOB)
if job is not None and jobs.claim(job, user.id):  # the demo this coordinator started ended
    if job.status == "done":
        files, result = job.result
        st.session_state["demo_passwords"] = [list(pair) for pair in result.new_passwords]
        st.session_state["demo_done"] = (
            f"Demo ready in {files.seconds:.0f} s: study '{result.study_name}' is open with "
            f"{len(files.case_ids)} cases x {len(files.methods)} methods for "
            f"{len(result.readers)} readers"
            + (
                f", each reading {len(result.practice_cases)} practice case first (not analysed)."
                if result.practice_cases
                else "."
            )
            + (f" Skipped methods: {', '.join(files.skipped)}." if files.skipped else "")
        )
    else:
        st.session_state["demo_failed"] = f"The demo could not be created: {job.error}"
    st.rerun()

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


@st.fragment(run_every=1.0)
def demo_progress(job_id: str) -> None:
    """The running demo's progress, polled each second (the work runs in a server thread:
    a reload of the page finds it again and does not stop it)."""
    running = jobs.get(job_id)
    if running is None or not running.running:
        st.rerun()  # the whole page: shows the outcome
    st.progress(running.fraction, text=running.phase)


if job is not None and job.running:
    demo_progress(job.id)
else:
    another = False
    if existing:
        st.info(
            f"{existing} Another demo goes into new files, new cases and a new study; the "
            "existing demo and its study stay as they are.",
            icon=":material/info:",
        )
        another = st.checkbox("Yes, create another demo beside it", key="demo_another", value=False)
    if st.button(
        "Create the demo",
        type="primary",
        icon=":material/rocket_launch:",
        key="create_demo",
        disabled=bool(existing) and not another,
    ):
        from db.engine import new_session

        bind, acting = engine(), user  # re-checked by the db in the job

        def work(progress):
            session = new_session(bind)
            try:
                return db_demo.create_demo(
                    session, acting, config, progress=progress, another=another
                )
            finally:
                session.close()

        for key in ("demo_done", "demo_failed"):
            st.session_state.pop(key, None)
        try:
            jobs.start(*DEMO_JOB, "Creating the demo", work, owner=user.id, first_phase="Starting")
        except jobs.JobRunning as exc:
            st.warning(str(exc))
        else:
            st.rerun()
done = st.session_state.get("demo_done")
if done:
    st.success(done)
failed = st.session_state.get("demo_failed")
if failed:
    st.error(failed)
