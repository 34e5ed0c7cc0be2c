"""The reader's Reading page (streamlit AppTest): her queue "k of N", one blinded item at a
time, Likert 1-5 with anchors, keyboard-shortcut buttons, comment, time spent, resume, double
submission, and nothing in the page or its state naming a method."""

from __future__ import annotations

import sqlite3
import time

from db.reading import submit_score
from tests.apps import app_testing
from tests.apps.app_testing import page_dump, reader_app, texts, user_id
from tests.apps.study_fixture import FAKE_METHODS

seeded, workspace = app_testing.seeded, app_testing.workspace  # fixtures

N_ITEMS = 4  # 2 cases x 2 methods, every reader scores every item


def _progress(at) -> list[str]:
    """The progress text without the study's name ("Item k of N")."""
    return [p.proto.text.split(" · ")[0] for p in at.get("progress")]


def _scores(ws, username: str) -> list[tuple]:
    """(position, value, comment, seconds, method) of her stored scores, read with sqlite3."""
    with sqlite3.connect(ws / "livseg.db") as con:
        return con.execute(
            "select a.position, s.value, s.comment, s.seconds_spent, m.name from scores s "
            "join assignments a on a.id = s.assignment_id join items i on i.id = a.item_id "
            "join methods m on m.id = i.method_id where a.reader_id = ? order by a.position",
            (user_id(ws, username),),
        ).fetchall()


def test_queue_shows_k_of_n_with_question_and_anchors(workspace):
    at = reader_app(workspace)
    assert not at.exception
    assert texts(at, "title") == []  # a compact header: the viewer fills the window
    assert _progress(at) == [f"Item 1 of {N_ITEMS}"]
    [raw] = [p.proto.text for p in at.get("progress")]
    with sqlite3.connect(workspace / "livseg.db") as con:
        [(study_name,)] = con.execute("select name from studies").fetchall()
    assert raw == f"Item 1 of {N_ITEMS} · {study_name}"  # the study's name on the page
    [code_header] = texts(at, "subheader")
    assert code_header.startswith("Item ") and len(code_header.split()[1]) == 9  # XXXX-XXXX
    assert [b.label for b in at.button] == [
        "1 – Unusable: redo from scratch",
        "2 – Major corrections needed",
        "3 – Moderate corrections needed",
        "4 – Minor corrections needed",
        "5 – Clinically acceptable as is",
        "Submit",
        "Flag the item",  # in the "Flag for the coordinator" expander
    ]
    shortcuts = [b.proto.shortcut for b in at.button]
    assert shortcuts == ["1", "2", "3", "4", "5", "enter", ""]
    assert "Choose a score: click it or press its key 1–5." in texts(at, "caption")


def test_submit_needs_a_score_then_moves_on_and_records_it(workspace):
    at = reader_app(workspace)
    at.button(key="submit_score").click().run()
    assert texts(at, "warning") == ["Choose a score from 1 to 5 first."]
    assert _scores(workspace, "reader1") == []

    first_code = texts(at, "subheader")[0].split()[1]
    at.button(key="likert_4").click().run()  # the "4" button (key 4)
    assert "Your score: **4**" in texts(at, "caption")
    assert at.button(key="likert_4").proto.type == "primary"
    [box] = at.text_area
    box.input("tumour border a bit wide")
    time.sleep(0.2)
    at.button(key="submit_score").click().run()
    assert not at.exception
    assert texts(at, "success") == [f"Saved: item {first_code} scored 4."]
    assert _progress(at) == [f"Item 2 of {N_ITEMS}"]
    assert "Your score: **4**" not in texts(at, "caption")  # a fresh question
    [(position, value, comment, seconds, _)] = _scores(workspace, "reader1")
    assert (position, value, comment) == (1, 4, "tumour border a bit wide")
    assert 0.2 <= seconds < 60


def test_resumes_where_she_stopped_in_a_new_session(workspace):
    at = reader_app(workspace)
    for value in (5, 2):
        at.button(key=f"likert_{value}").click().run()
        at.button(key="submit_score").click().run()
    assert _progress(at) == [f"Item 3 of {N_ITEMS}"]
    again = reader_app(workspace)  # e.g. after a reload and a new sign-in
    assert _progress(again) == [f"Item 3 of {N_ITEMS}"]
    # another reader's queue is untouched
    assert _progress(reader_app(workspace, "reader2")) == [f"Item 1 of {N_ITEMS}"]


def test_second_submission_of_the_same_item_is_not_duplicated(workspace):
    """A second tab / a retried click submits an item that already has her score."""
    at = reader_app(workspace)
    code = texts(at, "subheader")[0].split()[1]
    assignment_id = _assignment_id(at)
    from db.engine import get_engine, session_scope

    at.button(key="likert_3").click().run()  # she chooses 3 ...
    with session_scope(get_engine()) as session:  # ... while her "other tab" submits 3
        reader = type("R", (), {"id": user_id(workspace, "reader1")})()
        submit_score(session, reader, assignment_id, 3, None, 5.0)
    at.button(key="submit_score").click().run()  # same answer again: recognised
    assert not at.exception
    assert texts(at, "warning") == [
        f"Item {code} already had a score; it was recorded once and not duplicated."
    ]
    assert [s[:2] for s in _scores(workspace, "reader1")] == [(1, 3)]
    assert _progress(at) == [f"Item 2 of {N_ITEMS}"]


def test_changed_answer_on_a_locked_item_is_refused_clearly(workspace):
    at = reader_app(workspace)
    assignment_id = _assignment_id(at)
    from db.engine import get_engine, session_scope

    code = texts(at, "subheader")[0].split()[1]
    at.button(key="likert_5").click().run()
    with session_scope(get_engine()) as session:
        reader = type("R", (), {"id": user_id(workspace, "reader1")})()
        submit_score(session, reader, assignment_id, 3, None, 5.0)
    at.button(key="submit_score").click().run()
    assert not at.exception
    assert texts(at, "warning") == [
        f"Item {code} already had another score and this study does not allow changes: "
        "the earlier score was kept."
    ]
    assert [s[:2] for s in _scores(workspace, "reader1")] == [(1, 3)]
    assert _progress(at) == [f"Item 2 of {N_ITEMS}"]


def test_finished_queue_says_so(workspace):
    at = reader_app(workspace, "reader3")
    for _ in range(N_ITEMS):
        at.button(key="likert_3").click().run()
        at.button(key="submit_score").click().run()
    assert texts(at, "success")[-1] == "Your queue is complete: every item has a score. Thank you!"
    assert len(_scores(workspace, "reader3")) == N_ITEMS
    assert "Submit" not in [b.label for b in at.button]


def test_nothing_on_the_reading_page_names_a_method(workspace, seeded):
    at = reader_app(workspace)
    seen = []
    for _ in range(N_ITEMS):
        assert not at.exception
        seen.append(page_dump(at))
        at.button(key="likert_4").click().run()
        at.button(key="submit_score").click().run()
    seen.append(page_dump(at))
    dump = "\n".join(seen)
    assert "Item 4 of 4" in dump  # the dump does hold the page
    for needle in seeded.forbidden:
        assert needle not in dump, needle
    # and each method was indeed shown (the stored scores cover both)
    assert {s[4] for s in _scores(workspace, "reader1")} == set(FAKE_METHODS)


def _assignment_id(at) -> int:
    """The id of the item on screen (by the code in its heading, read with sqlite3)."""
    import os

    code = texts(at, "subheader")[0].split()[1]
    db = os.path.join(os.environ["LIVSEG_WORKSPACE"], "livseg.db")
    with sqlite3.connect(db) as con:
        [(aid,)] = con.execute("select id from assignments where code = ?", (code,)).fetchall()
    return int(aid)


def test_a_comment_belongs_to_its_item_and_never_moves_to_the_next(workspace):
    """Defect 1: a comment typed for item A stayed in the box and was saved with item B."""
    at = reader_app(workspace)
    at.button(key="likert_4").click().run()
    [box] = at.text_area
    box.input("border too wide").run()
    at.button(key="submit_score").click().run()
    assert _progress(at) == [f"Item 2 of {N_ITEMS}"]
    [box] = at.text_area
    assert box.value == ""  # item B starts with an empty box

    # item B: she types a comment, then another tab stores a different (locked) answer
    assignment_b = _assignment_id(at)
    at.button(key="likert_2").click().run()
    [box] = at.text_area
    box.input("typed for item B only").run()
    from db.engine import get_engine, session_scope

    with session_scope(get_engine()) as session:
        reader = type("R", (), {"id": user_id(workspace, "reader1")})()
        submit_score(session, reader, assignment_b, 5, None, 5.0)
    at.button(key="submit_score").click().run()  # refused (locked): moves on to item C
    assert _progress(at) == [f"Item 3 of {N_ITEMS}"]
    [box] = at.text_area
    assert box.value == ""
    at.button(key="likert_3").click().run()
    at.button(key="submit_score").click().run()  # item C: no comment typed
    stored = {position: comment for position, _, comment, _, _ in _scores(workspace, "reader1")}
    assert stored == {1: "border too wide", 2: None, 3: None}


def test_time_spent_counts_from_the_first_display_across_a_reload(workspace):
    """Defect 6: after a reload the clock restarted (16.2 s on screen stored as 10.0 s)."""
    first = reader_app(workspace)  # item 1 shown at t0
    aid = _assignment_id(first)
    time.sleep(1.5)
    again = reader_app(workspace)  # a reload: a new browser session, the same item
    assert _assignment_id(again) == aid
    again.button(key="likert_4").click().run()
    again.button(key="submit_score").click().run()
    [(_, _, _, seconds, _)] = _scores(workspace, "reader1")
    assert 1.5 <= seconds < 60
    with sqlite3.connect(workspace / "livseg.db") as con:
        [(shown,)] = con.execute(
            "select first_displayed_at from assignments where id = ?", (aid,)
        ).fetchall()
    assert shown is not None


def _second_open_study(workspace, name: str = "Second study") -> int:
    """A second open study for reader1 and reader2 (same cases and methods), made with db."""
    from db import studies
    from db.access import SYSTEM
    from db.engine import get_engine, session_scope

    with sqlite3.connect(workspace / "livseg.db") as con:
        cases = [r[0] for r in con.execute("select name from cases order by id")]
        methods = [r[0] for r in con.execute("select name from methods order by id")]
    with session_scope(get_engine()) as session:
        study_id = studies.create_study(
            session, SYSTEM, name, cases=cases, methods=methods, readers=["reader1", "reader2"]
        )
        study_id = getattr(study_id, "id", study_id)
        studies.open_study(session, SYSTEM, study_id)
    return int(study_id)


def _study_of_item_on_screen(workspace, at) -> str:
    code = texts(at, "subheader")[0].split()[1]
    with sqlite3.connect(workspace / "livseg.db") as con:
        [(name,)] = con.execute(
            "select s.name from assignments a join studies s on s.id = a.study_id where a.code = ?",
            (code,),
        ).fetchall()
    return name


def test_one_queue_per_study_when_she_reads_in_several(workspace):
    """Item 4 of the workflow: a reader in two open studies chooses the study; each has its
    own queue and progress (before, both studies' items came in one queue)."""
    second_id = _second_open_study(workspace)
    at = reader_app(workspace)
    assert not at.exception
    [choice] = at.radio
    assert choice.label == "Study" and len(choice.options) == 2
    assert _study_of_item_on_screen(workspace, at) != "Second study"  # the first by default
    second = "Second study"
    assert second in choice.options
    choice.set_value(second_id).run()
    assert _study_of_item_on_screen(workspace, at) == second
    assert _progress(at) == [f"Item 1 of {N_ITEMS}"]
    for _ in range(2):
        at.button(key="likert_4").click().run()
        at.button(key="submit_score").click().run()
        assert _study_of_item_on_screen(workspace, at) == second  # she stays in her study
    assert _progress(at) == [f"Item 3 of {N_ITEMS}"]
    with sqlite3.connect(workspace / "livseg.db") as con:
        per_study = dict(
            con.execute(
                "select st.name, count(*) from scores s join assignments a on a.id = s.assignment_id"
                " join studies st on st.id = a.study_id group by st.name"
            ).fetchall()
        )
    assert per_study == {second: 2}
