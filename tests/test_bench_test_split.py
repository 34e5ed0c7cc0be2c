"""bench/test_split.py (protocol step 7): the per-network card figures and the lesion table."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

import livseg.methods.network_method as network_method
from livseg.model_card import card_paths
from tests.card_support import copy_shipped_weights, sample_evaluation

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import test_split  # noqa: E402


@pytest.fixture
def weights(tmp_path):
    return copy_shipped_weights(tmp_path)


def test_bench_test_split_writes_each_networks_figures_into_its_card(weights, monkeypatch):
    monkeypatch.setattr(network_method, "WEIGHTS_DIR", weights.parent)
    version = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    ev = sample_evaluation()["profiles"]["v2"]
    summary = [
        {"method": m, "structure": s, "cases": 30, **ev[s]}
        for m in ("classical", "unet2d")
        for s in ("liver", "tumour")
    ]
    profile = {"cases": 30, "versions": {"classical": "1", "unet2d": version}, "summary": summary}
    report = {
        "smoke_run": False,
        "data_seed": 1,
        "date_utc": "2026-12-02T18:00:00Z",
        "profiles": {"v1": profile},
    }
    test_split.write_cards(report, "python bench/test_split.py --write-cards --data-seed 1")
    card = json.loads(card_paths(weights)[1].read_text())
    [evaluation] = card["test_evaluations"]
    assert evaluation["data_seed"] == 1
    got = evaluation["profiles"]["v1"]
    assert got["liver"]["dsc"]["mean"] == 0.9612 and got["tumour"]["dsc"]["mean"] == 0.7011
    with pytest.raises(SystemExit, match="protocol run"):
        test_split.write_cards({**report, "smoke_run": True}, "x")


def test_lesion_summary_sums_reference_missed_and_false_positive_lesions_per_size():
    def row(case, method, structure, n):
        r = {"case_id": case, "method": method, "structure": structure}
        for col in ("lesions", "lesions_lt2cm", "lesions_2to5cm", "lesions_gt5cm"):
            for k, v in (("reference", n), ("missed", n - 1), ("false_positive", 2)):
                r[f"{col}_{k}"] = v if structure == "tumour" else float("nan")
        return r

    rows = pd.DataFrame(
        [
            row(c, m, s, n)
            for c, n in ((1, 3), (2, 5))
            for m in ("a", "b")
            for s in ("liver", "tumour")
        ]
    )
    got = test_split.lesion_summary(rows)
    assert set(got) == {"a", "b"}
    assert got["a"]["all"] == {"reference": 8, "missed": 6, "false_positive": 4}
    assert got["b"]["<2 cm"] == {"reference": 8, "missed": 6, "false_positive": 4}


def test_the_test_cases_are_those_of_the_data_seed_asked(tmp_path):
    """--data-seed 1 writes the test split of data seed 1 (reference: livseg.phantom's split
    and case seeds, read back from the files)."""
    import nibabel as nib
    import numpy as np

    from livseg.phantom import case_seed, generate_case, split_assignment

    indices = test_split.write_cases(tmp_path, "v1", "test", 1, data_seed=1)
    want = [i for i, s in enumerate(split_assignment(150, 1)) if s == "test"][:1]
    assert indices == want
    labels = np.asarray(nib.load(tmp_path / f"segmentation-{want[0]}.nii.gz").dataobj)
    assert np.array_equal(labels, generate_case(case_seed(1, want[0]), "full", profile="v1").labels)
    assert test_split.results_path(0).name == "test_split.json"
    assert test_split.results_path(1).name == "test_split_seed1.json"
