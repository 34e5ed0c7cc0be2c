"""``python -m livseg evaluate`` and livseg.evaluation on NIfTI files in a temporary folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from medpy.metric import binary as medpy_binary

from livseg import evaluation, naming
from livseg.cli import main

SPACING = (0.8, 0.8, 2.5)
REPO = Path(__file__).resolve().parents[1]


def _save(labels: np.ndarray, path: Path, spacing=SPACING, affine=None) -> Path:
    if affine is None:  # livseg's canonical LAS+ grid: loads unchanged
        affine = np.diag([-spacing[0], spacing[1], spacing[2], 1.0])
    nib.save(nib.Nifti1Image(labels.astype(np.uint8), affine), str(path))
    return path


def _evaluate_folders(pred_dir: Path, ref_dir: Path, out: Path) -> int:
    """``livseg evaluate --pred-dir --ref-dir --out --quiet``; the exit code."""
    return main(
        ["evaluate", "--pred-dir", str(pred_dir), "--ref-dir", str(ref_dir), "--out", str(out)]
        + ["--quiet"]
    )


def _reference(shift: int = 0) -> np.ndarray:
    """Liver block with two tumours: a 6 x 6 x 3 block and a 2 x 2 x 1 one (hand-known)."""
    ref = np.zeros((40, 36, 16), np.uint8)
    ref[5 + shift : 35 + shift, 4:30, 2:14] = 1
    ref[10:16, 10:16, 5:8] = 2
    ref[25:27, 20:22, 10] = 2
    return ref


def _prediction() -> np.ndarray:
    pred = _reference()
    pred[5:7, :, :][pred[5:7, :, :] == 1] = 0  # under-segment two liver slabs along x
    pred[25:27, 20:22, 10] = 1  # misses the small tumour
    pred[30:32, 5:7, 3:5] = 2  # false-positive lesion
    return pred


def test_pair_json_keys_and_values(tmp_path, capsys):
    ref, pred = _reference(), _prediction()
    ref_path = _save(ref, tmp_path / "segmentation-3.nii.gz")
    pred_path = _save(pred, tmp_path / "pred.nii.gz")
    code = main(["evaluate", "--pred", str(pred_path), "--ref", str(ref_path), "--json"])
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out)
    assert set(result) == {"liver", "tumour"}
    keys = {"dsc", "jaccard", "hd_mm", "hd95_mm", "assd_mm"}
    keys |= {"volume_ml", "reference_volume_ml", "volume_error_pct"}
    assert keys <= set(result["liver"]) and keys <= set(result["tumour"])
    for name, p, r in (("liver", pred > 0, ref > 0), ("tumour", pred == 2, ref == 2)):
        assert result[name]["dsc"] == pytest.approx(medpy_binary.dc(p, r), abs=1e-6)
        assert result[name]["jaccard"] == pytest.approx(medpy_binary.jc(p, r), abs=1e-6)
        assert result[name]["hd_mm"] == pytest.approx(medpy_binary.hd(p, r, SPACING), abs=1e-6)
        assert result[name]["hd95_mm"] == pytest.approx(medpy_binary.hd95(p, r, SPACING), abs=1e-6)
        assert result[name]["assd_mm"] == pytest.approx(medpy_binary.assd(p, r, SPACING), abs=1e-6)
    # liver: 30 x 26 x 12 voxels of 1.6 mm^3 = 14.976 mL; prediction loses 2 of 30 x-slabs
    assert result["liver"]["reference_volume_ml"] == pytest.approx(30 * 26 * 12 * 1.6 / 1000)
    assert result["liver"]["volume_error_pct"] == pytest.approx(-2 / 30 * 100)
    lesions = result["tumour"]["lesions"]
    assert (lesions["reference"], lesions["detected"], lesions["missed"]) == (2, 1, 1)
    assert lesions["false_positive"] == 1
    assert lesions["by_size"]["<2cm"]["reference"] == 2
    assert lesions["by_size"][">5cm"]["miss_rate"] is None  # NaN -> null


def test_pair_json_null_for_missing_tumour(tmp_path, capsys):
    ref = _reference()
    pred = np.where(ref > 0, 1, 0)
    ref_path = _save(ref, tmp_path / "ref.nii.gz")
    pred_path = _save(pred, tmp_path / "pred.nii.gz")
    assert main(["evaluate", "--pred", str(pred_path), "--ref", str(ref_path), "--json"]) == 0
    text = capsys.readouterr().out
    assert "NaN" not in text and "Infinity" not in text
    tumour = json.loads(text)["tumour"]
    assert tumour["dsc"] == 0.0 and tumour["hd_mm"] is None and tumour["volume_error_pct"] == -100


def test_python_m_livseg_evaluate_subprocess(tmp_path):
    ref = _reference()
    ref_path = _save(ref, tmp_path / "ref.nii.gz")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "livseg",
            "evaluate",
            "--pred",
            str(ref_path),
            "--ref",
            str(ref_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["liver"]["dsc"] == 1.0 and result["tumour"]["hd_mm"] == 0.0


def test_folder_csv_matches_case_ids(tmp_path):
    ref_dir, pred_dir = tmp_path / "ref", tmp_path / "pred"
    ref_dir.mkdir()
    pred_dir.mkdir()
    _save(_reference(), ref_dir / "segmentation-0007.nii.gz")
    _save(np.zeros((40, 36, 16)), ref_dir / "volume-0007.nii.gz")  # CT file: not a reference
    _save(_reference(shift=1), ref_dir / "segmentation-12.nii.gz")
    _save(_prediction(), pred_dir / "7.nii.gz")
    _save(_reference(shift=1), pred_dir / "segmentation-12.nii.gz")
    out = tmp_path / "metrics.csv"
    code = _evaluate_folders(pred_dir, ref_dir, out)
    assert code == 0
    table = pd.read_csv(out, dtype={"case_id": str})
    assert len(table) == 4
    assert list(table["case_id"]) == ["0007", "0007", "12", "12"]
    assert list(table["structure"]) == ["liver", "tumour"] * 2
    perfect = table[table["case_id"] == "12"]
    assert (perfect["dsc"] == 1.0).all()
    tumour7 = table[(table["case_id"] == "0007") & (table["structure"] == "tumour")].iloc[0]
    assert tumour7["lesions_missed"] == 1 and tumour7["lesions_false_positive"] == 1


def test_runs_layout_rows_and_progress(tmp_path):
    cases, runs = tmp_path / "cases", tmp_path / "runs"
    cases.mkdir()
    _save(_reference(), cases / "segmentation-0.nii.gz")
    _save(_reference(shift=2), cases / "segmentation-1.nii.gz")
    for method, seconds in (("unet2d", 3.5), ("classical", 40.0)):
        (runs / method).mkdir(parents=True)
        for case, labels in (("0", _prediction()), ("1", _reference(shift=2))):
            _save(labels, runs / method / f"{case}.nii.gz")
            info = {
                "method": method,
                "case": case,
                "seconds": seconds,
                "device": "cpu",
                "version": "abc123",
            }
            (runs / method / f"{case}.json").write_text(json.dumps(info))
    calls = []
    rows = evaluation.evaluate_runs(runs, cases, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 4) and calls[-1] == (4, 4)
    assert len(rows) == 2 * 2 * 2  # cases x methods x structures
    table = pd.DataFrame(rows)
    assert set(table["method"]) == {"unet2d", "classical"}
    assert set(table.loc[table["method"] == "classical", "seconds"]) == {40.0}
    assert set(table["device"]) == {"cpu"} and set(table["version"]) == {"abc123"}
    case1 = table[table["case_id"] == "1"]
    assert (case1["dsc"] == 1.0).all()
    # the CLI writes the same rows
    out = tmp_path / "m.csv"
    assert (
        main(
            [
                "evaluate",
                "--runs-dir",
                str(runs),
                "--ref-dir",
                str(cases),
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    written = pd.read_csv(out, dtype={"case_id": str})
    assert len(written) == 8 and {"seconds", "lesions_lt2cm_missed"} <= set(written.columns)


def test_reoriented_prediction_is_the_same_grid(tmp_path):
    # the same physical label map stored flipped along x (RAS instead of LAS): DSC 1
    ref = _reference()
    ref_path = _save(ref, tmp_path / "ref.nii.gz")
    flipped_affine = np.diag([SPACING[0], SPACING[1], SPACING[2], 1.0])
    flipped_affine[0, 3] = -(ref.shape[0] - 1) * SPACING[0]
    pred_path = _save(ref[::-1], tmp_path / "pred.nii.gz", affine=flipped_affine)
    result = evaluation.evaluate_files(pred_path, ref_path)
    assert result["liver"]["dsc"] == 1.0 and result["tumour"]["hd_mm"] == 0.0


def test_grid_mismatch_errors(tmp_path, capsys):
    ref = _reference()
    ref_path = _save(ref, tmp_path / "ref.nii.gz")
    small = _save(ref[:-1], tmp_path / "small.nii.gz")
    moved = _save(ref, tmp_path / "moved.nii.gz", spacing=(0.8, 0.8, 3.0))
    assert main(["evaluate", "--pred", str(small), "--ref", str(ref_path)]) == 2
    assert "shape mismatch" in capsys.readouterr().err
    assert main(["evaluate", "--pred", str(moved), "--ref", str(ref_path)]) == 2
    assert "affine mismatch" in capsys.readouterr().err
    bad = _save(np.full(ref.shape, 5), tmp_path / "bad.nii.gz")
    assert main(["evaluate", "--pred", str(bad), "--ref", str(ref_path)]) == 2
    assert "labels 0" in capsys.readouterr().err
    assert main(["evaluate", "--pred", str(tmp_path / "nope.nii.gz"), "--ref", str(ref_path)]) == 2
    assert "not found" in capsys.readouterr().err


def test_folder_errors(tmp_path, capsys):
    ref_dir, pred_dir = tmp_path / "ref", tmp_path / "pred"
    ref_dir.mkdir()
    pred_dir.mkdir()
    _save(_reference(), ref_dir / "segmentation-1.nii.gz")
    _save(_reference(), pred_dir / "segmentation-2.nii.gz")
    code = _evaluate_folders(pred_dir, ref_dir, tmp_path / "x.csv")
    assert code == 2
    assert "no reference" in capsys.readouterr().err
    assert main(["evaluate", "--pred-dir", str(pred_dir)]) == 2
    assert main(["evaluate"]) == 2
    with pytest.raises(ValueError, match="runs folder not found"):
        evaluation.evaluate_runs(tmp_path / "missing", ref_dir)


def test_case_keys():
    assert naming.case_key("segmentation-0007.nii.gz") == "7"
    assert naming.case_key("7.nii") == "7"
    assert naming.case_id("segmentation-0007.nii.gz") == "0007"
    assert naming.case_key("liver_12a.nii.gz") == "liver_12a"


def test_runs_with_lesion_rows_pair_the_same_lesions(tmp_path):
    cases, runs = tmp_path / "cases", tmp_path / "runs"
    cases.mkdir()
    _save(_reference(), cases / "segmentation-4.nii.gz")
    for method, labels in (("good", _reference()), ("bad", _prediction()), ("other", _reference())):
        (runs / method).mkdir(parents=True)
        _save(labels, runs / method / "4.nii.gz")
    rows, lesions = evaluation.evaluate_runs_with_lesions(runs, cases, methods=["good", "bad"])
    assert {r["method"] for r in rows} == {"good", "bad"}
    table = pd.DataFrame(lesions)
    assert len(table) == 4  # 2 reference lesions x 2 methods
    good = table[table["method"] == "good"].set_index("lesion")["detected"]
    bad = table[table["method"] == "bad"].set_index("lesion")["detected"]
    assert list(good.index) == list(bad.index) == [1, 2]
    assert good.tolist() == [True, True]
    assert bad.tolist() == [True, False]  # the 2 x 2 x 1 tumour (lesion 2) is missed
    assert table["voxels"].tolist() == [108, 4, 108, 4]
    with pytest.raises(ValueError, match="no run folder"):
        evaluation.evaluate_runs_with_lesions(runs, cases, methods=["nope"])
