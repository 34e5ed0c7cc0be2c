"""LIVSEG_WEIGHTS_DIR: another folder of network weights (a site's own, or an earlier version
from git) for every command, without touching the shipped livseg/weights/."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from livseg.methods import build_method
from livseg.methods.network_method import WEIGHTS_DIR, weights_path

ROOT = Path(__file__).resolve().parents[1]


def _sha12(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@pytest.fixture
def other_weights(tmp_path, monkeypatch) -> Path:
    """A folder holding unet2d.pt: the shipped network with other metadata (another hash)."""
    ckpt = torch.load(WEIGHTS_DIR / "unet2d.pt", map_location="cpu", weights_only=True)
    ckpt["training"] = {"note": "a site's own run"}
    folder = tmp_path / "site-weights"
    folder.mkdir()
    torch.save(ckpt, folder / "unet2d.pt")
    monkeypatch.setenv("LIVSEG_WEIGHTS_DIR", str(folder))
    return folder


def test_the_networks_load_from_the_folder_named_by_the_variable(other_weights):
    assert weights_path("unet3d") == other_weights / "unet3d.pt"
    method = build_method("unet2d", device="cpu", threads=1)
    assert method.weights_file == other_weights / "unet2d.pt"
    assert method.version == _sha12(other_weights / "unet2d.pt")
    assert method.version != _sha12(WEIGHTS_DIR / "unet2d.pt")


def test_a_missing_file_in_that_folder_is_named(other_weights):
    with pytest.raises(FileNotFoundError, match=str(other_weights / "unet3d.pt")) as err:
        build_method("unet3d", device="cpu", threads=1)
    assert "LIVSEG_WEIGHTS_DIR is set" in str(err.value)


def test_no_name_leaves_the_weights_folder(other_weights):
    for hostile in ("../unet2d", "/etc/passwd", "a/b"):
        with pytest.raises(ValueError, match="unet2d|passwd|a/b"):
            weights_path(hostile)


def test_without_the_variable_the_shipped_weights_are_used(monkeypatch):
    monkeypatch.delenv("LIVSEG_WEIGHTS_DIR", raising=False)
    assert weights_path("unet2d") == WEIGHTS_DIR / "unet2d.pt"


def test_segment_names_the_missing_file_and_exits_2(other_weights, tmp_path):
    env = {"LIVSEG_WEIGHTS_DIR": str(other_weights), "PATH": "/usr/bin:/bin"}
    image = ROOT / "tests" / "data" / "abdomen-ct-dicom" / "series"
    done = subprocess.run(
        [sys.executable, "-m", "livseg", "segment", "--method", "unet3d", "--image", str(image)]
        + ["--out", str(tmp_path / "x.nii.gz"), "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert str(other_weights / "unet3d.pt") in done.stderr
