"""The Reading page while another program holds the database (issue 14 item 10): Submit
says the score was not saved, keeps the reader's answer and comment on screen, and the
retry after the lock is gone stores it once."""

from __future__ import annotations

import sqlite3

from tests.apps import app_testing
from tests.apps.app_testing import reader_app, texts

seeded, workspace = app_testing.seeded, app_testing.workspace  # fixtures


def _n_scores(ws) -> int:
    with sqlite3.connect(ws / "livseg.db") as con:
        return con.execute("select count(*) from scores").fetchone()[0]


def test_a_busy_database_keeps_the_answer_on_screen_for_a_retry(workspace, monkeypatch):
    monkeypatch.setenv("LIVSEG_DB_BUSY_S", "1")
    at = reader_app(workspace)
    at.button(key="likert_4").click().run()
    [box] = at.text_area
    box.input("rim a bit wide").run()
    first = [p.proto.text for p in at.get("progress")]
    locker = sqlite3.connect(workspace / "livseg.db", isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        at.button(key="submit_score").click().run(timeout=30)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert not at.exception
    [hint] = [w for w in texts(at, "error") + texts(at, "warning") if "not saved" in w]
    assert "database is busy" in hint and "try again" in hint
    assert [p.proto.text for p in at.get("progress")] == first  # still the same item
    assert "Your score: **4**" in texts(at, "caption")
    [box] = at.text_area
    assert box.value == "rim a bit wide"
    assert _n_scores(workspace) == 0
    at.button(key="submit_score").click().run()  # the retry, the lock gone
    assert not at.exception
    assert any(s.startswith("Saved: item") for s in texts(at, "success"))
    assert _n_scores(workspace) == 1
