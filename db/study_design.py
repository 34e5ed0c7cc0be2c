"""Checks of a reader study's parameters before it is created (``db.studies.create_study``):
names, question and anchors, seed, edit policy, subset design, re-read session and washout.
Every refusal is an ``InvalidInput`` whose message says what to change."""

from __future__ import annotations

import math
import numbers
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from db import questions as study_questions
from db.errors import InvalidInput
from db.models import EDIT_POLICIES
from db.text import check_text

DEFAULT_QUESTION = (
    "How much correction would this liver and tumour segmentation need before clinical use?"
)
DEFAULT_ANCHORS: dict[str, str] = {
    "1": "Unusable: redo from scratch",
    "2": "Major corrections needed",
    "3": "Moderate corrections needed",
    "4": "Minor corrections needed",
    "5": "Clinically acceptable as is",
}
MAX_WASHOUT_DAYS = 365.0
MIN_WASHOUT_DAYS = 1.0  # shorter needs an explicit confirmation


def _names(values: object, what: str, *, fold_case: bool = False) -> list[str]:
    """The names of ``values`` stripped (lower-case with ``fold_case``): a non-empty list
    of distinct non-empty names."""
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise InvalidInput(f"Choose at least one {what} (a list of names).")
    names = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"Every {what} must be a non-empty name, got {value!r}.")
        check_text(value, f"The {what} name {value!r}")
        names.append(value.strip().lower() if fold_case else value.strip())
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInput(f"{what.capitalize()} chosen twice: {', '.join(duplicates)}.")
    return names


def _check_anchors(anchors: Mapping | None) -> dict[str, str]:
    """The anchor text of each score "1".."5" (the default ones for None)."""
    if anchors is None:
        return dict(DEFAULT_ANCHORS)
    if not isinstance(anchors, Mapping):
        raise InvalidInput("anchors must map each score 1-5 to its text.")
    clean = {str(k).strip(): v for k, v in anchors.items()}
    if set(clean) != {"1", "2", "3", "4", "5"}:
        raise InvalidInput("anchors must give a text for each score 1, 2, 3, 4 and 5.")
    for key, text in clean.items():
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"The anchor text of score {key} must be non-empty text.")
        check_text(text, f"The anchor text of score {key}")
    return {k: clean[k].strip() for k in sorted(clean)}


def _fraction(value: object) -> float:
    """The re-read fraction: a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(f"retest_fraction must be a number in [0, 1], got {value!r}.")
    fraction = float(value)
    if not 0.0 <= fraction <= 1.0:
        raise InvalidInput(f"retest_fraction must be in [0, 1], got {value!r}.")
    return fraction


def _washout(value: object) -> float:
    """The washout (days): a finite number from 0 to ``MAX_WASHOUT_DAYS``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InvalidInput(f"washout_days must be a number of days, got {value!r}.")
    days = float(value)
    if not 0.0 <= days <= MAX_WASHOUT_DAYS:
        raise InvalidInput(
            f"washout_days must be between 0 and {MAX_WASHOUT_DAYS:g}, got {days:g}."
        )
    return days


def check_no_method_named(
    name: str, question: str, anchors: dict[str, str], method_names: list[str]
) -> None:
    """The study name, question and anchors are shown to readers: refuse a method's name in
    them (whole word, any case), which would unblind the study."""
    shown = {"study name": name, "question": question}
    shown.update({f"anchor {k}": v for k, v in anchors.items()})
    for method in method_names:
        word = re.compile(rf"(?<![A-Za-z0-9]){re.escape(method)}(?![A-Za-z0-9])", re.IGNORECASE)
        for where, value in shown.items():
            if word.search(value):
                raise InvalidInput(
                    f"The {where} is shown to readers and names the method '{method}': "
                    "that would unblind them. Please reword it."
                )


def n_retest_per_reader(retest_fraction: float, n_items: int) -> int:
    """Re-reads per reader: retest_fraction x her items, rounded half up (1.5 -> 2, 2.5 -> 3)."""
    return int(math.floor(retest_fraction * n_items + 0.5))


@dataclass(frozen=True)
class StudyDesign:
    """The checked parameters of a study to create (names stripped, seed drawn)."""

    name: str
    case_names: list[str]
    method_names: list[str]
    reader_names: list[str]  # usernames, lower-case
    seed: int
    question: str  # the first question's prompt (stripped when stored)
    anchor_texts: dict[str, str]  # score "1".."5" -> text of the first question
    asked: list  # the study's questions (db.questions.Question)
    edit_policy: str
    comment_allowed: bool
    fraction: float  # retest_fraction
    washout: float  # washout_days (days)
    cases_per_reader: int | None


def validated_design(
    name: object,
    *,
    cases: object,
    methods: object,
    readers: object,
    seed: object,
    question: object,
    anchors: Mapping | None,
    comment_allowed: object,
    edit_policy: object,
    cases_per_reader: object,
    retest_fraction: object,
    washout_days: object,
    confirm_short_washout: object,
    questions: Sequence | None,
) -> StudyDesign:
    """The parameters of ``create_study`` checked, in its order of refusals; a random
    seed drawn when ``seed`` is None."""
    name = _study_name(name)
    case_names = _names(cases, "case")
    method_names = _names(methods, "method")
    reader_names = _names(readers, "reader", fold_case=True)  # usernames are lower-case
    seed = _seed(seed)
    asked, question, anchor_texts = _questions(question, anchors, questions)
    if edit_policy not in EDIT_POLICIES:
        raise InvalidInput(
            f"edit_policy must be one of {', '.join(EDIT_POLICIES)}, got {edit_policy!r}."
        )
    if not isinstance(comment_allowed, bool):
        raise InvalidInput("comment_allowed must be True or False.")
    fraction = _fraction(retest_fraction)
    washout = _washout(washout_days)
    cases_per_reader = _cases_per_reader(cases_per_reader, len(case_names))
    if fraction > 0:
        per_reader = (cases_per_reader or len(case_names)) * len(method_names)
        _check_retest(fraction, per_reader, washout, confirm_short_washout)
    return StudyDesign(
        name=name,
        case_names=case_names,
        method_names=method_names,
        reader_names=reader_names,
        seed=seed,
        question=question,
        anchor_texts=anchor_texts,
        asked=asked,
        edit_policy=edit_policy,
        comment_allowed=comment_allowed,
        fraction=fraction,
        washout=washout,
        cases_per_reader=cases_per_reader,
    )


def _study_name(name: object) -> str:
    """The study name, stripped: non-empty text of at most 128 characters."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 128:
        raise InvalidInput("The study name must be non-empty text of at most 128 characters.")
    return check_text(name, "The study name").strip()


def _seed(seed: object) -> int:
    """The study's seed: the one given (a non-negative integer < 2**63), else a random one."""
    if seed is None:
        seed = secrets.randbits(31)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**63:
        raise InvalidInput(f"seed must be a non-negative integer, got {seed!r}.")
    return int(seed)


def _questions(
    question: object, anchors: Mapping | None, questions: Sequence | None
) -> tuple[list, str, dict[str, str]]:
    """The study's questions, and the prompt and anchors of the first: the one Likert
    question of ``question`` and ``anchors``, or the checked ``questions``."""
    if not isinstance(question, str) or not question.strip():
        raise InvalidInput("The question must be non-empty text.")
    check_text(question, "The question")
    anchor_texts = _check_anchors(anchors)
    if questions is None:
        asked = study_questions.default_questions(question.strip(), anchor_texts)
    else:
        asked = study_questions.validate_questions(questions, DEFAULT_ANCHORS)
        question, anchor_texts = asked[0].prompt, {str(k): v for k, v in asked[0].anchors}
    return asked, question, anchor_texts


def _cases_per_reader(cases_per_reader: object, n_cases: int) -> int | None:
    """Each reader's number of cases (1 to ``n_cases``), or None: every case."""
    if cases_per_reader is None:
        return None
    if (
        isinstance(cases_per_reader, bool)
        or not isinstance(cases_per_reader, numbers.Integral)
        or not 1 <= cases_per_reader <= n_cases
    ):
        raise InvalidInput(
            f"cases_per_reader must be an integer from 1 to {n_cases} (the number "
            f"of cases), got {cases_per_reader!r}."
        )
    return int(cases_per_reader)


def _check_retest(
    fraction: float, per_reader: int, washout: float, confirm_short_washout: object
) -> None:
    """Refuses a re-read fraction that gives no re-read of the ``per_reader`` items, and a
    washout under one day (days) unless confirmed."""
    n_retest = n_retest_per_reader(fraction, per_reader)
    if n_retest < 1:
        need = 0.5 / per_reader
        raise InvalidInput(
            f"retest_fraction {fraction:g} of {per_reader} items per reader gives "
            f"{fraction * per_reader:.2g} re-reads, rounded to {n_retest}: no re-read "
            f"session. Choose at least {math.ceil(need * 1000) / 1000:g} (1 re-read per "
            "reader), or 0 for no washout session."
        )
    if washout < MIN_WASHOUT_DAYS and confirm_short_washout is not True:
        raise InvalidInput(
            f"A washout of {washout:g} days lets the re-reads follow within a day, while "
            "readers still remember their first scores. Confirm the short washout "
            "explicitly, or choose at least 1 day."
        )
