"""A washout study run through the db API (with a movable clock: the ``now`` the reading
functions take) and the app: the Study and Report pages show intra-reader agreement equal
to independent references (scikit-learn's weighted kappa; ICC(A,1) from a statsmodels
ANOVA with McGraw & Wong's formulas, tests/data/intra_reader/make_reference.py)."""

from __future__ import annotations

import importlib.util
import sqlite3
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from tests.apps import app_testing
from tests.apps.app_testing import coordinator_app, reader_app, texts, user_id

seeded, workspace = app_testing.seeded, app_testing.workspace  # fixtures

_spec = importlib.util.spec_from_file_location(
    "intra_reader_reference",
    Path(__file__).resolve().parent / "data" / "intra_reader" / "make_reference.py",
)
reference_tools = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reference_tools)


class _Actor:
    def __init__(self, actor_id: int):
        self.id = actor_id


def _run_washout_study(workspace: Path) -> int:
    """reader1 and reader2 read the 4 items, then re-read 2 after the 14-day washout:
    session 1 and reader1's re-reads through the API at moved clock times, reader2's
    re-reads through the app (now: the washout is over)."""
    from db import reading, studies
    from db.engine import get_engine, session_scope
    from db.models import utcnow

    coordinator = _Actor(user_id(workspace, "coord"))
    readers = {name: _Actor(user_id(workspace, name)) for name in ("reader1", "reader2")}
    t0 = utcnow() - timedelta(days=20)
    first = {"reader1": (4, 3, 5, 2), "reader2": (5, 3, 4, 1)}
    with session_scope(get_engine()) as s:
        studies.close_study(s, coordinator, 1)  # the seeded study: one queue at a time
        sid = studies.create_study(
            s, coordinator, "Washout", cases=["demo-0", "demo-1"],
            methods=list(app_testing.FAKE_METHODS), readers=list(readers), seed=5,
            retest_fraction=0.5, washout_days=14,
        )  # fmt: skip
        studies.open_study(s, coordinator, sid)
        for name, actor in readers.items():
            for k, value in enumerate(first[name]):
                item = reading.next_item(s, actor, sid, now=t0 + timedelta(minutes=k))
                reading.submit_score(s, actor, item.assignment_id, value, now=t0)
            # the re-reads wait for the washout: closed a day before, open after
            assert reading.next_item(s, actor, sid, now=t0 + timedelta(days=13)) is None
            assert reading.next_item(s, actor, sid, now=t0 + timedelta(days=14, hours=1))
        actor = readers["reader1"]
        for shift in (-1, 0):  # one re-read a point lower, one the same
            later = t0 + timedelta(days=15)
            item = reading.next_item(s, actor, sid, now=later)
            value = _first_score(workspace, "reader1", item.assignment_id) + shift
            reading.submit_score(s, actor, item.assignment_id, max(value, 1), now=later)
    at = reader_app(workspace, "reader2")
    for shift in (1, 0):
        aid = _next_assignment(workspace, "reader2", sid)
        value = min(_first_score(workspace, "reader2", aid) + shift, 5)
        at.button(key=f"likert_{value}").click().run()
        at.button(key="submit_score").click().run()
        assert not at.exception
    return sid


def _first_score(workspace: Path, reader: str, assignment_id: int) -> int:
    """The session-1 score of the item that ``assignment_id`` (a re-read) shows again."""
    with sqlite3.connect(workspace / "livseg.db") as con:
        [(value,)] = con.execute(
            "select s.value from assignments a2 join assignments a1 on a1.item_id = a2.item_id "
            "and a1.reader_id = a2.reader_id and a1.session_number = 1 join scores s "
            "on s.assignment_id = a1.id where a2.id = ?",
            (assignment_id,),
        ).fetchall()
    return value


def _next_assignment(workspace: Path, reader: str, study_id: int) -> int:
    with sqlite3.connect(workspace / "livseg.db") as con:
        [(aid,)] = con.execute(
            "select a.id from assignments a join users u on u.id = a.reader_id left join "
            "scores s on s.assignment_id = a.id where u.username = ? and a.study_id = ? and "
            "s.id is null order by a.position limit 1",
            (reader, study_id),
        ).fetchall()
    return aid


def _pairs(workspace: Path, study_id: int) -> pd.DataFrame:
    """(reader, first, second) of every re-read, in plain SQL."""
    with sqlite3.connect(workspace / "livseg.db") as con:
        rows = con.execute(
            "select u.username, s1.value, s2.value from assignments a2 join assignments a1 "
            "on a1.item_id = a2.item_id and a1.reader_id = a2.reader_id and "
            "a1.session_number = 1 join scores s1 on s1.assignment_id = a1.id join scores s2 "
            "on s2.assignment_id = a2.id join users u on u.id = a2.reader_id "
            "where a2.study_id = ? and a2.session_number = 2 order by u.username",
            (study_id,),
        ).fetchall()
    return pd.DataFrame(rows, columns=["reader", "first", "second"])


def test_washout_study_shows_intra_reader_agreement_equal_to_the_references(workspace):
    sid = _run_washout_study(workspace)
    pairs = _pairs(workspace, sid)
    assert sorted(pairs["reader"]) == ["reader1", "reader1", "reader2", "reader2"]
    refs = {
        who: reference_tools.reference(pairs if who == "all" else pairs[pairs.reader == who])
        for who in ("reader1", "reader2", "all")
    }

    study = coordinator_app(workspace)
    study.switch_page("pages/study.py").run()
    assert not study.exception
    assert any("washout session: 4 re-reads (2 per reader" in c for c in texts(study, "caption"))
    [shown] = [
        d.value for d in study.dataframe if "exact_agreement" in d.value.columns
    ]  # the intra-reader table
    shown = shown.set_index("reader")
    for who, label in (("reader1", "reader1"), ("reader2", "reader2"),
                       ("all", "all readers (pooled)")):  # fmt: skip
        for stat, ref in refs[who].items():
            got = shown.loc[label, stat]
            assert got == pytest.approx(ref, abs=1e-9, nan_ok=True), (who, stat)

    report = coordinator_app(workspace)
    report.switch_page("pages/report.py").run()
    assert not report.exception and not texts(report, "error")
    bold = [h for h in texts(report, "markdown") if h.startswith("**")]
    table = report.get("table")[bold.index("**Intra-reader agreement**")].value
    table = table[table["Method"] == "all methods"].set_index("Reader")
    for who, label in (("reader1", "reader1"), ("all", "all readers (pooled)")):
        ref = refs[who]
        assert str(table.loc[label, "Pairs (n)"]) == str(int(ref["n_pairs"]))
        assert table.loc[label, "Exact agreement"] == f"{100 * ref['exact_agreement']:.1f}%"
        assert table.loc[label, "κ quadratic"] == f"{ref['kappa_quadratic']:.3f}"
        assert table.loc[label, "ICC(A,1) [95% CI]"] == (
            f"{ref['icc_a1']:.3f} [{ref['icc_a1_ci_low']:.3f}, {ref['icc_a1_ci_high']:.3f}]"
        )


def test_study_form_asks_to_confirm_a_short_washout(workspace):
    at = coordinator_app(workspace)
    at.switch_page("pages/study.py").run()
    [name] = [t for t in at.text_input if t.label == "Study name"]
    name.input("Same day")
    [retest] = [s for s in at.slider if s.label.startswith("Washout session")]
    retest.set_value(0.5)
    [washout] = [n for n in at.number_input if n.label == "Washout period (days)"]
    washout.set_value(0.0)
    [create] = [b for b in at.button if b.label == "Create the study"]
    create.click().run()
    assert any("Confirm the short washout" in e for e in texts(at, "error"))
    at.checkbox(key="short_washout").check()
    [create] = [b for b in at.button if b.label == "Create the study"]
    create.click().run()
    assert not texts(at, "error")
    [done] = texts(at, "success")
    assert "Each reader re-reads 2 items after the washout (6 in all)" in done


def test_report_page_names_methods_by_their_catalogue_titles(workspace):
    """Issue 13 defect 12: methods by display name (the study's catalogue title), not id."""
    with sqlite3.connect(workspace / "livseg.db") as con:
        con.execute(
            "update methods set title = 'Zebra net (v1)' where name = ?",
            (app_testing.FAKE_METHODS[0],),
        )
    at = coordinator_app(workspace)
    at.switch_page("pages/report.py").run()
    assert not at.exception and not texts(at, "error")
    bold = [h for h in texts(at, "markdown") if h.startswith("**")]
    table1 = at.get("table")[next(i for i, h in enumerate(bold) if h.startswith("**Table 1 "))]
    assert "Zebra net (v1)" in list(table1.value.index)
    assert app_testing.FAKE_METHODS[0] not in list(table1.value.index)
    assert app_testing.FAKE_METHODS[1] in list(table1.value.index)  # no title: its name


def test_create_and_open_is_one_unit_of_work(workspace, monkeypatch):
    """ "Create the study" with "Open it now": when opening is refused, no draft is left behind
    (the old page created the study in one transaction and opened it in another)."""
    from db import studies
    from db.errors import StudyStateError

    def refuse(*args, **kwargs):
        raise StudyStateError("opening refused (test)")

    monkeypatch.setattr(studies, "open_study", refuse)
    at = coordinator_app(workspace)
    at.switch_page("pages/study.py").run()
    [name] = [t for t in at.text_input if t.label == "Study name"]
    name.input("Both or nothing")
    [create] = [b for b in at.button if b.label == "Create the study"]
    create.click().run()
    assert not at.exception
    assert "opening refused (test)" in texts(at, "error")
    with sqlite3.connect(workspace / "livseg.db") as con:
        rows = con.execute("SELECT name FROM studies WHERE name = 'Both or nothing'").fetchall()
    assert rows == []
