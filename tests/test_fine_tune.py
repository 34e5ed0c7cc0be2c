"""Fine-tuning from shipped weights (``--init-weights``) and lesion-by-lesion tumour sampling
(``--tumour-sampling lesion``): scipy's connected components and hashlib are the references."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from scipy import ndimage

from livseg.cli import main as cli_main
from livseg.training import TrainConfig, train
from livseg.training_data import Sampler
from tests.training_support import TINY_2D, tiny_config


def _lesion_case() -> tuple[np.ndarray, np.ndarray]:
    """(Z, X, Y) image + labels: liver with one 4000-voxel lesion and three of 1, 8 and 27."""
    lab = np.zeros((12, 64, 64), np.uint8)
    lab[:, 5:60, 5:60] = 1
    lab[1:11, 10:30, 10:30] = 2  # 10 x 20 x 20 = 4000 voxels
    lab[5, 40, 40] = 2
    lab[4:6, 45:47, 50:52] = 2
    lab[7:10, 52:55, 20:23] = 2
    img = np.where(lab > 0, 0.6, 0.2).astype(np.float16)
    return img, lab


def _centres(mode: str, n: int) -> list[tuple[int, int, int]]:
    cfg = TrainConfig(method="unet2d", p_tumour=1.0, p_liver=0.0, tumour_sampling=mode)
    sampler = Sampler([_lesion_case()], cfg, np.random.default_rng(3))
    return [sampler._centre(0) for _ in range(n)]


def test_lesion_sampling_draws_every_lesion_equally_often():
    _, lab = _lesion_case()
    comp, n = ndimage.label(lab == 2)
    assert n == 4
    hits = np.bincount([comp[c] for c in _centres("lesion", 4000)], minlength=n + 1)
    assert hits[0] == 0  # every centre is a tumour voxel
    # binomial(4000, 1/4): SD 27; 5 SD either side
    assert all(abs(h - 1000) < 140 for h in hits[1:]), hits


def test_voxel_sampling_is_dominated_by_the_large_lesion():
    _, lab = _lesion_case()
    comp, _ = ndimage.label(lab == 2)
    big = np.argmax(np.bincount(comp.ravel())[1:]) + 1
    hits = [comp[c] for c in _centres("voxel", 2000)]
    assert min(hits) >= 1 and np.mean(np.equal(hits, big)) > 0.97


def test_unknown_tumour_sampling_is_refused():
    with pytest.raises(ValueError, match="tumour_sampling"):
        TrainConfig(method="unet2d", tumour_sampling="largest")


def _conv_weights(path) -> dict:
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if "running" not in k and "num_batches" not in k}


def test_a_fine_tune_starts_from_the_file_and_validates_it_first(tmp_path):
    start = tmp_path / "start.pt"
    train(tiny_config(2), out=start, show_progress=False, note="the first run")
    # lr 0: Adam leaves every weight where it started, so the shipped weights are the file's
    s = train(
        tiny_config(2, lr=0.0, init_weights=start, seed=5),
        out=tmp_path / "ft.pt",
        show_progress=False,
        checkpoint_dir=tmp_path / "ck",
    )
    assert [h["step"] for h in s["history"]] == [0, 2] and s["history"][0]["loss"] is None
    a, b = _conv_weights(start), _conv_weights(tmp_path / "ft.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # without the file, the same seed starts elsewhere
    c = train(tiny_config(2, lr=0.0, seed=5), out=tmp_path / "r.pt", show_progress=False)
    assert c["history"][0]["step"] == 2
    r = _conv_weights(tmp_path / "r.pt")
    assert not all(torch.equal(a[k], r[k]) for k in a)
    card = json.loads((tmp_path / "ft.card.json").read_text())
    sha = hashlib.sha256(start.read_bytes()).hexdigest()[:12]
    assert card["started_from"]["sha256_12"] == sha
    assert card["started_from"]["card"]["notes"] == [{"at_step": 0, "note": "the first run"}]
    md = (tmp_path / "ft.md").read_text()
    assert "## Started from" in md and sha in md and "the first run" in md
    assert "| 0 | (start) |" in md


def test_the_starting_weights_are_validated_as_they_are(tmp_path):
    start = tmp_path / "start.pt"
    first = train(tiny_config(4, bn_batches=1), out=start, show_progress=False)
    # bn_batches differs on purpose: re-estimating BatchNorm at step 0 would change the figure
    s = train(tiny_config(2, init_weights=start, bn_batches=3), out=tmp_path / "ft.pt",
              show_progress=False, checkpoint_dir=tmp_path / "ck")  # fmt: skip
    step0 = s["history"][0]
    assert step0["liver_dsc"] == pytest.approx(first["val_liver_dsc"], abs=1e-4)
    assert step0["tumour_dsc"] == pytest.approx(first["val_tumour_dsc"], abs=1e-4)
    assert 0.0 < first["val_liver_dsc"]


def test_a_fine_tune_resumes_as_one_run(tmp_path):
    start = tmp_path / "start.pt"
    train(tiny_config(2), out=start, show_progress=False)
    cfg = dict(init_weights=start, tumour_sampling="lesion", p_tumour=0.9, p_liver=0.0)
    one = train(tiny_config(4, **cfg), out=tmp_path / "a.pt", show_progress=False,
                checkpoint_dir=tmp_path / "a")  # fmt: skip
    train(tiny_config(2, **cfg), out=tmp_path / "b.pt", show_progress=False,
          checkpoint_dir=tmp_path / "b")  # fmt: skip
    two = train(tiny_config(4, **cfg), resume=True, out=tmp_path / "b.pt", show_progress=False,
                checkpoint_dir=tmp_path / "b")  # fmt: skip
    assert [h["loss"] for h in two["history"]] == [h["loss"] for h in one["history"]]
    assert [h["step"] for h in two["history"]] == [0, 2, 4]
    assert two["started_from"] == one["started_from"]
    card = json.loads((tmp_path / "b.card.json").read_text())
    assert card["recipe"]["tumour_sampling"] == "lesion"
    with pytest.raises(ValueError, match="tumour_sampling"):  # the recipe may not change
        train(tiny_config(6, init_weights=start, p_tumour=0.9, p_liver=0.0), resume=True,
              out=tmp_path / "b.pt", show_progress=False, checkpoint_dir=tmp_path / "b")  # fmt: skip


def test_bad_initial_weights_are_clear_errors_naming_the_file(tmp_path):
    start = tmp_path / "unet2d-start.pt"
    train(tiny_config(2), out=start, show_progress=False)
    other = dict(TINY_2D, channels=[8, 16])
    with pytest.raises(ValueError, match=r"unet2d-start\.pt: holds a unet2d network"):
        train(tiny_config(2, network=other, init_weights=start), out=tmp_path / "x.pt",
              show_progress=False)  # fmt: skip
    with pytest.raises(ValueError, match=r"missing\.pt: no such weights file"):
        train(tiny_config(2, init_weights=tmp_path / "missing.pt"), out=tmp_path / "x.pt",
              show_progress=False)  # fmt: skip
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file at all")
    with pytest.raises(ValueError, match=r"junk\.pt: not a readable LivSeg weights file"):
        train(tiny_config(2, init_weights=junk), out=tmp_path / "x.pt", show_progress=False)
    assert not (tmp_path / "x.pt").exists()


def test_cli_fine_tune_options_reach_the_card(tmp_path, capsys):
    small = dict(network={}, crop_2d=32, batch_size=2, bn_batches=1, steps=1, val_every=1)
    start = tmp_path / "start.pt"  # the default unet2d network, one step
    train(tiny_config(**small), out=start, show_progress=False)
    out = tmp_path / "w.pt"
    args = ["train", "--method", "unet2d", "--steps", "1", "--val-every", "1", "--size",
            "small", "--n-cases", "3", "--n-val", "1", "--crop", "32", "--batch-size", "2",
            "--bn-batches", "1", "--threads", "1", "--out", str(out), "--quiet",
            "--tumour-sampling", "lesion", "--init-weights", str(start),
            "--checkpoint-dir", str(tmp_path / "ck")]  # fmt: skip
    assert cli_main(args) == 0, capsys.readouterr().err
    card = json.loads((tmp_path / "w.card.json").read_text())
    assert card["recipe"]["tumour_sampling"] == "lesion"
    assert card["started_from"]["sha256_12"] == hashlib.sha256(start.read_bytes()).hexdigest()[:12]
    assert "--init-weights" in card["sessions"][0]["command"]
    assert [h["step"] for h in card["history"]] == [0, 1]
    # a file of another network configuration: the CLI's error names it, writes nothing
    tiny = tmp_path / "tiny.pt"
    train(tiny_config(1, val_every=1), out=tiny, show_progress=False)
    args[args.index(str(start))] = str(tiny)
    args[args.index(str(out))] = str(tmp_path / "x.pt")
    assert cli_main(args) == 2 and "tiny.pt: holds a unet2d network" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_the_new_card_lists_the_starting_weights_test_evaluations(tmp_path):
    from livseg.model_card import add_test_evaluation
    from tests.card_support import sample_evaluation

    start = tmp_path / "start.pt"
    train(tiny_config(2), out=start, show_progress=False)
    version = hashlib.sha256(start.read_bytes()).hexdigest()[:12]
    add_test_evaluation(start, version, sample_evaluation(data_seed=1, tumour_dsc=0.4321))
    train(tiny_config(2, init_weights=start), out=tmp_path / "ft.pt", show_progress=False,
          checkpoint_dir=tmp_path / "ck")  # fmt: skip
    card = json.loads((tmp_path / "ft.card.json").read_text())
    assert card.get("test_evaluations", []) == []  # the fine-tune's own: none yet
    md = (tmp_path / "ft.md").read_text()
    assert "its test evaluation on data seed 1 (seen before this run)" in md
    assert "v2 liver 0.961 / tumour 0.432" in md
