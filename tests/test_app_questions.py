"""The Reading page asks a study's several questions (issue 13, AppTest): the answers are
saved per question with the score, nothing chosen for one item shows up with the next, a
required question left out saves nothing; the Study page creates a study with presets."""

from __future__ import annotations

import sqlite3

from tests.apps import app_testing
from tests.apps.app_testing import coordinator_app, page_dump, reader_app, texts, user_id

seeded, workspace = app_testing.seeded, app_testing.workspace  # fixtures


def _add_questions(ws) -> None:
    """A yes / no and a number question after the seeded study's Likert one (plain SQL)."""
    with sqlite3.connect(ws / "livseg.db") as con:
        [(study_id,)] = con.execute("select id from studies").fetchall()
        con.executemany(
            "insert into study_questions (study_id, position, key, kind, prompt, required, "
            "min_value, max_value) values (?, ?, ?, ?, ?, 1, ?, ?)",
            [
                (
                    study_id,
                    2,
                    "acceptable",
                    "yes_no",
                    "Clinically acceptable without edits?",
                    None,
                    None,
                ),
                (study_id, 3, "missed", "number", "Missed lesions", 0.0, 20.0),
            ],
        )


def _answers(ws, username: str) -> dict[int, dict[str, float]]:
    """{position: {question key: stored number}} of her answers, read with sqlite3."""
    with sqlite3.connect(ws / "livseg.db") as con:
        rows = con.execute(
            "select a.position, q.key, x.number from answers x join assignments a "
            "on a.id = x.assignment_id join study_questions q on q.id = x.question_id "
            "where a.reader_id = ?",
            (user_id(ws, username),),
        ).fetchall()
    out: dict[int, dict[str, float]] = {}
    for position, key, number in rows:
        out.setdefault(position, {})[key] = number
    return out


def _code(at) -> str:
    return texts(at, "subheader")[0].split()[1]


def test_two_more_questions_are_saved_per_question_and_not_carried_over(workspace):
    _add_questions(workspace)
    at = reader_app(workspace)
    assert not at.exception
    code = _code(at)
    yes_no = at.radio(key=f"answer_{code}_acceptable")
    assert yes_no.label == "Clinically acceptable without edits?" and yes_no.value is None
    assert list(yes_no.options) == ["Yes", "No"]
    missed = at.number_input(key=f"answer_{code}_missed")
    assert missed.label == "Missed lesions" and missed.value is None
    # the Likert buttons keep their keys 1-5 and Enter
    # (and "Flag the item" has none)
    assert [b.proto.shortcut for b in at.button] == ["1", "2", "3", "4", "5", "enter", ""]

    at.button(key="likert_4").click().run()
    at.radio(key=f"answer_{code}_acceptable").set_value("No").run()
    at.number_input(key=f"answer_{code}_missed").set_value(2).run()
    at.button(key="submit_score").click().run()
    assert not at.exception
    assert texts(at, "success") == [f"Saved: item {code} scored 4."]
    assert _answers(workspace, "reader1") == {1: {"quality": 4.0, "acceptable": 0.0, "missed": 2.0}}

    second = _code(at)
    assert second != code
    assert at.radio(key=f"answer_{second}_acceptable").value is None  # a fresh question
    assert at.number_input(key=f"answer_{second}_missed").value is None

    at.button(key="likert_2").click().run()  # the yes / no left out: nothing saved
    at.number_input(key=f"answer_{second}_missed").set_value(0).run()
    at.button(key="submit_score").click().run()
    assert texts(at, "error") == [
        "The score was not saved: Please answer 'Clinically acceptable without edits?'."
    ]
    assert set(_answers(workspace, "reader1")) == {1}
    at.radio(key=f"answer_{second}_acceptable").set_value("Yes").run()
    at.button(key="submit_score").click().run()
    assert texts(at, "success") == [f"Saved: item {second} scored 2."]
    assert _answers(workspace, "reader1")[2] == {"quality": 2.0, "acceptable": 1.0, "missed": 0.0}


def test_study_page_creates_a_study_with_question_presets(workspace):
    at = coordinator_app(workspace)
    at.switch_page("pages/study.py").run()
    assert not at.exception
    at.text_input[0].input("Questions study")
    at.multiselect(key="study_questions").set_value(
        ["Clinically acceptable without edits (yes / no)", "Missed lesions (number)"]
    )
    at.button[[b.label for b in at.button].index("Create the study")].click().run()
    assert not at.exception, at.exception
    with sqlite3.connect(workspace / "livseg.db") as con:
        rows = con.execute(
            "select q.position, q.key, q.kind from study_questions q join studies s "
            "on s.id = q.study_id where s.name = 'Questions study' order by q.position"
        ).fetchall()
    assert rows == [
        (1, "quality", "likert"),
        (2, "acceptable", "yes_no"),
        (3, "missed_lesions", "number"),
    ]
    at = coordinator_app(workspace)  # a new session shows the newest study: what it asks
    at.switch_page("pages/study.py").run()
    [shown] = [e for e in at.expander if e.label.startswith("Questions per item")]
    assert shown.label == "Questions per item (3)"
    assert "2. Clinically acceptable without edits? (yes / no)" in shown.markdown[0].value


def test_report_page_shows_further_questions_and_offers_the_answers(workspace):
    _add_questions(workspace)
    for username in ("reader1", "reader2"):
        at = reader_app(workspace, username)
        for i in range(2):  # both methods of the first case or two items: enough to test
            code = _code(at)
            at.button(key=f"likert_{3 + i}").click().run()
            at.radio(key=f"answer_{code}_acceptable").set_value("Yes" if i else "No").run()
            at.number_input(key=f"answer_{code}_missed").set_value(i).run()
            at.button(key="submit_score").click().run()
            assert not at.exception
    report = coordinator_app(workspace)
    report.switch_page("pages/report.py").run()
    assert not report.exception and not texts(report, "error")
    assert "**Further questions**" in texts(report, "markdown")
    bold = [h for h in texts(report, "markdown") if h.startswith("**")]
    table = report.get("table")[bold.index("**Further questions**")]
    assert list(table.value["Question"]) == ["Clinically acceptable without edits?"]
    labels = [b.proto.label for b in report.get("download_button")]
    assert "Answers per question (long CSV)" in labels


def test_nothing_on_the_reading_page_with_questions_names_a_method(workspace, seeded):
    _add_questions(workspace)
    at = reader_app(workspace)
    seen = []
    for i in range(4):
        assert not at.exception
        seen.append(page_dump(at))
        code = _code(at)
        seen.append(" ".join(at.session_state.keys()))
        at.button(key="likert_4").click().run()
        at.radio(key=f"answer_{code}_acceptable").set_value("Yes").run()
        at.number_input(key=f"answer_{code}_missed").set_value(i).run()
        at.button(key="submit_score").click().run()
    seen.append(page_dump(at))
    dump = "\n".join(seen)
    assert "Clinically acceptable without edits?" in dump and "Missed lesions" in dump
    for needle in seeded.forbidden:
        assert needle not in dump, needle
    assert len(_answers(workspace, "reader1")) == 4


def _review_page() -> None:
    from db.questions import Question
    from pages._questions import answer_widgets

    anchors = tuple((k, f"a{k}") for k in range(1, 6))
    asked = [
        Question("quality", "likert", "Q", anchors=anchors),
        Question("liver", "likert_structure", "Liver?", anchors=anchors, structure="liver"),
        Question("ok", "yes_no", "OK?"),
        Question("n", "number", "N", min_value=0.0, max_value=10.0),
        Question("t", "text", "T", required=False, max_chars=50),
    ]
    answer_widgets("AB12-CD34", asked, {"quality": 4, "liver": 2, "ok": False, "n": 3.0, "t": "hi"})


def test_stored_answers_are_the_widgets_start_values():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_review_page).run()
    assert not at.exception
    assert at.radio(key="answer_AB12-CD34_liver").value == 2
    assert at.radio(key="answer_AB12-CD34_ok").value == "No"
    assert at.number_input(key="answer_AB12-CD34_n").value == 3
    assert at.text_area(key="answer_AB12-CD34_t").value == "hi"
    assert at.text_area(key="answer_AB12-CD34_t").label == "T (optional)"
    assert "answer_AB12-CD34_quality" not in at.session_state  # the Likert buttons' own
