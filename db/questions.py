"""The questions a study asks per item and the readers' answers to them.

A study asks one or more questions (``study_questions``, migration 0007), in order:

- ``likert``: a score 1-5 with an anchor text per score (the paper's question, the default);
- ``likert_structure``: the same for one structure (``liver`` or ``tumour``);
- ``yes_no``: e.g. "Clinically acceptable without edits?";
- ``number``: e.g. "Missed lesions", finite, from ``min_value`` (>= 0) to ``max_value``;
- ``text``: free text of at most ``max_chars`` characters.

The first question must be a required Likert question: it is the study's main score, kept
in ``Score.value`` as before, so every existing analysis of scores stays as it is. The
answers to all questions (the first one too) are stored per question in ``answers``, in
the same transaction as the score (``db.reading.submit_score``). Prompts and anchors are
shown to readers; nothing here names a method.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db.errors import InvalidInput
from db.models import QUESTION_KINDS, STRUCTURES, Answer, StudyQuestion
from db.text import check_text

MAX_QUESTIONS = 20
MAX_PROMPT_CHARS = 500
MAX_TEXT_CHARS = 2000
DEFAULT_TEXT_CHARS = 500
DEFAULT_NUMBER_RANGE = (0.0, 1000.0)
LIKERT_KINDS = ("likert", "likert_structure")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")

AnswerValue = int | bool | float | str


@dataclass(frozen=True)
class Question:
    """One question as stored and as shown to readers (no method identity).

    anchors: ((1, text), ..., (5, text)) for Likert kinds, else (). structure: 'liver' /
    'tumour' for ``likert_structure``, else None. min_value / max_value: the range of a
    ``number`` answer; max_chars: the longest ``text`` answer.
    """

    key: str
    kind: str
    prompt: str
    anchors: tuple[tuple[int, str], ...] = ()
    structure: str | None = None
    required: bool = True
    min_value: float | None = None
    max_value: float | None = None
    max_chars: int | None = None


# ------------------------------------------------------------------------- validation


def _anchors(raw: object, key: str) -> tuple[tuple[int, str], ...]:
    if isinstance(raw, Mapping):
        items = [(str(k).strip(), v) for k, v in raw.items()]
    elif isinstance(raw, Sequence) and not isinstance(raw, str):
        try:
            items = [(str(k).strip(), v) for k, v in raw]
        except (TypeError, ValueError):
            raise InvalidInput(
                f"Question '{key}': anchors must map each score 1-5 to its text."
            ) from None
    else:
        raise InvalidInput(f"Question '{key}': anchors must map each score 1-5 to its text.")
    if sorted(k for k, _ in items) != ["1", "2", "3", "4", "5"]:
        raise InvalidInput(f"Question '{key}': give an anchor text for each score 1 to 5.")
    out = []
    for k, text in items:
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"Question '{key}': the anchor of score {k} must be non-empty text.")
        check_text(text, f"Question '{key}': the anchor of score {k}")
        out.append((int(k), text.strip()))
    return tuple(sorted(out))


def _finite(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(f"{what} must be a number, got {value!r}.")
    if not math.isfinite(float(value)):
        raise InvalidInput(f"{what} must be finite, got {value!r}.")
    return float(value)


def validate_question(raw: Question | Mapping, default_anchors: Mapping[str, str]) -> Question:
    """One question checked and normalised (stripped texts, defaults filled), or
    InvalidInput saying what is wrong. ``default_anchors``: used for a Likert question
    given without anchors."""
    if isinstance(raw, Question):
        raw = raw.__dict__
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"A question must be a mapping of its fields, got {raw!r}.")
    key = raw.get("key")
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidInput(
            f"A question key must be 1-32 lower-case letters, digits or _, starting with a "
            f"letter, got {key!r}."
        )
    kind = raw.get("kind")
    if kind not in QUESTION_KINDS:
        raise InvalidInput(
            f"Question '{key}': the kind must be one of {', '.join(QUESTION_KINDS)}, got {kind!r}."
        )
    prompt = raw.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidInput(f"Question '{key}': the prompt must be non-empty text.")
    check_text(prompt, f"Question '{key}': the prompt")
    if len(prompt.strip()) > MAX_PROMPT_CHARS:
        raise InvalidInput(f"Question '{key}': the prompt is over {MAX_PROMPT_CHARS} characters.")
    required = raw.get("required", True)
    if not isinstance(required, bool):
        raise InvalidInput(f"Question '{key}': required must be True or False.")
    q = Question(key=key, kind=kind, prompt=prompt.strip(), required=required)
    structure = raw.get("structure")
    if kind == "likert_structure":
        if structure not in STRUCTURES:
            raise InvalidInput(
                f"Question '{key}': a per-structure Likert question needs a structure "
                f"({' or '.join(STRUCTURES)}), got {structure!r}."
            )
        q = replace(q, structure=structure)
    elif structure is not None:
        raise InvalidInput(f"Question '{key}': only a per-structure Likert question has one.")
    if kind in LIKERT_KINDS:
        anchors = raw.get("anchors")
        anchors = default_anchors if anchors in (None, (), {}) else anchors
        q = replace(q, anchors=_anchors(anchors, key))
    if kind == "number":
        low = raw.get("min_value")
        high = raw.get("max_value")
        low = DEFAULT_NUMBER_RANGE[0] if low is None else _finite(low, f"'{key}': min_value")
        high = DEFAULT_NUMBER_RANGE[1] if high is None else _finite(high, f"'{key}': max_value")
        if not 0.0 <= low < high:
            raise InvalidInput(
                f"Question '{key}': the range must satisfy 0 <= min_value < max_value, got "
                f"{low:g} to {high:g}."
            )
        q = replace(q, min_value=low, max_value=high)
    if kind == "text":
        chars = raw.get("max_chars")
        chars = DEFAULT_TEXT_CHARS if chars is None else chars
        if (
            isinstance(chars, bool)
            or not isinstance(chars, numbers.Integral)
            or not 1 <= chars <= MAX_TEXT_CHARS
        ):
            raise InvalidInput(
                f"Question '{key}': max_chars must be a whole number from 1 to {MAX_TEXT_CHARS}."
            )
        q = replace(q, max_chars=int(chars))
    return q


def validate_questions(
    questions: Sequence[Question | Mapping], default_anchors: Mapping[str, str]
) -> list[Question]:
    """A study's question list checked: 1 to MAX_QUESTIONS questions, distinct keys, the
    first a required Likert question (the main score); InvalidInput otherwise."""
    if isinstance(questions, (str, Mapping)) or not isinstance(questions, Sequence):
        raise InvalidInput("The questions must be a list.")
    if not 1 <= len(questions) <= MAX_QUESTIONS:
        raise InvalidInput(f"A study asks 1 to {MAX_QUESTIONS} questions, got {len(questions)}.")
    out = [validate_question(q, default_anchors) for q in questions]
    keys = [q.key for q in out]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise InvalidInput(f"Question keys used twice: {', '.join(twice)}.")
    if out[0].kind not in LIKERT_KINDS or not out[0].required:
        raise InvalidInput(
            "The first question must be a required Likert question (1-5): it is the study's "
            "main score."
        )
    return out


def validate_answer(question: Question, value: object) -> AnswerValue | None:
    """The answer to ``question`` as stored (int 1-5, bool, float, stripped text; None for
    an empty text), or InvalidInput naming the question."""
    what = f"The answer to '{question.prompt}'"
    if question.kind in LIKERT_KINDS:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InvalidInput(f"{what} must be a whole number from 1 to 5, got {value!r}.")
        if not 1 <= int(value) <= 5:
            raise InvalidInput(f"{what} must be from 1 to 5, got {value!r}.")
        return int(value)
    if question.kind == "yes_no":
        if not isinstance(value, bool):
            raise InvalidInput(f"{what} must be yes or no, got {value!r}.")
        return value
    if question.kind == "number":
        number = _finite(value, what)
        if not question.min_value <= number <= question.max_value:
            raise InvalidInput(
                f"{what} must be from {question.min_value:g} to {question.max_value:g}, got "
                f"{number:g}."
            )
        return number
    text = check_text(value, what).strip()
    if len(text) > question.max_chars:
        raise InvalidInput(f"{what} is longer than {question.max_chars} characters.")
    return text or None


def check_answers(
    questions: Sequence[Question], score: int, answers: Mapping[str, object] | None
) -> dict[str, AnswerValue]:
    """{key: answer} of one item: ``answers`` validated per question, the first question's
    answer being ``score`` (given in ``answers`` too, it must equal ``score``). Unknown
    keys and unanswered required questions are InvalidInput."""
    answers = dict(answers or {})
    if not all(isinstance(k, str) for k in answers):
        raise InvalidInput("Answers are keyed by question key.")
    known = {q.key for q in questions}
    unknown = sorted(set(answers) - known)
    if unknown:
        raise InvalidInput(f"No such question in this study: {', '.join(unknown)}.")
    main = questions[0]
    if main.key in answers and answers[main.key] != score:
        raise InvalidInput(f"The answer to '{main.prompt}' is given twice, differently.")
    answers[main.key] = score
    out: dict[str, AnswerValue] = {}
    for q in questions:
        raw = answers.get(q.key)
        value = None if raw is None else validate_answer(q, raw)
        if value is None:
            if q.required:
                raise InvalidInput(f"Please answer '{q.prompt}'.")
            continue
        out[q.key] = value
    return out


def default_questions(prompt: str, anchors: Mapping[str, str]) -> list[Question]:
    """Today's single question: the paper's Likert question, key 'quality'."""
    return [Question(key="quality", kind="likert", prompt=prompt, anchors=_anchors(anchors, ""))]


# ------------------------------------------------------------------------- storage


def _to_question(row: StudyQuestion) -> Question:
    anchors = tuple(sorted((int(k), str(v)) for k, v in (row.anchors or {}).items()))
    return Question(
        key=row.key,
        kind=row.kind,
        prompt=row.prompt,
        anchors=anchors,
        structure=row.structure,
        required=bool(row.required),
        min_value=row.min_value,
        max_value=row.max_value,
        max_chars=row.max_chars,
    )


def add_questions(session: Session, study_id: int, questions: Sequence[Question]) -> None:
    """Store a validated question list for a new study (inside its creating transaction)."""
    for position, q in enumerate(questions, start=1):
        session.add(
            StudyQuestion(
                study_id=study_id,
                position=position,
                key=q.key,
                kind=q.kind,
                prompt=q.prompt,
                anchors={str(k): v for k, v in q.anchors} or None,
                structure=q.structure,
                required=q.required,
                min_value=q.min_value,
                max_value=q.max_value,
                max_chars=q.max_chars,
            )
        )
    session.flush()


def delete_questions(session: Session, study_id: int) -> int:
    """Remove a (draft, unanswered) study's questions; returns how many."""
    return session.execute(delete(StudyQuestion).where(StudyQuestion.study_id == study_id)).rowcount


def _rows(session: Session, study_id: int) -> list[StudyQuestion]:
    return list(
        session.scalars(
            select(StudyQuestion)
            .where(StudyQuestion.study_id == study_id)
            .order_by(StudyQuestion.position)
        )
    )


def study_questions(session: Session, study_id: int) -> tuple[Question, ...]:
    """The study's questions in order (what a reader is asked)."""
    return tuple(_to_question(r) for r in _rows(session, study_id))


def decode_answer(kind: str, number: float | None, text: str | None) -> AnswerValue | None:
    """A stored answer as its value: int (Likert), bool (yes / no), float, str."""
    if kind in LIKERT_KINDS:
        return None if number is None else int(number)
    if kind == "yes_no":
        return None if number is None else bool(number)
    if kind == "number":
        return number
    return text


def stored_answers(session: Session, assignment_id: int) -> dict[str, AnswerValue]:
    """{question key: answer} stored for one assignment."""
    rows = session.execute(
        select(StudyQuestion.key, StudyQuestion.kind, Answer.number, Answer.text)
        .join(StudyQuestion, StudyQuestion.id == Answer.question_id)
        .where(Answer.assignment_id == assignment_id)
        .execution_options(populate_existing=True)
    ).all()
    return {key: decode_answer(kind, number, text) for key, kind, number, text in rows}


def write_answers(
    session: Session,
    study_id: int,
    assignment_id: int,
    values: Mapping[str, AnswerValue],
    moment: datetime,
) -> None:
    """Make the stored answers of one assignment equal ``values`` (checked by
    ``check_answers``): insert, update and remove rows, inside the caller's transaction."""
    by_key = {r.key: r for r in _rows(session, study_id)}
    existing = {
        a.question_id: a
        for a in session.scalars(select(Answer).where(Answer.assignment_id == assignment_id))
    }
    for key, row in by_key.items():
        answer = existing.get(row.id)
        if key not in values:
            if answer is not None:
                session.delete(answer)
            continue
        value = values[key]
        number = None if isinstance(value, str) else float(value)
        text = value if isinstance(value, str) else None
        if answer is None:
            session.add(
                Answer(
                    assignment_id=assignment_id,
                    question_id=row.id,
                    number=number,
                    text=text,
                    created_at=moment,
                    updated_at=moment,
                )
            )
        elif (answer.number, answer.text) != (number, text):
            answer.number, answer.text, answer.updated_at = number, text, moment
    session.flush()


# ------------------------------------------------------------------------- presets

PAPER_LIKERT = "The paper's Likert question (1-5)"
PRESETS: dict[str, tuple[dict, ...]] = {
    PAPER_LIKERT: ({"key": "quality", "kind": "likert", "prompt": None},),
    "Per-structure Likert (liver and tumour separately)": (
        {
            "key": "liver_quality",
            "kind": "likert_structure",
            "structure": "liver",
            "prompt": "How much correction would the liver segmentation need?",
        },
        {
            "key": "tumour_quality",
            "kind": "likert_structure",
            "structure": "tumour",
            "prompt": "How much correction would the tumour segmentation need?",
        },
    ),
    "Clinically acceptable without edits (yes / no)": (
        {"key": "acceptable", "kind": "yes_no", "prompt": "Clinically acceptable without edits?"},
    ),
    "Missed lesions (number)": (
        {
            "key": "missed_lesions",
            "kind": "number",
            "prompt": "Missed lesions (tumours the segmentation does not cover)",
            "min_value": 0.0,
            "max_value": 100.0,
        },
    ),
    "Free text (optional)": (
        {"key": "remarks", "kind": "text", "prompt": "Remarks", "required": False},
    ),
}


def questions_from_presets(names: Sequence[str], paper_question: str) -> list[dict]:
    """The question list of the chosen presets (``PRESETS`` keys), the paper's Likert
    question (``paper_question``) always first; unknown names are InvalidInput."""
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        raise InvalidInput(f"Unknown question preset(s): {', '.join(unknown)}.")
    chosen = [PAPER_LIKERT] + [n for n in PRESETS if n in names and n != PAPER_LIKERT]
    out = []
    for name in chosen:
        for q in PRESETS[name]:
            out.append({**q, "prompt": q["prompt"] or paper_question})
    return out
