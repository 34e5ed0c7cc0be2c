"""Reading screen (readers): her own queue, one blinded item at a time, scored on a Likert 1-5.

Blinding: this page only ever holds what ``db.reading`` gives a reader (opaque item code,
position, question) plus pixels; file paths stay on the server, widget keys carry no item
identity beyond the opaque code.
"""

from __future__ import annotations

import logging
import uuid

import streamlit as st

from db import progress, reading
from db.errors import LivsegDBError, ScoreLocked
from db.models import utcnow
from pages import _questions
from pages._shared import READER, acting_user, db_session, require_role
from pages._viewing import prefetch, show_case, viewer_settings_key

log = logging.getLogger("livseg.app")

user = require_role(READER)

with db_session() as session:
    reader = acting_user(session, user)
    # one queue per study: with several open studies she chooses one (the first by default)
    studies = progress.reader_progress(session, reader)  # once per run (30 readers: bench)
    readable = [p for p in studies if not p.finished and p.next_opens_at is None]
    study_names = {p.study_id: p.study_name for p in readable}
    if st.session_state.get("reading_study") not in study_names:
        st.session_state.pop("reading_study", None)
    chosen = st.session_state.get("reading_study", next(iter(study_names), None))
    # "Review my answers" (editable studies only): her scored items, by opaque code
    review_names = {p.study_id: p.study_name for p in studies if p.done}
    scored = {
        entry.assignment_id: (entry, review_names[sid])
        for sid in review_names
        for entry in reading.scored_items(session, reader, sid)
    }
    if st.session_state.get("reading_review_pick") not in scored:
        st.session_state.pop("reading_review_pick", None)
    review_id = st.session_state.get("reading_review_pick")
    if review_id is not None:
        item = reading.reader_item_view(session, reader, review_id)
        # the time spent on a review counts from when she opened it (added to the first)
        shown_at = st.session_state.setdefault(f"review_started_{review_id}", utcnow())
        upcoming = []
        files = reading.item_files_for_display(session, reader, item.assignment_id)
    else:
        item = reading.next_item(session, reader, study_id=chosen) if chosen else None
        if item is None:  # nothing readable now in the chosen one: any other study
            item = reading.next_item(session, reader)
        # one set of checks for: the reading clock, which starts at the server's first display
        # of the item (a reload or a second tab does not restart it); the item's files; the
        # next item's files, whose images are prepared on the server while she reads this one
        shown = reading.open_for_display(session, reader, item.assignment_id) if item else None
        shown_at, upcoming, files = (
            (shown.shown_at, shown.upcoming, shown.files) if shown else (None, [], None)
        )

# a reading screen: a compact header row, so that the viewer fills the window below it and
# Submit stays in view at 1440 x 900 (the app's default top padding is ~6 rem)
st.html(
    "<style>[data-testid='stMainBlockContainer']"
    "{padding-top: 1.5rem; padding-bottom: 0.5rem}</style>"
)
# a full run already shows the next item: no extra rerun needed (see score_panel)
st.session_state.pop("reading_advance", None)
flash = st.session_state.pop("reading_flash", None)


def _back_to_queue() -> None:
    st.session_state.pop("reading_review_pick", None)


def review_picker() -> None:
    """'Review my answers': pick one of her scored items (editable studies only)."""
    if not scored:
        return
    several = len(set(name for _, name in scored.values())) > 1
    with st.expander("Review my answers", expanded=review_id is not None):
        st.selectbox(
            "Change the answer of a scored item",
            list(scored),
            index=None,
            format_func=lambda aid: (
                f"{scored[aid][0].code} · item {scored[aid][0].position} · "
                f"your score {scored[aid][0].score}" + (f" · {scored[aid][1]}" if several else "")
            ),
            key="reading_review_pick",
        )
        if review_id is not None:
            st.button("Back to my queue", key="review_back", on_click=_back_to_queue)


if item is None:
    st.title("Reading")
    if flash:
        (st.success if flash[0] == "ok" else st.warning)(flash[1])
    st.success("Your queue is complete: every item has a score. Thank you!")
    review_picker()
    st.stop()

k, n = item.position, item.total
code_col, progress_col = st.columns([3, 1], gap="medium", vertical_alignment="bottom")
with code_col:
    if len(study_names) > 1:
        head, pick = st.columns([1, 2], vertical_alignment="bottom")
        with pick:
            st.radio(
                "Study",
                list(study_names),
                index=list(study_names).index(chosen),
                format_func=study_names.get,
                horizontal=True,
                key="reading_study",
            )
        with head:
            st.subheader(f"Item {item.code}")
    else:
        st.subheader(f"Item {item.code}")
with progress_col:
    what = "Practice item" if item.practice else "Item"  # practice: not analysed
    st.progress((k - 1) / n if n else 0.0, text=f"{what} {k} of {n} · {item.study_name}")

token = st.session_state.setdefault(f"token_{item.assignment_id}", uuid.uuid4().hex)

view_col, score_col = st.columns([3, 1], gap="medium")
with view_col:
    try:
        image_path, prediction_path = files
        show_case(
            str(image_path),
            {"Segmentation": str(prediction_path)},
            key=f"viewer_{item.code}",
            title=item.code,
            height="fill",
            settings_key=viewer_settings_key(user.id),
        )
    except Exception:  # never show a path or traceback to a reader
        log.exception("reading: cannot display item %s", item.assignment_id)
        st.error(
            "The images of this item cannot be shown. Please tell the study coordinator (item code above)."
        )
for _code, image_path, prediction_path in upcoming:
    prefetch(str(image_path), {"Segmentation": str(prediction_path)})

anchors = {int(value): text for value, text in item.anchors}


# her choice is kept on the server, per item: buttons (and their keys 1-5) set it, so a
# quick "4 then Enter" cannot race a widget value still on its way from the browser
choice_key = f"choice_{item.assignment_id}"
# the comment box is one widget per item: what she typed for one item can never be sent
# with the next one (whatever way the page moved on)
comment_key = f"comment_{item.code}"
if review_id is not None:  # her stored answer is the start value of a review
    st.session_state.setdefault(choice_key, item.existing_score)
    if item.existing_comment:
        st.session_state.setdefault(comment_key, item.existing_comment)


def _choose(key: str, value: int) -> None:
    st.session_state[key] = value


def _submit(
    assignment_id: int, code: str, token: str, shown_at, key: str, comment_key: str, asked=()
) -> None:
    """Submit-button callback, bound to the item that was on screen when it was clicked
    (never to whatever item comes next: a repeated click cannot score an unseen item)."""
    score = st.session_state.get(key)
    if score is None:
        st.session_state["reading_hint"] = "Choose a score from 1 to 5 first."
        return
    comment = (st.session_state.get(comment_key) or "").strip() or None
    try:
        with db_session() as session:
            result = reading.submit_score(
                session,
                acting_user(session, user),
                assignment_id,
                int(score),
                comment,
                reading.seconds_since(shown_at),
                client_token=token,
                answers=_questions.collected_answers(code, asked),
            )
    except ScoreLocked:  # another tab / an earlier click stored a different answer
        st.session_state["reading_flash"] = (
            "warn",
            f"Item {code} already had another score and this study does not allow changes: "
            "the earlier score was kept.",
        )
        st.session_state["reading_advance"] = True
        return
    except LivsegDBError as exc:
        st.session_state["reading_hint"] = f"The score was not saved: {exc}"
        return
    reviewed = st.session_state.pop("reading_review_pick", None) is not None
    if result.status in ("created", "updated"):
        st.session_state["reading_flash"] = ("ok", f"Saved: item {code} scored {score}.")
    elif reviewed:  # she opened a scored item again and kept her answer
        st.session_state["reading_flash"] = ("ok", f"Item {code}: your answer is unchanged.")
    else:  # "duplicate": the same answer was already stored (double click, other tab, retry)
        st.session_state["reading_flash"] = (
            "warn",
            f"Item {code} already had a score; it was recorded once and not duplicated.",
        )
    for name in (key, comment_key):
        st.session_state.pop(name, None)
    _questions.clear_answers(code, asked)
    st.session_state["reading_advance"] = True


@st.fragment
def score_panel() -> None:
    """The question and the submit button; choosing a score reruns only this fragment."""
    if st.session_state.pop("reading_advance", False):
        st.rerun(scope="app")  # the next item (a new volume) needs the whole page
    with st.container(gap="small"):
        _score_form()


def _score_form() -> None:
    if flash:  # the last item's outcome, here: it must not push the viewer down
        (st.success if flash[0] == "ok" else st.warning)(flash[1])
    st.markdown(f"**{item.question}**")
    chosen = st.session_state.get(choice_key)
    for value in range(1, 6):
        st.button(
            f"{value} – {anchors[value]}" if anchors.get(value) else str(value),
            key=f"likert_{value}",
            shortcut=str(value),
            type="primary" if chosen == value else "secondary",
            icon=":material/radio_button_checked:" if chosen == value else None,
            on_click=_choose,
            args=(choice_key, value),
            width="stretch",
        )
    st.caption(
        f"Your score: **{chosen}**" if chosen else "Choose a score: click it or press its key 1–5."
    )
    st.caption("Enter submits.")
    _questions.answer_widgets(item.code, item.questions, item.existing_answers)
    if item.comment_allowed:
        st.text_area("Comment (optional)", key=comment_key, max_chars=2000, height=68)
    st.button(
        "Submit",
        type="primary",
        shortcut="Enter",
        key="submit_score",
        on_click=_submit,
        args=(
            item.assignment_id,
            item.code,
            token,
            shown_at,
            choice_key,
            comment_key,
            item.questions,
        ),
    )
    hint = st.session_state.pop("reading_hint", None)
    if hint:
        (st.error if hint.startswith("The score was not saved") else st.warning)(hint)
    _flag_form()


def _flag(assignment_id: int, code: str, reason_key: str, note_key: str) -> None:
    """'Flag the item' callback, bound to the item on screen when it was clicked."""
    reason = st.session_state.get(reason_key)
    note = (st.session_state.get(note_key) or "").strip() or None
    try:
        with db_session() as session:
            reading.flag_item(session, acting_user(session, user), assignment_id, reason, note)
    except LivsegDBError as exc:
        st.session_state["reading_flag_msg"] = ("error", f"The flag was not saved: {exc}")
        return
    label = reading.FLAG_REASON_LABELS[reason]
    st.session_state["reading_flag_msg"] = ("ok", f"Item {code} flagged: {label}.")
    st.session_state[f"flagged_{code}"] = reason


def _withdraw(assignment_id: int, code: str) -> None:
    """'Withdraw my flag' callback, bound to the item on screen when it was clicked."""
    try:
        with db_session() as session:
            reading.withdraw_flag(session, acting_user(session, user), assignment_id)
    except LivsegDBError as exc:
        st.session_state["reading_flag_msg"] = ("error", f"The flag was not withdrawn: {exc}")
        return
    st.session_state["reading_flag_msg"] = ("ok", f"Item {code}: your flag is withdrawn.")
    st.session_state[f"flagged_{code}"] = None


def _flag_form() -> None:
    flagged = st.session_state.get(f"flagged_{item.code}", item.flag_reason)
    with st.expander("Flag for the coordinator", expanded=False):
        if flagged:
            st.caption(f"You flagged this item: {reading.FLAG_REASON_LABELS[flagged]}.")
        reasons = list(reading.FLAG_REASON_LABELS)
        reason_key, note_key = f"flag_reason_{item.code}", f"flag_note_{item.code}"
        st.selectbox(
            "Reason",
            reasons,
            index=reasons.index(flagged) if flagged else 0,
            format_func=reading.FLAG_REASON_LABELS.get,
            key=reason_key,
        )
        st.text_input("Note (optional; needed for Other)", key=note_key, max_chars=500)
        st.button(
            "Flag the item",
            key="flag_item",
            on_click=_flag,
            args=(item.assignment_id, item.code, reason_key, note_key),
        )
        if flagged:
            st.button(
                "Withdraw my flag",
                key="flag_withdraw",
                on_click=_withdraw,
                args=(item.assignment_id, item.code),
            )
        msg = st.session_state.pop("reading_flag_msg", None)
        if msg:
            (st.success if msg[0] == "ok" else st.error)(msg[1])


with score_col:
    score_panel()
    review_picker()
