"""Role checks done inside every function that pages call (never trust the UI alone).

The acting user is anything with an ``id`` (an :class:`Actor`, or a ``db.models.User``
row); role and active flag are always re-read from the database. ``Actor`` lives here, below
``db.auth`` and ``db.web_sessions`` that both make it, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from db.errors import AccessDenied
from db.models import User


@dataclass(frozen=True)
class Actor:
    """A signed-in account as the app keeps it: no password material.

    Pass it (or anything with the same ``id``) as the acting user to every db function;
    role and active flag are re-checked against the database on each call.
    """

    id: int
    username: str
    role: str
    must_change_password: bool = False

    @classmethod
    def of(cls, user: User) -> Actor:
        """The Actor of a ``db.models.User`` row."""
        return cls(user.id, user.username, user.role, bool(user.must_change_password))


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
