"""Practice items of a study: read first by every reader, never analysed.

Rule: a practice case is any catalogue case that is not one of the study's cases (reading
a study case in practice would prime the reader for it) with a run of the study's FIRST
method in its recorded method order; its newest run is used. Each reader gets one practice
item per practice case, in the order the coordinator gave them, at positions 1-P .. 0
(before her real items at 1 .. N), each with a fresh opaque code; ``Assignment.practice``
marks them. Their scores are stored like the others (``db.reading.submit_score``) but are
left out of progress counts, exports, the agreement so far and the report; session-2
re-reads are drawn from the real items only.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, insert, select, true
from sqlalchemy.orm import Session

from db import audit
from db.blinding import opaque_code
from db.errors import InvalidInput, NotFound
from db.models import Assignment, Case, Item, Run, Study


def practice_case_names(values: object) -> list[str]:
    """The practice case names, stripped and without repeats (none for None or empty)."""
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise InvalidInput("Practice cases must be a list of case names.")
    names: list[str] = []
    for v in values:
        if not isinstance(v, str) or not v.strip() or "\x00" in v:
            raise InvalidInput("Each practice case must be a case name.")
        if v.strip() not in names:
            names.append(v.strip())
    return names


def insert_practice_items(
    session: Session, study: Study, names: Sequence[str], taken: set[str]
) -> list[int]:
    """Inserts one item per practice case (the study's first method, newest run) with a
    code not in ``taken`` (added to it); their ids in the given order."""
    if not names:
        return []
    rows = {c.name: c for c in session.scalars(select(Case).where(Case.name.in_(names)))}
    missing = [n for n in names if n not in rows]
    if missing:
        raise NotFound(f"Unknown practice case(s): {', '.join(missing)}.")
    in_study = [n for n in names if rows[n].id in set(study.case_order)]
    if in_study:
        raise InvalidInput(
            f"Practice case(s) {', '.join(in_study)} are study cases: choose other cases."
        )
    method_id = study.method_order[0]
    run_of = dict(
        session.execute(
            select(Run.case_id, func.max(Run.id))
            .where(Run.case_id.in_([rows[n].id for n in names]), Run.method_id == method_id)
            .group_by(Run.case_id)
        ).all()
    )
    lacking = [n for n in names if rows[n].id not in run_of]
    if lacking:
        raise InvalidInput(
            f"No segmentation run of the study's first method for practice case(s): "
            f"{', '.join(lacking)}."
        )
    ids = []
    for n in names:
        item = Item(
            study_id=study.id,
            case_id=rows[n].id,
            method_id=method_id,
            run_id=run_of[rows[n].id],
            code=opaque_code(taken),
        )
        session.add(item)
        session.flush()
        ids.append(item.id)
    return ids


def real_items(study: Study):
    """A where-clause on ``Item`` keeping the study's real (analysed) items: those of its
    case order (practice cases are never study cases); every item of a study without one."""
    if study.case_order is None:
        return true()
    return Item.case_id.in_(list(study.case_order))


def practice_item_ids(session: Session, study: Study) -> list[int]:
    """The study's practice item ids in practice order: its items of cases outside its
    case order (practice cases are never study cases), inserted in that order."""
    return list(
        session.scalars(
            select(Item.id)
            .where(Item.study_id == study.id, Item.case_id.not_in(list(study.case_order)))
            .order_by(Item.id)
        )
    )


def practice_rows(
    study_id: int, reader_id: int, item_ids: Sequence[int], codes: set[str]
) -> list[dict]:
    """The reader's practice assignment rows (positions 1-P .. 0, session 1, fresh codes
    added to ``codes``)."""
    n = len(item_ids)
    return [
        {
            "study_id": study_id,
            "reader_id": reader_id,
            "item_id": item_id,
            "session_number": 1,
            "position": k - n,
            "code": opaque_code(codes),
            "practice": True,
        }
        for k, item_id in enumerate(item_ids, start=1)
    ]


def add_practice(
    session: Session, actor_id: int, study: Study, names: Sequence[str], reader_ids: Sequence[int]
) -> int:
    """Inserts the practice items and every reader's practice assignments (inside the
    caller's unit of work), audited as ``study.practice``; returns how many assignments."""
    if not names:
        return 0
    codes = set(session.scalars(select(Item.code).where(Item.study_id == study.id)))
    codes.update(session.scalars(select(Assignment.code).where(Assignment.study_id == study.id)))
    item_ids = insert_practice_items(session, study, names, codes)
    rows = [r for rid in reader_ids for r in practice_rows(study.id, rid, item_ids, codes)]
    if rows:
        session.execute(insert(Assignment), rows)
    audit.record(
        session,
        actor_id,
        "study.practice",
        "study",
        study.id,
        after={"practice_cases": list(names), "assignments": len(rows)},
    )
    return len(rows)
