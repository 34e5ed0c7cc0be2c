"""Practice items in the app (streamlit AppTest): chosen on the Study page, read first on
the Reading page as "Practice item k of P", then the real items from "Item 1 of N"."""

from __future__ import annotations

import sqlite3

from tests.apps import app_testing
from tests.apps.app_testing import coordinator_page, page_dump, reader_app, texts

seeded, workspace = app_testing.seeded, app_testing.workspace  # fixtures


def _progress(at) -> list[str]:
    return [p.proto.text.split(" · ")[0] for p in at.get("progress")]


def test_a_reader_scores_a_practice_item_then_lands_on_item_1(workspace, seeded):
    with sqlite3.connect(workspace / "livseg.db") as con:
        con.execute("update studies set status = 'closed'")  # reader1's only open study: ours
        first, second = [n for (n,) in con.execute("select name from cases order by name")]
        n_methods = con.execute("select count(*) from methods").fetchone()[0]
    at = coordinator_page(workspace, "study")
    [name] = [t for t in at.text_input if t.label == "Study name"]
    name.input("With practice")
    [cases] = [m for m in at.multiselect if m.label == "Cases"]
    cases.set_value([first])
    [practice] = [m for m in at.multiselect if m.label == "Practice cases (not analysed)"]
    practice.set_value([second])
    [readers] = [m for m in at.multiselect if m.label == "Readers"]
    readers.set_value(["reader1"])
    [create] = [b for b in at.button if b.label == "Create the study"]
    create.click().run()
    assert not at.exception
    assert texts(at, "success") == ["Study 'With practice' created and opened."]

    at = reader_app(workspace)
    assert _progress(at) == ["Practice item 1 of 1"]
    dump = page_dump(at)
    for needle in seeded.forbidden:
        assert needle not in dump, needle
    at.button(key="likert_4").click().run()
    at.button(key="submit_score").click().run()
    assert not at.exception
    assert _progress(at) == [f"Item 1 of {n_methods}"]
    with sqlite3.connect(workspace / "livseg.db") as con:
        stored = con.execute(
            "select a.practice, s.value from scores s join assignments a on a.id = s.assignment_id "
            "join studies st on st.id = a.study_id where st.name = 'With practice'"
        ).fetchall()
    assert stored == [(1, 4)]  # stored like any score, marked practice
