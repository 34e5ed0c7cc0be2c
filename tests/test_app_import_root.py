"""The Models page's server-folder import reads only inside the import root (issue 14 item 1:
the field accepted any server path). AppTest."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from tests.apps import app_testing
from tests.apps.app_testing import coordinator_app, texts

seeded, workspace = app_testing.seeded, app_testing.workspace  # fixtures


def _lits_folder(folder):
    folder.mkdir(parents=True)
    affine = np.diag([0.8, 0.8, 2.5, 1.0])
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 4), np.int16), affine), str(folder / "volume-1.nii"))
    return folder


def _scan(workspace, text: str):
    at = coordinator_app(workspace)
    at.switch_page("pages/models.py").run()
    [box] = [t for t in at.text_input if t.label == "Folder on the server"]
    box.input(text)
    [b for b in at.button if b.label == "Scan and import the folder"][0].click().run()
    assert not at.exception
    return at


def test_a_folder_outside_the_import_root_is_refused(workspace, tmp_path, monkeypatch):
    monkeypatch.delenv("LIVSEG_IMPORT_ROOT", raising=False)
    outside = _lits_folder(tmp_path / "elsewhere" / "lits")
    for text in (str(outside), "../../elsewhere/lits", "/"):
        [error] = texts(_scan(workspace, text), "error")
        assert "outside the import folder" in error and str(workspace / "imports") in error


def test_a_folder_inside_the_import_root_is_scanned(workspace, tmp_path, monkeypatch):
    root = tmp_path / "root"
    _lits_folder(root / "batch")
    (root / "empty").mkdir()
    monkeypatch.setenv("LIVSEG_IMPORT_ROOT", str(root))
    [error] = texts(_scan(workspace, "empty"), "error")  # relative to the root: scanned
    assert "no cases found" in error and "outside" not in error
    [error] = texts(_scan(workspace, str(root / "batch" / ".." / "empty")), "error")  # .. inside
    assert "no cases found" in error
