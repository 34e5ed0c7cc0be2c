"""The study's questions on screen: answered per item on the Reading page, chosen on the
Study page (``db.questions``).

Reading: the first question (the Likert score) keeps its buttons and keys 1-5 / Enter on the
Reading page itself; ``answer_widgets`` draws the others, each widget keyed by the item's
opaque code and the question's key, so nothing typed or chosen for one item is shown or
sent with the next. Shows only what ``db.reading.ReaderItem`` holds (no method identity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import streamlit as st

from db.questions import PAPER_LIKERT, PRESETS, Question

YES, NO = "Yes", "No"


def _key(code: str, question: Question) -> str:
    return f"answer_{code}_{question.key}"


def answer_widgets(
    code: str, asked: Sequence[Question], existing: Mapping[str, object] | None = None
) -> None:
    """Draw the widgets of every question after the first (the Likert score) of item
    ``code``, showing ``existing`` answers ({key: value}, e.g. ``ReaderItem.existing_answers``
    when she reviews an item) as their start values."""
    existing = existing or {}
    for q in asked[1:]:
        label = q.prompt if q.required else f"{q.prompt} (optional)"
        key = _key(code, q)
        before = existing.get(q.key)
        if q.kind in ("likert", "likert_structure"):
            anchors = dict(q.anchors)
            st.radio(
                label,
                [1, 2, 3, 4, 5],
                index=None if before is None else int(before) - 1,
                format_func=lambda v, a=anchors: f"{v} – {a[v]}" if a.get(v) else str(v),
                key=key,
            )
        elif q.kind == "yes_no":
            index = None if before is None else (0 if before else 1)
            st.radio(label, [YES, NO], index=index, horizontal=True, key=key)
        elif q.kind == "number":
            whole = float(q.min_value).is_integer() and float(q.max_value).is_integer()
            st.number_input(
                label,
                min_value=int(q.min_value) if whole else float(q.min_value),
                max_value=int(q.max_value) if whole else float(q.max_value),
                value=None if before is None else (int(before) if whole else float(before)),
                step=1 if whole else None,
                key=key,
            )
        else:
            st.text_area(label, value=before or "", max_chars=q.max_chars, height=68, key=key)


def collected_answers(code: str, asked: Sequence[Question]) -> dict[str, object]:
    """{question key: answer} of the widgets of item ``code`` (unanswered ones left out;
    yes / no as True / False), for ``db.reading.submit_score(answers=...)``."""
    out: dict[str, object] = {}
    for q in asked[1:]:
        value = st.session_state.get(_key(code, q))
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        out[q.key] = (value == YES) if q.kind == "yes_no" else value
    return out


def clear_answers(code: str, asked: Sequence[Question]) -> None:
    """Forget the widget values of item ``code`` (after it was submitted)."""
    for q in asked[1:]:
        st.session_state.pop(_key(code, q), None)


def questions_editor() -> list[str]:
    """Study page (inside the creation form): the chosen question presets (``PRESETS``
    names; the paper's Likert question is always asked first)."""
    extra = [name for name in PRESETS if name != PAPER_LIKERT]
    chosen = st.multiselect(
        "Questions per item (the paper's Likert question 1-5 is always asked first)",
        extra,
        default=[],
        key="study_questions",
    )
    return [PAPER_LIKERT, *chosen]


def questions_summary(asked: Sequence[Question]) -> None:
    """Study page: what the selected study asks per item, one line per question."""
    kinds = {
        "likert": "Likert 1-5",
        "likert_structure": "Likert 1-5",
        "yes_no": "yes / no",
        "number": "number",
        "text": "free text",
    }
    lines = []
    for i, q in enumerate(asked, start=1):
        kind = kinds[q.kind] + (f", {q.structure}" if q.structure else "")
        if q.kind == "number":
            kind += f" {q.min_value:g}-{q.max_value:g}"
        optional = "" if q.required else ", optional"
        lines.append(f"{i}. {q.prompt} ({kind}{optional})")
    with st.expander(f"Questions per item ({len(asked)})"):
        st.markdown("\n".join(lines))
