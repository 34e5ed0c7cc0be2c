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
