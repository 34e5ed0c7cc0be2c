"""livseg.stats one-way family (what the paper ran) against the R / scipy / statsmodels
reference values: oneway, welch_anova, lsd, tukey, kruskal, chisq, chisq_2x2, fisher."""

from __future__ import annotations

import pandas as pd
import pytest

from livseg.stats import contingency, design, marks, oneway
from tests.stats_reference import REF_DIR, assert_ref, ref_keys

OUTCOMES = ["DSC", "JI", "HD_mm", "time_s", "VER_pct", "satisfaction"]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    met = pd.read_csv(REF_DIR / "data" / "case_metrics.csv")
    sat = design.satisfaction(pd.read_csv(REF_DIR / "data" / "reader_scores.csv"))
    return met.merge(sat, on=["case", "method"])


@pytest.fixture(scope="module")
def counts() -> pd.DataFrame:
    return contingency.detection_counts(pd.read_csv(REF_DIR / "data" / "lesions.csv"))


def test_oneway_welch_kruskal_match_reference(table):
    got = {}
    for v in OUTCOMES:
        a = oneway.oneway_anova(table, v)
        got.update({f"oneway/{v}/{q}": a[q] for q in ("F", "MSE", "p")})
        w = oneway.welch_anova(table, v)
        got.update({f"welch_anova/{v}/{q}": w[q] for q in ("F", "df2", "p")})
        k = oneway.kruskal_wallis(table, v)
        got.update({f"kruskal/{v}/{q}": k[q] for q in ("H", "p")})
    expected = ref_keys("oneway/") | ref_keys("welch_anova/") | ref_keys("kruskal/")
    assert set(got) == expected
    for key, value in got.items():
        assert_ref(key, value)


def test_fisher_lsd_and_tukey_match_reference(table):
    got = {}
    for v in OUTCOMES:
        for pair, r in oneway.fisher_lsd(table, v).items():
            got[f"lsd/{v}/{pair}/t"] = r["t"]
            got[f"lsd/{v}/{pair}/p"] = r["p"]
        for pair, r in oneway.tukey_hsd(table, v).items():
            got[f"tukey/{v}/{pair}/p"] = r["p"]
    assert set(got) == ref_keys("lsd/") | ref_keys("tukey/")
    for key, value in got.items():
        assert_ref(key, value)


def test_lsd_is_not_separate_two_sample_t(table):
    """LSD pools the MSE of all four groups (df = N - k = 116), unlike a two-sample t."""
    from scipy import stats

    g = design.groups(table, "DSC")
    two_sample = stats.ttest_ind(g["UNet"], g["UNet3D"]).pvalue
    lsd = oneway.fisher_lsd(table, "DSC")["UNet_vs_UNet3D"]
    assert lsd["df"] == 116
    assert abs(lsd["p"] - two_sample) > 1e-4


def test_studentized_range_matches_scipy():
    from scipy import stats

    for k, df in ((2, 5), (4, 116), (6, 30)):
        for q in (0.5, 2.0, 3.7, 6.0):
            assert (
                abs(oneway.studentized_range_sf(q, k, df)[0] - stats.studentized_range.sf(q, k, df))
                < 1e-10
            )


def test_chi_square_fisher_match_reference(counts):
    got = {f"chisq/lesions_4x2/{q}": v for q, v in contingency.chi_square(counts).items()}
    for pair, r in contingency.chi_square_pairs(counts).items():
        got.update({f"chisq_2x2/{pair}/{q}": v for q, v in r.items()})
    for pair, r in contingency.fisher_pairs(counts).items():
        got.update({f"fisher/{pair}/{q}": v for q, v in r.items()})
    assert set(got) == ref_keys("chisq/") | ref_keys("chisq_2x2/") | ref_keys("fisher/")
    for key, value in got.items():
        assert_ref(key, value)


def test_counts_match_the_shipped_count_table(counts):
    ref = pd.read_csv(REF_DIR / "data" / "lesion_counts.csv").set_index("method")
    assert (counts[["detected", "missed"]] == ref[["detected", "missed"]]).all().all()


def test_significance_marks_by_hand():
    p = {"A_vs_C": 0.01, "B_vs_C": 0.2, "A_vs_B": 0.04, "B_vs_A": 0.9}
    got = marks.significance_marks(p, ["A", "B", "C"], control="C", reference="B", alpha=0.05)
    assert got == {"A": "*#", "B": "", "C": ""}
    assert marks.significance_marks(p, ["A", "B", "C"], "C", "B", alpha=0.005)["A"] == ""


def test_anova_from_summary_by_hand():
    # two groups, means 1 and 3, SD 1, n 2: SSB = 4, SSW = 2, F = 4 / (2 / 2) = 4
    r = oneway.anova_from_summary([1.0, 3.0], [1.0, 1.0], [2, 2])
    assert r["SSB"] == pytest.approx(4.0) and r["SSW"] == pytest.approx(2.0)
    assert r["F"] == pytest.approx(4.0) and r["df2"] == 2


def test_bad_input_is_reported(table):
    with pytest.raises(design.StatsInputError, match="missing column"):
        oneway.oneway_anova(table.drop(columns="DSC"), "DSC")
    bad = table.astype({"DSC": object})
    bad.loc[0, "DSC"] = "n/a"
    with pytest.raises(design.StatsInputError, match="non-numeric"):
        oneway.oneway_anova(bad, "DSC")
    with pytest.raises(design.StatsInputError, match="need >= 2"):
        oneway.oneway_anova(table[(table.method != "UNet") | (table.case == "C01")], "DSC")
    with pytest.raises(design.StatsInputError, match="all zero"):
        contingency.chi_square(
            pd.DataFrame({"detected": [0, 0], "missed": [3, 4]}, index=["A", "B"])
        )
