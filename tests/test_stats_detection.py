"""livseg.stats detection family (paired lesions) against the reference values:
cochran_q, mcnemar, proportion; plus Bland-Altman by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from livseg.stats import bland_altman, contingency, detection
from livseg.stats.design import StatsInputError
from tests.stats_reference import REF_DIR, assert_ref, ref_keys


@pytest.fixture(scope="module")
def lesions() -> pd.DataFrame:
    return pd.read_csv(REF_DIR / "data" / "lesions.csv")


def test_cochran_mcnemar_proportions_match_reference(lesions):
    mat = detection.detection_matrix(lesions)
    got = {
        f"cochran_q/lesions/{q}": v for q, v in detection.cochran_q(mat).items() if q in ("Q", "p")
    }
    for pair, r in detection.mcnemar_pairs(mat).items():
        got.update({f"mcnemar/{pair}/{q}": v for q, v in r.items()})
    counts = contingency.detection_counts(lesions)
    for m, r in detection.detection_rates(counts).items():
        got.update(
            {
                f"proportion/{m}/{q}": r[q]
                for q in (
                    "rate",
                    "clopper_pearson_low",
                    "clopper_pearson_high",
                    "wilson_low",
                    "wilson_high",
                )
            }
        )
    expected = ref_keys("cochran_q/") | ref_keys("mcnemar/") | ref_keys("proportion/")
    assert set(got) == expected
    for key, value in got.items():
        assert_ref(key, value)


def test_mcnemar_by_hand():
    mat = pd.DataFrame({"A": [1, 1, 1, 0, 1], "B": [0, 0, 1, 1, 1]})
    r = detection.mcnemar_pairs(mat)["A_vs_B"]
    assert (r["b_A_only"], r["c_B_only"]) == (2.0, 1.0)
    assert r["X2"] == pytest.approx(1 / 3)
    assert r["p_exact"] == pytest.approx(1.0)  # binomial: P(X<=1 or X>=2 | n=3) = 1


def test_unpaired_lesion_lists_are_refused(lesions):
    broken = lesions[~((lesions.lesion == "L01") & (lesions.method == "UNet"))]
    with pytest.raises(StatsInputError, match="not listed for every method"):
        detection.detection_matrix(broken)
    bad = lesions.copy()
    bad.loc[0, "detected"] = 2
    with pytest.raises(StatsInputError, match="only 0 or 1"):
        detection.detection_matrix(bad)


def test_bland_altman_by_hand():
    pred = np.array([10.0, 12.0, 9.0, 15.0])
    ref = np.array([9.0, 11.0, 10.0, 12.0])  # d = 1, 1, -1, 3: mean 1, sd sqrt(8/3)
    r = bland_altman.bland_altman(pred, ref)
    sd = math.sqrt(8 / 3)
    assert r["bias"] == pytest.approx(1.0) and r["sd_diff"] == pytest.approx(sd)
    assert r["loa_low"] == pytest.approx(1 - 1.959963984540054 * sd)
    assert r["loa_high"] == pytest.approx(1 + 1.959963984540054 * sd)
    with pytest.raises(StatsInputError, match="finite"):
        bland_altman.bland_altman(np.array([1.0, np.inf]), np.array([1.0, 2.0]))
    vols = pd.DataFrame(
        {"case": ["a", "b"], "method": ["X", "X"], "pred_ml": [1.0, -2.0], "ref_ml": [1.0, 2.0]}
    )
    with pytest.raises(StatsInputError, match="negative volume"):
        bland_altman.bland_altman_by_method(vols)
