"""db.reading.open_for_display: the reading page's one call per full run (first display,
the item's files, the next item's files) behind one set of checks, and fewer queries than
the three separate calls (30 readers rerun the page: bench/app_load.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, text

from db import reading
from db.engine import session_scope
from db.errors import ItemNotAvailable, NotFound, StudyClosed
from db.models import utcnow
from tests.db_support import backend_params, open_test_engine, populate


@pytest.fixture(params=backend_params())
def db_engine(request, monkeypatch):
    yield from open_test_engine(request.param, monkeypatch)


def _truth(engine, username: str) -> dict[int, tuple]:
    """position -> (assignment id, code, CT path, prediction path, first display), by SQL."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.position, a.id, a.code, c.image_path, r.prediction_path, "
                "a.first_displayed_at FROM assignments a JOIN items i ON i.id = a.item_id "
                "JOIN cases c ON c.id = i.case_id JOIN runs r ON r.id = i.run_id "
                "JOIN users u ON u.id = a.reader_id WHERE u.username = :name"
            ),
            {"name": username},
        ).all()
    return {r[0]: tuple(r[1:]) for r in rows}


class _Statements:
    """Counts the SQL statements an engine executes while active."""

    def __init__(self, engine) -> None:
        self.engine, self.n = engine, 0

    def _count(self, *_args) -> None:
        self.n += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


def test_open_for_display_gives_what_the_three_calls_give(db_engine):
    setup = populate(db_engine, n_cases=3, n_readers=2, seed=4)
    reader = setup.readers[0]
    truth = _truth(db_engine, reader.username)
    t0 = utcnow().replace(microsecond=0)
    with session_scope(db_engine) as s:
        item = reading.next_item(s, reader)
        shown = reading.open_for_display(s, reader, item.assignment_id, upcoming=2, now=t0)
    aid, _, image, prediction, first = _truth(db_engine, reader.username)[1]
    assert aid == item.assignment_id and first is not None and str(t0.date()) in str(first)
    assert shown.shown_at == t0
    assert shown.files == (image, prediction)
    assert shown.upcoming == [truth[2][1:4], truth[3][1:4]]
    with session_scope(db_engine) as s:  # a reload later: the first display is kept
        again = reading.open_for_display(s, reader, aid, now=t0 + timedelta(minutes=5))
        assert again.shown_at == t0
        assert again.upcoming == [truth[2][1:4]]
        assert again.files == reading.item_files_for_display(s, reader, aid)
        assert again.upcoming == reading.upcoming_files_for_display(s, reader, aid)
        assert reading.mark_displayed(s, reader, aid) == t0


def test_open_for_display_refuses_what_the_item_view_refuses(db_engine):
    setup = populate(db_engine, n_cases=2, n_readers=2, seed=4)
    reader, other = setup.readers
    truth = _truth(db_engine, reader.username)
    with session_scope(db_engine) as s:
        with pytest.raises(NotFound):  # another reader's item: as if it did not exist
            reading.open_for_display(s, other, truth[1][0])
        with pytest.raises(ItemNotAvailable):  # later in her order: not yet
            reading.open_for_display(s, reader, truth[2][0])
    assert all(row[4] is None for row in _truth(db_engine, reader.username).values())
    with db_engine.begin() as conn:
        conn.execute(text("UPDATE studies SET status = 'closed'"))
    with session_scope(db_engine) as s, pytest.raises(StudyClosed):
        reading.open_for_display(s, reader, truth[1][0])


def test_open_for_display_needs_fewer_queries_than_the_three_calls(db_engine):
    setup = populate(db_engine, n_cases=2, n_readers=1, seed=4)
    reader = setup.readers[0]
    with session_scope(db_engine) as s:
        aid = reading.next_item(s, reader).assignment_id
        reading.mark_displayed(s, reader, aid)  # displayed once: later reruns only read
    with session_scope(db_engine) as s, _Statements(db_engine) as three:
        reading.mark_displayed(s, reader, aid)
        reading.upcoming_files_for_display(s, reader, aid)
        reading.item_files_for_display(s, reader, aid)
    with session_scope(db_engine) as s, _Statements(db_engine) as one:
        reading.open_for_display(s, reader, aid)
    assert one.n <= three.n - 6  # two sets of checks (user, assignment, study) saved
