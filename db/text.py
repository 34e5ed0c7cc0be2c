"""The one check of free text before it reaches the database (names, comments, paths).

PostgreSQL's text type cannot hold the NUL character (psycopg raises a raw ``DataError``)
and neither database driver can store a lone UTF-16 surrogate; SQLite would store a NUL and
then cut the value short in other tools. Every db function that stores text a person typed
(usernames, comments, case / method / study names, questions, file paths) passes it through
``check_text`` first, so such input gets ``InvalidInput`` on both databases and nothing is
written.
"""

from __future__ import annotations

from db.errors import InvalidInput


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as it is (NUL, not valid Unicode), or None."""
    if "\x00" in value:
        return "must not contain NUL characters (\\x00)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "holds characters that are not valid text (a lone surrogate)"
    return None


def check_text(value: object, what: str) -> str:
    """``value`` unchanged when it is a ``str`` both databases store as given, else
    InvalidInput naming ``what`` (e.g. "The comment")."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text.")
    problem = text_problem(value)
    if problem:
        raise InvalidInput(f"{what} {problem}.")
    return value
