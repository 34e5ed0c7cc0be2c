"""Report tables as DataFrames: the paper's Table 1 / Table 2 layout and the analyses the
paired design calls for. Cells are formatted text; the numbers are in ``results``
(``livseg.report.results``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from livseg.stats import descriptive, design, marks
from livseg.stats.agreement import ICC_DESCRIPTION, ICC_FORMS

LABELS = {"DSC": "DSC", "JI": "JI", "HD_mm": "HD (mm)", "HD95_mm": "HD95 (mm)",
          "ASSD_mm": "ASSD (mm)", "time_s": "Time (s)",
          "VER_pct": "Volume error (%)", "satisfaction": "Satisfaction (1-5)"}
DECIMALS = {"DSC": 3, "JI": 3, "HD_mm": 2, "HD95_mm": 2, "ASSD_mm": 2, "time_s": 1,
            "VER_pct": 1, "satisfaction": 2}
HIGHER_IS_BETTER = ("DSC", "JI", "satisfaction")
TABLE1 = ("DSC", "JI", "HD_mm", "HD95_mm", "ASSD_mm")
TABLE2 = ("time_s", "VER_pct", "satisfaction")


def fmt_p(p: float | None) -> str:
    """P value as text: '<0.001', else 3 decimals."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _f(x: float | None, d: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{d}f}"


def label(value: str) -> str:
    """Display name of an outcome column."""
    return LABELS.get(value, value)


def paper_table(
    results: Mapping[str, float], values: Sequence[str], methods: Sequence[str],
    control: str | None, reference: str | None, alpha: float = 0.05,
) -> pd.DataFrame:
    """The paper's layout: mean ± SD per method and outcome with '*' (P < alpha vs control)
    and '#' (vs reference) from one-way ANOVA + Fisher LSD, plus the ANOVA F and P rows."""
    cols = {}
    for v in values:
        d = DECIMALS.get(v, 2)
        lsd_p = {f"{a}_vs_{b}": results[f"lsd/{v}/{a}_vs_{b}/p"]
                 for a, b in design.method_pairs(methods)}
        mk = marks.significance_marks(lsd_p, methods, control, reference, alpha)
        cells = [f"{results[f'descriptive/{v}/{m}/mean']:.{d}f} ± "
                 f"{results[f'descriptive/{v}/{m}/sd']:.{d}f}{(' ' + mk[m]) if mk[m] else ''}"
                 for m in methods]
        cells.append(f"{results[f'oneway/{v}/F']:.2f}")
        cells.append(fmt_p(results[f"oneway/{v}/p"]))
        cols[label(v)] = cells
    return pd.DataFrame(cols, index=[*methods, "F", "P"]).rename_axis("Group")


def paper_footnote(control: str | None, reference: str | None, alpha: float) -> str:
    """Footnote of the paper-layout tables."""
    parts = []
    if control:
        parts.append(f"* P < {alpha:g} vs {control}")
    if reference:
        parts.append(f"# P < {alpha:g} vs {reference}")
    return ("; ".join(parts) + ". Mean ± SD; one-way ANOVA with Fisher LSD pairwise t tests "
            "(pooled MSE, df = N − k, unadjusted), treating methods as independent groups as "
            "the paper did. See the paired analyses below for the tests the design calls for.")


def omnibus_table(results: Mapping[str, float], values: Sequence[str]) -> pd.DataFrame:
    """Per outcome: one-way, Welch, Kruskal-Wallis, RM-ANOVA (GG), Friedman, LMM."""
    rows = []
    for v in values:
        r = results
        row = {
            "Outcome": label(v),
            "One-way ANOVA F (P)": f"{r[f'oneway/{v}/F']:.2f} ({fmt_p(r[f'oneway/{v}/p'])})",
            "Welch F (P)": f"{r[f'welch_anova/{v}/F']:.2f} ({fmt_p(r[f'welch_anova/{v}/p'])})",
            "Kruskal-Wallis H (P)": f"{r[f'kruskal/{v}/H']:.2f} ({fmt_p(r[f'kruskal/{v}/p'])})",
            "RM-ANOVA F": f"{r[f'rm_anova/{v}/F']:.2f}",
            "GG ε": f"{r[f'rm_anova/{v}/eps_GG']:.3f}",
            "RM-ANOVA P (GG)": fmt_p(r[f"rm_anova/{v}/p_GG"]),
        }
        if f"friedman/{v}/Q" in r:
            row["Friedman χ² (P)"] = f"{r[f'friedman/{v}/Q']:.2f} ({fmt_p(r[f'friedman/{v}/p'])})"
            row["Kendall's W"] = f"{r[f'friedman/{v}/kendall_W']:.3f}"
        key = f"lmm/{v}_case/F_method_satterthwaite"
        if key in r:
            row["LMM F (P)"] = f"{r[key]:.2f} ({fmt_p(r[f'lmm/{v}_case/p_method_satterthwaite'])})"
        rows.append(row)
    return pd.DataFrame(rows)


def paired_table(results: Mapping[str, float], values: Sequence[str],
                 methods: Sequence[str]) -> pd.DataFrame:
    """Every pair per outcome: mean difference [95% CI], Cohen's dz, paired t P with Holm,
    Wilcoxon V and P (exact when no ties, else normal with continuity correction) with Holm."""
    rows = []
    for v in values:
        d = DECIMALS.get(v, 2) + 1
        for a, b in design.method_pairs(methods):
            pk = f"{a}_vs_{b}"
            pre = f"paired_t/{v}/{pk}"
            w = f"wilcoxon/{v}/{pk}"
            wp = results.get(f"{w}/p_exact", results[f"{w}/p_normal_cc"])
            rows.append({
                "Outcome": label(v), "Pair (A − B)": f"{a} − {b}",
                "Mean diff [95% CI]": f"{results[pre + '/mean_diff']:.{d}f} "
                                      f"[{results[pre + '/ci_low']:.{d}f}, "
                                      f"{results[pre + '/ci_high']:.{d}f}]",
                "Cohen's dz": _f(results[pre + "/cohen_dz"], 2),
                "Paired t": f"{results[pre + '/t']:.2f}",
                "P": fmt_p(results[pre + "/p"]),
                "P (Holm)": fmt_p(results[f"padjust/{v}/paired_t_holm/{pk}"]),
                "Wilcoxon V": f"{results[w + '/V']:g}",
                "Wilcoxon P": fmt_p(wp),
                "Wilcoxon P (Holm)": fmt_p(results[f"padjust/{v}/wilcoxon_holm/{pk}"]),
            })
    return pd.DataFrame(rows)


def likert_table(scores: pd.DataFrame, methods: Sequence[str]) -> pd.DataFrame:
    """Per method: n, median [IQR], mean ± SD and the 1-5 distribution (n, %)."""
    dist = descriptive.likert_distribution(scores[scores["method"].astype(str).isin(methods)])
    rows = []
    for _, r in dist.iterrows():
        row = {"Method": r["method"], "n": int(r["n"]),
               "Median [IQR]": descriptive.format_median_iqr(r["median"], r["q1"], r["q3"]),
               "Mean ± SD": descriptive.format_mean_sd(r["mean"], r["sd"], 2)}
        for lv in ("1", "2", "3", "4", "5"):
            row[lv] = f"{int(r[lv])} ({100 * r[lv] / r['n']:.0f}%)"
        rows.append(row)
    return pd.DataFrame(rows)


def agreement_table(results: Mapping[str, float], subjects: Sequence[str]) -> pd.DataFrame:
    """Per subject (all targets, then each method): ICC(A,1), ICC(C,1), ICC(A,k) with 95% CI,
    Fleiss' kappa (P), Conger's kappa, Krippendorff's alpha (ordinal, interval)."""
    rows = []
    for s in subjects:
        def ci(form: str, s: str = s) -> str:
            p = f"icc/{s}/{form}"
            return (f"{results[p + '/value']:.3f} [{results[p + '/ci_low']:.3f}, "
                    f"{results[p + '/ci_high']:.3f}]")
        rows.append({
            "Targets": "all (case × method)" if s == "all" else s,
            "ICC(A,1) [95% CI]": ci("ICC2"), "ICC(C,1) [95% CI]": ci("ICC3"),
            "ICC(A,k) [95% CI]": ci("ICC2k"),
            "Fleiss κ (P)": f"{results[f'fleiss_kappa/{s}/kappa']:.3f} "
                            f"({fmt_p(results[f'fleiss_kappa/{s}/p'])})",
            "Conger κ": f"{results[f'fleiss_kappa/{s}/conger_exact']:.3f}",
            "Krippendorff α (ordinal)": f"{results[f'kripp_alpha/{s}/ordinal']:.3f}",
            "Krippendorff α (interval)": f"{results[f'kripp_alpha/{s}/interval']:.3f}",
        })
    return pd.DataFrame(rows)


def icc_table(results: Mapping[str, float], subject: str = "all") -> pd.DataFrame:
    """All six ICC forms of one subject with F, df, P and 95% CI."""
    rows = []
    for form in ICC_FORMS:
        p = f"icc/{subject}/{form}"
        rows.append({"Form": form, "Definition": ICC_DESCRIPTION[form],
                     "ICC": f"{results[p + '/value']:.3f}",
                     "95% CI": f"[{results[p + '/ci_low']:.3f}, {results[p + '/ci_high']:.3f}]",
                     "F": f"{results[p + '/F']:.2f}",
                     "df": f"{results[p + '/df1']:g}, {results[p + '/df2']:g}",
                     "P": fmt_p(results[p + "/p"])})
    return pd.DataFrame(rows)


def kappa_table(results: Mapping[str, float]) -> pd.DataFrame:
    """Cohen's kappa per reader pair (all targets)."""
    pairs = sorted({k.split("/")[2] for k in results if k.startswith("cohen_kappa/all/")})
    rows = []
    for pk in pairs:
        p = f"cohen_kappa/all/{pk}"
        rows.append({"Readers": pk.replace("_", " vs "),
                     "κ unweighted (SE)": f"{results[p + '/unweighted']:.3f} "
                                          f"({results[p + '/unweighted_se']:.3f})",
                     "κ linear": f"{results[p + '/linear']:.3f}",
                     "κ quadratic": f"{results[p + '/quadratic']:.3f}"})
    if "kendall_w/all/W" in results:
        rows.append({"Readers": "all (Kendall's W)",
                     "κ unweighted (SE)": f"W = {results['kendall_w/all/W']:.3f}",
                     "κ linear": "", "κ quadratic": ""})
    return pd.DataFrame(rows)


def detection_table(results: Mapping[str, float], methods: Sequence[str]) -> pd.DataFrame:
    """Per method: detected / total, rate with Clopper-Pearson and Wilson 95% CIs, miss rate."""
    rows = []
    for m in methods:
        p = f"proportion/{m}"
        if p + "/rate" not in results:
            continue
        rate = results[p + "/rate"]
        rows.append({
            "Method": m,
            "Detected / total": f"{results[p + '/detected']:g} / {results[p + '/n']:g}",
            "Rate": f"{100 * rate:.1f}%",
            "Clopper-Pearson 95% CI": f"{100 * results[p + '/clopper_pearson_low']:.1f}–"
                                      f"{100 * results[p + '/clopper_pearson_high']:.1f}%",
            "Wilson 95% CI": f"{100 * results[p + '/wilson_low']:.1f}–"
                             f"{100 * results[p + '/wilson_high']:.1f}%",
            "Miss rate": f"{100 * (1 - rate):.1f}%",
        })
    return pd.DataFrame(rows)


def detection_tests_table(results: Mapping[str, float], methods: Sequence[str]) -> pd.DataFrame:
    """Every pair: McNemar (paired: b, c, exact P, Holm) beside the paper-style unpaired
    chi-square and Fisher tests."""
    rows = []
    for a, b in design.method_pairs(methods):
        pk = f"{a}_vs_{b}"
        if f"mcnemar/{pk}/b_A_only" not in results:
            continue
        rows.append({
            "Pair": f"{a} vs {b}",
            "Detected by A only (b)": f"{results[f'mcnemar/{pk}/b_A_only']:g}",
            "Detected by B only (c)": f"{results[f'mcnemar/{pk}/c_B_only']:g}",
            "McNemar exact P": fmt_p(results[f"mcnemar/{pk}/p_exact"]),
            "McNemar P (Holm)": fmt_p(results[f"padjust/lesions/mcnemar_exact_holm/{pk}"]),
            "χ² 2×2 P (unpaired)": fmt_p(results[f"chisq_2x2/{pk}/p"]),
            "Fisher P (unpaired)": fmt_p(results[f"fisher/{pk}/p"]),
        })
    return pd.DataFrame(rows)


def models_table(results: Mapping[str, float], methods: Sequence[str]) -> pd.DataFrame:
    """Mixed models of the scores: LMM score ~ method + (1|case) + (1|reader) and, when
    fitted, the cumulative logit mixed model (effects vs the first method)."""
    rows = []
    lm, cm = "lmm/scores_case_reader", "clmm/scores_case_reader"
    for m in methods[1:]:
        row = {"Term": f"{m} vs {methods[0]}"}
        if f"{lm}/beta/{m}" in results:
            row["LMM estimate (score points)"] = f"{results[f'{lm}/beta/{m}']:.3f}"
        if f"{cm}/beta/{m}" in results:
            row["CLMM log odds ratio"] = f"{results[f'{cm}/beta/{m}']:.3f}"
        rows.append(row)
    extra = [("Case SD", f"{lm}/var_case", f"{cm}/sd_case"),
             ("Reader SD", f"{lm}/var_reader", f"{cm}/sd_reader")]
    for name, var_key, sd_key in extra:
        row = {"Term": name}
        if var_key in results:
            row["LMM estimate (score points)"] = f"{np.sqrt(results[var_key]):.3f}"
        if sd_key in results:
            row["CLMM log odds ratio"] = f"{results[sd_key]:.3f}"
        rows.append(row)
    row = {"Term": "Method test"}
    if f"{lm}/F_method_satterthwaite" in results:
        row["LMM estimate (score points)"] = (
            f"F = {results[f'{lm}/F_method_satterthwaite']:.2f} "
            f"(denominator df {results[f'{lm}/ddf_method_satterthwaite']:g}), "
            f"P {fmt_p(results[f'{lm}/p_method_satterthwaite'])}")
    if f"{cm}/LR_method" in results:
        row["CLMM log odds ratio"] = (f"LR χ² = {results[f'{cm}/LR_method']:.2f}, "
                                      f"P {fmt_p(results[f'{cm}/p_method'])}")
    rows.append(row)
    return pd.DataFrame(rows)


def bland_altman_table(results: Mapping[str, float], methods: Sequence[str]) -> pd.DataFrame:
    """Per method: bias [95% CI] and 95% limits of agreement of predicted − reference (mL)."""
    rows = []
    for m in methods:
        p = f"bland_altman/{m}"
        if p + "/bias" not in results:
            continue
        rows.append({"Method": m, "n": f"{results[p + '/n']:g}",
                     "Bias (mL) [95% CI]": f"{results[p + '/bias']:.2f} "
                                           f"[{results[p + '/bias_ci_low']:.2f}, "
                                           f"{results[p + '/bias_ci_high']:.2f}]",
                     "SD of differences (mL)": f"{results[p + '/sd_diff']:.2f}",
                     "95% limits of agreement (mL)": f"{results[p + '/loa_low']:.2f} to "
                                                     f"{results[p + '/loa_high']:.2f}"})
    return pd.DataFrame(rows)


def typical_cases(table: pd.DataFrame, methods: Sequence[str], value: str = "DSC",
                  higher_is_better: bool = True) -> pd.DataFrame:
    """Per method the best and worst case on ``value``, and the case with the largest
    disagreement between methods (range of ``value`` across methods)."""
    wide = design.paired_wide(table, value, methods)
    rows = []
    for m in methods:
        col = wide[m]
        best = col.idxmax() if higher_is_better else col.idxmin()
        worst = col.idxmin() if higher_is_better else col.idxmax()
        for kind, case in (("best", best), ("worst", worst)):
            rows.append({"Kind": f"{kind} {m}", "Case": case, "Method": m,
                         value: float(col[case]),
                         **{f"{value} {mm}": float(wide.loc[case, mm]) for mm in methods}})
    spread = wide.max(axis=1) - wide.min(axis=1)
    case = spread.idxmax()
    rows.append({"Kind": "largest disagreement", "Case": case, "Method": "all",
                 value: float(spread[case]),
                 **{f"{value} {mm}": float(wide.loc[case, mm]) for mm in methods}})
    return pd.DataFrame(rows)
