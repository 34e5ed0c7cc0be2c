"""Role checks done inside every function that pages call (never trust the UI alone).

The acting user is anything with an ``id`` (``db.auth.Actor``, or a ``db.models.User``
row); role and active flag are always re-read from the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from db.errors import AccessDenied
from db.models import User


@dataclass(frozen=True)
class SystemActor:
    """The command line / batch scripts acting with direct access to the database.

    Accepted wherever a coordinator is required (audit events record no user for it). Pages
    never use it: they always pass the signed-in user.
    """

    id: None = None
    username: str = "system"
    role: str = "system"


SYSTEM = SystemActor()


def load_actor(session: Session, actor) -> User:
    """The active account behind ``actor`` (re-read from the database)."""
    actor_id = getattr(actor, "id", None)
    if not isinstance(actor_id, int) or isinstance(actor_id, bool):
        raise AccessDenied("Not signed in: no acting user was given.")
    user = session.get(User, actor_id, populate_existing=True)
    if user is None:
        raise AccessDenied("Unknown account: please sign in again.")
    if not user.active:
        raise AccessDenied(f"The account '{user.username}' is deactivated.")
    return user


def require_coordinator(session: Session, actor) -> User | SystemActor:
    """The acting coordinator (or ``SYSTEM``); AccessDenied for readers and inactive accounts."""
    if isinstance(actor, SystemActor):
        return SYSTEM
    user = load_actor(session, actor)
    if user.role != "coordinator":
        raise AccessDenied(
            f"Not allowed: '{user.username}' is a reader; only a study coordinator may do this."
        )
    return user


def require_reader(session: Session, actor) -> User:
    """The acting reader; AccessDenied for coordinators and inactive accounts."""
    user = load_actor(session, actor)
    if user.role != "reader":
        raise AccessDenied(
            f"Not allowed: '{user.username}' is not a reader; reading screens are for readers."
        )
    return user
