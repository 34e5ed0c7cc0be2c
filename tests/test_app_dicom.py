"""The coordinator's pages with DICOM and external results (streamlit AppTest): the Models
page upload takes a zip of a DICOM series, its import-runs form brings another program's
predictions in, the Cases page shows the external method's DSC (checked with MedPy) and
offers DICOM-SEG downloads of a DICOM case (read back with pydicom)."""

from __future__ import annotations

import io
import shutil
import sqlite3
import zipfile

import nibabel as nib
import numpy as np
import pydicom
import pytest
from medpy.metric.binary import dc

from tests.apps import app_testing
from tests.apps.app_testing import coordinator_page, import_case, texts
from tests.dicom_support import write_series

seeded, workspace = app_testing.seeded, app_testing.workspace  # fixtures


def _zip_of_series(tmp_path) -> tuple[bytes, np.ndarray]:
    native = np.random.default_rng(4).integers(-50, 150, size=(24, 20, 6)).astype(np.float32)
    paths = write_series(tmp_path / "series", native)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for p in paths:
            zf.write(p, f"DICOM/{p.name}")
    return buffer.getvalue(), native


def test_upload_of_a_dicom_zip_and_its_seg_downloads(workspace, tmp_path):
    data, native = _zip_of_series(tmp_path)
    ref = np.zeros((24, 20, 6), np.uint8)  # canonical grid of the series (x, y, z)
    ref[4:16, 5:15, 1:5] = 1
    ref[8:11, 8:11, 2:4] = 2
    seg_nifti = tmp_path / "ref.nii.gz"
    from livseg.io import load_volume, save_labels

    save_labels(ref, load_volume(tmp_path / "series"), seg_nifti)
    at = import_case(
        workspace, "dicom-1", ("export.zip", data), ("ref.nii.gz", seg_nifti.read_bytes())
    )
    assert texts(at, "error") == []
    [ok] = texts(at, "success")
    assert ok.startswith("Case 'dicom-1' imported: 24x20x6 voxels, spacing 1.25 x 1.50 x 2.50 mm")
    with sqlite3.connect(workspace / "livseg.db") as con:
        (image_path,) = con.execute(
            "select image_path from cases where name = 'dicom-1'"
        ).fetchone()
    assert image_path.endswith("volume.zip")

    at = coordinator_page(workspace, "cases")
    at.selectbox(key="cases_open").set_value("dicom-1").run()
    assert not at.exception, at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Reference (.dcm)" in labels and "Reference (.nii.gz)" in labels
    # the file the button makes: a DICOM-SEG of the reference on the uploaded series
    from pages._label_downloads import _maker

    with sqlite3.connect(workspace / "livseg.db") as con:
        (label_path,) = con.execute(
            "select label_path from cases where name = 'dicom-1'"
        ).fetchone()
    ds = pydicom.dcmread(io.BytesIO(_maker(image_path, label_path, "reference", True)()))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    series_uid = pydicom.dcmread(tmp_path / "series" / "slice000.dcm").SeriesInstanceUID
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == series_uid
    assert ds.SegmentSequence[0].SegmentAlgorithmType == "MANUAL"


def test_upload_refuses_a_zip_without_dicom(workspace):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("notes.txt", "hello")
    at = import_case(workspace, "dicom-2", ("empty.zip", buffer.getvalue()))
    [error] = texts(at, "error")
    assert (
        error.startswith("Not imported:") and "'empty.zip'" in error and "no DICOM files" in error
    )


def test_import_runs_form_and_cases_table(workspace, seeded):
    cases_dir = seeded.files.cases_dir
    imports = workspace / "imports" / "tool-out"
    imports.mkdir(parents=True)
    preds = {}
    for case_id in seeded.files.case_ids:
        ref = nib.load(cases_dir / f"segmentation-{case_id}.nii.gz")
        pred = (np.asarray(ref.dataobj) > 0).astype(np.uint8) * 5  # TotalSegmentator's liver
        pred[:, :, : pred.shape[2] // 3] = 0
        preds[case_id] = pred
        nib.save(nib.Nifti1Image(pred, ref.affine), str(imports / f"demo-{case_id}.nii.gz"))
    shutil.copy(imports / "demo-0.nii.gz", imports / "nobody.nii.gz")
    at = coordinator_page(workspace, "models")
    by_label = {t.label: t for t in at.text_input}
    by_label["Folder of predictions on the server"].input("tool-out")
    by_label["Method name"].input("ext_tool")
    by_label["Readable title"].input("External Tool 1.0")
    by_label["Label mapping (optional)"].input("liver=5")
    [b for b in at.button if b.label == "Import the runs"][0].click().run()
    assert not at.exception, at.exception
    assert f"{len(preds)} runs of 'ext_tool' imported and evaluated." in texts(at, "success")
    assert any("nobody.nii.gz" in w for w in texts(at, "warning"))

    at = coordinator_page(workspace, "cases")
    overview = at.dataframe[0].value.set_index("case")
    for case_id, pred in preds.items():
        ref = np.asarray(nib.load(cases_dir / f"segmentation-{case_id}.nii.gz").dataobj) > 0
        expected = dc(pred > 0, ref)
        assert overview.loc[f"demo-{case_id}", "ext_tool"] == pytest.approx(expected, abs=1e-9)


def test_nifti_case_offers_nifti_downloads_only(workspace, seeded):
    at = coordinator_page(workspace, "cases")
    at.selectbox(key="cases_open").set_value("demo-0").run()
    assert not at.exception, at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Reference (.nii.gz)" in labels
    assert not [x for x in labels if x.endswith("(.dcm)")]
    from pages._label_downloads import _reader

    reference = seeded.files.cases_dir / "segmentation-0.nii.gz"
    assert _reader(str(reference))() == reference.read_bytes()
