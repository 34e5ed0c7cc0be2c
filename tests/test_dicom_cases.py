"""DICOM cases in a LiTS folder (``livseg.io.scan_folder``): ``volume-N/`` series folders and
``volume-N.zip`` archives beside NIfTI cases, with NIfTI or DICOM-SEG segmentations; the
batch ``segment --cases`` runs on them. References: the arrays the test wrote."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from livseg.cli import main
from livseg.dicom.seg import write_segmentation
from livseg.io import (
    LivSegInputError,
    load_case,
    load_labels,
    load_volume,
    save_labels,
    save_volume,
    scan_folder,
)
from tests.dicom_support import write_series


@pytest.fixture(scope="module")
def lits(tmp_path_factory):
    """Phantom cases: 0 a series folder + NIfTI labels; 1 a zip + DICOM-SEG; 2 plain NIfTI."""
    from livseg.phantom import generate_case

    tmp_path = tmp_path_factory.mktemp("dicom_lits")
    root = tmp_path / "LiTS"
    (root / "batch").mkdir(parents=True)
    refs = {}
    for k in (0, 1, 2):
        case = generate_case(60 + k, size="small")
        refs[k] = case.labels
        if k == 2:
            save_volume(case.volume, root / "volume-2.nii.gz")
            save_labels(case.labels, case.volume, root / "segmentation-2.nii.gz")
            continue
        sx, sy, sz = case.volume.spacing
        native = np.round(case.volume.array[:, ::-1, :])  # DICOM rows run posterior
        paths = write_series(tmp_path / f"s{k}", native, pixel_spacing=(sy, sx), slice_step=sz)
        if k == 0:
            (tmp_path / "s0").rename(root / "batch" / "volume-0")
            save_labels(
                case.labels,
                load_volume(root / "batch" / "volume-0"),
                root / "batch" / "segmentation-0.nii.gz",
            )
        else:
            with zipfile.ZipFile(root / "volume-1.zip", "w") as zf:
                for p in paths:
                    zf.write(p, p.name)
            vol = load_volume(root / "volume-1.zip")
            write_segmentation(
                case.labels, vol, root / "segmentation-1.dcm", "reference", "", manual=True
            )
    return root, refs


def test_scan_finds_dicom_cases_beside_nifti(lits):
    root, refs = lits
    found = scan_folder(root)
    assert [(c.case_id, c.image.name, c.labels.name) for c in found] == [
        ("0", "volume-0", "segmentation-0.nii.gz"),
        ("1", "volume-1.zip", "segmentation-1.dcm"),
        ("2", "volume-2.nii.gz", "segmentation-2.nii.gz"),
    ]
    for c in found:
        case = load_case(c.image, c.labels, case_id=c.case_id)
        np.testing.assert_array_equal(case.labels, refs[int(c.case_id)])


def test_duplicate_dicom_and_nifti_volume_is_refused(lits):
    root, _ = lits
    (root / "volume-2").mkdir()
    try:
        with pytest.raises(LivSegInputError, match="duplicate LiTS volume number 2"):
            scan_folder(root)
    finally:
        (root / "volume-2").rmdir()


def test_segment_cases_runs_on_dicom_cases(lits, tmp_path, monkeypatch):
    monkeypatch.setenv("LIVSEG_THREADS", "1")
    root, _ = lits
    out = tmp_path / "runs"
    assert (
        main(
            ["segment", "--cases", str(root), "--method", "classical", "--out", str(out), "--quiet"]
        )
        == 0
    )
    for c in scan_folder(root):
        written = out / "classical" / f"{c.case_id}.nii.gz"
        labels = load_labels(written, like=load_volume(c.image))  # on the case's own grid
        assert labels.shape == load_volume(c.image).shape
