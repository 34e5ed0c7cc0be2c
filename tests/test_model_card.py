"""Model cards: the protocol's test evaluation lands in the card of the weights evaluated,
once per test split (data seed)."""

from __future__ import annotations

import hashlib
import json

import pytest

from livseg.model_card import add_test_evaluation, card_paths
from tests.card_support import copy_shipped_weights, sample_evaluation


@pytest.fixture
def weights(tmp_path):
    return copy_shipped_weights(tmp_path)


def test_test_evaluation_lands_once_in_the_card_of_the_evaluated_weights(weights):
    version = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]  # independent of the card
    md, js = add_test_evaluation(weights, version, sample_evaluation())
    card = json.loads(js.read_text())
    [evaluation] = card["test_evaluations"]
    assert evaluation["data_seed"] == 0
    assert evaluation["profiles"]["v2"]["tumour"]["dsc"]["mean"] == 0.7011
    text = md.read_text()
    section = text.split("## Test evaluation", 1)[1]
    assert "| v2 | 30 | liver | 0.961 ± 0.012 |" in section
    assert "| v2 | 30 | tumour | 0.701 ± 0.200 |" in section
    assert "14.0 ± 9.0 (n=28)" in section  # fewer finite HD95 than cases is shown
    assert "## Validation history" in text  # the rest of the card is kept
    with pytest.raises(ValueError, match="already holds the test evaluation of data seed 0"):
        add_test_evaluation(weights, version, sample_evaluation())


def test_a_second_test_split_lands_beside_the_first(weights):
    version = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    add_test_evaluation(weights, version, sample_evaluation())
    second = sample_evaluation(data_seed=1, tumour_dsc=0.6522)
    md, js = add_test_evaluation(weights, version, second)
    card = json.loads(js.read_text())
    assert [e["data_seed"] for e in card["test_evaluations"]] == [0, 1]
    section = md.read_text().split("## Test evaluation", 1)[1]
    first, later = section.split("data seed 1", 1)
    assert "data seed 0" in first and "| v2 | 30 | tumour | 0.701 ± 0.200 |" in first
    assert "| v2 | 30 | tumour | 0.652 ± 0.200 |" in later
    with pytest.raises(ValueError, match="data seed 1"):
        add_test_evaluation(weights, version, second)


def test_a_card_of_the_first_protocol_run_reads_as_data_seed_0(weights):
    """The cards written before test_evaluations existed hold one ``test_evaluation`` (the
    test splits of data seed 0): it is kept, and seed 0 is refused again."""
    version = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    md, js = card_paths(weights)
    card = json.loads(js.read_text())
    legacy = sample_evaluation()
    legacy.pop("data_seed")
    js.write_text(json.dumps({**card, "test_evaluation": legacy}))
    with pytest.raises(ValueError, match="data seed 0"):
        add_test_evaluation(weights, version, sample_evaluation())
    add_test_evaluation(weights, version, sample_evaluation(data_seed=1))
    card = json.loads(js.read_text())
    assert "test_evaluation" not in card
    assert [e["data_seed"] for e in card["test_evaluations"]] == [0, 1]
    assert card["test_evaluations"][0]["profiles"] == legacy["profiles"]


def test_figures_of_other_weights_are_refused(weights):
    _, js = card_paths(weights)
    before = js.read_text()
    with pytest.raises(ValueError, match="the evaluation is of 000000000000"):
        add_test_evaluation(weights, "000000000000", sample_evaluation())
    assert js.read_text() == before


def test_a_zoom_rule_change_keeps_the_tensors_and_moves_the_card_to_the_new_version(tmp_path):
    import torch

    from livseg.cli import main
    from livseg.methods.attention_unet import AttentionUNetMethod
    from livseg.phantom import generate_case

    weights = copy_shipped_weights(tmp_path, "attention_unet")
    before = torch.load(weights, map_location="cpu", weights_only=True)
    if before.get("zoom", {}).get("rule") in (None, "one_pass"):
        before["zoom"] = {"margin_mm": 8.0, "rule": "union"}  # a shipped file already changed
        torch.save(before, weights)
        js = card_paths(weights)[1]
        card = json.loads(js.read_text())
        card["weights_sha256_12"] = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
        card.pop("rule_changes", None)
        card["zoom"] = {**card["zoom"], "rule": "union"}
        card["zoom"].pop("validation_rule", None)
        js.write_text(json.dumps(card))
    old = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    add_test_evaluation(weights, old, sample_evaluation(data_seed=6, tumour_dsc=0.4781))
    assert main(["zoom-rule", str(weights), "one_pass", "--note", "for the 3 s limit"]) == 0
    after = torch.load(weights, map_location="cpu", weights_only=True)
    assert after["zoom"]["rule"] == "one_pass" and after["zoom"]["validation_rule"] == "union"
    assert after["state_dict"].keys() == before["state_dict"].keys()
    assert all(torch.equal(after["state_dict"][k], v) for k, v in before["state_dict"].items())
    new = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    md, js = card_paths(weights)
    card = json.loads(js.read_text())
    assert new != old and card["weights_sha256_12"] == new
    [change] = card["rule_changes"]
    assert (change["from_version"], change["to_version"]) == (old, new)
    assert change["test_evaluations"][0]["data_seed"] == 6 and card["test_evaluations"] == []
    text = md.read_text()
    assert "Rule chosen: **union**" in text and "Rule in use: **one_pass**" in text
    assert f"replaced version `{old}`" in text and "0.478 ± 0.200" in text
    assert "for the 3 s limit" in card["notes"][-1]["note"]
    add_test_evaluation(weights, new, sample_evaluation(data_seed=6))  # the new version's own
    # the changed weights run one pass: no box of a second pass in the run's record
    case = generate_case(3, "small", profile="v2")
    _, ran = AttentionUNetMethod(weights=weights, device="cpu", threads=1).run(case.volume)
    assert ran.version == new and ran.params["zoom"] is None and "zoom_box" not in ran.params
    # the same rule again, an empty note, weights without a second pass: refused, file kept
    assert main(["zoom-rule", str(weights), "one_pass", "--note", "again"]) == 2
    with pytest.raises(ValueError, match="note"):
        from livseg.model_card import set_zoom_rule

        set_zoom_rule(weights, "union", "  ")
    assert hashlib.sha256(weights.read_bytes()).hexdigest()[:12] == new
    (tmp_path / "u3").mkdir()
    plain = copy_shipped_weights(tmp_path / "u3", "unet3d")
    with pytest.raises(ValueError, match="no second pass"):
        set_zoom_rule(plain, "union", "a note")
