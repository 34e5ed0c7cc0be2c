"""ICC(A,1) of the crossed random-effects model for incomplete reader designs: equal to the
two-way ANOVA ICC(A,1) on complete data; Henderson III variances checked against statsmodels'
sequential sums of squares with the closed-form expectation coefficients (0/1 cells:
c_reader = N - targets, c_target = N - readers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.stats.anova import anova_lm

from livseg.report.results import compute_results
from livseg.stats.crossed_icc import crossed_icc
from livseg.stats.design import StatsInputError


def _scores(n_targets=24, n_readers=4, seed=1, keep=1.0, reader_shift=0.35) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(n_targets):
        level = rng.normal(0, 1)
        for r in range(n_readers):
            shift = reader_shift * (r - 1.5)
            score = np.clip(np.round(3 + level + shift + rng.normal(0, 0.7)), 1, 5)
            rows.append({"case": f"c{t:02d}", "method": "m", "reader": f"r{r}", "score": score})
    df = pd.DataFrame(rows)
    if keep < 1:
        df = df.sample(frac=keep, random_state=seed).sort_index()
    return df.reset_index(drop=True)


def _hand_icc_a1(df: pd.DataFrame) -> float:
    x = df.pivot(index="case", columns="reader", values="score").to_numpy(float)
    n, k = x.shape
    g = x.mean()
    msr = k * ((x.mean(axis=1) - g) ** 2).sum() / (n - 1)
    msc = n * ((x.mean(axis=0) - g) ** 2).sum() / (k - 1)
    sse = ((x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + g) ** 2).sum()
    mse = sse / ((n - 1) * (k - 1))
    return (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)


@pytest.mark.parametrize("reader_shift", [0.35, 0.0])
def test_complete_design_gives_the_two_way_anova_icc_a1(reader_shift):
    """Also when the reader variance estimate is negative (no reader effect: MS_readers <
    MS_error), where clipping it to 0 would give ICC(C,1) instead."""
    df = _scores(reader_shift=reader_shift)
    res = crossed_icc(df)
    if reader_shift == 0.0:
        assert res["var_reader"] < 0
    assert res["value"] == pytest.approx(_hand_icc_a1(df), abs=1e-12)
    assert res["ci_low"] < res["value"] < res["ci_high"]
    assert res["n_scores"] == 96 and res["n_targets"] == 24 and res["n_readers"] == 4


def test_incomplete_design_matches_henderson_iii_from_statsmodels():
    df = _scores(keep=0.7, seed=4)
    res = crossed_icc(df)
    d = df.assign(t=df["case"], y=df["score"])
    tr = anova_lm(smf.ols("y ~ C(t) + C(reader)", d).fit(), typ=1)
    rt = anova_lm(smf.ols("y ~ C(reader) + C(t)", d).fit(), typ=1)
    s2_e = tr.loc["Residual", "sum_sq"] / tr.loc["Residual", "df"]
    n, n_t, n_r = len(d), d["t"].nunique(), d["reader"].nunique()
    s2_r = (tr.loc["C(reader)", "sum_sq"] - tr.loc["C(reader)", "df"] * s2_e) / (n - n_t)
    s2_t = (rt.loc["C(t)", "sum_sq"] - rt.loc["C(t)", "df"] * s2_e) / (n - n_r)
    assert res["var_resid"] == pytest.approx(s2_e, rel=1e-9)
    assert res["var_reader"] == pytest.approx(s2_r, rel=1e-9)
    assert res["var_target"] == pytest.approx(s2_t, rel=1e-9)
    want = s2_t / (s2_t + s2_r + s2_e)
    assert res["value"] == pytest.approx(want, abs=1e-12)
    assert res == crossed_icc(df)  # seeded bootstrap: reproducible


def test_subset_design_gets_a_crossed_icc_where_the_complete_targets_are_none():
    """4 readers x 2 of 4 cases (the connected design of db.studies): no target is scored
    by every reader, so the classic ICC is not computable, the crossed one is."""
    sets = [{0, 1}, {2, 3}, {0, 2}, {1, 3}]
    full = _scores(n_targets=4, n_readers=4, seed=9)
    keep = [
        int(c[1:]) in sets[int(r[1:])] for c, r in zip(full["case"], full["reader"], strict=True)
    ]
    sub = full[keep]
    nc: dict[str, str] = {}
    metrics = pd.DataFrame({"case": [f"c{t:02d}" for t in range(4)], "method": "m",
                            "DSC": [0.8, 0.7, 0.9, 0.85]})  # fmt: skip
    res = compute_results(metrics, sub, ordinal_models=False, not_computable=nc)
    assert "icc/all" in nc and "icc/all/ICC2/value" not in res
    assert res["icc_crossed/all/n_scores"] == 8
    assert res["icc_crossed/all/value"] == pytest.approx(crossed_icc(sub)["value"])
    # readers {0,1}, {2,3} only: two groups that share no case
    apart = full[[int(c[1:]) in ({0, 1} if r in ("r0", "r1") else {2, 3})
                  for c, r in zip(full["case"], full["reader"], strict=True)]]  # fmt: skip
    nc2: dict[str, str] = {}
    res2 = compute_results(metrics, apart, ordinal_models=False, not_computable=nc2)
    assert "icc_crossed/all/value" not in res2
    assert "2 groups that share no item" in nc2["icc_crossed/all"]


def test_too_little_or_constant_data_is_refused():
    with pytest.raises(StatsInputError, match="2 readers"):
        crossed_icc(_scores(n_readers=1))
    flat = _scores().assign(score=3.0)
    with pytest.raises(StatsInputError, match="identical"):
        crossed_icc(flat)
