"""livseg.stats paired family against the reference values: rm_anova, paired_t, wilcoxon,
padjust, friedman, tost_paired, power."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from livseg.stats import design, paired, power
from tests.stats_reference import REF_DIR, assert_ref, ref_keys

OUTCOMES = ["DSC", "JI", "HD_mm", "time_s", "VER_pct", "satisfaction"]


@pytest.fixture(scope="module")
def wide() -> dict[str, pd.DataFrame]:
    met = pd.read_csv(REF_DIR / "data" / "case_metrics.csv")
    sat = design.satisfaction(pd.read_csv(REF_DIR / "data" / "reader_scores.csv"))
    table = met.merge(sat, on=["case", "method"])
    return {v: design.paired_wide(table, v) for v in OUTCOMES}


def test_rm_anova_and_friedman_match_reference(wide):
    got = {}
    for v, w in wide.items():
        r = paired.rm_anova(w)
        got.update(
            {f"rm_anova/{v}/{q}": r[q] for q in ("F", "p", "eps_GG", "p_GG", "eps_HF", "p_HF")}
        )
        f = paired.friedman(w)
        got.update({f"friedman/{v}/{q}": f[q] for q in ("Q", "p", "kendall_W")})
    assert set(got) == ref_keys("rm_anova/") | ref_keys("friedman/")
    for key, value in got.items():
        assert_ref(key, value)


def test_paired_t_wilcoxon_and_adjustment_match_reference(wide):
    got = {}
    for v, w in wide.items():
        res = paired.pairwise_paired(w)
        for pair, r in res["paired_t"].items():
            got.update(
                {f"paired_t/{v}/{pair}/{q}": r[q] for q in ("t", "p", "cohen_dz", "cohen_d_av")}
            )
        for pair, r in res["wilcoxon"].items():
            for q in ("V", "n_nonzero", "p_normal", "p_normal_cc", "ties_or_zeros", "p_exact"):
                if q == "p_exact" and math.isnan(r[q]):  # only defined without ties / zeros
                    assert r["ties_or_zeros"] == 1.0
                    continue
                got[f"wilcoxon/{v}/{pair}/{q}"] = r[q]
        for name in ("paired_t_holm", "paired_t_BH", "paired_t_bonferroni"):
            for pair, p in res["padjust"][name].items():
                got[f"padjust/{v}/{name}/{pair}"] = p
    expected = ref_keys("paired_t/") | ref_keys("wilcoxon/") | ref_keys("padjust/")
    assert set(got) == expected
    for key, value in got.items():
        assert_ref(key, value)


def test_paired_t_ci_by_hand():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([0.0, 0.0, 1.0, 1.0])
    r = paired.paired_t(a, b)  # d = 1, 2, 2, 3: mean 2, sd sqrt(2/3)
    half = 3.182446305284263 * math.sqrt(2 / 3) / 2  # t(0.975, 3) * sd / sqrt(n)
    assert r["mean_diff"] == pytest.approx(2.0)
    assert r["ci_low"] == pytest.approx(2.0 - half) and r["ci_high"] == pytest.approx(2 + half)
    assert r["cohen_dz"] == pytest.approx(2.0 / math.sqrt(2 / 3))


def test_wilcoxon_rounding_option_merges_float_ties():
    a = np.array([19.2, 8.3, 5.0, 7.1])
    b = np.array([15.2, 4.3, 1.5, 2.0])  # 4.0, 4.0 (in exact arithmetic), 3.5, 5.1
    raw = paired.wilcoxon_signed_rank(a, b)
    rounded = paired.wilcoxon_signed_rank(a, b, decimals=9)
    assert raw["ties_or_zeros"] == 0.0  # 3.9999999999999982 vs 4.000000000000001, as R
    assert rounded["ties_or_zeros"] == 1.0 and math.isnan(rounded["p_exact"])
    assert raw["V"] == 10.0 and rounded["V"] == 10.0


def test_holm_by_hand():
    got = paired.p_adjust({"a": 0.01, "b": 0.04, "c": 0.03}, "holm")
    assert got == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})
    with pytest.raises(design.StatsInputError, match="unknown p adjustment"):
        paired.p_adjust({"a": 0.1}, "sidak")


def test_tost_matches_reference(wide):
    w = wide["DSC"]
    got = {}
    for a, b in design.method_pairs(list(w.columns)):
        r = paired.tost_paired(w[a].to_numpy(), w[b].to_numpy(), 0.02)
        got.update(
            {
                f"tost_paired/DSC/margin0.02/{a}_vs_{b}/{q}": r[q]
                for q in ("p", "p_lower", "p_upper")
            }
        )
    assert set(got) == ref_keys("tost_paired/")
    for key, value in got.items():
        assert_ref(key, value)


def test_power_matches_reference():
    got = {}
    for delta, sd in ((0.01, 0.02), (0.01, 0.03), (0.3, 0.6)):
        key = f"power/paired_t/delta{delta:g}_sd{sd:g}"
        got[f"{key}/power_at_n30"] = power.paired_t_power(30, delta, sd)
        got[f"{key}/n_for_power0.8"] = power.paired_t_sample_size(delta, sd)
        got[f"{key}/n_for_power0.8_one_tail_approx"] = power.paired_t_sample_size(
            delta, sd, both_tails=False
        )
    assert set(got) == ref_keys("power/")
    for key, value in got.items():
        assert_ref(key, value)


def test_paired_wide_refuses_duplicates():
    df = pd.DataFrame({"case": ["a", "a", "b"], "method": ["X", "X", "X"], "DSC": [1, 2, 3]})
    with pytest.raises(design.StatsInputError, match="more than one row"):
        design.paired_wide(df, "DSC")
