"""Reading page workflow (streamlit AppTest): flag an item for the coordinator (seen on the
Study page), and review / change her own answers in an editable study (none in a locked one)."""

from __future__ import annotations

import sqlite3

from tests.apps import app_testing
from tests.apps.app_testing import coordinator_page, page_dump, reader_app, texts, user_id

seeded, workspace = app_testing.seeded, app_testing.workspace  # fixtures


def _rows(ws, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(ws / "livseg.db") as con:
        return con.execute(sql, args).fetchall()


def _code(at) -> str:
    return texts(at, "subheader")[0].split()[1]


def test_flag_an_item_reaches_the_coordinator_once_and_names_no_method(workspace, seeded):
    at = reader_app(workspace)
    code = _code(at)
    at.selectbox(key=f"flag_reason_{code}").set_value("other").run()
    at.button(key="flag_item").click().run()  # "other" needs a note: refused
    assert any("Please say in the note" in e for e in texts(at, "error"))
    assert _rows(workspace, "select count(*) from item_flags") == [(0,)]
    at.text_input(key=f"flag_note_{code}").input("liver cut off at the top").run()
    at.button(key="flag_item").click().run()
    at.button(key="flag_item").click().run()  # a double click: still one flag
    assert not at.exception
    assert any(s.startswith(f"Item {code} flagged") for s in texts(at, "success"))
    assert _rows(
        workspace,
        "select a.code, f.reason, f.note from item_flags f "
        "join assignments a on a.id = f.assignment_id where a.reader_id = ?",
        user_id(workspace, "reader1"),
    ) == [(code, "other", "liver cut off at the top")]
    assert _rows(workspace, "select action from audit_events where entity = 'item_flag'") == [
        ("flag.create",)
    ]
    dump = page_dump(at)
    for needle in seeded.forbidden:
        assert needle not in dump, needle

    study = coordinator_page(workspace, "study")
    [table] = [d.value for d in study.dataframe if "reason" in d.value.columns]
    assert table[["code", "reader", "note"]].values.tolist() == [
        [code, "reader1", "liver cut off at the top"]
    ]


def test_she_withdraws_her_flag_and_the_coordinator_resolves_one(workspace, seeded):
    at = reader_app(workspace)
    code = _code(at)
    assert not _has(at, "flag_withdraw")  # nothing flagged yet
    at.selectbox(key=f"flag_reason_{code}").set_value("unsure").run()
    at.button(key="flag_item").click().run()
    at.button(key="flag_withdraw").click().run()
    assert any(s == f"Item {code}: your flag is withdrawn." for s in texts(at, "success"))
    assert not _has(at, "flag_withdraw")  # nothing left to withdraw
    assert _rows(workspace, "select count(*) from item_flags") == [(0,)]
    assert not any("You flagged this item" in c for c in texts(at, "caption"))
    dump = page_dump(at)
    for needle in seeded.forbidden:
        assert needle not in dump, needle
    # flagged again; the coordinator sees it open and marks it resolved
    at.selectbox(key=f"flag_reason_{code}").set_value("image_problem").run()
    at.button(key="flag_item").click().run()
    study = coordinator_page(workspace, "study")
    [table] = [d.value for d in study.dataframe if "reason" in d.value.columns]
    assert table["status"].tolist() == ["open"] and "flag" not in table.columns
    [(flag_id,)] = _rows(workspace, "select id from item_flags")
    study.selectbox(key="resolve_flag_pick").set_value(flag_id).run()
    study.button[[b.label for b in study.button].index("Mark resolved")].click().run()
    assert not study.exception
    assert f"The flag of item {code} is resolved." in texts(study, "success")
    [table] = [d.value for d in study.dataframe if "reason" in d.value.columns]
    assert table["status"].tolist() == ["resolved"]
    assert _rows(
        workspace, "select action from audit_events where entity = 'item_flag' order by id"
    ) == [("flag.create",), ("flag.withdraw",), ("flag.create",), ("flag.resolve",)]


def _has(at, key: str) -> bool:
    return any(getattr(b, "key", None) == key for b in at.button)


def test_review_changes_her_answer_in_an_editable_study(workspace):
    with sqlite3.connect(workspace / "livseg.db") as con:
        con.execute("update studies set edit_policy = 'editable'")
    at = reader_app(workspace)
    first = _code(at)
    at.button(key="likert_2").click().run()
    at.button(key="submit_score").click().run()
    at.button(key="likert_3").click().run()
    at.button(key="submit_score").click().run()
    assert [p.proto.text.split(" · ")[0] for p in at.get("progress")] == ["Item 3 of 4"]
    picker = at.selectbox(key="reading_review_pick")
    assert len(picker.options) == 2 and first in picker.options[0]
    aid = _rows(workspace, "select id from assignments where code = ?", first)[0][0]
    picker.set_value(aid).run()
    assert _code(at) == first  # her first item again, with her answer as the start value
    assert "Your score: **2**" in texts(at, "caption")
    at.button(key="likert_5").click().run()
    at.button(key="submit_score").click().run()
    assert not at.exception
    assert texts(at, "success")[0] == f"Saved: item {first} scored 5."
    assert [p.proto.text.split(" · ")[0] for p in at.get("progress")] == ["Item 3 of 4"]
    assert _rows(
        workspace, "select s.value, s.revision from scores s where assignment_id = ?", aid
    ) == [(5, 2)]
    assert _rows(
        workspace, "select action from audit_events where entity = 'score' order by id"
    ) == [("score.create",), ("score.create",), ("score.update",)]


def test_a_locked_study_offers_no_review(workspace):
    at = reader_app(workspace)
    at.button(key="likert_2").click().run()
    at.button(key="submit_score").click().run()
    assert not at.exception
    labels = [e.label for e in at.expander]
    assert "Flag for the coordinator" in labels and "Review my answers" not in labels
    assert not [s for s in at.selectbox if s.key == "reading_review_pick"]
