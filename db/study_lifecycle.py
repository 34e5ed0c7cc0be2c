"""A reader study's lifecycle (coordinator only, each one audited unit of work): open a
draft, close an open study, delete a draft."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from db import audit
from db import questions as study_questions
from db.access import require_coordinator
from db.engine import write_transaction
from db.errors import StudyStateError
from db.models import Assignment, Item, Score, StudyReader, utcnow
from db.study_queries import load_study


def _set_status(session: Session, coordinator, study_id: int, old: str, new: str) -> None:
    """Moves the study from status ``old`` to ``new`` (open / closed), stamped and audited."""

    def work() -> None:
        acting = require_coordinator(session, coordinator)
        study = load_study(session, study_id)
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


def delete_draft_study(session: Session, coordinator, study_id: int) -> None:
    """Delete a draft study with its readers, items and assignments (coordinator only).

    An open or closed study has (or may have) scores and is refused. Audited as
    ``study.delete`` with what was removed.
    """

    def work() -> None:
        acting = require_coordinator(session, coordinator)
        study = load_study(session, study_id, lock=True)
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
