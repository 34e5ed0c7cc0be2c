"""Reading the reader studies back (coordinator only): one study with its counts, a study's
id by name, the list of all studies."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    import pandas as pd

from db import practice
from db.access import require_coordinator
from db.errors import InvalidInput, NotFound
from db.models import Assignment, Item, Study, StudyReader


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


def load_study(session: Session, study_id: int, *, lock: bool = False) -> Study:
    """The study (fresh from the database); ``lock``: its row locked (PostgreSQL) for the
    rest of the transaction, so concurrent changes of its readers queue up."""
    if isinstance(study_id, bool) or not isinstance(study_id, numbers.Integral):
        raise InvalidInput(f"study_id must be an integer, got {study_id!r}.")
    study = session.get(Study, int(study_id), populate_existing=True, with_for_update=lock)
    if study is None:
        raise NotFound(f"No study #{study_id}.")
    return study


def get_study(session: Session, coordinator, study_id: int) -> StudyInfo:
    """Everything about one study, with counts (coordinator only)."""
    require_coordinator(session, coordinator)
    study = load_study(session, study_id)
    counts = session.execute(
        select(
            func.count(func.distinct(Item.case_id)),
            func.count(func.distinct(Item.method_id)),
            func.count(Item.id),
        ).where(Item.study_id == study.id, practice.real_items(study))
    ).one()
    n_readers = session.scalar(
        select(func.count()).select_from(StudyReader).where(StudyReader.study_id == study.id)
    )
    n_assignments = session.scalar(
        select(func.count())
        .select_from(Assignment)
        .where(Assignment.study_id == study.id, Assignment.practice.is_(False))
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
