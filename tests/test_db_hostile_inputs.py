"""Hostile input to the database layer, on SQLite and PostgreSQL (issue 14 items 9 and 11):
NUL bytes and lone surrogates in stored text get InvalidInput on both databases (PostgreSQL
raised a raw DataError), and a reader cannot tell a missing item from another reader's."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from db import auth, catalog, reading, studies
from db.access import SYSTEM
from db.engine import session_scope
from db.errors import AuthError, InvalidInput, NotFound
from tests.db_support import backend_params, open_test_engine, populate


@pytest.fixture(params=backend_params())
def db_engine(request, monkeypatch):
    yield from open_test_engine(request.param, monkeypatch)


def _counts(engine) -> dict[str, int]:
    tables = ("users", "cases", "methods", "runs", "studies", "scores", "audit_events")
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in tables}


HOSTILE = ["nul\x00inside", "\x00", "lone \ud800 surrogate"]


@pytest.mark.parametrize("bad", HOSTILE, ids=["nul", "only-nul", "surrogate"])
def test_hostile_text_is_invalid_input_everywhere(db_engine, bad):
    setup = populate(db_engine, n_cases=1, methods=("unet2d",), n_readers=1)
    reader, boss = setup.readers[0], setup.coordinator
    before = _counts(db_engine)
    with session_scope(db_engine) as s:
        item = reading.next_item(s, reader)
        calls = {
            "username": lambda: auth.create_reader(s, boss, f"bob{bad}"),
            "comment": lambda: reading.submit_score(s, reader, item.assignment_id, 3, bad, 2.0),
            "case name": lambda: catalog.register_case(
                s, SYSTEM, f"case{bad}", "/data/x.nii.gz", check_files=False
            ),
            "case path": lambda: catalog.register_case(
                s, SYSTEM, "case_x", f"/data/{bad}.nii.gz", check_files=False
            ),
            "method name": lambda: catalog.register_method(s, SYSTEM, f"m{bad}"),
            "study name": lambda: studies.create_study(
                s,
                boss,
                f"Study {bad}",
                cases=setup.cases,
                methods=setup.methods,
                readers=[reader.username],
            ),  # fmt: skip
            "study question": lambda: studies.create_study(
                s,
                boss,
                "Q",
                cases=setup.cases,
                methods=setup.methods,
                readers=[reader.username],
                question=f"How {bad}?",
            ),  # fmt: skip
            "case in a study": lambda: studies.create_study(
                s,
                boss,
                "C",
                cases=[f"case_000{bad}"],
                methods=setup.methods,
                readers=[reader.username],
            ),  # fmt: skip
        }
        for what, call in calls.items():
            with pytest.raises(InvalidInput) as err:
                call()
            assert isinstance(err.value, ValueError), what
        # signing in with such a name is a plain wrong sign-in, not a database error
        with pytest.raises(AuthError, match="^Wrong username or password.$"):
            auth.authenticate(s, f"r00{bad}", setup.passwords["r00"])
    assert _counts(db_engine) == before


def _answer(call) -> tuple[type, str]:
    with pytest.raises(Exception) as err:  # noqa: PT011 - the type is what is compared
        call()
    return type(err.value), re.sub(r"#\d+", "#N", str(err.value))


def test_a_missing_item_and_another_readers_item_answer_alike(db_engine):
    setup = populate(db_engine, n_cases=2, methods=("unet2d",), n_readers=2)
    alice, bob = setup.readers
    with session_scope(db_engine) as s:
        bobs = reading.next_item(s, bob).assignment_id
        missing = 10_000 + bobs
        for name, call in {
            "view": lambda a: reading.reader_item_view(s, alice, a),
            "files": lambda a: reading.item_files_for_display(s, alice, a),
            "upcoming": lambda a: reading.upcoming_files_for_display(s, alice, a),
            "submit": lambda a: reading.submit_score(s, alice, a, 5),
        }.items():
            theirs = _answer(lambda c=call: c(bobs))
            nothing = _answer(lambda c=call: c(missing))
            assert theirs == nothing, name
            assert theirs[0] is NotFound, name
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM scores")).scalar_one() == 0


def test_a_hostile_user_agent_is_dropped_not_an_error(db_engine):
    from db import web_sessions

    setup = populate(db_engine, n_cases=1, methods=("unet2d",), n_readers=1)
    with session_scope(db_engine) as s:
        token = web_sessions.start(s, setup.readers[0], user_agent="Mozilla\x00/5.0 \ud800")
        assert web_sessions.resume(s, token).id == setup.readers[0].id
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT user_agent FROM web_sessions")).scalar_one() is None
