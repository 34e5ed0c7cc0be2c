"""Progress of readers and studies: "k of N", median seconds per item, when session 2 opens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import audit
from db.access import require_coordinator, require_reader
from db.engine import is_sqlite, write_transaction
from db.errors import NotFound
from db.models import Assignment, ItemFlag, Score, Study, StudyReader, User, utcnow
from db.reading import session_two_opens_at
from db.studies import _study


@dataclass(frozen=True)
class ReaderProgress:
    """One reader's progress in one open study (safe to show her: no method identity).

    next_opens_at: when her next items become available (session 2 after the washout), or
    None when items are available now or she is finished.
    """

    study_id: int
    study_name: str
    done: int
    total: int
    finished: bool
    next_opens_at: datetime | None


def reader_progress(
    session: Session, reader, *, now: datetime | None = None
) -> list[ReaderProgress]:
    """The acting reader's progress in each open study she takes part in (id order)."""
    user = require_reader(session, reader)
    now = now or utcnow()
    stmt = (
        select(Study, func.count(Assignment.id), func.count(Score.id))
        .join(Assignment, Assignment.study_id == Study.id)
        .outerjoin(Score, Score.assignment_id == Assignment.id)
        .where(
            Assignment.reader_id == user.id, Study.status == "open", Assignment.practice.is_(False)
        )
        .group_by(Study.id)
        .order_by(Study.id)
    )
    result = []
    for study, total, done in session.execute(stmt):
        opens = None
        if done < total:
            n_first_left = session.scalar(
                select(func.count())
                .select_from(Assignment)
                .outerjoin(Score, Score.assignment_id == Assignment.id)
                .where(
                    Assignment.reader_id == user.id,
                    Assignment.study_id == study.id,
                    Assignment.session_number == 1,
                    Score.id.is_(None),
                )
            )
            if n_first_left == 0:
                when = session_two_opens_at(session, user.id, study)
                if when is not None and when > now:
                    opens = when
        result.append(ReaderProgress(study.id, study.name, done, total, done == total, opens))
    return result


def _median(values: list[float]) -> float | None:
    return float(pd.Series(values, dtype=float).median()) if values else None


def study_progress(session: Session, coordinator, study_id: int) -> pd.DataFrame:
    """Per reader of a study (coordinator only): reader, active, done, total, fraction,
    median_seconds (per scored item), last_activity (UTC)."""
    require_coordinator(session, coordinator)
    study = _study(session, study_id)
    readers = session.execute(
        select(User.id, User.username, User.active)
        .join(StudyReader, StudyReader.reader_id == User.id)
        .where(StudyReader.study_id == study.id)
        .order_by(StudyReader.id)
    ).all()
    totals = dict(
        session.execute(
            select(Assignment.reader_id, func.count(Assignment.id))
            .where(Assignment.study_id == study.id, Assignment.practice.is_(False))
            .group_by(Assignment.reader_id)
        ).all()
    )
    seconds: dict[int, list[float]] = {}
    last: dict[int, datetime] = {}
    for reader_id, secs, updated in session.execute(
        select(Assignment.reader_id, Score.seconds_spent, Score.updated_at)
        .join(Score, Score.assignment_id == Assignment.id)
        .where(Assignment.study_id == study.id, Assignment.practice.is_(False))
    ):
        seconds.setdefault(reader_id, []).append(secs)
        if reader_id not in last or updated > last[reader_id]:
            last[reader_id] = updated
    rows = []
    for reader_id, username, active in readers:
        total = int(totals.get(reader_id, 0))
        done = len(seconds.get(reader_id, []))
        rows.append(
            {
                "reader": username,
                "active": bool(active),
                "done": done,
                "total": total,
                "fraction": done / total if total else 0.0,
                "median_seconds": _median(seconds.get(reader_id, [])),
                "last_activity": last.get(reader_id),
            }
        )
    columns = ["reader", "active", "done", "total", "fraction", "median_seconds", "last_activity"]
    return pd.DataFrame(rows, columns=columns)


def study_summary(session: Session, coordinator, study_id: int) -> dict:
    """Whole-study progress (coordinator only): name, status, readers, done, total,
    fraction, median_seconds."""
    per_reader = study_progress(session, coordinator, study_id)
    study = _study(session, study_id)
    secs = session.scalars(
        select(Score.seconds_spent)
        .join(Assignment, Assignment.id == Score.assignment_id)
        .where(Assignment.study_id == study.id, Assignment.practice.is_(False))
    ).all()
    done, total = int(per_reader["done"].sum()), int(per_reader["total"].sum())
    return {
        "study_id": study.id,
        "name": study.name,
        "status": study.status,
        "readers": len(per_reader),
        "done": done,
        "total": total,
        "fraction": done / total if total else 0.0,
        "median_seconds": _median(list(secs)),
    }


def study_flags(session: Session, coordinator, study_id: int) -> pd.DataFrame:
    """The items readers flagged in a study (coordinator only), oldest first: flag (its id,
    for ``resolve_flag``), code (the reader's opaque item code), reader, position, session,
    reason, note, flagged_at, changed_at and resolved_at (UTC; None while open). A flag its
    reader withdrew is not listed (the audit log keeps it)."""
    require_coordinator(session, coordinator)
    study = _study(session, study_id)
    rows = session.execute(
        select(
            ItemFlag.id,
            Assignment.code,
            User.username,
            Assignment.position,
            Assignment.session_number,
            ItemFlag.reason,
            ItemFlag.note,
            ItemFlag.created_at,
            ItemFlag.updated_at,
            ItemFlag.resolved_at,
        )
        .join(Assignment, Assignment.id == ItemFlag.assignment_id)
        .join(User, User.id == Assignment.reader_id)
        .where(Assignment.study_id == study.id)
        .order_by(ItemFlag.created_at, ItemFlag.id)
    ).all()
    columns = [
        "flag",
        "code",
        "reader",
        "position",
        "session",
        "reason",
        "note",
        "flagged_at",
        "changed_at",
        "resolved_at",
    ]
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def resolve_flag(
    session: Session, coordinator, flag_id: int, *, now: datetime | None = None
) -> str:
    """Mark a reader's flag resolved (coordinator only), in one transaction, audited as
    "flag.resolve"; returns "resolved", or "duplicate" when it already was (nothing
    written). A flag that does not exist (or was withdrawn) raises NotFound. The reader
    changing her flag's reason opens it again (``db.reading.flag_item``)."""
    user = require_coordinator(session, coordinator)
    if isinstance(flag_id, bool) or not isinstance(flag_id, int):
        raise NotFound(f"No flag #{flag_id!r}.")

    def work() -> str:
        stmt = select(ItemFlag).where(ItemFlag.id == flag_id)
        if not is_sqlite(session):
            stmt = stmt.with_for_update()
        flag = session.scalar(stmt.execution_options(populate_existing=True))
        if flag is None:
            raise NotFound(f"No flag #{flag_id} (withdrawn by its reader, or never made).")
        if flag.resolved_at is not None:
            return "duplicate"
        flag.resolved_at = now or utcnow()
        audit.record(
            session,
            user.id,
            "flag.resolve",
            "item_flag",
            flag.id,
            before={"resolved_at": None},
            after={"resolved_at": flag.resolved_at.isoformat()},
        )
        return "resolved"

    return write_transaction(session, work)
