"""Several questions per study (issue 13): validation, answers stored per question with the
score (idempotent, audited), blinding of the reader's view, migration of existing studies;
on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
from sqlalchemy import text

from db import questions, reading, studies
from db.engine import session_scope
from db.errors import InvalidInput, ScoreLocked
from tests.db_support import backend_params, open_test_engine, populate

ANCHORS = {str(k): f"anchor {k}" for k in range(1, 6)}
ASKED = [
    {"key": "quality", "kind": "likert", "prompt": "How good is it?"},
    {"key": "liver", "kind": "likert_structure", "prompt": "Liver?", "structure": "liver"},
    {"key": "acceptable", "kind": "yes_no", "prompt": "Clinically acceptable without edits?"},
    {"key": "missed", "kind": "number", "prompt": "Missed lesions", "max_value": 50},
    {"key": "notes", "kind": "text", "prompt": "Anything else?", "required": False},
]


@pytest.fixture(params=backend_params())
def db_engine(request, tmp_path, monkeypatch):
    yield from open_test_engine(request.param, monkeypatch)


# ------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "bad, match",
    [
        ([{"key": "q", "kind": "stars", "prompt": "x"}], "kind"),
        ([{"key": "q", "kind": "likert", "prompt": "  "}], "prompt"),
        ([{"key": "q", "kind": "likert", "prompt": "a\x00b"}], "NUL"),
        (
            [{"key": "q", "kind": "likert", "prompt": "x", "anchors": {**ANCHORS, "3": "a\x00"}}],
            "NUL",
        ),
        ([{"key": "q", "kind": "likert", "prompt": "x", "anchors": {"1": "a"}}], "anchor"),
        (
            [
                {"key": "q", "kind": "likert", "prompt": "x"},
                {"key": "q", "kind": "text", "prompt": "y"},
            ],
            "twice",
        ),
        ([{"key": "Bad Key", "kind": "likert", "prompt": "x"}], "key"),
        ([{"key": "q", "kind": "yes_no", "prompt": "x"}], "first question"),
        ([{"key": "q", "kind": "likert", "prompt": "x", "required": False}], "first question"),
        ([{"key": "q", "kind": "likert_structure", "prompt": "x"}], "structure"),
        (
            [{"key": "q", "kind": "likert_structure", "prompt": "x", "structure": "lung"}],
            "structure",
        ),
        (
            [ASKED[0], {"key": "n", "kind": "number", "prompt": "x", "min_value": -1}],
            "min_value",
        ),
        (
            [ASKED[0], {"key": "n", "kind": "number", "prompt": "x", "max_value": math.inf}],
            "finite",
        ),
        ([], "1 to"),
        ("likert", "list"),
    ],
)
def test_bad_question_lists_are_refused(bad, match):
    with pytest.raises(InvalidInput, match=match):
        questions.validate_questions(bad, ANCHORS)


def test_a_valid_list_is_normalised():
    out = questions.validate_questions(ASKED, ANCHORS)
    assert [q.key for q in out] == ["quality", "liver", "acceptable", "missed", "notes"]
    assert out[0].anchors == tuple((k, f"anchor {k}") for k in range(1, 6))  # the default
    assert out[1].structure == "liver"
    assert (out[3].min_value, out[3].max_value) == (0.0, 50.0)
    assert out[4].max_chars == questions.DEFAULT_TEXT_CHARS and out[4].required is False


@pytest.mark.parametrize(
    "index, value",
    [
        (0, 0),
        (0, 6),
        (0, True),
        (0, 2.5),
        (0, "3"),
        (2, "yes"),
        (2, 1),
        (3, -1),
        (3, 51),
        (3, math.nan),
        (3, math.inf),
        (3, True),
        (4, "x" * (questions.DEFAULT_TEXT_CHARS + 1)),
        (4, "a\x00b"),
    ],
)
def test_bad_answers_are_refused(index, value):
    q = questions.validate_questions(ASKED, ANCHORS)[index]
    with pytest.raises(InvalidInput):
        questions.validate_answer(q, value)


def test_good_answers_are_kept_as_their_types():
    qs = questions.validate_questions(ASKED, ANCHORS)
    assert questions.validate_answer(qs[0], 5) == 5
    assert questions.validate_answer(qs[2], False) is False
    assert questions.validate_answer(qs[3], 2) == 2.0
    assert questions.validate_answer(qs[4], "  fine ") == "fine"


# ------------------------------------------------------------------------- storage


def _answers_in_db(engine, assignment_id):
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT q.key, a.number, a.text FROM answers a JOIN study_questions q "
                "ON q.id = a.question_id WHERE a.assignment_id = :a ORDER BY q.position"
            ),
            {"a": assignment_id},
        ).all()
    return {k: (n, t) for k, n, t in rows}


def _audit_count(engine, action):
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT COUNT(*) FROM audit_events WHERE action = :a"), {"a": action}
        ).scalar_one()


def test_default_study_has_one_likert_question_and_answers_follow_the_score(db_engine):
    setup = populate(db_engine, n_cases=1, methods=("unet2d",), n_readers=1)
    reader = setup.readers[0]
    with session_scope(db_engine) as s:
        item = reading.next_item(s, reader)
        assert [(q.key, q.kind, q.prompt) for q in item.questions] == [
            ("quality", "likert", studies.DEFAULT_QUESTION)
        ]
        assert item.questions[0].anchors == item.anchors
        reading.submit_score(s, reader, item.assignment_id, 4, None, 1.0)
        view = reading.reader_item_view(s, reader, item.assignment_id)
    assert _answers_in_db(db_engine, item.assignment_id) == {"quality": (4.0, None)}
    assert view.existing_answers == {"quality": 4}


def test_answers_are_stored_per_question_idempotent_and_audited(db_engine):
    setup = populate(
        db_engine,
        n_cases=2,
        methods=("unet2d",),
        n_readers=1,
        questions=ASKED,
        edit_policy="editable",
    )
    reader = setup.readers[0]
    answers = {"liver": 3, "acceptable": True, "missed": 2, "notes": " ok "}
    with session_scope(db_engine) as s:
        item = reading.next_item(s, reader)
        assert [q.key for q in item.questions] == [q["key"] for q in ASKED]
        with pytest.raises(InvalidInput, match="Missed lesions"):  # a required one left out
            reading.submit_score(
                s, reader, item.assignment_id, 4, answers={"liver": 3, "acceptable": True}
            )
        with pytest.raises(InvalidInput, match="No such question"):
            reading.submit_score(s, reader, item.assignment_id, 4, answers={**answers, "x": 1})
    with db_engine.connect() as conn:  # nothing written by the refusals
        assert conn.execute(text("SELECT COUNT(*) FROM scores")).scalar_one() == 0
        assert conn.execute(text("SELECT COUNT(*) FROM answers")).scalar_one() == 0
    with session_scope(db_engine) as s:
        first = reading.submit_score(s, reader, item.assignment_id, 4, answers=answers)
        again = reading.submit_score(s, reader, item.assignment_id, 4, answers=dict(answers))
    assert (first.status, again.status) == ("created", "duplicate")
    assert _answers_in_db(db_engine, item.assignment_id) == {
        "quality": (4.0, None),
        "liver": (3.0, None),
        "acceptable": (1.0, None),
        "missed": (2.0, None),
        "notes": (None, "ok"),
    }
    assert _audit_count(db_engine, "score.create") == 1
    assert _audit_count(db_engine, "score.update") == 0
    with session_scope(db_engine) as s:  # same score, one answer changed: an edit
        changed = {**answers, "acceptable": False, "notes": None}
        result = reading.submit_score(s, reader, item.assignment_id, 4, answers=changed)
        view = reading.reader_item_view(s, reader, item.assignment_id)
    assert result.status == "updated"
    stored = _answers_in_db(db_engine, item.assignment_id)
    assert stored["acceptable"] == (0.0, None) and "notes" not in stored
    assert view.existing_answers == {"quality": 4, "liver": 3, "acceptable": False, "missed": 2.0}
    with db_engine.connect() as conn:
        before, after = conn.execute(
            text("SELECT before, after FROM audit_events WHERE action = 'score.update'")
        ).one()
    before = json.loads(before) if isinstance(before, str) else before
    after = json.loads(after) if isinstance(after, str) else after
    assert before["answers"]["acceptable"] is True and before["answers"]["notes"] == "ok"
    assert after["answers"]["acceptable"] is False and "notes" not in after["answers"]


def test_a_changed_answer_in_a_locked_study_is_refused_and_nothing_changes(db_engine):
    setup = populate(db_engine, n_cases=1, methods=("unet2d",), n_readers=1, questions=ASKED)
    reader = setup.readers[0]
    answers = {"liver": 3, "acceptable": True, "missed": 0}
    with session_scope(db_engine) as s:
        item = reading.next_item(s, reader)
        reading.submit_score(s, reader, item.assignment_id, 5, answers=answers)
        with pytest.raises(ScoreLocked):
            reading.submit_score(s, reader, item.assignment_id, 5, answers={**answers, "missed": 1})
    assert _answers_in_db(db_engine, item.assignment_id)["missed"] == (0.0, None)
    assert _audit_count(db_engine, "score.update") == 0


def test_the_readers_view_names_no_method(db_engine):
    setup = populate(db_engine, n_cases=2, n_readers=1, questions=ASKED)
    reader = setup.readers[0]
    with db_engine.connect() as conn:
        forbidden = set(conn.execute(text("SELECT name FROM methods")).scalars())
        forbidden |= set(conn.execute(text("SELECT prediction_path FROM runs")).scalars())
    with session_scope(db_engine) as s:
        item = reading.next_item(s, reader)
        payload = json.dumps(dataclasses.asdict(item), default=str)
    assert "acceptable" in payload and "Missed lesions" in payload  # the questions are there
    assert "method" not in payload.lower() and "run" not in json.loads(payload)
    assert not [f for f in forbidden if f.lower() in payload.lower()]


def test_a_prompt_naming_a_method_is_refused(db_engine):
    asked = [*ASKED[:2], {"key": "cmp", "kind": "yes_no", "prompt": "Better than UNet2D?"}]
    with pytest.raises(InvalidInput, match="unet2d"):
        populate(db_engine, n_cases=1, methods=("unet2d",), n_readers=1, questions=asked)


def test_a_draft_study_with_questions_can_be_deleted(db_engine):
    setup = populate(db_engine, n_cases=1, methods=("unet2d",), n_readers=1, open_it=False)
    with session_scope(db_engine) as s:
        studies.delete_draft_study(s, setup.coordinator, setup.study_id)
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM study_questions")).scalar_one() == 0


# ------------------------------------------------------------------------- migration


def test_migration_gives_existing_studies_their_likert_question_and_answers(db_engine):
    from alembic import command

    from db.engine import _alembic_config

    question = "Would you sign this contour?"
    anchors = {str(k): f"level {k}" for k in range(1, 6)}
    setup = populate(
        db_engine,
        n_cases=2,
        methods=("unet2d", "classical"),
        n_readers=2,
        question=question,
        anchors=anchors,
    )
    scored = []
    with session_scope(db_engine) as s:
        for i, reader in enumerate(setup.readers):
            for _ in range(3):
                item = reading.next_item(s, reader)
                reading.submit_score(s, reader, item.assignment_id, 1 + (i + item.position) % 5)
                scored.append(item.assignment_id)
    cfg = _alembic_config()
    with db_engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006_login_throttle")
        conn.commit()
        assert conn.execute(text("SELECT COUNT(*) FROM scores")).scalar_one() == 6
        command.upgrade(cfg, "head")
        conn.commit()
        rows = conn.execute(
            text(
                "SELECT q.study_id, q.position, q.key, q.kind, q.prompt, q.anchors, q.required "
                "FROM study_questions q"
            )
        ).all()
        pairs = conn.execute(
            text(
                "SELECT s.assignment_id, s.value, a.number FROM scores s LEFT JOIN answers a "
                "ON a.assignment_id = s.assignment_id ORDER BY s.assignment_id"
            )
        ).all()
    assert len(rows) == 1
    study_id, position, key, kind, prompt, stored_anchors, required = rows[0]
    if isinstance(stored_anchors, str):
        stored_anchors = json.loads(stored_anchors)
    assert (study_id, position, key, kind, prompt) == (
        setup.study_id,
        1,
        "quality",
        "likert",
        question,
    )
    assert stored_anchors == anchors and bool(required)
    assert len(pairs) == 6 and all(number == value for _, value, number in pairs)
    with session_scope(db_engine) as s:  # and reading goes on as before
        reader = setup.readers[0]
        item = reading.next_item(s, reader)
        assert [(q.prompt, q.anchors) for q in item.questions] == [
            (question, tuple((int(k), v) for k, v in anchors.items()))
        ]
        assert reading.submit_score(s, reader, item.assignment_id, 2).status == "created"
        done = reading.reader_item_view(s, reader, scored[0])
        assert done.existing_answers == {"quality": done.existing_score}
        repeat = reading.submit_score(s, reader, scored[0], done.existing_score)
        assert repeat.status == "duplicate"


# ------------------------------------------------------------------------- export


def test_answers_long_has_one_row_per_item_and_question(db_engine):
    from db import export
    from db.errors import AccessDenied

    setup = populate(
        db_engine, n_cases=1, methods=("unet2d", "classical"), n_readers=1, questions=ASKED
    )
    reader = setup.readers[0]
    given = [
        (4, {"liver": 3, "acceptable": True, "missed": 1, "notes": "thin rim"}),
        (2, {"liver": 5, "acceptable": False, "missed": 0}),
    ]
    with session_scope(db_engine) as s:
        for score, answers in given:
            item = reading.next_item(s, reader)
            reading.submit_score(s, reader, item.assignment_id, score, answers=answers)
        frame = export.answers_long(s, setup.coordinator, setup.study_id)
        with pytest.raises(AccessDenied):
            export.answers_long(s, reader, setup.study_id)
        scores = export.scores_long(s, setup.coordinator, setup.study_id)
    assert list(scores.columns) == export.SCORES_LONG_COLUMNS  # the old export unchanged
    with db_engine.connect() as conn:  # the method of each position, read independently
        method_at = dict(
            conn.execute(
                text(
                    "SELECT a.position, m.name FROM assignments a JOIN items i ON i.id = "
                    "a.item_id JOIN methods m ON m.id = i.method_id"
                )
            ).all()
        )
    expected = []
    for position, (score, answers) in enumerate(given, start=1):
        for q in ASKED:
            value = score if q["key"] == "quality" else answers.get(q["key"])
            if value is not None:
                expected.append(
                    ("r00", position, "case_000", method_at[position], q["key"], q["kind"], value)
                )
    got = list(
        frame[["reader", "position", "case", "method", "question", "kind", "value"]].itertuples(
            index=False, name=None
        )
    )
    assert got == expected
    types = {(p, k): type(v) for _, p, _, _, k, _, v in got}
    assert types[(1, "acceptable")] is bool and types[(1, "notes")] is str
    assert types[(1, "missed")] is float
    assert set(frame["study"]) == {"Pilot"} and set(frame["session"]) == {1}
    assert frame.loc[frame["question"] == "liver", "structure"].tolist() == ["liver", "liver"]
