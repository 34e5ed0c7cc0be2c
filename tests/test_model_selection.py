"""Model selection of a training run (``--select-window``): the checkpoint ending the best
run of N validations by their mean liver + tumour DSC; pandas' rolling mean is the reference."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from livseg.training import selection_scores, train
from tests.training_support import tiny_config


def _reference(history: list[dict], window: int, sources: tuple[str, ...] = ()) -> pd.Series:
    frame = pd.DataFrame(history)
    if sources:
        single = sum(frame[f"{s}_liver_dsc"] + frame[f"{s}_tumour_dsc"] for s in sources)
        single = single / len(sources)
    else:
        single = frame["liver_dsc"] + frame["tumour_dsc"]
    return single.rolling(window, min_periods=1).mean()


@pytest.mark.parametrize("window", [1, 2, 3, 5])
def test_selection_scores_are_the_trailing_mean_of_liver_plus_tumour(window):
    rng = np.random.default_rng(window)
    history = [
        {"step": 10 * (i + 1), "liver_dsc": rng.random(), "tumour_dsc": rng.random()}
        for i in range(9)
    ]
    got = selection_scores(history, ["phantom"] * 4, window)
    np.testing.assert_allclose(got, _reference(history, window).to_numpy(), rtol=1e-12)


def test_selection_scores_average_the_sources_first():
    rng = np.random.default_rng(7)
    history = [
        {
            "step": i,
            **{f"{s}_{k}": rng.random() for s in ("real", "phantom") for k in ("liver_dsc", "tumour_dsc")},
        }
        for i in range(6)
    ]  # fmt: skip
    got = selection_scores(history, ["real", "phantom", "real"], 3)
    want = _reference(history, 3, ("real", "phantom")).to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_run_ships_the_checkpoint_ending_its_best_window(tmp_path):
    summary = train(
        tiny_config(6, val_every=1, select_window=3), out=tmp_path / "w.pt", show_progress=False
    )
    history = summary["history"]
    assert [h["step"] for h in history] == [1, 2, 3, 4, 5, 6]
    scores = _reference(history, 3)
    assert summary["best_step"] == history[int(scores.to_numpy().argmax())]["step"]
    card = json.loads((tmp_path / "w.card.json").read_text())
    assert card["recipe"]["select_window"] == 3
    assert "end of the best 3 validations in a row" in (tmp_path / "w.md").read_text()


def _rewrite_history(last, dsc: list[float]) -> None:
    ck = torch.load(last, weights_only=False)
    for entry, value in zip(ck["history"], dsc, strict=True):
        entry["liver_dsc"] = entry["tumour_dsc"] = value
    torch.save(ck, last)


def test_a_resumed_run_changes_its_window_only_from_its_best_checkpoint(tmp_path):
    kept = tmp_path / "kept"
    train(tiny_config(2, val_every=1), out=tmp_path / "a.pt", show_progress=False,
          checkpoint_dir=kept)  # fmt: skip
    # under a 3-validation window the later validation is the best: the run may change rule
    _rewrite_history(kept / "last.pt", [0.1, 0.9])
    model = torch.load(kept / "last.pt", weights_only=False)["model"]
    s = train(tiny_config(3, val_every=1, select_window=3), resume=True, out=tmp_path / "a.pt",
              show_progress=False, checkpoint_dir=kept)  # fmt: skip
    [note] = s["notes"]
    assert note["at_step"] == 2 and "model selection changed" in note["note"]
    # step 3's own validation: the run ships the end of the best window (reference: pandas)
    assert [h["liver_dsc"] for h in s["history"][:2]] == [0.1, 0.9]
    assert (
        s["best_step"] == s["history"][int(_reference(s["history"], 3).to_numpy().argmax())]["step"]
    )
    if s["best_step"] == 2:  # best.pt was replaced by the model resumed from
        best = torch.load(kept / "best.pt", weights_only=False)
        assert all(torch.equal(best["model"][k], model[k]) for k in model)

    # another run whose best under the new rule is a checkpoint it did not keep: refused
    other = tmp_path / "other"
    train(tiny_config(2, val_every=1), out=tmp_path / "b.pt", show_progress=False,
          checkpoint_dir=other)  # fmt: skip
    _rewrite_history(other / "last.pt", [0.9, 0.1])
    with pytest.raises(ValueError, match="best checkpoint so far is step 1"):
        train(tiny_config(3, val_every=1, select_window=3), resume=True, out=tmp_path / "b.pt",
              show_progress=False, checkpoint_dir=other)  # fmt: skip
