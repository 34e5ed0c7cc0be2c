"""bench/validation_lesions.py: decision offsets by construction, the lesion join, and one
small validation case against scipy's components and the methods' own segment()."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from livseg.methods import get_method
from livseg.methods.network_method import logit_gaps_to_labels
from livseg.phantom import case_seed, generate_case

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "validation_lesions", ROOT / "bench" / "validation_lesions.py"
)
vl = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vl)


def test_offsets_move_the_decision_as_documented():
    # one slice of four pixels: (liver gap, tumour gap)
    pairs = [(0.5, -3.0), (2.0, 1.5), (-0.5, -0.2), (3.0, 3.5)]
    gaps = torch.tensor([[[[a for a, _ in pairs]], [[b for _, b in pairs]]]], dtype=torch.float32)
    gaps = gaps.permute(0, 1, 3, 2)  # (Z=1, 2, 4, 1)
    plain = logit_gaps_to_labels(gaps, (4, 1))[:, 0, 0].tolist()
    assert plain == [1, 1, 0, 2]
    more_tumour = logit_gaps_to_labels(vl.offset_gaps(gaps, 0.0, -1.0), (4, 1))[:, 0, 0]
    assert more_tumour.tolist() == [1, 2, 2, 2]  # 1.5 + 1 > 2.0; -0.2 + 1 > max(-0.5, 0)
    assert logit_gaps_to_labels(vl.offset_gaps(gaps, -1.0, 0.0), (4, 1))[:, 0, 0].tolist() == [
        1, 1, 2, 2]  # fmt: skip  # the third pixel joins the organ, as tumour (-0.2 > -0.5)
    assert logit_gaps_to_labels(vl.offset_gaps(gaps, 1.0, 0.0), (4, 1))[:, 0, 0].tolist() == [
        0, 1, 0, 2]  # fmt: skip
    assert torch.equal(vl.offset_gaps(gaps, 0.0, 0.0), gaps)


def test_join_refuses_lists_that_are_not_the_same_lesions():
    table = [{"lesion": 1, "diameter_mm": 6.2}, {"lesion": 2, "diameter_mm": 11.3}]
    drawn = [{"diameter_mm": 6.2, "kind": "hypodense", "contrast_hu": 22.0},
             {"diameter_mm": 11.33, "kind": "necrotic", "contrast_hu": 40.0}]  # fmt: skip
    assert [r["kind"] for r in vl.join_lesions(table, drawn)] == ["hypodense", "necrotic"]
    with pytest.raises(ValueError, match="2 lesions in the label map, 1 in the record"):
        vl.join_lesions(table, drawn[:1])
    with pytest.raises(ValueError, match="lesion 2: 11.30 mm"):
        vl.join_lesions(table, [drawn[0], {**drawn[1], "diameter_mm": 14.0}])


def test_one_small_case_against_scipy_and_segment(tmp_path):
    out = tmp_path / "v.json"
    assert vl.main(["--methods", "classical,unet2d", "--indices", "75", "--size", "small",
                    "--out", str(out)]) == 0  # fmt: skip
    rep = json.loads(out.read_text())
    case = generate_case(case_seed(0, 75), "small", profile="v2")
    comp, n = ndimage.label(case.labels == 2, structure=np.ones((3, 3, 3)))
    assert len(rep["lesions"]) == n
    for name in ("classical", "unet2d"):
        pred = get_method(name).segment(case.volume)
        hit = set(np.unique(comp[(pred == 2) & (comp > 0)]).tolist())
        detected = [le["detected"][name] for le in rep["lesions"]]
        # components in scan order, as scipy numbers them
        assert detected == [k in hit for k in range(1, n + 1)]
    pred = get_method("unet2d").segment(case.volume)
    ref = case.labels
    liver = 2 * np.sum((pred > 0) & (ref > 0)) / (np.sum(pred > 0) + np.sum(ref > 0))
    at_zero = rep["offset_sweep"]["unet2d"]["+0.0,+0.0"]
    assert at_zero["liver_dsc"] == pytest.approx(liver, abs=1e-4)
    assert set(rep["offset_sweep"]) == {"unet2d"}
