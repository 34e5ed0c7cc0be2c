"""Model cards: the protocol's one test evaluation lands in the card of the weights evaluated."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from livseg.methods.network_method import WEIGHTS_DIR
from livseg.model_card import add_test_evaluation, card_paths


def _stats(mean, sd, n):
    return {"mean": mean, "sd": sd, "n": n}


def _evaluation():
    liver = {
        "dsc": _stats(0.9612, 0.0123, 30),
        "jaccard": _stats(0.9254, 0.02, 30),
        "hd95_mm": _stats(3.21, 1.0, 30),
        "hd_mm": _stats(25.0, 9.5, 30),
        "volume_error_pct": _stats(-1.25, 2.0, 30),
        "median_seconds": 2.5,
    }
    tumour = {**liver, "dsc": _stats(0.7011, 0.2, 30), "hd95_mm": _stats(14.0, 9.0, 28)}
    return {
        "date_utc": "2026-12-02T18:00:00Z",
        "command": "python bench/test_split.py --write-cards",
        "profiles": {"v2": {"cases": 30, "liver": liver, "tumour": tumour}},
    }


@pytest.fixture
def weights(tmp_path):
    src = WEIGHTS_DIR / "unet2d.pt"
    dest = tmp_path / "unet2d.pt"
    shutil.copy(src, dest)
    for path in card_paths(src):
        shutil.copy(path, tmp_path / path.name)
    return dest


def test_test_evaluation_lands_once_in_the_card_of_the_evaluated_weights(weights):
    version = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]  # independent of the card
    md, js = add_test_evaluation(weights, version, _evaluation())
    card = json.loads(js.read_text())
    assert card["test_evaluation"]["profiles"]["v2"]["tumour"]["dsc"]["mean"] == 0.7011
    text = md.read_text()
    section = text.split("## Test evaluation", 1)[1]
    assert "| v2 | 30 | liver | 0.961 ± 0.012 |" in section
    assert "| v2 | 30 | tumour | 0.701 ± 0.200 |" in section
    assert "14.0 ± 9.0 (n=28)" in section  # fewer finite HD95 than cases is shown
    assert "## Validation history" in text  # the rest of the card is kept
    with pytest.raises(ValueError, match="already holds a test evaluation"):
        add_test_evaluation(weights, version, _evaluation())


def test_figures_of_other_weights_are_refused(weights):
    _, js = card_paths(weights)
    before = js.read_text()
    with pytest.raises(ValueError, match="the evaluation is of 000000000000"):
        add_test_evaluation(weights, "000000000000", _evaluation())
    assert js.read_text() == before


def test_bench_test_split_writes_each_networks_figures_into_its_card(weights, monkeypatch):
    import sys
    from pathlib import Path

    import livseg.methods.network_method as network_method

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import test_split

    monkeypatch.setattr(network_method, "WEIGHTS_DIR", weights.parent)
    version = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    ev = _evaluation()["profiles"]["v2"]
    summary = [
        {"method": m, "structure": s, "cases": 30, **ev[s]}
        for m in ("classical", "unet2d")
        for s in ("liver", "tumour")
    ]
    profile = {"cases": 30, "versions": {"classical": "1", "unet2d": version}, "summary": summary}
    report = {"smoke_run": False, "date_utc": "2026-12-02T18:00:00Z", "profiles": {"v1": profile}}
    test_split.write_cards(report, "python bench/test_split.py --write-cards")
    card = json.loads(card_paths(weights)[1].read_text())
    got = card["test_evaluation"]["profiles"]["v1"]
    assert got["liver"]["dsc"]["mean"] == 0.9612 and got["tumour"]["dsc"]["mean"] == 0.7011
    with pytest.raises(SystemExit, match="protocol run"):
        test_split.write_cards({**report, "smoke_run": True}, "x")
