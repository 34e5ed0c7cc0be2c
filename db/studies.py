"""Reader studies: creation from cases x methods x readers, blinding, order, status.

Default design (as in the paper): every reader scores every (case, method) item. Options:
``cases_per_reader`` gives each reader a subset of the cases (all methods of each) in a
balanced, connected design (``db.blinding.connected_subset``: every case read equally often,
give or take one, and every two readers linked through shared cases whenever the numbers
allow); ``retest_fraction`` > 0 adds a second session, after ``washout_days``, in which each
reader re-reads round(fraction x her items) of her items, spread over the methods and cases
(intra-reader agreement). A fraction that gives no re-read is refused, and a washout under
one day needs ``confirm_short_washout=True``.

Each reader's order is shuffled with a generator seeded by the study's recorded seed and
the reader's index, and never puts two items of the same case back to back unless no other
order exists. Items and assignments carry random opaque codes.
"""

from __future__ import annotations

import math
import numbers
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    import pandas as pd

from db import audit
from db import questions as study_questions
from db.access import require_coordinator
from db.blinding import connected_subset, opaque_code, spread_order, stratified_retest
from db.engine import write_transaction
from db.errors import InvalidInput, NotFound, StudyStateError
from db.models import (
    EDIT_POLICIES,
    Assignment,
    Case,
    Item,
    Method,
    Run,
    Score,
    Study,
    StudyReader,
    User,
    utcnow,
)
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


@dataclass(frozen=True)
class StudyInfo:
    """A study as the coordinator sees it (never shown to readers)."""

    id: int
    name: str
    status: str
    seed: int
    question: str
    anchors: dict[str, str]
    comment_allowed: bool
    edit_policy: str
    washout_days: float
    retest_fraction: float
    n_cases: int
    n_methods: int
    n_readers: int
    n_items: int
    n_assignments: int
    created_at: datetime
    opened_at: datetime | None
    closed_at: datetime | None
    cases_per_reader: int | None = None
    n_retest: int = 0  # session-2 (re-read) assignments of all readers together


# the study row's columns that list_studies shows, in its order
_LISTED_COLUMNS = (
    "id",
    "name",
    "status",
    "seed",
    "edit_policy",
    "washout_days",
    "retest_fraction",
    "created_at",
    "opened_at",
    "closed_at",
)
# the StudyInfo fields that are the study row's columns of the same name
_STUDY_INFO_COLUMNS = (*_LISTED_COLUMNS, "question", "comment_allowed", "cases_per_reader")


def _names(values: object, what: str, *, fold_case: bool = False) -> list[str]:
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
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(f"retest_fraction must be a number in [0, 1], got {value!r}.")
    fraction = float(value)
    if not 0.0 <= fraction <= 1.0:
        raise InvalidInput(f"retest_fraction must be in [0, 1], got {value!r}.")
    return fraction


def _washout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InvalidInput(f"washout_days must be a number of days, got {value!r}.")
    days = float(value)
    if not 0.0 <= days <= MAX_WASHOUT_DAYS:
        raise InvalidInput(
            f"washout_days must be between 0 and {MAX_WASHOUT_DAYS:g}, got {days:g}."
        )
    return days


def _check_no_method_named(
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


def _reader_cases(
    case_ids: Sequence[int],
    cases_per_reader: int | None,
    seed: int,
    previous: Sequence[set[int]] = (),
) -> list[int]:
    """Cases of the next reader: all, or her subset of a balanced, connected design
    (``connected_subset`` over one seeded shuffle of the cases) given the case sets
    ``previous`` of the readers before her."""
    if cases_per_reader is None:
        return list(case_ids)
    subset_rng = np.random.default_rng([seed, 2**32 - 2])
    shuffled = [case_ids[i] for i in subset_rng.permutation(len(case_ids))]
    position = {c: p for p, c in enumerate(shuffled)}
    before = [{position[c] for c in s if c in position} for s in previous]
    return [shuffled[p] for p in connected_subset(len(shuffled), cases_per_reader, before)]


def _reader_assignments(
    study: Study,
    reader_id: int,
    index: int,
    item_of: Mapping[tuple[int, int], int],
    codes: set[str],
    previous: Sequence[set[int]] = (),
) -> list[dict]:
    """Assignment rows of the reader at ``index`` in ``study``, in her reading order.

    Her cases: all, or her subset given the case sets ``previous`` of the readers before her
    (``_reader_cases``). Her order is shuffled with ``default_rng([seed, index])`` over her
    cases x the methods, in the study's recorded case and method order; a session-2 re-read
    of ``n_retest_per_reader`` items spread over the methods and cases
    (``stratified_retest``) follows if the study has one. Codes are drawn fresh and added
    to ``codes`` (pass every code already used in the study).
    """
    case_ids, method_ids = list(study.case_order), list(study.method_order)
    rng = np.random.default_rng([study.seed, index])
    mine_cases = _reader_cases(case_ids, study.cases_per_reader, study.seed, previous)
    mine = [item_of[(c, m)] for c in mine_cases for m in method_ids]
    case_of = {item_of[(c, m)]: c for c in mine_cases for m in method_ids}
    method_of = {item_of[(c, m)]: m for c in mine_cases for m in method_ids}
    first = spread_order(mine, [case_of[i] for i in mine], rng)
    second: list[int] = []
    n_retest = n_retest_per_reader(study.retest_fraction, len(first))
    if n_retest:
        picked = stratified_retest(
            first, [method_of[i] for i in first], [case_of[i] for i in first], n_retest, rng
        )
        second = spread_order(
            picked, [case_of[i] for i in picked], rng, previous_group=case_of[first[-1]]
        )
    rows = []
    for session_number, order in ((1, first), (2, second)):
        for item_id in order:
            rows.append(
                {
                    "study_id": study.id,
                    "reader_id": reader_id,
                    "item_id": item_id,
                    "session_number": session_number,
                    "position": len(rows) + 1,
                    "code": opaque_code(codes),
                }
            )
    return rows


def create_study(
    session: Session,
    coordinator,
    name: str,
    *,
    cases: Sequence[str],
    methods: Sequence[str],
    readers: Sequence[str],
    seed: int | None = None,
    question: str = DEFAULT_QUESTION,
    anchors: Mapping[str, str] | None = None,
    comment_allowed: bool = True,
    edit_policy: str = "locked",
    cases_per_reader: int | None = None,
    retest_fraction: float = 0.0,
    washout_days: float = 14.0,
    confirm_short_washout: bool = False,
    questions: Sequence[study_questions.Question | Mapping] | None = None,
    open_now: bool = False,
) -> int:
    """Create a draft study from case, method and reader (username) names; returns its id.

    Every (case, method) must have a run (the newest is used). ``seed`` (default: random)
    is recorded; each reader's order derives from it. ``edit_policy``: "locked" (default,
    a submitted score cannot be changed) or "editable" (changes allowed while open, each
    one audited). Open the study with ``open_study`` when ready.

    ``cases_per_reader``: each reader's subset of a balanced, connected design (see the
    module). ``retest_fraction``: a fraction that gives fewer than one re-read per reader
    is refused (the message says how many it would give); a washout of less than one day
    (the re-reads follow at once) needs ``confirm_short_washout=True``.

    ``questions``: what readers answer per item (``db.questions``; default: one Likert
    question from ``question`` and ``anchors``); the first, a Likert question, replaces them.

    ``open_now``: open it too, in the same unit of work (created and opened, or nothing).
    """
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 128:
        raise InvalidInput("The study name must be non-empty text of at most 128 characters.")
    name = check_text(name, "The study name").strip()
    case_names = _names(cases, "case")
    method_names = _names(methods, "method")
    reader_names = _names(readers, "reader", fold_case=True)  # usernames are lower-case
    if seed is None:
        seed = secrets.randbits(31)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**63:
        raise InvalidInput(f"seed must be a non-negative integer, got {seed!r}.")
    seed = int(seed)
    if not isinstance(question, str) or not question.strip():
        raise InvalidInput("The question must be non-empty text.")
    check_text(question, "The question")
    anchor_texts = _check_anchors(anchors)
    if questions is None:
        asked = study_questions.default_questions(question.strip(), anchor_texts)
    else:
        asked = study_questions.validate_questions(questions, DEFAULT_ANCHORS)
        question, anchor_texts = asked[0].prompt, {str(k): v for k, v in asked[0].anchors}
    if edit_policy not in EDIT_POLICIES:
        raise InvalidInput(
            f"edit_policy must be one of {', '.join(EDIT_POLICIES)}, got {edit_policy!r}."
        )
    if not isinstance(comment_allowed, bool):
        raise InvalidInput("comment_allowed must be True or False.")
    fraction = _fraction(retest_fraction)
    washout = _washout(washout_days)
    if cases_per_reader is not None:
        if (
            isinstance(cases_per_reader, bool)
            or not isinstance(cases_per_reader, numbers.Integral)
            or not 1 <= cases_per_reader <= len(case_names)
        ):
            raise InvalidInput(
                f"cases_per_reader must be an integer from 1 to {len(case_names)} (the number "
                f"of cases), got {cases_per_reader!r}."
            )
        cases_per_reader = int(cases_per_reader)
    if fraction > 0:
        per_reader = (cases_per_reader or len(case_names)) * len(method_names)
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

    def work() -> int:
        acting = require_coordinator(session, coordinator)
        if session.scalar(select(Study.id).where(Study.name == name)) is not None:
            raise InvalidInput(f"A study named '{name}' already exists.")
        case_rows = {
            c.name: c for c in session.scalars(select(Case).where(Case.name.in_(case_names)))
        }
        missing = [n for n in case_names if n not in case_rows]
        if missing:
            raise NotFound(f"Unknown case(s): {', '.join(missing)}.")
        method_rows = {
            m.name: m for m in session.scalars(select(Method).where(Method.name.in_(method_names)))
        }
        missing = [n for n in method_names if n not in method_rows]
        if missing:
            raise NotFound(f"Unknown method(s): {', '.join(missing)}.")
        for q in asked:
            _check_no_method_named(name, q.prompt, {str(k): v for k, v in q.anchors}, method_names)
        reader_rows = {
            u.username: u
            for u in session.scalars(select(User).where(User.username.in_(reader_names)))
        }
        missing = [n for n in reader_names if n not in reader_rows]
        if missing:
            raise NotFound(f"Unknown reader(s): {', '.join(missing)}.")
        for uname in reader_names:
            user = reader_rows[uname]
            if user.role != "reader":
                raise InvalidInput(f"'{uname}' is a {user.role}, not a reader.")
            if not user.active:
                raise InvalidInput(f"The reader '{uname}' is deactivated.")
        case_ids = [case_rows[n].id for n in case_names]
        method_ids = [method_rows[n].id for n in method_names]
        newest = (
            select(Run.case_id, Run.method_id, func.max(Run.id))
            .where(Run.case_id.in_(case_ids), Run.method_id.in_(method_ids))
            .group_by(Run.case_id, Run.method_id)
        )
        run_of = {(c, m): r for c, m, r in session.execute(newest)}
        lacking = [
            f"{cn} x {mn}"
            for cn in case_names
            for mn in method_names
            if (case_rows[cn].id, method_rows[mn].id) not in run_of
        ]
        if lacking:
            shown = ", ".join(lacking[:5]) + (" ..." if len(lacking) > 5 else "")
            raise InvalidInput(f"No segmentation run for {len(lacking)} case x method: {shown}.")

        now = utcnow()
        study = Study(
            name=name,
            status="draft",
            seed=seed,
            question=question.strip(),
            anchors=anchor_texts,
            comment_allowed=comment_allowed,
            edit_policy=edit_policy,
            washout_days=washout,
            retest_fraction=fraction,
            cases_per_reader=cases_per_reader,
            case_order=case_ids,
            method_order=method_ids,
            created_by=acting.id,
            created_at=now,
        )
        session.add(study)
        session.flush()
        study_questions.add_questions(session, study.id, asked)
        for uname in reader_names:
            session.add(StudyReader(study_id=study.id, reader_id=reader_rows[uname].id))

        # items in a random order, so item ids say nothing about the method
        pairs = [(c, m) for c in case_ids for m in method_ids]
        id_rng = np.random.default_rng([seed, 2**32 - 1])
        pairs = [pairs[i] for i in id_rng.permutation(len(pairs))]
        taken: set[str] = set()
        session.execute(
            insert(Item),
            [
                {
                    "study_id": study.id,
                    "case_id": c,
                    "method_id": m,
                    "run_id": run_of[(c, m)],
                    "code": opaque_code(taken),
                }
                for c, m in pairs
            ],
        )
        item_of = {
            (c, m): i
            for i, c, m in session.execute(
                select(Item.id, Item.case_id, Item.method_id).where(Item.study_id == study.id)
            )
        }

        codes = set(taken)  # assignment codes differ from item codes too
        rows = []
        previous: list[set[int]] = []  # case sets of the readers so far
        case_of_item = {i: c for (c, _), i in item_of.items()}
        for index, uname in enumerate(reader_names):
            mine = _reader_assignments(
                study, reader_rows[uname].id, index, item_of, codes, previous
            )
            previous.append({case_of_item[r["item_id"]] for r in mine})
            rows += mine
        # inserted reader by reader in reading order: ids follow positions only
        session.execute(insert(Assignment), rows)
        audit.record(
            session,
            acting.id,
            "study.create",
            "study",
            study.id,
            after={
                "name": name,
                "seed": seed,
                "cases": case_names,
                "methods": method_names,
                "readers": reader_names,
                "edit_policy": edit_policy,
                "cases_per_reader": cases_per_reader,
                "retest_fraction": fraction,
                "washout_days": washout,
                "short_washout_confirmed": bool(fraction and washout < MIN_WASHOUT_DAYS),
                "assignments": len(rows),
                "questions": [q.key for q in asked],
            },
        )
        if open_now:
            open_study(session, coordinator, study.id)  # joins this unit of work
        return study.id

    return write_transaction(session, work)


def _study(session: Session, study_id: int, *, lock: bool = False) -> Study:
    """The study (fresh from the database); ``lock``: its row locked (PostgreSQL) for the
    rest of the transaction, so concurrent changes of its readers queue up."""
    if isinstance(study_id, bool) or not isinstance(study_id, numbers.Integral):
        raise InvalidInput(f"study_id must be an integer, got {study_id!r}.")
    study = session.get(Study, int(study_id), populate_existing=True, with_for_update=lock)
    if study is None:
        raise NotFound(f"No study #{study_id}.")
    return study


def _set_status(session: Session, coordinator, study_id: int, old: str, new: str) -> None:
    def work() -> None:
        acting = require_coordinator(session, coordinator)
        study = _study(session, study_id)
        if study.status != old:
            raise StudyStateError(
                f"The study '{study.name}' is {study.status}; only a {old} study can be {new}ed"
                if new != "closed"
                else f"The study '{study.name}' is {study.status}; only an open study can be closed."
            )
        study.status = new
        if new == "open":
            study.opened_at = utcnow()
        else:
            study.closed_at = utcnow()
        audit.record(
            session,
            acting.id,
            f"study.{new}",
            "study",
            study.id,
            before={"status": old},
            after={"status": new},
        )

    write_transaction(session, work)


def open_study(session: Session, coordinator, study_id: int) -> None:
    """Open a draft study for reading (coordinator only)."""
    _set_status(session, coordinator, study_id, "draft", "open")


def close_study(session: Session, coordinator, study_id: int) -> None:
    """Close an open study: from now on it accepts no scores (coordinator only)."""
    _set_status(session, coordinator, study_id, "open", "closed")


def add_reader(session: Session, coordinator, study_id: int, username: str) -> int:
    """Add an active reader to a draft or open study; returns her number of assignments.

    Her order is the one ``create_study`` would have given a reader at the next index (the
    number of readers already in the study) with the study's seed, design and washout
    session. Audited as ``study.add_reader`` (coordinator only).
    """
    if not isinstance(username, str) or not username.strip():
        raise InvalidInput("Choose a reader (her username).")
    uname = username.strip().lower()

    def work() -> int:
        acting = require_coordinator(session, coordinator)
        study = _study(session, study_id, lock=True)
        if study.status == "closed":
            raise StudyStateError(
                f"The study '{study.name}' is closed; readers can only be added to a draft "
                "or open study."
            )
        if study.case_order is None or study.method_order is None:
            raise StudyStateError(
                f"The study '{study.name}' has no recorded design (case and method order); "
                "a reader cannot be added to it."
            )
        user = session.scalar(select(User).where(User.username == uname))
        if user is None:
            raise NotFound(f"Unknown reader: {uname}.")
        if user.role != "reader":
            raise InvalidInput(f"'{uname}' is a {user.role}, not a reader.")
        if not user.active:
            raise InvalidInput(f"The reader '{uname}' is deactivated.")
        reader_ids = set(
            session.scalars(select(StudyReader.reader_id).where(StudyReader.study_id == study.id))
        )
        if user.id in reader_ids:
            raise InvalidInput(f"'{uname}' already reads in the study '{study.name}'.")
        item_of: dict[tuple[int, int], int] = {}
        codes: set[str] = set()
        for item_id, case_id, method_id, code in session.execute(
            select(Item.id, Item.case_id, Item.method_id, Item.code).where(
                Item.study_id == study.id
            )
        ):
            item_of[(case_id, method_id)] = item_id
            codes.add(code)
        codes.update(
            session.scalars(select(Assignment.code).where(Assignment.study_id == study.id))
        )
        index = len(reader_ids)
        previous: dict[int, set[int]] = {}  # the case sets the readers have (session 1)
        for reader_id, case_id in session.execute(
            select(Assignment.reader_id, Item.case_id)
            .join(Item, Item.id == Assignment.item_id)
            .where(Assignment.study_id == study.id, Assignment.session_number == 1)
        ):
            previous.setdefault(reader_id, set()).add(case_id)
        rows = _reader_assignments(study, user.id, index, item_of, codes, list(previous.values()))
        session.add(StudyReader(study_id=study.id, reader_id=user.id))
        session.execute(insert(Assignment), rows)  # in reading order, as create_study
        audit.record(
            session,
            acting.id,
            "study.add_reader",
            "study",
            study.id,
            after={"reader": uname, "index": index, "assignments": len(rows)},
        )
        return len(rows)

    return write_transaction(session, work)


def delete_draft_study(session: Session, coordinator, study_id: int) -> None:
    """Delete a draft study with its readers, items and assignments (coordinator only).

    An open or closed study has (or may have) scores and is refused. Audited as
    ``study.delete`` with what was removed.
    """

    def work() -> None:
        acting = require_coordinator(session, coordinator)
        study = _study(session, study_id, lock=True)
        if study.status != "draft":
            raise StudyStateError(
                f"The study '{study.name}' is {study.status}: only a draft study can be "
                "deleted (an opened study has or may have scores; close it instead)."
            )
        assignment_ids = select(Assignment.id).where(Assignment.study_id == study.id)
        if session.scalar(
            select(func.count()).select_from(Score).where(Score.assignment_id.in_(assignment_ids))
        ):
            raise StudyStateError(f"The study '{study.name}' has scores; it cannot be deleted.")
        removed = {}
        for model in (Assignment, Item, StudyReader):
            result = session.execute(delete(model).where(model.study_id == study.id))
            removed[model.__tablename__] = result.rowcount
        removed["study_questions"] = study_questions.delete_questions(session, study.id)
        before = {"name": study.name, "status": study.status, "seed": study.seed, **removed}
        session.delete(study)
        session.flush()
        audit.record(session, acting.id, "study.delete", "study", int(study_id), before=before)

    write_transaction(session, work)


def get_study(session: Session, coordinator, study_id: int) -> StudyInfo:
    """Everything about one study, with counts (coordinator only)."""
    require_coordinator(session, coordinator)
    study = _study(session, study_id)
    counts = session.execute(
        select(
            func.count(func.distinct(Item.case_id)),
            func.count(func.distinct(Item.method_id)),
            func.count(Item.id),
        ).where(Item.study_id == study.id)
    ).one()
    n_readers = session.scalar(
        select(func.count()).select_from(StudyReader).where(StudyReader.study_id == study.id)
    )
    n_assignments = session.scalar(
        select(func.count()).select_from(Assignment).where(Assignment.study_id == study.id)
    )
    n_retest = session.scalar(
        select(func.count())
        .select_from(Assignment)
        .where(Assignment.study_id == study.id, Assignment.session_number == 2)
    )
    return StudyInfo(
        **{column: getattr(study, column) for column in _STUDY_INFO_COLUMNS},
        anchors=dict(study.anchors),
        n_cases=counts[0],
        n_methods=counts[1],
        n_readers=n_readers,
        n_items=counts[2],
        n_assignments=n_assignments,
        n_retest=int(n_retest or 0),
    )


def study_id_by_name(session: Session, coordinator, name: str) -> int:
    """The id of the study called ``name`` (coordinator only)."""
    require_coordinator(session, coordinator)
    study_id = session.scalar(select(Study.id).where(Study.name == str(name).strip()))
    if study_id is None:
        raise NotFound(f"No study named '{name}'.")
    return study_id


def list_studies(session: Session, coordinator) -> pd.DataFrame:
    """All studies (coordinator only): id, name, status, seed, edit_policy, washout_days,
    retest_fraction, created_at, opened_at, closed_at."""
    import pandas as pd

    require_coordinator(session, coordinator)
    columns = list(_LISTED_COLUMNS)
    rows = [
        {c: getattr(s, c) for c in columns}
        for s in session.scalars(select(Study).order_by(Study.id))
    ]
    return pd.DataFrame(rows, columns=columns)
