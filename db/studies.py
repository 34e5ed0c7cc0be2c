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

This module creates studies and their assignments (``create_study``, ``add_reader``); the
checks of the parameters are in ``db.study_design``, the lifecycle (open, close, delete) in
``db.study_lifecycle``, the reads in ``db.study_queries``: their public names are importable
from here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from db import audit, practice
from db import questions as study_questions
from db.access import require_coordinator
from db.blinding import connected_subset, opaque_code, spread_order, stratified_retest
from db.engine import write_transaction
from db.errors import InvalidInput, NotFound, StudyStateError
from db.models import Assignment, Case, Item, Method, Run, Study, StudyReader, User, utcnow
from db.study_design import (
    DEFAULT_ANCHORS,
    DEFAULT_QUESTION,
    MAX_WASHOUT_DAYS,
    MIN_WASHOUT_DAYS,
    StudyDesign,
    check_no_method_named,
    n_retest_per_reader,
    validated_design,
)
from db.study_lifecycle import close_study, delete_draft_study, open_study
from db.study_queries import (
    StudyInfo,
    get_study,
    list_studies,
    load_study,
    study_id_by_name,
)

_study = load_study  # the name db.export and db.progress import

__all__ = [
    "DEFAULT_ANCHORS",
    "DEFAULT_QUESTION",
    "MAX_WASHOUT_DAYS",
    "MIN_WASHOUT_DAYS",
    "StudyInfo",
    "add_reader",
    "close_study",
    "create_study",
    "delete_draft_study",
    "get_study",
    "list_studies",
    "n_retest_per_reader",
    "open_study",
    "study_id_by_name",
]


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
    practice_cases: Sequence[str] | None = None,
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

    ``practice_cases``: case names (not study cases) read first by every reader with the
    first method, never analysed (``db.practice``).
    """
    practice_names = practice.practice_case_names(practice_cases)
    design = validated_design(
        name,
        cases=cases,
        methods=methods,
        readers=readers,
        seed=seed,
        question=question,
        anchors=anchors,
        comment_allowed=comment_allowed,
        edit_policy=edit_policy,
        cases_per_reader=cases_per_reader,
        retest_fraction=retest_fraction,
        washout_days=washout_days,
        confirm_short_washout=confirm_short_washout,
        questions=questions,
    )

    def work() -> int:
        acting = require_coordinator(session, coordinator)
        if session.scalar(select(Study.id).where(Study.name == design.name)) is not None:
            raise InvalidInput(f"A study named '{design.name}' already exists.")
        case_rows, method_rows = _case_and_method_rows(session, design)
        for q in design.asked:
            check_no_method_named(
                design.name, q.prompt, {str(k): v for k, v in q.anchors}, design.method_names
            )
        reader_rows = _reader_rows(session, design.reader_names)
        case_ids = [case_rows[n].id for n in design.case_names]
        method_ids = [method_rows[n].id for n in design.method_names]
        run_of = _newest_runs(session, design, case_rows, method_rows, case_ids, method_ids)
        study = _insert_study(session, design, acting.id, case_ids, method_ids)
        for uname in design.reader_names:
            session.add(StudyReader(study_id=study.id, reader_id=reader_rows[uname].id))
        item_of, taken = _insert_items(session, study, case_ids, method_ids, run_of)
        reader_ids = [reader_rows[uname].id for uname in design.reader_names]
        n_assignments = _insert_assignments(session, study, reader_ids, item_of, taken)
        practice.add_practice(session, acting.id, study, practice_names, reader_ids)
        _audit_create(session, acting.id, study.id, design, n_assignments)
        if open_now:
            open_study(session, coordinator, study.id)  # joins this unit of work
        return study.id

    return write_transaction(session, work)


def _case_and_method_rows(
    session: Session, design: StudyDesign
) -> tuple[dict[str, Case], dict[str, Method]]:
    """The study's Case and Method rows by name; an unknown name is refused."""
    case_rows = {
        c.name: c for c in session.scalars(select(Case).where(Case.name.in_(design.case_names)))
    }
    missing = [n for n in design.case_names if n not in case_rows]
    if missing:
        raise NotFound(f"Unknown case(s): {', '.join(missing)}.")
    method_rows = {
        m.name: m
        for m in session.scalars(select(Method).where(Method.name.in_(design.method_names)))
    }
    missing = [n for n in design.method_names if n not in method_rows]
    if missing:
        raise NotFound(f"Unknown method(s): {', '.join(missing)}.")
    return case_rows, method_rows


def _reader_rows(session: Session, reader_names: Sequence[str]) -> dict[str, User]:
    """The readers' User rows by username; an unknown, non-reader or inactive one is refused."""
    reader_rows = {
        u.username: u for u in session.scalars(select(User).where(User.username.in_(reader_names)))
    }
    missing = [n for n in reader_names if n not in reader_rows]
    if missing:
        raise NotFound(f"Unknown reader(s): {', '.join(missing)}.")
    for uname in reader_names:
        _check_reader(reader_rows[uname], uname)
    return reader_rows


def _check_reader(user: User, uname: str) -> None:
    """Refuses a user who is not an active reader."""
    if user.role != "reader":
        raise InvalidInput(f"'{uname}' is a {user.role}, not a reader.")
    if not user.active:
        raise InvalidInput(f"The reader '{uname}' is deactivated.")


def _newest_runs(
    session: Session,
    design: StudyDesign,
    case_rows: Mapping[str, Case],
    method_rows: Mapping[str, Method],
    case_ids: Sequence[int],
    method_ids: Sequence[int],
) -> dict[tuple[int, int], int]:
    """The newest run id of each (case id, method id); a pair without a run is refused."""
    newest = (
        select(Run.case_id, Run.method_id, func.max(Run.id))
        .where(Run.case_id.in_(case_ids), Run.method_id.in_(method_ids))
        .group_by(Run.case_id, Run.method_id)
    )
    run_of = {(c, m): r for c, m, r in session.execute(newest)}
    lacking = [
        f"{cn} x {mn}"
        for cn in design.case_names
        for mn in design.method_names
        if (case_rows[cn].id, method_rows[mn].id) not in run_of
    ]
    if lacking:
        shown = ", ".join(lacking[:5]) + (" ..." if len(lacking) > 5 else "")
        raise InvalidInput(f"No segmentation run for {len(lacking)} case x method: {shown}.")
    return run_of


def _insert_study(
    session: Session,
    design: StudyDesign,
    created_by: int,
    case_ids: list[int],
    method_ids: list[int],
) -> Study:
    """The draft Study row (flushed, with its questions), in the recorded case and method
    order."""
    study = Study(
        name=design.name,
        status="draft",
        seed=design.seed,
        question=design.question.strip(),
        anchors=design.anchor_texts,
        comment_allowed=design.comment_allowed,
        edit_policy=design.edit_policy,
        washout_days=design.washout,
        retest_fraction=design.fraction,
        cases_per_reader=design.cases_per_reader,
        case_order=case_ids,
        method_order=method_ids,
        created_by=created_by,
        created_at=utcnow(),
    )
    session.add(study)
    session.flush()
    study_questions.add_questions(session, study.id, design.asked)
    return study


def _insert_items(
    session: Session,
    study: Study,
    case_ids: Sequence[int],
    method_ids: Sequence[int],
    run_of: Mapping[tuple[int, int], int],
) -> tuple[dict[tuple[int, int], int], set[str]]:
    """Inserts the study's (case, method) items with opaque codes in a seeded random order,
    so item ids say nothing about the method; their ids by (case id, method id) and the
    codes used."""
    pairs = [(c, m) for c in case_ids for m in method_ids]
    id_rng = np.random.default_rng([study.seed, 2**32 - 1])
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
    return item_of, taken


def _insert_assignments(
    session: Session,
    study: Study,
    reader_ids: Sequence[int],
    item_of: Mapping[tuple[int, int], int],
    taken: set[str],
) -> int:
    """Inserts every reader's assignments in reading order (reader by reader, so ids
    follow positions only); returns how many."""
    codes = set(taken)  # assignment codes differ from item codes too
    rows = []
    previous: list[set[int]] = []  # case sets of the readers so far
    case_of_item = {i: c for (c, _), i in item_of.items()}
    for index, reader_id in enumerate(reader_ids):
        mine = _reader_assignments(study, reader_id, index, item_of, codes, previous)
        previous.append({case_of_item[r["item_id"]] for r in mine})
        rows += mine
    session.execute(insert(Assignment), rows)
    return len(rows)


def _audit_create(
    session: Session, actor_id: int, study_id: int, design: StudyDesign, n_assignments: int
) -> None:
    """The ``study.create`` audit entry: the design as created."""
    audit.record(
        session,
        actor_id,
        "study.create",
        "study",
        study_id,
        after={
            "name": design.name,
            "seed": design.seed,
            "cases": design.case_names,
            "methods": design.method_names,
            "readers": design.reader_names,
            "edit_policy": design.edit_policy,
            "cases_per_reader": design.cases_per_reader,
            "retest_fraction": design.fraction,
            "washout_days": design.washout,
            "short_washout_confirmed": bool(design.fraction and design.washout < MIN_WASHOUT_DAYS),
            "assignments": n_assignments,
            "questions": [q.key for q in design.asked],
        },
    )


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
        _check_reader(user, uname)
        reader_ids = set(
            session.scalars(select(StudyReader.reader_id).where(StudyReader.study_id == study.id))
        )
        if user.id in reader_ids:
            raise InvalidInput(f"'{uname}' already reads in the study '{study.name}'.")
        item_of, codes = _items_and_codes(session, study.id)
        index = len(reader_ids)
        previous = _reader_case_sets(session, study.id)
        rows = _reader_assignments(study, user.id, index, item_of, codes, previous)
        rows = practice.practice_rows(
            study.id, user.id, practice.practice_item_ids(session, study), codes
        ) + [{**r, "practice": False} for r in rows]
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


def _items_and_codes(
    session: Session, study_id: int
) -> tuple[dict[tuple[int, int], int], set[str]]:
    """The study's item ids by (case id, method id), and every code its items and
    assignments use."""
    item_of: dict[tuple[int, int], int] = {}
    codes: set[str] = set()
    for item_id, case_id, method_id, code in session.execute(
        select(Item.id, Item.case_id, Item.method_id, Item.code).where(Item.study_id == study_id)
    ):
        item_of[(case_id, method_id)] = item_id
        codes.add(code)
    codes.update(session.scalars(select(Assignment.code).where(Assignment.study_id == study_id)))
    return item_of, codes


def _reader_case_sets(session: Session, study_id: int) -> list[set[int]]:
    """The case ids of each reader of the study in session 1 (``previous`` of
    ``_reader_assignments``)."""
    previous: dict[int, set[int]] = {}
    for reader_id, case_id in session.execute(
        select(Assignment.reader_id, Item.case_id)
        .join(Item, Item.id == Assignment.item_id)
        .where(Assignment.study_id == study_id, Assignment.session_number == 1)
    ):
        previous.setdefault(reader_id, set()).add(case_id)
    return list(previous.values())
