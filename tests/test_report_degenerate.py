"""build_report on degenerate inputs (issue 6 follow-up): what cannot be computed says
'not computable: <reason>' (tables, HTML, Excel, results.json) and never raises; what can be
computed still equals scipy / statsmodels / krippendorff values computed here from the same
data, or the reference fixtures. Genuine input errors still raise StatsInputError."""

from __future__ import annotations

import json
from pathlib import Path

import krippendorff
import numpy as np
import openpyxl
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.anova import AnovaRM
from statsmodels.stats.contingency_tables import mcnemar

from livseg.report import build_report
from livseg.stats.design import StatsInputError

# a copy of the project's stats reference (tests/data/stats/README.md)
REF_DIR = Path(__file__).resolve().parent / "data" / "stats"
DATA = REF_DIR / "data"
REF = json.loads((REF_DIR / "reference.json").read_text())["tests"]
NC = "not computable"


@pytest.fixture()
def met() -> pd.DataFrame:
    return pd.read_csv(DATA / "case_metrics.csv")


@pytest.fixture()
def scores() -> pd.DataFrame:
    return pd.read_csv(DATA / "reader_scores.csv")


def _build(tmp_path, metrics, scores=None, lesions=None, **kw):
    return build_report(metrics, scores, lesions, tmp_path, make_figures=False, **kw)


def _paired_row(res, outcome: str, pair: str) -> pd.Series:
    t = res.tables["Paired comparisons"]
    [row] = t[(t["Outcome"] == outcome) & (t["Pair (A − B)"] == pair)].to_dict("records")
    return pd.Series(row)


def _json(res) -> dict:
    return json.loads(res.results_path.read_text())


def test_nan_values_use_available_values_and_pair_complete_cases(tmp_path, met):
    """HD missing where a method found no tumour: descriptives and one-way tests on the
    available values (n shown), paired tests on the cases with both values, RM-ANOVA on
    the cases with every value."""
    met.loc[(met.method == "UNet3D") & met.case.isin(["C02", "C05", "C09"]), "HD_mm"] = np.nan
    met.loc[(met.method == "AttnUNet") & met.case.isin(["C05", "C11"]), "HD_mm"] = np.nan
    res = _build(tmp_path, met)
    r = res.results
    u3 = met.loc[met.method == "UNet3D", "HD_mm"].dropna()
    assert r["descriptive/HD_mm/UNet3D/n"] == 27
    assert r["descriptive/HD_mm/UNet3D/mean"] == pytest.approx(u3.mean(), abs=1e-12)
    assert res.tables["Table 1"].loc["UNet3D", "HD (mm)"].endswith("(n = 27)")
    groups = [met.loc[met.method == m, "HD_mm"].dropna() for m in pd.unique(met.method)]
    f_ref = stats.f_oneway(*groups)
    assert r["oneway/HD_mm/F"] == pytest.approx(f_ref.statistic, abs=1e-9)
    assert r["oneway/HD_mm/p"] == pytest.approx(f_ref.pvalue, abs=1e-12)
    assert r["kruskal/HD_mm/H"] == pytest.approx(stats.kruskal(*groups).statistic, abs=1e-9)
    wide = met.pivot(index="case", columns="method", values="HD_mm")
    both = wide[["UNet3D", "AttnUNet"]].dropna()
    t_ref = stats.ttest_rel(both["UNet3D"], both["AttnUNet"])
    assert r["paired_t/HD_mm/UNet3D_vs_AttnUNet/n"] == len(both) == 26
    assert r["paired_t/HD_mm/UNet3D_vs_AttnUNet/p"] == pytest.approx(t_ref.pvalue, abs=1e-12)
    w_ref = stats.wilcoxon(both["UNet3D"], both["AttnUNet"], correction=True, method="approx")
    w = r.get(
        "wilcoxon/HD_mm/UNet3D_vs_AttnUNet/p_exact",
        r["wilcoxon/HD_mm/UNet3D_vs_AttnUNet/p_normal_cc"],
    )
    if "wilcoxon/HD_mm/UNet3D_vs_AttnUNet/p_exact" in r:
        w_ref = stats.wilcoxon(both["UNet3D"], both["AttnUNet"], method="exact")
    assert w == pytest.approx(w_ref.pvalue, abs=1e-9)
    row = _paired_row(res, "HD (mm)", "UNet3D − AttnUNet")
    assert row["n"] == "26"
    assert row["P"] == ("<0.001" if t_ref.pvalue < 0.001 else f"{t_ref.pvalue:.3f}")
    # an untouched pair keeps the reference value (all 30 cases)
    key = "paired_t/HD_mm/UNet_vs_Control/p"
    assert r[key] == pytest.approx(REF[key]["value"], abs=1e-6)
    complete = wide.dropna()
    assert r["paired_n/HD_mm"] == len(complete) == 26
    long = complete.reset_index().melt(id_vars="case", var_name="method", value_name="HD_mm")
    rm = AnovaRM(long, "HD_mm", "case", within=["method"]).fit().anova_table
    assert r["rm_anova/HD_mm/F"] == pytest.approx(rm["F Value"].iloc[0], abs=1e-9)
    assert r["rm_anova/HD_mm/p"] == pytest.approx(rm["Pr > F"].iloc[0], abs=1e-12)
    assert not res.not_computable  # everything was computable


def test_method_with_one_value(tmp_path, met):
    keep = (met.method != "Control") | (met.case == "C01")
    met.loc[~keep, "DSC"] = np.nan
    res = _build(tmp_path, met)
    t1 = res.tables["Table 1"]
    one = met.loc[(met.method == "Control") & (met.case == "C01"), "DSC"].iloc[0]
    assert t1.loc["Control", "DSC"] == (f"{one:.3f} (SD not computable: only 1 value) (n = 1)")
    assert t1.loc["F", "DSC"] == "not computable: fewer than 2 values for Control (n = 1)"
    row = _paired_row(res, "DSC", "UNet − Control")
    assert (
        row["P"] == "not computable: fewer than 2 cases with values for both UNet and "
        "Control (n = 1)"
    )
    assert row["P (Holm)"].startswith(NC)
    om = res.tables["Omnibus tests"].set_index("Outcome")
    assert om.loc["DSC", "RM-ANOVA F"].startswith(
        "not computable: fewer than 2 cases with a value for every method (n = 1)"
    )
    # the other pairs: paired t on all 30 cases, Holm over the 3 computable pairs
    wide = met.pivot(index="case", columns="method", values="DSC")
    pairs = [("UNet", "UNet3D"), ("UNet", "AttnUNet"), ("UNet3D", "AttnUNet")]
    p = {f"{a}_vs_{b}": stats.ttest_rel(wide[a], wide[b]).pvalue for a, b in pairs}
    for pk, pv in p.items():
        assert res.results[f"paired_t/DSC/{pk}/p"] == pytest.approx(pv, abs=1e-12)
    order = sorted(p, key=p.get)
    holm = np.maximum.accumulate([min(1, p[k] * (3 - i)) for i, k in enumerate(order)])
    for k, h in zip(order, holm, strict=True):
        assert res.results[f"padjust/DSC/paired_t_holm/{k}"] == pytest.approx(h, abs=1e-12)
    # other outcomes unaffected: the reference values
    for key in ("lsd/JI/UNet_vs_Control/p", "rm_anova/HD_mm/p_GG", "tukey/JI/UNet_vs_AttnUNet/p"):
        assert res.results[key] == pytest.approx(REF[key]["value"], abs=1e-6)
    doc = _json(res)
    assert doc["not_computable"]["oneway/DSC"].startswith("fewer than 2 values for Control")
    assert "oneway/DSC/F" not in doc["results"]


def test_outcome_all_nan_for_one_method(tmp_path, met):
    met.loc[met.method == "AttnUNet", "VER_pct"] = np.nan
    res = _build(tmp_path, met)
    t2 = res.tables["Table 2"]
    assert t2.loc["AttnUNet", "Volume error (%)"] == "not computable: no values"
    assert t2.loc["P", "Volume error (%)"].startswith(NC + ": fewer than 2 values for AttnUNet")
    wide = met.pivot(index="case", columns="method", values="VER_pct")
    t_ref = stats.ttest_rel(wide["UNet"], wide["Control"])
    assert res.results["paired_t/VER_pct/UNet_vs_Control/t"] == pytest.approx(
        t_ref.statistic, abs=1e-9
    )
    assert _paired_row(res, "Volume error (%)", "UNet − AttnUNet")["Paired t"].startswith(NC)
    assert any("VER_pct" in n and "AttnUNet" in n for n in res.notes)


def test_constant_outcome(tmp_path, met):
    met["DSC"] = 0.9
    res = _build(tmp_path, met)
    t1 = res.tables["Table 1"]
    assert t1.loc["UNet", "DSC"] == "0.900 ± 0.000"
    assert t1.loc["F", "DSC"] == "not computable: no variation (all values are identical)"
    om = res.tables["Omnibus tests"].set_index("Outcome")
    assert om.loc["DSC", "Welch F (P)"] == "not computable: no variation (all values are identical)"
    assert om.loc["DSC", "Kruskal-Wallis H (P)"].startswith(NC)
    assert om.loc["DSC", "LMM F (P)"].startswith(NC)
    row = _paired_row(res, "DSC", "UNet − UNet3D")
    assert row["P"] == "not computable: all 30 differences are zero"
    assert row["Wilcoxon P"] == "not computable: all 30 differences are zero"
    for key in ("oneway/JI/F", "lsd/HD_mm/UNet_vs_AttnUNet/p", "friedman/time_s/Q"):
        assert res.results[key] == pytest.approx(REF[key]["value"], abs=1e-6)


def test_single_method(tmp_path, met, scores):
    one = met[met.method == "UNet"]
    sc = scores[scores.method == "UNet"]
    res = _build(tmp_path, one, sc)
    t1 = res.tables["Table 1"]
    assert t1.loc["UNet", "DSC"] == f"{one.DSC.mean():.3f} ± {one.DSC.std(ddof=1):.3f}"
    assert t1.loc["F", "DSC"] == "not computable: only one method: nothing to compare"
    assert res.tables["Paired comparisons"].empty  # one method: no pairs
    models = res.tables["Score models"].set_index("Term")
    assert models.loc["Method test", "LMM estimate (score points)"].startswith(NC)
    # agreement over the 30 UNet cases is computable: the reference values of 'UNet'
    for key in (
        "icc/UNet/ICC2/value",
        "icc/UNet/ICC3/ci_low",
        "fleiss_kappa/UNet/kappa",
        "kripp_alpha/UNet/ordinal",
    ):
        assert res.results[key] == pytest.approx(REF[key]["value"], abs=1e-6)
        assert res.results[key.replace("/UNet/", "/all/")] == pytest.approx(
            REF[key]["value"], abs=1e-6
        )


def _icc3(x: np.ndarray) -> float:
    """ICC(3,1) = (MSR - MSE) / (MSR + (k - 1) MSE) from a two-way ANOVA, by hand."""
    n, k = x.shape
    grand = x.mean()
    ss_r = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_c = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_e = ((x - grand) ** 2).sum() - ss_r - ss_c
    msr, mse = ss_r / (n - 1), ss_e / ((n - 1) * (k - 1))
    return (msr - mse) / (msr + (k - 1) * mse)


def test_scores_from_one_reader(tmp_path, met, scores):
    r1 = scores[scores.reader == "R1"]
    res = _build(tmp_path, met, r1)
    ag = res.tables["Reader agreement"].set_index("Targets")
    why = "not computable: only one reader (R1) has scored: agreement needs >= 2 readers"
    assert ag.loc["all (case × method)", "ICC(A,1) [95% CI]"] == why
    assert ag.loc["UNet", "Fleiss κ (P)"] == why
    likert = res.tables["Likert scores"].set_index("Method")
    u = r1.loc[r1.method == "UNet", "score"]
    assert likert.loc["UNet", "n"] == 30
    assert likert.loc["UNet", "Mean ± SD"] == f"{u.mean():.2f} ± {u.std(ddof=1):.2f}"
    assert (
        res.tables["Score models"]
        .set_index("Term")
        .loc["Method test", "LMM estimate (score points)"]
        .startswith(NC)
    )
    # satisfaction = R1's score; one-way ANOVA as scipy
    groups = [r1.loc[r1.method == m, "score"] for m in pd.unique(r1.method)]
    assert res.results["oneway/satisfaction/F"] == pytest.approx(
        stats.f_oneway(*groups).statistic, abs=1e-9
    )


def test_partial_scores(tmp_path, met, scores):
    """R3 has scored the first 10 cases only (a study in progress)."""
    first = [f"C{i:02d}" for i in range(1, 11)]
    part = scores[(scores.reader != "R3") | scores.case.isin(first)]
    res = _build(tmp_path, met, part)
    r = res.results
    wide = part.pivot_table(index=["method", "case"], columns="reader", values="score")
    complete = wide.dropna().to_numpy(dtype=float)
    assert complete.shape == (40, 3)
    assert r["icc/all/ICC3/value"] == pytest.approx(_icc3(complete), abs=1e-12)
    alpha = krippendorff.alpha(
        reliability_data=wide.to_numpy(dtype=float).T, level_of_measurement="ordinal"
    )
    assert r["kripp_alpha/all/ordinal"] == pytest.approx(alpha, abs=1e-12)
    sat = part.groupby(["case", "method"])["score"].mean().unstack()
    t_ref = stats.ttest_rel(sat["UNet"], sat["Control"])
    assert r["paired_t/satisfaction/UNet_vs_Control/p"] == pytest.approx(t_ref.pvalue, abs=1e-12)
    assert "lmm/scores_case_reader/F_method_satterthwaite" in r  # statsmodels, unbalanced
    assert not any(k.startswith(("icc/", "kripp_alpha/")) for k in res.not_computable)


def test_all_scores_identical(tmp_path, met, scores):
    same = scores.assign(score=4)
    res = _build(tmp_path, met, same)
    ag = res.tables["Reader agreement"].set_index("Targets")
    assert ag.loc["all (case × method)", "ICC(C,1) [95% CI]"] == (
        "not computable: all scores are identical: agreement undefined"
    )
    assert ag.loc["all (case × method)", "Krippendorff α (ordinal)"].startswith(NC)
    kappa = res.tables["Cohen kappa"].set_index("Readers")
    assert kappa.loc["R1 vs R2", "κ unweighted (SE)"].startswith(NC)
    om = res.tables["Omnibus tests"].set_index("Outcome")
    assert om.loc["Satisfaction (1-5)", "One-way ANOVA F (P)"].startswith(NC)
    assert (
        res.tables["Score models"]
        .set_index("Term")
        .loc["Method test", "LMM estimate (score points)"]
        .startswith(NC)
    )
    assert res.results["oneway/DSC/F"] == pytest.approx(REF["oneway/DSC/F"]["value"], abs=1e-6)


def test_no_scores_yet_and_empty_lesions(tmp_path, met, scores):
    res = _build(
        tmp_path, met, scores.iloc[0:0], pd.DataFrame(columns=["lesion", "method", "detected"])
    )
    ag = res.tables["Reader agreement"]
    assert set(ag["ICC(A,1) [95% CI]"]) == {"not computable: no reader scores yet"}
    assert res.tables["Table 2"].loc["UNet", "Satisfaction (1-5)"] == "not computable: no values"
    det = res.tables["Lesion detection"].set_index("Method")
    assert det.loc["UNet", "Detected / total"] == "not computable: no lesions for this method"
    tests = res.tables["Detection tests"]
    assert len(tests) == 6 and set(tests["McNemar exact P"]) == {"not computable: no lesions"}
    page = res.html_path.read_text(encoding="utf-8")
    assert "not computable: no reader scores yet" in page
    wb = openpyxl.load_workbook(res.xlsx_path, read_only=True)
    cells = {c for row in wb["Lesion detection"].iter_rows(values_only=True) for c in row}
    assert "not computable: no lesions for this method" in cells
    assert _json(res)["not_computable"]["cochran_q/lesions"] == "no lesions"


def test_lesions_of_a_study_in_progress(tmp_path, met):
    """Control has not been run on the last 5 lesions yet: rates on what is there, the
    paired tests on the lesions listed for every method."""
    les = pd.read_csv(DATA / "lesions.csv")
    late = sorted(les.lesion.unique())[-5:]
    part = les[~((les.method == "Control") & les.lesion.isin(late))]
    res = _build(tmp_path, met, None, part)
    r = res.results
    ctl = part[part.method == "Control"]
    assert r["proportion/Control/n"] == 40
    assert r["proportion/Control/rate"] == pytest.approx(ctl.detected.mean(), abs=1e-12)
    full = part[~part.lesion.isin(late)].pivot(index="lesion", columns="method", values="detected")
    assert r["cochran_q/lesions/n_lesions"] == 40
    tab = pd.crosstab(full["UNet"], full["Control"]).reindex(
        index=[0, 1], columns=[0, 1], fill_value=0
    )
    ref = mcnemar(tab.to_numpy(), exact=True)
    assert r["mcnemar/UNet_vs_Control/p_exact"] == pytest.approx(ref.pvalue, abs=1e-12)


def test_input_errors_still_raise(tmp_path, met, scores):
    with pytest.raises(StatsInputError, match="file not found"):
        _build(tmp_path, tmp_path / "missing.csv")
    with pytest.raises(StatsInputError, match="not a method"):
        _build(tmp_path, met, control="Classical")
    with pytest.raises(StatsInputError, match="alpha"):
        _build(tmp_path, met, alpha=1.5)
    with pytest.raises(StatsInputError, match="no numeric outcome"):
        _build(tmp_path, met[["case", "method"]].assign(note="x"))
    with pytest.raises(StatsInputError, match="missing column"):
        _build(tmp_path, met, scores.rename(columns={"reader": "rater"}))
    with pytest.raises(StatsInputError, match="whole numbers"):
        _build(tmp_path, met, scores.assign(score=scores.score + 3))
