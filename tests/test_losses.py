"""livseg.losses: lesion weights known by construction; the loss against MONAI's DiceCELoss and
a NumPy cross-entropy; the option reaching a training run, its card and --resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from monai.losses import DiceCELoss, DiceLoss

from livseg.cli import main as cli_main
from livseg.losses import LesionWeightedDiceCE, build_loss, lesion_weights
from livseg.training import TrainConfig, train
from tests.training_support import tiny_config


def _blocks_2d() -> np.ndarray:
    lab = np.ones((20, 20), dtype=np.uint8)  # liver everywhere
    lab[2:4, 2:4] = 2  # 4 voxels
    lab[10:15, 10:12] = 2  # 10 voxels
    lab[5, 5] = 2  # a 1-voxel lesion: (3, 3) and (5, 5) do not touch
    lab[18:20, 0:20] = 0
    return lab


def test_each_lesion_weighs_as_a_lesion_of_equal_voxels():
    lab = _blocks_2d()
    w = lesion_weights(lab, equal_voxels=20.0, max_weight=100.0)
    assert w[2, 2] == pytest.approx(20.0 / 4)
    assert w[5, 5] == pytest.approx(20.0)
    assert w[12, 11] == pytest.approx(20.0 / 10)
    assert (w[lab != 2] == 1.0).all()
    # total weight of each lesion = equal_voxels (none is capped here)
    assert w[2:4, 2:4].sum() == pytest.approx(20.0)
    assert w[10:15, 10:12].sum() == pytest.approx(20.0)


def test_corner_touching_voxels_are_one_lesion_and_the_cap_holds():
    lab = np.zeros((8, 8, 8), dtype=np.uint8)
    lab[1, 1, 1] = lab[2, 2, 2] = 2  # 26-connected: one lesion of 2 voxels
    lab[6, 6, 6] = 2  # a speck alone
    big = np.zeros_like(lab)
    w = lesion_weights(lab, equal_voxels=50.0, max_weight=10.0)
    assert w[1, 1, 1] == w[2, 2, 2] == pytest.approx(10.0)  # 25 capped at 10
    assert w[6, 6, 6] == pytest.approx(10.0)
    big[:, :, :] = 2  # 512 voxels > equal_voxels: weight 1, never below
    assert (lesion_weights(big, equal_voxels=50.0) == 1.0).all()
    assert (lesion_weights(np.zeros((4, 4)), 10.0) == 1.0).all()


def _ce_numpy(logits: np.ndarray, lab: np.ndarray, w: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    nll = -np.take_along_axis(logp, lab[:, None], axis=1)[:, 0]
    return float((nll * w).sum() / w.sum())


def test_the_loss_is_dice_plus_the_weighted_cross_entropy():
    rng = np.random.default_rng(3)
    lab = np.stack([_blocks_2d(), np.ones((20, 20), np.uint8)])
    logits = rng.normal(size=(2, 3, 20, 20)).astype(np.float32)
    x, y = torch.from_numpy(logits), torch.from_numpy(lab[:, None].astype(np.int64))
    loss = LesionWeightedDiceCE(2, equal_voxels=30.0, max_weight=20.0)(x, y)
    w = np.stack([lesion_weights(t, 30.0, 20.0) for t in lab])
    dice = float(DiceLoss(to_onehot_y=True, softmax=True, batch=True)(x, y))
    assert float(loss) == pytest.approx(dice + _ce_numpy(logits, lab.astype(np.int64), w), rel=1e-5)
    # without tumour every weight is 1: MONAI's DiceCELoss exactly
    plain = np.ones((2, 1, 20, 20), np.int64)
    yp = torch.from_numpy(plain)
    ref = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)(x, yp)
    assert float(LesionWeightedDiceCE(2)(x, yp)) == pytest.approx(float(ref), rel=1e-5)
    assert isinstance(build_loss("voxel", 2), DiceCELoss)
    with pytest.raises(ValueError, match="tumour_loss"):
        build_loss("focal", 2)
    with pytest.raises(ValueError, match="tumour_loss"):
        TrainConfig(method="unet2d", tumour_loss="focal")


def test_a_small_lesion_pulls_harder_with_lesion_weighting():
    lab = _blocks_2d()[None, None].astype(np.int64)
    pull = {}
    for kind in ("voxel", "lesion"):
        logits = torch.zeros((1, 3, 20, 20), requires_grad=True)
        build_loss(kind, 2)(logits, torch.from_numpy(lab)).backward()
        pull[kind] = float(-logits.grad[0, 2, 5, 5])  # towards tumour at the 1-voxel lesion
    assert pull["lesion"] > 5 * pull["voxel"] > 0


def test_tumour_loss_reaches_the_card_and_may_not_change_on_resume(tmp_path, capsys):
    out = tmp_path / "w.pt"
    args = ["train", "--method", "unet2d", "--steps", "2", "--val-every", "2", "--size",
            "small", "--n-cases", "3", "--n-val", "1", "--crop", "32", "--batch-size", "2",
            "--bn-batches", "1", "--threads", "1", "--out", str(out), "--quiet",
            "--tumour-loss", "lesion", "--checkpoint-dir", str(tmp_path / "ck")]  # fmt: skip
    assert cli_main(args) == 0, capsys.readouterr().err
    card = json.loads((tmp_path / "w.card.json").read_text())
    assert card["recipe"]["tumour_loss"] == "lesion"
    assert "--tumour-loss lesion" in card["sessions"][0]["command"]
    a = tmp_path / "a"
    train(tiny_config(2, tumour_loss="lesion"), out=tmp_path / "a.pt", show_progress=False,
          checkpoint_dir=a)  # fmt: skip
    with pytest.raises(ValueError, match="tumour_loss"):
        train(tiny_config(4), resume=True, out=tmp_path / "a.pt", show_progress=False,
              checkpoint_dir=a)  # fmt: skip
