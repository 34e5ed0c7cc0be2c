"""LivSeg's reader-study database: accounts, catalogue, studies, reading, progress, exports.

SQLAlchemy 2.x ORM; SQLite in the workspace by default, any URL via LIVSEG_DATABASE_URL;
schema migrated by Alembic. Modules: ``engine`` (engine, sessions, migrations, write
transactions), ``models``, ``auth``, ``catalog``, ``studies``, ``reading``, ``progress``,
``export``, ``audit``, ``errors``. See docs/database.md. Never imports streamlit.
"""

from db.access import SYSTEM
from db.engine import get_engine, init_db, session_scope
from db.errors import (
    AccessDenied,
    AuthError,
    DatabaseBusy,
    InvalidInput,
    ItemNotAvailable,
    LivsegDBError,
    NotFound,
    ScoreLocked,
    StudyClosed,
    StudyStateError,
)

__all__ = [
    "SYSTEM",
    "AccessDenied",
    "AuthError",
    "DatabaseBusy",
    "InvalidInput",
    "ItemNotAvailable",
    "LivsegDBError",
    "NotFound",
    "ScoreLocked",
    "StudyClosed",
    "StudyStateError",
    "get_engine",
    "init_db",
    "session_scope",
]
