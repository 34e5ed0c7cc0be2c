"""livseg.stats model families against the reference values: lmm (lme4 / lmerTest),
clm (ordinal::clm / statsmodels), clmm (ordinal::clmm, Laplace)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from livseg.stats import mixed, ordinal
from livseg.stats.design import StatsInputError

# a copy of the project's stats reference (tests/data/stats/README.md)
REF_DIR = Path(__file__).resolve().parent / "data" / "stats"
REF = json.loads((REF_DIR / "reference.json").read_text())["tests"]
# lmerTest's Satterthwaite F / ddf carry lme4's optimiser error (the exact balanced-design
# values are F = MS_method / MS_resid and ddf = 325): compare at a relative 1e-7.
RELATIVE = {
    "lmm/scores_case_reader/F_method_satterthwaite",
    "lmm/scores_case_reader/ddf_method_satterthwaite",
}


def ref_keys(prefix: str) -> set[str]:
    return {k for k in REF if k.startswith(prefix)}


def assert_ref(key: str, value: float, tol: float | None = None) -> None:
    rec = REF[key]
    ref = rec["value"]
    if key in RELATIVE:
        assert abs(value - ref) <= 1e-7 * abs(ref), f"{key}: got {value!r}, reference {ref!r}"
        return
    tol = tol if tol is not None else max(1e-6, rec.get("tolerance", 0.0))
    assert (math.isnan(ref) and math.isnan(value)) or abs(value - ref) <= tol, (
        f"{key}: got {value!r}, reference {ref!r} (tol {tol})"
    )


@pytest.fixture(scope="module")
def metrics() -> pd.DataFrame:
    return pd.read_csv(REF_DIR / "data" / "case_metrics.csv")


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    return pd.read_csv(REF_DIR / "data" / "reader_scores.csv")


def lmm_keys(prefix: str, fit: dict, with_tests: bool) -> dict[str, float]:
    out = {f"{prefix}/beta/{k}": v for k, v in fit["beta"].items()}
    out.update({f"{prefix}/var_{k}": v for k, v in fit["var"].items()})
    out[f"{prefix}/var_resid"] = fit["var_resid"]
    if not with_tests:
        out.update({f"{prefix}/se/{k}": v for k, v in fit["se"].items()})
    else:
        out[f"{prefix}/F_method_satterthwaite"] = fit["F_method"]
        out[f"{prefix}/ddf_method_satterthwaite"] = fit["ddf_method"]
        out[f"{prefix}/p_method_satterthwaite"] = fit["p_method"]
        out[f"{prefix}/p_method_kenward_roger"] = fit["p_method"]
    return out


def test_lmm_closed_form_matches_reference(metrics, scores):
    a = mixed.fit_lmm(metrics, "DSC", ("case",), fit="auto")
    b = mixed.fit_lmm(scores, "score", ("case", "reader"), fit="auto")
    assert a["fit"] == b["fit"] == "anova"
    got = lmm_keys("lmm/DSC_case", a, False) | lmm_keys("lmm/scores_case_reader", b, True)
    assert set(got) == ref_keys("lmm/")
    for key, value in got.items():
        assert_ref(key, value)


def test_lmm_statsmodels_matches_reference_at_its_tolerance(metrics, scores):
    """statsmodels MixedLM (crossed effects as variance components of one group)."""
    a = mixed.fit_lmm(metrics, "DSC", ("case",), fit="statsmodels")
    b = mixed.fit_lmm(scores, "score", ("case", "reader"), fit="statsmodels")
    got = lmm_keys("lmm/DSC_case", a, False) | lmm_keys("lmm/scores_case_reader", b, False)
    for key, value in got.items():
        if key in REF:
            assert_ref(key, value)
    # the Wald F from statsmodels' covariance is within 1e-5 relative of lmerTest's
    f_ref = REF["lmm/scores_case_reader/F_method_satterthwaite"]["value"]
    assert abs(b["F_method"] - f_ref) < 1e-5 * f_ref


def test_lmm_unbalanced_falls_back_to_statsmodels(metrics):
    sub = metrics.drop(index=[0, 5]).reset_index(drop=True)
    fit = mixed.fit_lmm(sub, "DSC", ("case",), fit="auto")
    assert fit["fit"] == "statsmodels"
    with pytest.raises(StatsInputError, match="balanced"):
        mixed.fit_lmm(sub, "DSC", ("case",), fit="anova")


def test_clm_and_clmm_match_reference(scores):
    c = ordinal.clm(scores)
    got = {f"clm/scores/beta/{k}": v for k, v in c["beta"].items()}
    got.update({f"clm/scores/theta/{k}": v for k, v in c["theta"].items()})
    got["clm/scores/logLik"] = c["logLik"]
    cm = ordinal.clmm(scores, ("case", "reader"), start=c)
    p = "clmm/scores_case_reader"
    got.update({f"{p}/beta/{k}": v for k, v in cm["beta"].items()})
    got.update({f"{p}/sd_{k}": v for k, v in cm["sd"].items()})
    got[f"{p}/LR_method"] = cm["LR_method"]
    got[f"{p}/p_method"] = cm["p_method"]
    assert set(got) == ref_keys("clm/") | ref_keys("clmm/")
    for key, value in got.items():
        assert_ref(key, value)


def test_clm_needs_three_levels():
    s = pd.DataFrame(
        {
            "case": list("abcd"),
            "method": ["X", "X", "Y", "Y"],
            "reader": ["R"] * 4,
            "score": [4, 5, 4, 5],
        }
    )
    with pytest.raises(StatsInputError, match="3 distinct"):
        ordinal.clm(s)


def test_lmm_closed_form_by_hand():
    # y = case effect + method effect, no noise except one cell -> hand-computable ANOVA
    df = pd.DataFrame(
        {
            "case": ["a", "a", "b", "b", "c", "c"],
            "method": ["X", "Y"] * 3,
            "v": [1.0, 2.0, 3.0, 4.5, 5.0, 5.5],
        }
    )
    fit = mixed.fit_lmm(df, "v", ("case",), fit="anova")
    assert fit["beta"]["Y"] == pytest.approx(1.0)  # mean(Y) - mean(X) = 4 - 3
    # residuals of the additive model: d = (1, 1.5, 0.5) -> SS_res = sum((d-1)^2)/2 = 0.25
    assert fit["var_resid"] == pytest.approx(0.25 / 2)
    assert np.isfinite(fit["p_method"])
