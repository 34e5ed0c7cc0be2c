"""Training: seeded and reproducible, resumable, exported weights load into a Method."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from livseg.methods.unet2d import UNet2DMethod
from livseg.phantom import case_seed, generate_case, split_assignment
from livseg.training import TrainConfig, train, train_indices, write_split
from tests.training_support import TINY_2D, tiny_config


def _cfg(steps: int) -> TrainConfig:
    return tiny_config(steps)


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_train_indices_are_the_train_split():
    idx = train_indices(0)
    split = split_assignment(150, 0)
    assert len(idx) == 120 and all(split[i] == "train" for i in idx)


def test_write_split_limit_writes_the_first_test_cases_as_generated(tmp_path):
    import nibabel as nib

    test_idx = [i for i, s in enumerate(split_assignment(150, 0)) if s == "test"]
    got = write_split(tmp_path, 0, "test", profile="v1", limit=1)
    assert got == test_idx[:1] and got[0] not in train_indices(0)
    i = got[0]
    assert sorted(p.name for p in tmp_path.glob("*.nii.gz")) == [
        f"segmentation-{i}.nii.gz",
        f"volume-{i}.nii.gz",
    ]
    case = generate_case(case_seed(0, i), "full", profile="v1")
    hu = np.asarray(nib.load(tmp_path / f"volume-{i}.nii.gz").dataobj)
    labels = np.asarray(nib.load(tmp_path / f"segmentation-{i}.nii.gz").dataobj)
    assert np.array_equal(labels, case.labels)
    assert np.abs(hu.astype(float) - np.round(case.volume.array)).max() <= 1


def test_training_reproducible_and_resumable(tmp_path):
    a = train(_cfg(4), out=tmp_path / "a.pt", show_progress=False)
    b = train(_cfg(4), out=tmp_path / "b.pt", show_progress=False)  # same seed, fresh run
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]
    wa, wb = _weights(tmp_path / "a.pt"), _weights(tmp_path / "b.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # 2 steps, then resume to 4: same final history as the uninterrupted run
    train(_cfg(2), out=tmp_path / "c.pt", show_progress=False)
    c = train(_cfg(4), resume=True, out=tmp_path / "c.pt", show_progress=False)
    assert [h["loss"] for h in c["history"]] == [h["loss"] for h in a["history"]]
    assert c["steps"] == 4 and a["train_cases"] == 2 and a["val_cases"] == 1


def test_exported_weights_segment(tmp_path):
    from livseg.phantom import case_seed, generate_case

    train(_cfg(2), out=tmp_path / "w.pt", show_progress=False)
    method = UNet2DMethod(weights=tmp_path / "w.pt", device="cpu", threads=1)
    vol = generate_case(case_seed(0, 0), "small").volume
    labels, ran = method.run(vol)
    assert labels.shape == vol.shape and labels.dtype == np.uint8
    assert ran.params["network"] == TINY_2D


def test_bad_training_configs():
    with pytest.raises(ValueError, match="unknown network method"):
        TrainConfig(method="classical")
    with pytest.raises(ValueError, match="n_val"):
        TrainConfig(method="unet2d", n_cases=4, n_val=4)
    with pytest.raises(ValueError, match="p_tumour"):
        TrainConfig(method="unet2d", p_tumour=0.8, p_liver=0.5)
