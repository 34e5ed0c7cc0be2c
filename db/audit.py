"""The append-only audit log: who did what, when, with the values before and after."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    import pandas as pd

from db.access import require_coordinator
from db.models import AuditEvent, User, utcnow


def record(
    session: Session,
    actor_id: int | None,
    action: str,
    entity: str,
    entity_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit event to the session's current transaction (committed with it).

    actor_id None means the command line acting with direct access to the database.
    """
    event = AuditEvent(
        at=utcnow(),
        actor_id=actor_id,
        action=action,
        entity=entity,
        entity_id=entity_id,
        before=before,
        after=after,
    )
    session.add(event)
    return event


def audit_events(session: Session, coordinator, *, entity: str | None = None) -> pd.DataFrame:
    """The audit log as a DataFrame (coordinator only), oldest first.

    Columns: id, at, actor (username, "" for the command line), action, entity, entity_id,
    before, after.
    """
    import pandas as pd

    require_coordinator(session, coordinator)
    stmt = (
        select(AuditEvent, User.username)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .order_by(AuditEvent.id)
    )
    if entity is not None:
        stmt = stmt.where(AuditEvent.entity == entity)
    rows = [
        {
            "id": ev.id,
            "at": ev.at,
            "actor": name or "",
            "action": ev.action,
            "entity": ev.entity,
            "entity_id": ev.entity_id,
            "before": ev.before,
            "after": ev.after,
        }
        for ev, name in session.execute(stmt)
    ]
    columns = ["id", "at", "actor", "action", "entity", "entity_id", "before", "after"]
    return pd.DataFrame(rows, columns=columns)
