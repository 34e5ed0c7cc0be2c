"""run_method / run_cases (runs layout), the segment CLI, grids and affines, device choice."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from livseg.cli import main
from livseg.device import choose_device, choose_threads
from livseg.inference import resolve_methods, run_cases, run_method
from livseg.phantom import write_dataset


@pytest.fixture(scope="module")
def small_cases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cases")
    write_dataset(folder, 2, seed=5, size="small")
    return folder


def test_resolve_methods():
    assert resolve_methods("all") == ["classical", "unet2d", "unet3d", "attention_unet"]
    assert resolve_methods("unet2d, classical") == ["unet2d", "classical"]
    with pytest.raises(ValueError, match="unknown method"):
        resolve_methods("unet2d,foo")


def test_run_cases_writes_runs_layout(small_cases, tmp_path):
    out = tmp_path / "runs"
    seen = []
    records = run_cases(
        small_cases, out, ["classical", "unet2d"], progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (4, 4) and len(records) == 4
    for method in ("classical", "unet2d"):
        for case in ("0", "1"):
            pred = nib.load(out / method / f"{case}.nii.gz")
            img = nib.load(small_cases / f"volume-{case}.nii.gz")
            assert pred.shape == img.shape
            np.testing.assert_allclose(pred.affine, img.affine, atol=1e-4)
            data = np.asarray(pred.dataobj)
            assert data.dtype == np.uint8 and set(np.unique(data)) <= {0, 1, 2}
            info = json.loads((out / method / f"{case}.json").read_text())
            assert {"method", "case", "seconds", "device", "version", "params", "threads"} <= set(
                info
            )
            assert info["method"] == method and info["case"] == case
            assert info["seconds"] > 0 and info["device"] == "cpu"


def test_runs_layout_is_read_by_evaluate(small_cases, tmp_path):
    from livseg.evaluation import evaluate_runs

    out = tmp_path / "runs"
    run_cases(small_cases, out, ["classical"])
    rows = evaluate_runs(out, small_cases)
    assert {r["method"] for r in rows} == {"classical"}
    assert {str(r["case_id"]) for r in rows} == {"0", "1"}


def test_labels_follow_a_reoriented_file(small_cases, tmp_path):
    """The same CT stored flipped (LPS-like) gives the same labels, flipped, on its own grid."""
    img = nib.load(small_cases / "volume-0.nii.gz")
    data = np.asarray(img.dataobj)
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    flip[0, 3] = data.shape[0] - 1
    flip[1, 3] = data.shape[1] - 1
    flipped = nib.Nifti1Image(data[::-1, ::-1, :].copy(), img.affine @ flip)
    folder = tmp_path / "flipped"
    folder.mkdir()
    nib.save(flipped, folder / "volume-0.nii.gz")
    run_cases(folder, tmp_path / "runs_f", ["unet2d"])
    run_cases(small_cases, tmp_path / "runs_o", ["unet2d"])
    a = np.asarray(nib.load(tmp_path / "runs_o/unet2d/0.nii.gz").dataobj)
    b = np.asarray(nib.load(tmp_path / "runs_f/unet2d/0.nii.gz").dataobj)
    assert (a > 0).sum() > 100
    np.testing.assert_array_equal(b, a[::-1, ::-1, :])


def test_run_method_result(small_cases):
    from livseg.io import load_volume

    vol = load_volume(small_cases / "volume-1.nii.gz")
    res = run_method("unet3d", vol)
    assert res.labels.shape == vol.shape and res.seconds > 0
    assert res.device == "cpu" and len(res.version) == 12
    assert res.params["grid"] == [256, 256]


def test_segment_cli_one_image(small_cases, tmp_path, capsys):
    out = tmp_path / "pred.nii.gz"
    rc = main(
        [
            "segment",
            "--method",
            "classical",
            "--image",
            str(small_cases / "volume-0.nii.gz"),
            "--out",
            str(out),
            "--threads",
            "1",
        ]
    )
    assert rc == 0 and out.is_file()
    assert re.search(r"classical: \d+\.\d+ s on cpu", capsys.readouterr().out)


def test_segment_cli_folder_and_errors(small_cases, tmp_path, capsys):
    rc = main(
        [
            "segment",
            "--method",
            "unet2d",
            "--cases",
            str(small_cases),
            "--out",
            str(tmp_path / "runs"),
            "--quiet",
        ]
    )
    assert rc == 0 and (tmp_path / "runs/unet2d/1.nii.gz").is_file()
    assert _segment("nope", "--cases", small_cases, tmp_path / "r2") == 2
    assert "unknown method" in capsys.readouterr().err
    assert _segment("classical", "--image", tmp_path / "missing.nii.gz", tmp_path / "x.nii.gz") == 2
    assert (
        _segment("classical", "--image", small_cases / "volume-0.nii.gz", tmp_path / "x.txt") == 2
    )


def _segment(method: str, source_option: str, source: Path, out: Path) -> int:
    """``livseg segment --method M --image|--cases SOURCE --out OUT``; the exit code."""
    return main(["segment", "--method", method, source_option, str(source), "--out", str(out)])


def test_device_and_threads(monkeypatch):
    assert choose_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            choose_device("cuda")
        assert choose_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="unknown device"):
        choose_device("tpu")
    monkeypatch.setenv("LIVSEG_THREADS", "3")
    assert choose_threads() == 3
    assert choose_threads(1) == 1
    monkeypatch.setenv("LIVSEG_THREADS", "many")
    with pytest.raises(ValueError, match="LIVSEG_THREADS"):
        choose_threads()
    with pytest.raises(ValueError, match=">= 1"):
        choose_threads(0)
