"""The coordinator's workspace actions in the app (AppTest): case names are identities
(issue 13 defect 2), a second demo only on confirmation and beside the first (defect 3),
and long work runs as a background job that a page reload finds again (issue 10)."""

from __future__ import annotations

import hashlib
import sqlite3
import threading

import nibabel as nib
import numpy as np

from tests.apps import app_testing
from tests.apps.app_testing import coordinator_app, coordinator_page, import_case, start_runs, texts

seeded, workspace = app_testing.seeded, app_testing.workspace  # fixtures


def _nifti_bytes(array: np.ndarray) -> bytes:
    return nib.Nifti1Image(array, np.diag([0.8, 0.8, 2.5, 1.0])).to_bytes()


def _upload(workspace, name: str, *, replace: bool = False):
    ct = np.full((16, 16, 8), 40, np.int16)
    seg = np.zeros((16, 16, 8), np.uint8)
    seg[4:10, 4:10, 2:6] = 1
    at = import_case(
        workspace,
        name,
        ("ct.nii", _nifti_bytes(ct)),
        ("seg.nii", _nifti_bytes(seg)),
        replace=replace,
    )
    assert not at.exception
    return at


def _case(workspace, name: str):
    with sqlite3.connect(workspace / "livseg.db") as con:
        return con.execute(
            "select id, image_path, label_path from cases where name = ?", (name,)
        ).fetchall()


def _digest(paths) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(paths)}


def test_importing_under_an_existing_name_is_refused_and_breaks_nothing(workspace):
    before = _case(workspace, "demo-0")
    at = _upload(workspace, "demo-0")
    [error] = texts(at, "error")
    assert "A case named 'demo-0' already exists" in error
    assert texts(at, "success") == []
    assert _case(workspace, "demo-0") == before  # reference labels still attached
    assert not (workspace / "cases" / "imported").exists()  # no file written either

    # an explicit replace is refused too: the demo study uses the case
    at = _upload(workspace, "demo-0", replace=True)
    [error] = texts(at, "error")
    assert "used by the study 'Demo study'" in error and "cannot be replaced" in error
    assert _case(workspace, "demo-0") == before

    # the Cases page still shows the case and its reference
    at = coordinator_page(workspace, "cases")
    at.selectbox(key="cases_open").set_value("demo-0").run()
    assert not at.exception and texts(at, "error") == []

    # a case no study uses can be replaced, explicitly
    assert texts(_upload(workspace, "fresh-1"), "error") == []
    [(case_id, first_image, _)] = _case(workspace, "fresh-1")
    at = _upload(workspace, "fresh-1", replace=True)
    assert texts(at, "error") == [] and len(texts(at, "success")) == 1
    [(same_id, new_image, new_labels)] = _case(workspace, "fresh-1")
    assert same_id == case_id and new_image != first_image and new_labels


def test_a_second_demo_needs_a_confirmation_and_leaves_the_first_alone(
    workspace, seeded, monkeypatch
):
    monkeypatch.setenv("LIVSEG_DEMO_CASES", "1")
    monkeypatch.setenv("LIVSEG_DEMO_SIZE", "small")
    monkeypatch.setenv("LIVSEG_DEMO_METHODS", "classical")
    first_files = _digest(
        [*seeded.files.cases_dir.glob("*.nii.gz"), *seeded.files.runs_dir.glob("*/*")]
    )
    with sqlite3.connect(workspace / "livseg.db") as con:
        first_items = con.execute("select * from items order by id").fetchall()

    at = coordinator_app(workspace)
    [info] = texts(at, "info")
    assert "A demo is already set up: 'Demo study' (open)" in info
    assert at.button(key="create_demo").disabled  # nothing happens without the confirmation
    at.checkbox(key="demo_another").check().run()
    assert not at.button(key="create_demo").disabled
    at.button(key="create_demo").click().run()
    assert not at.exception
    from db import jobs

    assert jobs.wait_running(300)
    at.run()
    assert not at.exception, at.exception
    [done] = texts(at, "success")
    assert "study 'Demo study 2' is open with 1 cases x 1 methods" in done

    with sqlite3.connect(workspace / "livseg.db") as con:
        assert con.execute("select * from items where study_id = 1 order by id").fetchall() == (
            first_items
        )
        cases = con.execute(
            "select distinct c.name, c.image_path from items i join cases c on c.id = i.case_id "
            "join studies s on s.id = i.study_id where s.name = 'Demo study 2'"
        ).fetchall()
        practice = con.execute(
            "select distinct c.name from assignments a join items i on i.id = a.item_id "
            "join cases c on c.id = i.case_id join studies s on s.id = i.study_id "
            "where s.name = 'Demo study 2' and a.practice"
        ).fetchall()
    # one analysed case and the demo's practice case (read first, not analysed)
    assert sorted(name for name, _ in cases) == ["demo2-0", "demo2-1"]
    assert practice == [("demo2-1",)]
    assert all(path.startswith(str(workspace / "demo-2")) for _, path in cases)
    assert (
        _digest([*seeded.files.cases_dir.glob("*.nii.gz"), *seeded.files.runs_dir.glob("*/*")])
        == first_files
    )


def test_a_running_job_survives_a_reload_and_its_outcome_is_shown(workspace, monkeypatch):
    """The methods run in a server thread: a new session of the page (a reload) shows the
    running job's phase instead of a Run button, then its outcome."""
    from db import jobs
    from db.runs import RunsOutcome

    release, started = threading.Event(), threading.Event()

    def slow_run_and_record(session, actor, cases, methods, runs_dir=None, *, progress=None):
        progress(0.5, f"{methods[0]} on {cases[0]} (1 of 1)")
        started.set()
        assert release.wait(60)
        return RunsOutcome(run_ids={(cases[0], methods[0]): 99})

    monkeypatch.setattr("db.runs.run_and_record", slow_run_and_record)
    start_runs(workspace, ["classical"], ["demo-1"])
    assert started.wait(30)

    # a new browser session: the job is still there
    reloaded = coordinator_page(workspace, "models")
    [bar] = reloaded.get("progress")
    assert "classical on demo-1 (1 of 1)" in bar.proto.text
    assert not [b for b in reloaded.button if b.label == "Run"]
    release.set()
    assert jobs.wait_running(30)
    reloaded.run()
    assert texts(reloaded, "success") == ["1 of 1 runs done."]


def test_a_folder_import_runs_as_a_job_and_keeps_existing_names(workspace, seeded):
    """Two LiTS cases in the import folder, imported with the prefix 'demo-': 'demo-0'
    exists with other files (the seeded demo case) and is refused by name, its files and
    labels kept; case 1's CT does not load. Without the prefix, case '0' is imported."""
    from db import jobs

    folder = workspace / "imports" / "batch"
    folder.mkdir(parents=True)
    ct = np.full((16, 16, 8), 40, np.int16)
    seg = np.zeros((16, 16, 8), np.uint8)
    seg[4:10, 4:10, 2:6] = 1
    for n in (0, 1):
        (folder / f"volume-{n}.nii").write_bytes(_nifti_bytes(ct))
        (folder / f"segmentation-{n}.nii").write_bytes(_nifti_bytes(seg))
    (folder / "volume-1.nii").write_bytes(b"not a nifti file")
    before = _case(workspace, "demo-0"), _case(workspace, "demo-1")

    at = coordinator_page(workspace, "models")
    [path] = [t for t in at.text_input if t.label == "Folder on the server"]
    [prefix] = [t for t in at.text_input if t.label == "Case name prefix"]
    path.input("batch")
    prefix.input("demo-")
    [b for b in at.button if b.label == "Scan and import the folder"][0].click().run()
    assert not at.exception
    assert jobs.wait_running(60)
    at.run()
    assert texts(at, "success") == ["0 of 2 cases imported."]
    errors = texts(at, "error")
    assert any(e.startswith("demo-0: A case named 'demo-0' already exists") for e in errors)
    assert any(e.startswith("demo-1: ") and "volume-1.nii" in e for e in errors)
    assert (_case(workspace, "demo-0"), _case(workspace, "demo-1")) == before

    at = coordinator_page(workspace, "models")
    [path] = [t for t in at.text_input if t.label == "Folder on the server"]
    path.input("batch")
    [b for b in at.button if b.label == "Scan and import the folder"][0].click().run()
    assert jobs.wait_running(60)
    at.run()
    assert texts(at, "success") == ["1 of 2 cases imported."]
    [(_, image, labels)] = _case(workspace, "0")
    assert image == str(folder / "volume-0.nii") and labels == str(folder / "segmentation-0.nii")
