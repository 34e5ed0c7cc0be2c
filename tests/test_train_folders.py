"""``python -m livseg train --cases DIR``: real labelled folders (LiTS, MSD Task03, nnU-Net
raw) with their own split, phantom mixing, resume across sessions, and the model card."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from livseg.cli import main as cli_main
from livseg.phantom import write_dataset
from livseg.training import TrainConfig, train
from livseg.training_data import split_cases
from livseg.workspace import workspace_dir
from tests.training_support import TINY_2D, tiny_config

TINY_3D = {**TINY_2D, "spatial_dims": 3}


@pytest.fixture(scope="module")
def lits_dir(tmp_path_factory):
    """Five tiny phantom cases in LiTS layout (volume-N / segmentation-N)."""
    folder = tmp_path_factory.mktemp("lits")
    write_dataset(folder, 5, seed=2, size="small")
    (folder / "manifest.json").unlink()  # a plain LiTS folder, as a site has it
    return folder


def _msd_copy(lits, dest, nnunet: bool = False):
    (dest / "imagesTr").mkdir(parents=True)
    (dest / "labelsTr").mkdir()
    for i in range(5):
        name = f"liver_{i}_0000.nii.gz" if nnunet else f"liver_{i}.nii.gz"
        shutil.copy(lits / f"volume-{i}.nii.gz", dest / "imagesTr" / name)
        shutil.copy(lits / f"segmentation-{i}.nii.gz", dest / "labelsTr" / f"liver_{i}.nii.gz")
    return dest


def _cfg(cases, steps, **kw) -> TrainConfig:
    return tiny_config(steps, **{"crop_2d": 48, "batch_size": 2, "cases_dir": str(cases), **kw})


def test_split_cases_is_seeded_disjoint_and_complete():
    ids = [f"c{i}" for i in range(20)]
    a = split_cases(ids, seed=1)
    assert a == split_cases(list(reversed(ids)), seed=1)  # listing order does not matter
    assert a != split_cases(ids, seed=2)
    assert (len(a["test"]), len(a["val"]), len(a["train"])) == (4, 3, 13)
    parts = [set(a[k]) for k in ("train", "val", "test")]
    assert set().union(*parts) == set(ids) and sum(len(p) for p in parts) == 20
    small = split_cases(["a", "b"], seed=0)
    assert len(small["train"]) == 1 and len(small["val"]) == 1 and small["test"] == []
    with pytest.raises(ValueError, match="at least 2"):
        split_cases(["a"], seed=0)


def test_cli_trains_on_a_lits_folder_and_writes_the_card(lits_dir, tmp_path, capsys):
    out = tmp_path / "w.pt"
    code = cli_main(
        ["train", "--method", "unet2d", "--cases", str(lits_dir), "--steps", "2",
         "--val-every", "1", "--size", "small", "--n-cases", "3", "--n-val", "1",
         "--crop", "32", "--bn-batches", "1", "--threads", "1", "--batch-size", "2",
         "--out", str(out), "--quiet", "--note", "smoke test"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    from livseg.methods.unet2d import UNet2DMethod

    ckpt = torch.load(out, map_location="cpu", weights_only=True)
    assert ckpt["grid"] == [256, 256] and ckpt["training"]["steps"] == 2
    method = UNet2DMethod(weights=out, device="cpu", threads=1)
    assert method.net is not None
    card = json.loads((tmp_path / "w.card.json").read_text())
    md = (tmp_path / "w.md").read_text()
    split = card["data"]["real"]["split"]
    ids = {str(i) for i in range(5)}  # LiTS case ids are the N of volume-N
    assert set(split["train"]) | set(split["val"]) | set(split["test"]) == ids
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (3, 1, 1)
    assert card["data"]["real"]["layout"] == "lits" and "phantom" not in card["data"]
    assert card["steps"] == 2 and len(card["history"]) == 2
    assert card["sessions"][0]["command"].startswith("python -m livseg train --method unet2d")
    assert "--cases" in card["sessions"][0]["command"]
    assert card["notes"] == [{"at_step": 0, "note": "smoke test"}]
    assert "python -m livseg train" in md and "smoke test" in md and split["test"][0] in md
    # the test case was never loaded: only train + validation cases are cached
    cached = sorted((workspace_dir() / "cache" / "real-g256").glob("*_img.npy"))
    assert len(cached) == 4


def test_resume_with_phantom_mixing_equals_one_run(lits_dir, tmp_path):
    kw = dict(phantom_fraction=0.5, phantom_profile="v2")
    a = train(_cfg(lits_dir, 4, **kw), out=tmp_path / "a.pt", show_progress=False)
    assert a["data"]["phantom"]["profile"] == "v2" and "real" in a["data"]
    assert {"real_liver_dsc", "phantom_liver_dsc"} <= set(a["history"][-1])
    train(_cfg(lits_dir, 2, **kw), out=tmp_path / "c.pt", show_progress=False)
    c = train(_cfg(lits_dir, 4, **kw), resume=True, out=tmp_path / "c.pt", show_progress=False)
    assert [h["loss"] for h in c["history"]] == [h["loss"] for h in a["history"]]
    wa = torch.load(tmp_path / "a.pt", weights_only=True)["state_dict"]
    wc = torch.load(tmp_path / "c.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(wa[k], wc[k]) for k in wa)
    card = json.loads((tmp_path / "c.card.json").read_text())
    assert [(s["from_step"], s["to_step"]) for s in card["sessions"]] == [(0, 2), (2, 4)]
    # another configuration cannot resume this run
    with pytest.raises(ValueError, match="phantom_fraction"):
        train(_cfg(lits_dir, 6, phantom_fraction=0.2), resume=True, show_progress=False)


def test_checkpoint_dir_carried_to_a_fresh_workspace_resumes_as_one_run(lits_dir, tmp_path):
    """A run that spans fresh checkouts: its checkpoints live in --checkpoint-dir (kept in
    git), not in the workspace, and resuming from a copy equals one uninterrupted run."""
    one = train(_cfg(lits_dir, 4), out=tmp_path / "one.pt", show_progress=False)
    kept = tmp_path / "kept"
    train(_cfg(lits_dir, 2), out=tmp_path / "two.pt", show_progress=False, checkpoint_dir=kept)
    assert {"last.pt", "best.pt"} <= {p.name for p in kept.iterdir()}
    carried = tmp_path / "fresh-clone" / "kept"
    shutil.copytree(kept, carried)
    shutil.rmtree(kept)  # the old checkout is gone
    two = train(
        _cfg(lits_dir, 4),
        resume=True,
        out=tmp_path / "two.pt",
        show_progress=False,
        checkpoint_dir=carried,
    )
    assert two["sessions"][0]["from_step"] == 0 and two["sessions"][-1]["from_step"] == 2
    assert [h["loss"] for h in two["history"]] == [h["loss"] for h in one["history"]]
    wa = torch.load(tmp_path / "one.pt", weights_only=True)["state_dict"]
    wb = torch.load(tmp_path / "two.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_phantom_fraction_draws_that_share_of_samples(lits_dir):
    from livseg.training import assemble_data

    data = assemble_data(_cfg(lits_dir, 1, phantom_fraction=0.25))
    n_real = len(data.description["real"]["split"]["train"])
    assert data.weights is not None and data.weights.sum() == pytest.approx(1.0)
    assert data.weights[n_real:].sum() == pytest.approx(0.25)
    rng = np.random.default_rng(0)
    picks = rng.choice(len(data.weights), size=4000, p=data.weights)
    assert np.mean(picks >= n_real) == pytest.approx(0.25, abs=0.03)


@pytest.mark.parametrize("nnunet", [False, True])
def test_msd_and_nnunet_layouts_train(lits_dir, tmp_path, nnunet):
    folder = _msd_copy(lits_dir, tmp_path / "task", nnunet=nnunet)
    s = train(_cfg(folder, 1, augment=False), out=tmp_path / "w.pt", show_progress=False)
    real = s["data"]["real"]
    assert real["layout"] == "msd"
    ids = set(real["split"]["train"]) | set(real["split"]["val"]) | set(real["split"]["test"])
    assert ids == {f"liver_{i}" for i in range(5)}


def test_3d_network_trains_on_a_folder(lits_dir, tmp_path):
    cfg = _cfg(lits_dir, 1, method="unet3d", network=dict(TINY_3D), patch_3d=(32, 32, 8))
    s = train(cfg, out=tmp_path / "w3.pt", show_progress=False)
    assert s["steps"] == 1 and 0.0 <= s["val_liver_dsc"] <= 1.0


def test_checkpoint_from_before_the_new_fields_resumes_only_with_their_old_values(tmp_path):
    cfg = dict(
        method="unet2d", steps=2, n_cases=3, n_val=1, val_every=2, size="small",
        network=dict(TINY_2D), crop_2d=32, bn_batches=1, threads=1,
    )  # fmt: skip
    train(TrainConfig(**cfg, augment=False, phantom_profile="v1"), show_progress=False,
          out=tmp_path / "o.pt")  # fmt: skip
    last = workspace_dir() / "training" / "unet2d" / "last.pt"
    ck = torch.load(last, weights_only=False)
    for k in ("augment", "phantom_profile", "cases_dir", "phantom_fraction", "amp"):
        ck["config"].pop(k)
    torch.save(ck, last)
    with pytest.raises(ValueError, match="augment"):
        train(TrainConfig(**{**cfg, "steps": 4}), resume=True, show_progress=False,
              out=tmp_path / "n.pt")  # fmt: skip
    s = train(TrainConfig(**{**cfg, "steps": 4}, augment=False, phantom_profile="v1"),
              resume=True, show_progress=False, out=tmp_path / "o.pt")  # fmt: skip
    assert s["steps"] == 4


def test_folder_without_labels_is_a_clear_error(tmp_path):
    folder = tmp_path / "nolabels"
    folder.mkdir()
    write_dataset(folder, 2, seed=0, size="small")
    for p in folder.glob("segmentation-*"):
        p.unlink()
    with pytest.raises(ValueError, match="no case with a label map"):
        train(_cfg(folder, 1), show_progress=False, out=tmp_path / "x.pt")
    with pytest.raises(ValueError, match="phantom_fraction"):
        _cfg(folder, 1, phantom_fraction=1.5)


def test_device_cuda_trains_with_mixed_precision_or_says_why_not(lits_dir, tmp_path, capsys):
    args = ["train", "--method", "unet2d", "--cases", str(lits_dir), "--steps", "1",
            "--val-every", "1", "--size", "small", "--n-cases", "3", "--n-val", "1",
            "--crop", "32", "--bn-batches", "1", "--batch-size", "2", "--device", "cuda",
            "--out", str(tmp_path / "g.pt"), "--quiet"]  # fmt: skip
    code = cli_main(args)
    if torch.cuda.is_available():  # a GPU machine: autocast + GradScaler run for real
        assert code == 0
        card = json.loads((tmp_path / "g.card.json").read_text())
        assert card["sessions"][0]["device"].startswith("cuda") and card["recipe"]["amp"]
        w = torch.load(tmp_path / "g.pt", weights_only=True)["state_dict"]
        assert all(v.dtype == torch.float32 for v in w.values() if v.is_floating_point())
    else:
        assert code == 2 and "no CUDA GPU" in capsys.readouterr().err
        assert not (tmp_path / "g.pt").exists()


def test_dicom_series_with_dicom_seg_labels_train(tmp_path):
    """LiTS layout kept as DICOM: volume-N/ series folders + segmentation-N.dcm (DICOM-SEG)."""
    from pathlib import Path

    from livseg import io
    from livseg.dicom.seg import write_segmentation

    src = Path(__file__).parent / "data" / "abdomen-ct-dicom"
    folder = tmp_path / "dicom-lits"
    for i in range(2):
        shutil.copytree(src / "series", folder / f"volume-{i}")
        vol = io.load_volume(folder / f"volume-{i}")
        mask = io.load_labels(src / "liver-mask.nii.gz", like=vol)
        write_segmentation(mask, vol, folder / f"segmentation-{i}.dcm", "reference", "1")
    s = train(_cfg(folder, 1, augment=False), out=tmp_path / "d.pt", show_progress=False)
    real = s["data"]["real"]
    assert real["n_labelled"] == 2 and real["split"]["test"] == []
    assert s["val_cases"] == 1 and 0.0 <= s["val_liver_dsc"] <= 1.0


def test_box_views_with_a_lits_folder_and_phantom_mixing(lits_dir, tmp_path):
    """--p-zoom on a labelled folder mixed with phantoms: box views of both sources, each
    validated as its own source, and the rule chosen on the folder's and the phantoms'
    validation cases; the folder's test case is still never loaded."""
    kw = dict(phantom_fraction=0.4, phantom_profile="v2", p_zoom=0.5)
    s = train(_cfg(lits_dir, 2, **kw), out=tmp_path / "z.pt", show_progress=False)
    h = s["history"][-1]
    for src in ("real", "real-box", "phantom", "phantom-box"):
        assert f"{src}_liver_dsc" in h
    assert s["zoom"]["n_cases"] == 1 + 1  # one real and one phantom validation case
    cached = sorted(p.name for p in (workspace_dir() / "cache" / "real-g256").glob("*_img.npy"))
    assert len(cached) == 8 and sum("_box_" in n for n in cached) == 4  # 4 cases x 2 views
