"""Study screen (coordinator): studies (create / open / close), reader accounts, progress,
agreement so far."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages._shared import COORDINATOR, db_session, require_role

user = require_role(COORDINATOR)

from db import auth, catalog, export, progress, reading, studies  # noqa: E402
from db.errors import LivsegDBError  # noqa: E402
from db.questions import questions_from_presets, study_questions  # noqa: E402
from pages._questions import questions_editor, questions_summary  # noqa: E402

st.title("Study")

with db_session() as session:
    study_table = studies.list_studies(session, user)
    users = auth.list_users(session, user)
    cases = catalog.list_cases(session, user)
    methods = catalog.list_methods(session, user)
readers = users[users["role"] == "reader"]

# ---------------------------------------------------------------- progress of one study
st.subheader("Progress")
done = st.session_state.pop("study_done", None)  # what the last click did, across the rerun
if done:
    st.success(done)
if study_table.empty:
    st.info("No study yet: create one below, or create the demo on the Overview page.")
else:
    labels = {int(r.id): f"{r.name} ({r.status})" for r in study_table.itertuples(index=False)}
    ids = list(labels)
    study_id = st.selectbox(
        "Study", ids, index=len(ids) - 1, format_func=labels.get, key="study_pick"
    )
    with db_session() as session:
        info = studies.get_study(session, user, study_id)
        per_reader = progress.study_progress(session, user, study_id)
        summary = progress.study_summary(session, user, study_id)
        shown_questions = study_questions(session, info.id)
        flags = progress.study_flags(session, user, study_id)
    cols = st.columns(4)
    cols[0].metric("Status", info.status)
    cols[1].metric("Cases × methods", f"{info.n_cases} × {info.n_methods}")
    cols[2].metric("Scores", f"{summary['done']} of {summary['total']}")
    median = summary.get("median_seconds")
    cols[3].metric("Median time per item", "–" if median is None else f"{median:.0f} s")
    for row in per_reader.itertuples(index=False):
        seconds = (
            "" if pd.isna(row.median_seconds) else f", median {row.median_seconds:.0f} s per item"
        )
        inactive = "" if row.active else " (deactivated)"
        st.progress(
            float(row.fraction),
            text=f"{row.reader}{inactive}: {row.done} of {row.total}{seconds}",
        )
    per_reader_retest = info.n_retest // max(info.n_readers, 1)
    st.caption(
        f"Seed {info.seed} · edit policy {info.edit_policy} · "
        + (
            f"washout session: {info.n_retest} re-reads ({per_reader_retest} per reader, "
            f"{info.retest_fraction:.0%} of her items) after {info.washout_days:g} days"
            if info.n_retest
            else "no washout session"
        )
        + (f" · {info.cases_per_reader} cases per reader" if info.cases_per_reader else "")
    )
    questions_summary(shown_questions)
    if not flags.empty:  # what readers flagged for the coordinator (db.reading.flag_item)
        still_open = flags[flags["resolved_at"].isna()]
        st.markdown(f"**Flagged items** ({len(flags)}, {len(still_open)} open)")
        shown = flags.assign(
            reason=flags["reason"].map(reading.FLAG_REASON_LABELS),
            status=["open" if pd.isna(v) else "resolved" for v in flags["resolved_at"]],
        ).drop(columns=["flag"])
        st.dataframe(shown, hide_index=True)
        if not still_open.empty:
            flag_labels = {
                int(r.flag): f"{r.code} · {r.reader} · {reading.FLAG_REASON_LABELS[r.reason]}"
                for r in still_open.itertuples(index=False)
            }
            cols = st.columns([2, 1], vertical_alignment="bottom")
            pick = cols[0].selectbox(
                "Mark a flag resolved",
                list(flag_labels),
                index=None,
                format_func=flag_labels.get,
                key="resolve_flag_pick",
            )
            if cols[1].button("Mark resolved", disabled=pick is None):
                try:
                    with db_session() as session:
                        progress.resolve_flag(session, user, pick)
                except LivsegDBError as exc:
                    st.error(str(exc))
                else:
                    code = flag_labels[pick].split(" · ")[0]
                    st.session_state["study_done"] = f"The flag of item {code} is resolved."
                    st.session_state.pop("resolve_flag_pick", None)
                    st.rerun()
    action = st.columns(3)
    try:
        if info.status == "draft" and action[0].button("Open the study", type="primary"):
            with db_session() as session:
                studies.open_study(session, user, study_id)
            st.rerun()
        if info.status == "open" and action[0].button("Close the study"):
            with db_session() as session:
                studies.close_study(session, user, study_id)
            st.rerun()
    except LivsegDBError as exc:
        st.error(str(exc))

    if info.status != "closed":
        in_study = set(per_reader["reader"])
        free = [u for u in readers[readers["active"]]["username"] if u not in in_study]
        cols = st.columns([2, 1])
        newcomer = cols[0].selectbox("Add a reader", free, index=None, key="add_reader_pick")
        if cols[1].button("Add the reader", disabled=newcomer is None):
            try:
                with db_session() as session:
                    n = studies.add_reader(session, user, study_id, newcomer)
            except LivsegDBError as exc:
                st.error(str(exc))
            else:
                st.session_state["study_done"] = f"{newcomer} added to '{info.name}': {n} items."
                st.session_state.pop("add_reader_pick", None)
                st.rerun()
    if info.status == "draft":
        sure = st.checkbox("Yes, delete this draft with its items and readers' orders")
        if st.button("Delete this draft study", disabled=not sure):
            try:
                with db_session() as session:
                    studies.delete_draft_study(session, user, study_id)
            except LivsegDBError as exc:
                st.error(str(exc))
            else:
                st.session_state["study_done"] = f"Draft study '{info.name}' deleted."
                st.session_state.pop("study_pick", None)  # its id is gone
                st.rerun()

    st.markdown("**Agreement so far** (the readers' Likert scores of the first reading)")
    with db_session() as session:
        scores = export.scores_long(session, user, study_id)
    if scores.empty:
        st.caption("No score yet.")
    else:
        from livseg.stats import interim

        columns = ["case", "method", "reader", "session", "score"]
        so_far = interim.agreement_so_far(scores[columns], list(per_reader["reader"]))
        if not so_far.table.empty:
            st.dataframe(
                so_far.table,
                hide_index=True,
                key="agreement_so_far",
                column_config={"value": st.column_config.NumberColumn(format="%.3f")},
            )
        if so_far.note:
            st.caption(so_far.note)
        retest = interim.intra_reader_so_far(scores[columns])
        if retest is not None:
            st.markdown(
                "**Intra-reader agreement so far** (session 1 vs the washout re-read of the "
                "same items)"
            )
            three = st.column_config.NumberColumn(format="%.3f")
            st.dataframe(
                retest,
                hide_index=True,
                key="intra_reader_so_far",
                column_config={
                    "exact_agreement": st.column_config.NumberColumn(format="percent"),
                    **{c: three for c in retest.columns if c.startswith(("kappa", "icc"))},
                },
            )

# ---------------------------------------------------------------- create a study
st.subheader("Create a study")
if cases.empty or methods.empty or readers.empty:
    st.info("A study needs cases with runs (Models page) and reader accounts (below).")
else:
    with st.form("create_study"):
        name = st.text_input("Study name")
        chosen_cases = st.multiselect("Cases", list(cases["name"]), default=list(cases["name"]))
        chosen_methods = st.multiselect(
            "Methods", list(methods["name"]), default=list(methods["name"])
        )
        active_readers = list(readers[readers["active"]]["username"])
        chosen_readers = st.multiselect("Readers", active_readers, default=active_readers)
        chosen_practice = st.multiselect(
            "Practice cases (not analysed)",
            list(cases["name"]),
            help="Read first by every reader with the first method; not study cases.",
        )
        seed = st.number_input("Seed (reading orders)", min_value=0, value=2026, step=1)
        edit_policy = st.radio(
            "Edit policy",
            ["locked", "editable"],
            format_func={
                "locked": "locked: a submitted score is final",
                "editable": "editable: readers may change scores while open (audited)",
            }.get,
            horizontal=True,
        )
        per_reader = st.number_input(
            "Cases per reader (0 = every reader reads every case)", min_value=0, value=0, step=1
        )
        retest = st.slider("Washout session: share of items re-read", 0.0, 0.5, 0.0, 0.05)
        washout = st.number_input("Washout period (days)", min_value=0.0, value=14.0, step=1.0)
        short_ok = st.checkbox(
            "Yes, a washout under one day (re-reads may follow at once)", key="short_washout"
        )
        asked = questions_editor()
        open_now = st.checkbox("Open it now", value=True)
        create = st.form_submit_button("Create the study", type="primary")
    if create:
        try:
            with db_session() as session:
                new_id = studies.create_study(
                    session,
                    user,
                    name,
                    cases=chosen_cases,
                    methods=chosen_methods,
                    readers=chosen_readers,
                    seed=int(seed),
                    edit_policy=edit_policy,
                    retest_fraction=float(retest),
                    washout_days=float(washout),
                    cases_per_reader=int(per_reader) or None,
                    confirm_short_washout=bool(short_ok),
                    questions=questions_from_presets(asked, studies.DEFAULT_QUESTION),
                    open_now=open_now,  # created and opened in one unit of work
                    practice_cases=chosen_practice,
                )
        except LivsegDBError as exc:
            st.error(str(exc))
        else:
            with db_session() as session:
                made = studies.get_study(session, user, new_id)
            rereads = (
                f" Each reader re-reads {made.n_retest // max(made.n_readers, 1)} items after "
                f"the washout ({made.n_retest} in all)."
                if made.n_retest
                else ""
            )
            st.success(
                f"Study '{name}' created" + (" and opened." if open_now else " (draft).") + rereads
            )

# ---------------------------------------------------------------- reader accounts
st.subheader("Reader accounts")
shown = st.session_state.pop("new_reader_password", None)
if shown:
    st.warning(
        f"Initial password of **{shown[0]}**: `{shown[1]}` — shown only once; "
        "she must change it at first sign-in.",
        icon=":material/key:",
    )
if not readers.empty:
    st.dataframe(
        readers[["username", "active", "must_change_password", "last_login_at"]],
        hide_index=True,
    )
with st.form("new_reader", clear_on_submit=True):
    new_name = st.text_input("New reader's username")
    add = st.form_submit_button("Create reader account")
if add:
    try:
        with db_session() as session:
            created, password = auth.create_reader(session, user, new_name)
    except LivsegDBError as exc:
        st.error(str(exc))
    else:
        st.session_state["new_reader_password"] = (created.username, password)
        st.rerun()
if not readers.empty:
    cols = st.columns([2, 1, 1, 1])
    who = cols[0].selectbox("Reader", list(readers["username"]), key="manage_reader")
    try:
        if cols[1].button("Reset password"):
            with db_session() as session:
                password = auth.reset_password(session, user, who)
            st.session_state["new_reader_password"] = (who, password)
            st.rerun()
        if cols[2].button("Deactivate"):
            with db_session() as session:
                auth.set_active(session, user, who, False)
            st.rerun()
        if cols[3].button("Activate"):
            with db_session() as session:
                auth.set_active(session, user, who, True)
            st.rerun()
    except LivsegDBError as exc:
        st.error(str(exc))
