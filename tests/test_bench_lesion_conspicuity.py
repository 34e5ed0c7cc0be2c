"""bench/lesion_conspicuity.py: contrast and CNR of drawn lesions in drawn noise (the drawn
values are the reference), the lesion order of ``lesion_table``, the bins, and the script on
a LiTS folder with two runs (detect everything / nothing)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import lesion_conspicuity as lc  # noqa: E402

from livseg.metrics import lesion_table  # noqa: E402

SPACING = (0.8, 0.8, 2.0)


def _ball(shape, centre_vox, radius_mm, spacing=SPACING) -> np.ndarray:
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre_vox, spacing, strict=True))
    return d2 <= radius_mm**2


def _phantom(seed: int = 0):
    """A 60 HU liver block with white noise SD 10 HU, a 40 HU ball (r 6 mm) and a 75 HU
    ball (r 4 mm); air (-1000 HU) beyond x = 70."""
    shape = (90, 80, 24)
    rng = np.random.default_rng(seed)
    hu = 60.0 + rng.normal(0.0, 10.0, shape)
    labels = np.zeros(shape, np.uint8)
    labels[:70] = 1
    hu[70:] = -1000.0
    dark = _ball(shape, (25, 40, 12), 6.0)
    bright = _ball(shape, (50, 40, 12), 4.0)
    hu[dark] += -20.0
    hu[bright] += 15.0
    labels[dark | bright] = 2
    return hu, labels, dark, bright


def test_contrast_and_cnr_are_the_drawn_ones():
    hu, labels, dark, bright = _phantom()
    rows = lc.lesion_conspicuity(hu, labels, SPACING)
    assert [r["voxels"] for r in rows] == [int(dark.sum()), int(bright.sum())]
    d, b = rows
    assert d["contrast_hu"] == pytest.approx(20.0, abs=1.5)
    assert b["contrast_hu"] == pytest.approx(-15.0, abs=2.0)
    for r in rows:
        assert r["surround_hu"] == pytest.approx(60.0, abs=1.0)
        assert r["surround_sd"] == pytest.approx(10.0, abs=0.6)
    assert d["cnr"] == pytest.approx(2.0, abs=0.2)
    assert b["cnr"] == pytest.approx(1.5, abs=0.25)


def test_the_surround_is_liver_only_not_air_or_another_lesion():
    hu, labels, _, _ = _phantom()
    edge = _ball(hu.shape, (66, 40, 12), 3.0) & (labels == 1)  # touches the air at x = 70
    hu[edge] -= 25.0
    labels[edge] = 2
    rows = lc.lesion_conspicuity(hu, labels, SPACING)
    last = rows[-1]
    assert last["voxels"] == int(edge.sum())
    assert last["surround_hu"] == pytest.approx(60.0, abs=1.5)  # -1000 HU air would pull it
    assert last["surround_sd"] < 12.0


def test_rows_follow_lesion_tables_order():
    hu, labels, _, _ = _phantom()
    extra = _ball(hu.shape, (10, 10, 5), 2.0)
    labels[extra] = 2
    rows = lc.lesion_conspicuity(hu, labels, SPACING)
    table = lesion_table(labels, labels, SPACING)
    assert [r["voxels"] for r in rows] == [t["voxels"] for t in table]


def test_no_lesion_and_no_shell():
    hu = np.zeros((10, 10, 4))
    assert lc.lesion_conspicuity(hu, np.ones((10, 10, 4), np.uint8), (1.0, 1.0, 1.0)) == []
    labels = np.zeros((10, 10, 4), np.uint8)
    labels[4:6, 4:6, 1:3] = 2  # a lesion with no liver around it
    (row,) = lc.lesion_conspicuity(hu, labels, (1.0, 1.0, 1.0))
    assert row["cnr"] is None and row["surround_voxels"] == 0


def test_cnr_bins_and_detection_counts():
    assert [lc.cnr_bin(v) for v in (None, 0.0, 0.49, 0.5, 1.99, 2.0, 9.0)] == [
        "n/a", "<0.5", "<0.5", "0.5-1", "1-2", ">=2", ">=2",
    ]  # fmt: skip
    rows = [
        {"cnr_bin": "<0.5", "diameter_mm": 12.0, "volume_ml": 1.0, "detected": {"a": 1, "b": 0}},
        {"cnr_bin": "<0.5", "diameter_mm": 30.0, "volume_ml": 14.0, "detected": {"a": 0, "b": 0}},
        {"cnr_bin": ">=2", "diameter_mm": 8.0, "volume_ml": 0.3, "detected": {"a": 1, "b": 1}},
    ]
    bins = lc.detection_by_bin(rows, ["a", "b"])
    assert bins["<0.5 all"] == {"lesions": 2, "volume_ml": 15.0, "detected": {"a": 1, "b": 0}}
    assert bins["<0.5 <2cm"]["lesions"] == 1 and bins["<0.5 >=2cm"]["volume_ml"] == 14.0
    assert bins[">=2 all"]["detected"] == {"a": 1, "b": 1}


def test_script_on_a_folder_with_two_runs(tmp_path):
    hu, labels, dark, bright = _phantom()
    affine = np.diag([*SPACING, 1.0])
    cases, runs = tmp_path / "cases", tmp_path / "runs"
    cases.mkdir()
    for m in ("all", "none"):
        (runs / m).mkdir(parents=True)
    nib.save(nib.Nifti1Image(hu.astype(np.float32), affine), cases / "volume-3.nii.gz")
    nib.save(nib.Nifti1Image(labels, affine), cases / "segmentation-3.nii.gz")
    nib.save(nib.Nifti1Image(labels, affine), runs / "all" / "3.nii.gz")
    nib.save(nib.Nifti1Image((labels > 0).astype(np.uint8), affine), runs / "none" / "3.nii.gz")
    out = tmp_path / "c.json"
    assert lc.main(["--cases", str(cases), "--runs", str(runs), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    # the files load on the canonical LAS+ grid (x flipped): compare the lesions as a set
    assert sorted(r["voxels"] for r in report["lesions"]) == sorted(
        [int(dark.sum()), int(bright.sum())]
    )
    assert all(r["detected"] == {"all": True, "none": False} for r in report["lesions"])
    total = sum(c["lesions"] for k, c in report["by_bin"].items() if k.endswith(" all"))
    assert total == 2
