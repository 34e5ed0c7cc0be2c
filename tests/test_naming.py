"""livseg.naming: the one case id, NIfTI suffixes, and the one name-to-path function (issue 10
finding 2, issue 14 item 1). Every function that turns a name into a path is probed with
hostile names; nothing may be written outside its folder."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pytest

from livseg import io, naming
from livseg.inference import RunResult, write_run
from livseg.volume import Volume
from livseg.workspace import import_folder, import_root

HOSTILE = [
    "",
    ".",
    "..",
    "../x",
    "../../../x",
    "a/b",
    "a\\b",
    "/etc/passwd",
    "x\x00y",
    "x\ny",
    "C:evil",
]


def _files_under(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# --------------------------------------------------------------------------- suffixes and ids


@pytest.mark.parametrize(
    "name, suffix",
    [
        ("ct.nii", ".nii"),
        ("ct.nii.gz", ".nii.gz"),
        ("CT.NII.GZ", ".nii.gz"),
        ("ct.Nii", ".nii"),
        ("ct.gz", None),
        ("ct.nii.zip", None),
        (".nii", None),
        ("nii", None),
    ],
)
def test_nifti_suffix_any_letter_case(name, suffix):
    assert naming.nifti_suffix(name) == suffix
    assert naming.is_nifti_name(name) is (suffix is not None)


@pytest.mark.parametrize(
    "name, cid",
    [
        ("volume-7.nii.gz", "7"),
        ("segmentation-7.nii.gz", "7"),
        ("SEGMENTATION-7.NII.GZ", "7"),
        ("segmentation-0007.nii", "0007"),
        ("7.nii.gz", "7"),
        ("prediction-12.nii.gz", "12"),
        ("liver_7.nii.gz", "liver_7"),
        ("liver_7_0000.nii.gz", "liver_7"),
        ("/data/LiTS/batch1/volume-3.nii", "3"),
    ],
)
def test_case_id_of_file_names(name, cid):
    assert naming.case_id(name) == cid


def test_case_key_matches_digit_ids_by_value():
    assert naming.case_key("volume-0007.nii.gz") == naming.case_key("7.nii") == "7"
    assert naming.case_key("liver_07.nii.gz") == "liver_07"


def _write(path, data):
    nib.save(nib.Nifti1Image(data, np.diag([-1.0, 1.0, 2.0, 1.0])), str(path))
    return path


def test_one_case_id_in_scan_folder_and_the_runs_layout(tmp_path):
    """LiTS volume-7: scan_folder, load_case and write_run all call it "7"."""
    cases = tmp_path / "cases"
    cases.mkdir()
    ct = np.zeros((6, 5, 4), np.int16)
    _write(cases / "volume-7.NII.GZ", ct)
    _write(cases / "segmentation-7.nii.gz", np.zeros((6, 5, 4), np.uint8))
    [found] = io.scan_folder(cases)
    assert found.case_id == "7"
    assert io.load_case(found.image).case_id == "7"
    volume = io.load_volume(found.image)
    result = RunResult(np.zeros(volume.shape, np.uint8), 0.1, "cpu", "v", {})
    record = write_run(result, "m", found.case_id, volume, tmp_path / "runs")
    assert record.labels_path == tmp_path / "runs" / "m" / "7.nii.gz"


# --------------------------------------------------------------------------- name -> path


@pytest.mark.parametrize("name", HOSTILE)
def test_safe_child_refuses_hostile_names(tmp_path, name):
    with pytest.raises(ValueError) as err:
        naming.safe_child(tmp_path, name, ".json")
    assert isinstance(err.value, naming.UnsafeNameError)
    assert repr(name) in str(err.value)


def test_safe_child_refuses_a_symlink_out_of_its_folder(tmp_path):
    inside, outside = tmp_path / "in", tmp_path / "out"
    inside.mkdir()
    outside.mkdir()
    os.symlink(outside, inside / "link")
    with pytest.raises(naming.UnsafeNameError, match="outside its folder"):
        naming.safe_child(inside, "link")
    assert naming.safe_child(inside, "case-1", ".nii.gz") == inside / "case-1.nii.gz"
    assert naming.safe_child(inside, "liver_7..x") == inside / "liver_7..x"


@pytest.mark.parametrize("name", HOSTILE)
def test_run_files_and_lits_files_refuse_hostile_names(tmp_path, name):
    with pytest.raises(naming.UnsafeNameError):
        naming.run_files(tmp_path, "unet2d", name)
    with pytest.raises(naming.UnsafeNameError):
        naming.run_files(tmp_path, name, "7")
    with pytest.raises(naming.UnsafeNameError):
        naming.lits_files(tmp_path, name)


@pytest.mark.parametrize("field", ["case", "method"])
@pytest.mark.parametrize("name", ["../../../x", "../x", "a/b", "/tmp/x", "..", "x\x00"])
def test_write_run_writes_nothing_outside_the_runs_folder(tmp_path, field, name):
    """Issue 14 item 1: write_run(case_id='../../../x') wrote x.nii.gz above the runs folder."""
    root = tmp_path / "a" / "b" / "c"
    runs = root / "runs"
    runs.mkdir(parents=True)
    volume = Volume(np.zeros((4, 4, 3), np.float32), (1.0, 1.0, 1.0), np.eye(4))
    result = RunResult(np.zeros((4, 4, 3), np.uint8), 0.1, "cpu", "v", {})
    args = {"method": "unet2d", "case": "7", field: name}
    before = _files_under(tmp_path)
    with pytest.raises(ValueError, match="path separator|'.' and '..'|absolute|NUL|outside"):
        write_run(result, args["method"], args["case"], volume, runs)
    assert _files_under(tmp_path) == before


def test_evaluate_runs_refuses_a_hostile_method_name(tmp_path):
    from livseg.evaluation import evaluate_runs_with_lesions

    (tmp_path / "runs").mkdir()
    (tmp_path / "cases").mkdir()
    _write(tmp_path / "cases" / "segmentation-1.nii.gz", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(naming.UnsafeNameError):
        evaluate_runs_with_lesions(tmp_path / "runs", tmp_path / "cases", methods=["../cases"])


# --------------------------------------------------------------------------- import root


def test_import_folder_stays_inside_the_import_root(tmp_path, monkeypatch):
    root = tmp_path / "imports"
    (root / "lits" / "batch1").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", root / "escape")
    monkeypatch.setenv("LIVSEG_IMPORT_ROOT", str(root))
    assert import_root() == root
    assert import_folder("lits/batch1") == (root / "lits" / "batch1").resolve()
    assert import_folder(str(root / "lits")) == (root / "lits").resolve()
    for text in ("/", "/etc", "..", "lits/../..", str(tmp_path / "elsewhere"), "escape", ""):
        with pytest.raises(ValueError, match="outside the import folder|empty path"):
            import_folder(text)
    with pytest.raises(ValueError, match="NUL"):
        import_folder("lits\x00")


def test_import_root_defaults_to_the_workspace_imports_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("LIVSEG_IMPORT_ROOT", raising=False)
    monkeypatch.setenv("LIVSEG_WORKSPACE", str(tmp_path / "ws"))
    assert import_root() == tmp_path / "ws" / "imports"
    assert (tmp_path / "ws" / "imports").is_dir()
    with pytest.raises(ValueError, match="outside the import folder"):
        import_folder(str(tmp_path / "ws"))


def test_a_plug_in_with_a_path_for_a_name_is_skipped(monkeypatch):
    from importlib.metadata import EntryPoint

    from livseg.methods import plugins

    found = [
        EntryPoint(name="../../x", value="evil:Method", group=plugins.GROUP),
        EntryPoint(name="fine_1", value="good:Method", group=plugins.GROUP),
    ]
    monkeypatch.setattr(plugins, "entry_points", lambda group: found)
    with pytest.warns(UserWarning, match=r"'../../x' .* skipped: a method name must be"):
        assert list(plugins.discover(set())) == ["fine_1"]
