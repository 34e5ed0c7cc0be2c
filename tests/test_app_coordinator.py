"""The coordinator's pages (streamlit AppTest): overview counts, the cases table against MedPy,
lesions, study creation / progress / reader accounts, case import validation, the report."""

from __future__ import annotations

import sqlite3

import nibabel as nib
import numpy as np
import pytest
from medpy.metric.binary import dc

from tests.apps import app_testing
from tests.apps.app_testing import (
    coordinator_app,
    coordinator_page,
    import_case,
    reader_app,
    start_runs,
    texts,
)
from tests.apps.study_fixture import FAKE_METHODS

seeded, workspace = app_testing.seeded, app_testing.workspace  # fixtures

# the Report page's download buttons, in page order
REPORT_DOWNLOADS = [
    "HTML report",
    "Excel tables",
    "Scores (long CSV)",
    "Answers per question (long CSV)",
]


def _nifti_bytes(array: np.ndarray, dtype=np.int16) -> bytes:
    image = nib.Nifti1Image(array.astype(dtype), np.diag([0.8, 0.8, 2.5, 1.0]))
    return image.to_bytes()


def test_overview_counts_the_workspace(workspace):
    at = coordinator_app(workspace)
    values = {m.label: str(m.value) for m in at.get("metric")}
    assert values == {"Cases": "2", "Runs": "4", "Studies": "1", "Readers": "3"}


def test_cases_table_matches_medpy(workspace, seeded):
    at = coordinator_page(workspace, "cases")
    overview = at.dataframe[0].value.set_index("case")
    assert list(overview.columns) == ["split", *sorted(FAKE_METHODS)]
    cases_dir, runs_dir = seeded.files.cases_dir, seeded.files.runs_dir
    for case_id in seeded.files.case_ids:
        ref = np.asarray(nib.load(cases_dir / f"segmentation-{case_id}.nii.gz").dataobj) > 0
        for method in FAKE_METHODS:
            pred = np.asarray(nib.load(runs_dir / method / f"{case_id}.nii.gz").dataobj) > 0
            assert overview.loc[f"demo-{case_id}", method] == pytest.approx(dc(pred, ref), abs=1e-9)
    # the stand-in that only re-labels tumour keeps the liver (labels 1+2) exactly
    assert (overview[FAKE_METHODS[1]] == 1.0).all()


def test_case_view_lists_missed_lesions(workspace):
    at = coordinator_page(workspace, "cases")
    at.selectbox(key="cases_open").set_value("demo-0").run()
    assert not at.exception
    lesions = at.dataframe[-1].value
    # quokka (the second stand-in) drops the smallest of several lesions; zebra keeps all
    assert set(lesions[FAKE_METHODS[0]]) == {"detected"}
    assert list(lesions[FAKE_METHODS[1]]).count("MISSED") == 1
    per_case = at.dataframe[-2].value
    assert set(per_case["structure"]) == {"liver", "tumour"}
    assert set(per_case["method"]) == set(FAKE_METHODS)


def test_study_progress_follows_the_scores(workspace):
    reader = reader_app(workspace, "reader2")
    reader.button(key=f"likert_{4}").click().run()
    reader.button(key="submit_score").click().run()
    at = coordinator_page(workspace, "study")
    bars = [p.proto.text for p in at.get("progress")]
    assert bars[0].startswith("reader1: 0 of 4")
    assert bars[1].startswith("reader2: 1 of 4, median ")
    assert bars[2].startswith("reader3: 0 of 4")
    metrics = {m.label: str(m.value) for m in at.get("metric")}
    assert metrics["Scores"] == "1 of 12" and metrics["Status"] == "open"


def test_create_study_and_close_it(workspace):
    at = coordinator_page(workspace, "study")
    [name] = [t for t in at.text_input if t.label == "Study name"]
    name.input("Second look")
    [readers] = [m for m in at.multiselect if m.label == "Readers"]
    readers.set_value(["reader1", "reader3"])
    [create] = [b for b in at.button if b.label == "Create the study"]
    create.click().run()
    assert not at.exception
    assert texts(at, "success") == ["Study 'Second look' created and opened."]
    with sqlite3.connect(workspace / "livseg.db") as con:
        status, n_assign = con.execute(
            "select s.status, count(a.id) from studies s join assignments a on a.study_id = s.id "
            "where s.name = 'Second look'"
        ).fetchone()
    assert (status, n_assign) == ("open", 2 * 4)
    # a second study with the same name is refused with the database's message
    at = coordinator_page(workspace, "study")
    [name] = [t for t in at.text_input if t.label == "Study name"]
    name.input("Second look")
    [b for b in at.button if b.label == "Create the study"][0].click().run()
    assert any("Second look" in e for e in texts(at, "error"))
    # close the newest study
    at = coordinator_page(workspace, "study")
    [b for b in at.button if b.label == "Close the study"][0].click().run()
    with sqlite3.connect(workspace / "livseg.db") as con:
        [(status,)] = con.execute("select status from studies where name = 'Second look'")
    assert status == "closed"


def _study_rows(workspace, name: str) -> tuple:
    """(assignments, items, study readers, studies) of the study ``name``, in plain SQL."""
    with sqlite3.connect(workspace / "livseg.db") as con:
        return con.execute(
            "select (select count(*) from assignments a join studies s on s.id = a.study_id "
            "where s.name = :n), (select count(*) from items i join studies s "
            "on s.id = i.study_id where s.name = :n), (select count(*) from study_readers r "
            "join studies s on s.id = r.study_id where s.name = :n), "
            "(select count(*) from studies where name = :n)",
            {"n": name},
        ).fetchone()


def test_add_a_reader_to_the_open_study(workspace):
    at = coordinator_page(workspace, "study")
    [field] = [t for t in at.text_input if t.label == "New reader's username"]
    field.input("reader4")
    [b for b in at.button if b.label == "Create reader account"][0].click().run()
    at = coordinator_page(workspace, "study")
    pick = at.selectbox(key="add_reader_pick")
    assert pick.options == ["reader4"]  # the three others already read in it
    [add] = [b for b in at.button if b.label == "Add the reader"]
    assert add.disabled
    pick.set_value("reader4").run()
    [b for b in at.button if b.label == "Add the reader"][0].click().run()
    assert not at.exception
    with sqlite3.connect(workspace / "livseg.db") as con:
        (name,) = con.execute("select name from studies").fetchone()
        rows = con.execute(
            "select a.position, a.item_id from assignments a join users u "
            "on u.id = a.reader_id where u.username = 'reader4' order by a.position"
        ).fetchall()
        items = {i for (i,) in con.execute("select id from items")}
    assert texts(at, "success") == [f"reader4 added to '{name}': 4 items."]
    assert [p for p, _ in rows] == [1, 2, 3, 4]
    assert {i for _, i in rows} == items
    assert [b.proto.text for b in at.get("progress")][3].startswith("reader4: 0 of 4")
    assert at.selectbox(key="add_reader_pick").options == []


def test_delete_a_draft_study_after_confirming(workspace):
    at = coordinator_page(workspace, "study")
    assert not [b for b in at.button if b.label == "Delete this draft study"]  # open study
    [name] = [t for t in at.text_input if t.label == "Study name"]
    name.input("By mistake")
    [c for c in at.checkbox if c.label == "Open it now"][0].uncheck()
    [b for b in at.button if b.label == "Create the study"][0].click().run()
    assert _study_rows(workspace, "By mistake") == (3 * 4, 4, 3, 1)
    at = coordinator_page(workspace, "study")  # the newest study (the draft) is shown
    [delete] = [b for b in at.button if b.label == "Delete this draft study"]
    assert delete.disabled
    [c for c in at.checkbox if c.label.startswith("Yes, delete this draft")][0].check().run()
    [b for b in at.button if b.label == "Delete this draft study"][0].click().run()
    assert not at.exception
    assert texts(at, "success") == ["Draft study 'By mistake' deleted."]
    assert _study_rows(workspace, "By mistake") == (0, 0, 0, 0)
    with sqlite3.connect(workspace / "livseg.db") as con:
        assert con.execute("select count(*) from studies").fetchone() == (1,)


def test_new_reader_password_is_shown_once(workspace):
    at = coordinator_page(workspace, "study")
    [field] = [t for t in at.text_input if t.label == "New reader's username"]
    field.input("reader9")
    [b for b in at.button if b.label == "Create reader account"][0].click().run()
    [shown] = [w for w in texts(at, "warning") if "reader9" in w]
    password = shown.split("`")[1]
    assert len(password) >= 8
    at.run()
    assert not any("reader9" in w for w in texts(at, "warning"))  # once only
    from db import auth
    from db.engine import get_engine, session_scope

    with session_scope(get_engine()) as session:
        assert auth.authenticate(session, "reader9", password).must_change_password


def test_upload_refuses_bad_files_and_imports_a_good_case(workspace):
    at = import_case(workspace, "bad name with spaces", ("notes.txt", b"hello"))
    errors = texts(at, "error")
    assert any("case name" in e for e in errors)
    assert any("'notes.txt' is not a NIfTI file" in e for e in errors)

    at = import_case(workspace, "upload-1", ("ct.nii.gz", b"\x1f\x8b this is not gzip"))
    [error] = texts(at, "error")
    assert error.startswith("Not imported:")

    ct = np.full((16, 16, 8), 40, np.int16)
    seg = np.zeros((16, 16, 8), np.uint8)
    seg[4:10, 4:10, 2:6] = 1
    ct_file = ("ct.nii", _nifti_bytes(ct))
    at = import_case(workspace, "upload-2", ct_file, ("seg.nii", _nifti_bytes(seg, np.uint8)))
    assert texts(at, "error") == []
    [ok] = texts(at, "success")
    assert ok.startswith("Case 'upload-2' imported: 16x16x8 voxels, spacing 0.80 x 0.80 x 2.50 mm")
    with sqlite3.connect(workspace / "livseg.db") as con:
        assert con.execute("select count(*) from cases where name = 'upload-2'").fetchone() == (1,)
    # labels outside 0/1/2 are refused
    bad = seg.copy()
    bad[0, 0, 0] = 7
    at = import_case(workspace, "upload-3", ct_file, ("seg.nii", _nifti_bytes(bad, np.uint8)))
    [error] = texts(at, "error")
    assert error.startswith("Not imported:") and "7" in error


def test_runs_table_shows_times_and_devices(workspace):
    at = coordinator_page(workspace, "models")
    summary = at.dataframe[-2].value
    # stand-in run seconds: 1.0 + 0.5 * case index (+ 0.25 for zebra); two cases each
    medians = summary["median s"].to_dict()
    assert medians[(FAKE_METHODS[0], "cpu")] == pytest.approx(1.5)
    assert medians[(FAKE_METHODS[1], "cpu")] == pytest.approx(1.25)


def test_report_page_renders_tables_and_offers_downloads(workspace):
    for reader in ("reader1", "reader2"):
        at = reader_app(workspace, reader)
        for value in (4, 3, 5, 2):
            at.button(key=f"likert_{value}").click().run()
            at.button(key="submit_score").click().run()
    at = coordinator_page(workspace, "report")
    labels = [b.label for b in at.get("download_button")]
    assert labels == REPORT_DOWNLOADS
    headings = texts(at, "markdown")
    # the structure is named (issue 13 defect 12)
    assert any(h.startswith("**Table 1 — tumour segmentation metrics") for h in headings)
    assert any(h.startswith("**Table 2 — tumour segmentation metrics") for h in headings)
    assert len(at.get("plotly_chart")) >= 1
    [csv_button] = [b for b in at.get("download_button") if b.label == "Scores (long CSV)"]
    assert csv_button is not None
    from db import export
    from db.engine import get_engine, session_scope
    from tests.apps.app_testing import user_id

    with session_scope(get_engine()) as session:
        coordinator = type("C", (), {"id": user_id(workspace, "coord")})()
        long = export.scores_long(session, coordinator, 1)
    assert len(long) == 8 and sorted(long["score"]) == [2, 2, 3, 3, 4, 4, 5, 5]


def _report_cells(at) -> list[str]:
    """Every cell of the report page's tables, as text."""
    return [str(v) for t in at.get("table") for v in t.value.to_numpy().ravel()]


def test_report_page_with_one_score_so_far_says_what_is_not_computable(workspace):
    """A study in progress (1 score): the page passes the data as is and shows the report's
    own 'not computable' notes; no error, no exception, the metrics still analysed."""
    at = reader_app(workspace, "reader2")
    at.button(key="likert_4").click().run()
    at.button(key="submit_score").click().run()
    at = coordinator_page(workspace, "report")
    assert not texts(at, "error")
    assert [e.label for e in at.get("expander")][0].startswith("Not computable yet")
    notes = [n for n in texts(at, "markdown") if n.startswith("- ")]
    assert any("only one reader" in n and "not computable" in n for n in notes), notes
    cells = _report_cells(at)
    assert any(c.startswith("not computable: only one reader") for c in cells)
    assert any(c.startswith("not computable: fewer than 2 values") for c in cells)  # satisfaction
    labels = [b.label for b in at.get("download_button")]
    assert labels == REPORT_DOWNLOADS


def test_report_page_with_a_method_that_found_no_tumour(workspace):
    """No Hausdorff distances for one method (no tumour predicted): its HD cells say
    'not computable: no values', the other statistics are still shown."""
    with sqlite3.connect(workspace / "livseg.db") as con:
        con.execute(
            "update evaluations set value = null where structure = 'tumour' and metric in "
            "('hd_mm', 'hd95_mm', 'assd_mm') and run_id in (select r.id from runs r join "
            "methods m on m.id = r.method_id where m.name = ?)",
            (FAKE_METHODS[1],),
        )
    at = coordinator_page(workspace, "report")
    assert not texts(at, "error")
    headings = texts(at, "markdown")
    bold = [h for h in headings if h.startswith("**")]
    table1 = at.get("table")[next(i for i, h in enumerate(bold) if h.startswith("**Table 1 "))]
    shown = table1.value
    assert shown.loc[FAKE_METHODS[1], "HD (mm)"] == "not computable: no values"
    assert " ± " in shown.loc[FAKE_METHODS[0], "HD (mm)"]
    assert " ± " in shown.loc[FAKE_METHODS[1], "DSC"]
    notes = [n for n in headings if n.startswith("- ")]
    assert any(n.startswith("- HD_mm") and "no values" in n for n in notes), notes


def test_run_a_method_on_a_case_records_run_and_metrics(workspace, seeded):
    at = start_runs(workspace, ["classical"], ["demo-1"])
    assert not at.exception
    _finish_job(at)
    assert texts(at, "success") == ["1 of 1 runs done."], texts(at, "error")
    with sqlite3.connect(workspace / "livseg.db") as con:
        path, seconds, device = con.execute(
            "select r.prediction_path, r.seconds, r.device from runs r "
            "join methods m on m.id = r.method_id where m.name = 'classical'"
        ).fetchone()
        [(stored_dsc,)] = con.execute(
            "select e.value from evaluations e join runs r on r.id = e.run_id join methods m "
            "on m.id = r.method_id where m.name = 'classical' and e.structure = 'liver' "
            "and e.metric = 'dsc'"
        )
    assert seconds > 0 and device == "cpu"
    pred = np.asarray(nib.load(path).dataobj) > 0
    ref_path = seeded.files.cases_dir / "segmentation-1.nii.gz"
    ref = np.asarray(nib.load(ref_path).dataobj) > 0
    assert stored_dsc == pytest.approx(dc(pred, ref), abs=1e-9)
    summary = at.dataframe[-2].value
    assert ("classical", "cpu") in summary.index


def _finish_job(at) -> None:
    """Wait for the page's background job (the page polls it), then rerun the page."""
    from db import jobs

    assert jobs.wait_running(300), "the page's background job did not finish"
    at.run()
    assert not at.exception


def test_demo_button_creates_study_and_shows_passwords_once(monkeypatch, _isolated_workspace):
    """The one-button demo on a fresh workspace (1 small case, the control method only)."""
    from db import auth
    from db.engine import get_engine, init_db, session_scope
    from tests.apps.app_testing import signed_in_app

    monkeypatch.setenv("LIVSEG_BCRYPT_ROUNDS", "4")
    monkeypatch.setenv("LIVSEG_DEMO_CASES", "1")
    monkeypatch.setenv("LIVSEG_DEMO_SIZE", "small")
    monkeypatch.setenv("LIVSEG_DEMO_METHODS", "classical")
    engine = get_engine()
    init_db(engine)
    with session_scope(engine) as session:
        boss = auth.create_first_coordinator(session, "boss", "boss-password-1")
    at = signed_in_app(boss.id, "boss", "coordinator")
    at.button(key="create_demo").click().run()
    assert not at.exception
    _finish_job(at)
    [done] = texts(at, "success")
    assert "study 'Demo study' is open with 1 cases x 1 methods for 3 readers" in done
    [table] = at.get("table")
    shown = table.value
    assert list(shown.index) == ["reader1", "reader2", "reader3"]
    with session_scope(engine) as session:  # the shown passwords are the real ones
        for username, password in shown["initial password"].items():
            assert auth.authenticate(session, username, password).role == "reader"
    [noted] = [b for b in at.button if b.label == "I have noted the passwords"]
    noted.click().run()
    assert len(at.get("table")) == 0
    values = {m.label: str(m.value) for m in at.get("metric")}
    # the study's case and the practice case (read first, not analysed), one run each
    assert values == {"Cases": "2", "Runs": "2", "Studies": "1", "Readers": "3"}
    assert "each reading 1 practice case first (not analysed)" in done


def test_study_page_agreement_matches_a_hand_computed_icc(workspace):
    """Two readers score all four items; ICC(3,1) = (MSR - MSE) / (MSR + (k - 1) MSE). The
    third reader has no score yet: the page names the two readers it uses and the one it
    leaves out (issue 13 defect 7: it said "all readers" and used two of three)."""
    for reader, values in (("reader1", (4, 3, 5, 2)), ("reader2", (5, 3, 4, 1))):
        at = reader_app(workspace, reader)
        for value in values:
            at.button(key=f"likert_{value}").click().run()
            at.button(key="submit_score").click().run()
    with sqlite3.connect(workspace / "livseg.db") as con:
        rows = con.execute(
            "select i.id, u.username, s.value from scores s join assignments a "
            "on a.id = s.assignment_id join items i on i.id = a.item_id "
            "join users u on u.id = a.reader_id"
        ).fetchall()
    items = sorted({r[0] for r in rows})
    x = np.array(
        [
            [next(v for i, u, v in rows if i == item and u == r) for r in ("reader1", "reader2")]
            for item in items
        ],
        dtype=float,
    )
    n, k = x.shape
    grand = x.mean()
    msr = k * ((x.mean(axis=1) - grand) ** 2).sum() / (n - 1)
    ss_c = n * ((x.mean(axis=0) - grand) ** 2).sum()
    mse = (((x - grand) ** 2).sum() - msr * (n - 1) - ss_c) / ((n - 1) * (k - 1))
    icc3 = (msr - mse) / (msr + (k - 1) * mse)

    at = coordinator_page(workspace, "study")
    table = at.dataframe[0].value.set_index("statistic")  # the first table of the page
    assert table.loc["ICC(C,1) consistency", "value"] == pytest.approx(icc3, abs=1e-9)
    assert table.loc["ICC(C,1) consistency", "items"] == 4
    assert table.loc["ICC(C,1) consistency", "readers"] == 2
    uses = table.loc["ICC(C,1) consistency", "uses"]
    assert uses == "items scored by all 2 readers who have scored (reader1, reader2)"
    [note] = [c for c in texts(at, "caption") if "No score yet from reader3: left out." in c]
    assert "Design so far: complete: each of the 2 readers scored all 4 items." in note
