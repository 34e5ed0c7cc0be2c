"""Practice items: read first, scored like the others, never analysed (db.practice)."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from sqlalchemy import text

from db import export, progress, reading, studies
from db.engine import session_scope
from db.errors import InvalidInput, ItemNotAvailable, NotFound
from tests.db_support import backend_params, open_test_engine, populate

METHODS = ("unet2d", "classical")


@pytest.fixture(params=backend_params())
def db_engine(request, monkeypatch):
    yield from open_test_engine(request.param, monkeypatch)


def _practice_study(engine, n_readers=2, **options):
    """Catalogue of 5 cases x 2 methods; a study on case_000..002 with practice cases
    case_004, case_003 (in that order); returns (setup, study id)."""
    setup = populate(engine, n_cases=5, methods=METHODS, n_readers=n_readers, open_it=False)
    with session_scope(engine) as s:
        sid = studies.create_study(
            s,
            setup.coordinator,
            "Practised",
            cases=["case_000", "case_001", "case_002"],
            methods=["classical", "unet2d"],
            readers=[r.username for r in setup.readers],
            practice_cases=["case_004", "case_003"],
            seed=5,
            open_now=True,
            **options,
        )
    return setup, sid


def _rows(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def _read_all(engine, reader, sid):
    """Scores every item of hers in order; the views she saw."""
    views = []
    with session_scope(engine) as s:
        while (item := reading.next_item(s, reader, sid)) is not None:
            views.append(item)
            reading.submit_score(s, reader, item.assignment_id, 4, None, 1.0)
    return views


def test_practice_items_come_first_with_the_first_method_and_are_not_analysed(db_engine):
    setup, sid = _practice_study(db_engine)
    reader = setup.readers[0]
    views = _read_all(db_engine, reader, sid)
    # her order: 2 practice items, then 3 cases x 2 methods
    assert [(v.practice, v.position, v.total) for v in views[:3]] == [
        (True, 1, 2),
        (True, 2, 2),
        (False, 1, 6),
    ]
    assert [v.practice for v in views] == [True, True] + [False] * 6
    practice = _rows(
        db_engine,
        "SELECT c.name, m.name, a.code, i.code FROM assignments a "
        "JOIN items i ON i.id = a.item_id JOIN cases c ON c.id = i.case_id "
        "JOIN methods m ON m.id = i.method_id "
        "WHERE a.study_id = :sid AND a.reader_id = :rid AND a.practice ORDER BY a.position",
        sid=sid,
        rid=reader.id,
    )
    # the practice cases in the order given, with the study's first method
    assert [(c, m) for c, m, _, _ in practice] == [
        ("case_004", "classical"),
        ("case_003", "classical"),
    ]
    assert [v.code for v in views[:2]] == [code for _, _, code, _ in practice]
    with session_scope(db_engine) as s:
        coordinator = setup.coordinator
        scores = export.scores_long(s, coordinator, sid)
        answers = export.answers_long(s, coordinator, sid)
        done = progress.study_progress(s, coordinator, sid)
        mine = progress.reader_progress(s, reader)
        info = studies.get_study(s, coordinator, sid)
    # her 8 scores are stored, the export has her 6 real ones only
    n_scores = _rows(
        db_engine,
        "SELECT COUNT(*) FROM scores sc JOIN assignments a ON a.id = sc.assignment_id "
        "WHERE a.study_id = :sid",
        sid=sid,
    )[0][0]
    assert n_scores == 8
    assert len(scores) == 6 and set(scores["case"]) == {"case_000", "case_001", "case_002"}
    assert set(answers["case"]) == {"case_000", "case_001", "case_002"}
    assert list(done["total"]) == [6, 6] and list(done["done"]) == [6, 0]
    assert [(p.done, p.total, p.finished) for p in mine if p.study_id == sid] == [(6, 6, True)]
    assert (info.n_cases, info.n_items, info.n_assignments) == (3, 6, 12)


def test_re_reads_are_drawn_from_real_items_only(db_engine):
    setup, sid = _practice_study(db_engine, retest_fraction=0.5, washout_days=0.0,
                                 confirm_short_washout=True)  # fmt: skip
    second = _rows(
        db_engine,
        "SELECT c.name, a.practice FROM assignments a JOIN items i ON i.id = a.item_id "
        "JOIN cases c ON c.id = i.case_id WHERE a.study_id = :sid AND a.session_number = 2",
        sid=sid,
    )
    assert len(second) == 2 * 3
    assert {c for c, _ in second} <= {"case_000", "case_001", "case_002"}
    assert not any(p for _, p in second)


def test_add_reader_gets_the_same_practice_items_first(db_engine):
    setup, sid = _practice_study(db_engine, n_readers=3)
    newcomer = setup.readers[2]
    with session_scope(db_engine) as s:
        # the study was created with all three; take the third out and add her back
        s.execute(text("DELETE FROM assignments WHERE reader_id = :r"), {"r": newcomer.id})
        s.execute(text("DELETE FROM study_readers WHERE reader_id = :r"), {"r": newcomer.id})
    with session_scope(db_engine) as s:
        n = studies.add_reader(s, setup.coordinator, sid, newcomer.username)
    assert n == 2 + 6
    query = (
        "SELECT a.position, a.item_id, a.code FROM assignments a "
        "WHERE a.study_id = :sid AND a.reader_id = :rid AND a.practice ORDER BY a.position"
    )
    first = _rows(db_engine, query, sid=sid, rid=setup.readers[0].id)
    added = _rows(db_engine, query, sid=sid, rid=newcomer.id)
    assert (
        [(p, i) for p, i, _ in added]
        == [(p, i) for p, i, _ in first]
        == [
            (-1, first[0][1]),
            (0, first[1][1]),
        ]
    )
    assert {c for _, _, c in added}.isdisjoint({c for _, _, c in first})  # fresh codes
    views = _read_all(db_engine, newcomer, sid)
    assert [v.practice for v in views] == [True, True] + [False] * 6


def test_practice_cases_must_be_catalogue_cases_outside_the_study(db_engine):
    setup = populate(db_engine, n_cases=3, methods=METHODS, n_readers=1, open_it=False)
    for practice_cases, message in (
        (["case_000"], "are study cases"),
        (["nope"], "Unknown practice case"),
        ("case_002", "must be a list"),
    ):
        with session_scope(db_engine) as s, pytest.raises((InvalidInput, NotFound), match=message):
            studies.create_study(
                s, setup.coordinator, "Bad", cases=["case_000", "case_001"],
                methods=["unet2d"], readers=["r00"], practice_cases=practice_cases,
            )  # fmt: skip
    assert _rows(db_engine, "SELECT COUNT(*) FROM studies WHERE name = 'Bad'")[0][0] == 0


def test_the_practice_view_names_no_method(db_engine):
    setup, sid = _practice_study(db_engine, n_readers=1)
    reader = setup.readers[0]
    views = _read_all(db_engine, reader, sid)[:2]
    blob = json.dumps([dataclasses.asdict(v) for v in views], default=str)
    forbidden = ["unet2d", "classical", "cpu", "/runs/", "case_003", "case_004", "v1"]
    leaks = [w for w in forbidden if re.search(rf"(?<![A-Za-z0-9]){re.escape(w)}", blob, re.I)]
    assert leaks == []


def test_real_items_wait_for_the_practice_items(db_engine):
    setup, sid = _practice_study(db_engine, n_readers=1)
    reader = setup.readers[0]
    [(real,)] = _rows(
        db_engine,
        "SELECT id FROM assignments WHERE study_id = :sid AND position = 1",
        sid=sid,
    )
    with session_scope(db_engine) as s, pytest.raises(ItemNotAvailable, match="practice items"):
        reading.reader_item_view(s, reader, real)
