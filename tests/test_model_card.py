"""Model cards: the protocol's one test evaluation lands in the card of the weights evaluated."""

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
    assert card["test_evaluation"]["profiles"]["v2"]["tumour"]["dsc"]["mean"] == 0.7011
    text = md.read_text()
    section = text.split("## Test evaluation", 1)[1]
    assert "| v2 | 30 | liver | 0.961 ± 0.012 |" in section
    assert "| v2 | 30 | tumour | 0.701 ± 0.200 |" in section
    assert "14.0 ± 9.0 (n=28)" in section  # fewer finite HD95 than cases is shown
    assert "## Validation history" in text  # the rest of the card is kept
    with pytest.raises(ValueError, match="already holds a test evaluation"):
        add_test_evaluation(weights, version, sample_evaluation())


def test_figures_of_other_weights_are_refused(weights):
    _, js = card_paths(weights)
    before = js.read_text()
    with pytest.raises(ValueError, match="the evaluation is of 000000000000"):
        add_test_evaluation(weights, "000000000000", sample_evaluation())
    assert js.read_text() == before
