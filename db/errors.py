"""Errors raised by the reader-study database layer.

Every error carries a message meant for the person at the screen; pages can show
``str(exc)`` as it is. The classes also derive from the matching built-in exception
(``PermissionError``, ``ValueError``, ``LookupError``) so generic handlers still work.
"""

from __future__ import annotations


class LivsegDBError(Exception):
    """Base class of every error of the ``db`` package."""


class AuthError(LivsegDBError):
    """Sign-in refused: unknown user or wrong password, account locked, or inactive.

    ``retry_after_s`` is the number of seconds to wait when the account is locked, else 0.
    """

    def __init__(self, message: str, *, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after_s = float(retry_after_s)


class AccessDenied(LivsegDBError, PermissionError):
    """The acting user may not do this (wrong role, inactive account). Another reader's
    item is ``NotFound``, like an id that does not exist (ids would reveal a study's size)."""


class InvalidInput(LivsegDBError, ValueError):
    """A value given by the caller is malformed or out of range; nothing was written."""


class NotFound(LivsegDBError, LookupError):
    """The requested user, case, method, study or item does not exist."""


class StudyStateError(LivsegDBError):
    """The study's status does not allow this (e.g. scoring a draft, editing an open study)."""


class StudyClosed(StudyStateError):
    """The study is closed: it accepts no scores any more."""


class ItemNotAvailable(LivsegDBError):
    """The item exists and is the reader's, but not yet: later in her order or after a washout."""


class ScoreLocked(LivsegDBError):
    """The item was already scored and the study's edit policy forbids changes."""


class DatabaseBusy(LivsegDBError):
    """The database stayed locked by other writers through every retry."""


class CaseExists(InvalidInput):
    """A case of that name exists with other files: names are identities, nothing replaced."""


class CaseInUse(StudyStateError):
    """The case is used by a study: it cannot be replaced or removed."""


class DemoExists(StudyStateError):
    """A demo is already set up: a second one needs an explicit confirmation."""
