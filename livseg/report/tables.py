"""Report tables as DataFrames: the paper's Table 1 / Table 2 layout and the analyses the
paired design calls for. Cells are formatted text; the numbers are in ``results``
(``livseg.report.results``)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from livseg import metric_registry
from livseg.stats import descriptive, design, marks
from livseg.stats.agreement import ICC_DESCRIPTION, ICC_FORMS

# labels, decimals and direction of each outcome column: the one registry
LABELS = metric_registry.labels()
DECIMALS = metric_registry.decimals()
HIGHER_IS_BETTER = metric_registry.higher_is_better()
TABLE1 = ("DSC", "JI", "HD_mm", "HD95_mm", "ASSD_mm")
TABLE2 = ("time_s", "VER_pct", "satisfaction")


def decimals(value: str) -> int:
    """Decimals shown for an outcome column (2 for an unknown one)."""
    return DECIMALS.get(value, metric_registry.DEFAULT_DECIMALS)


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


NOT_COMPUTABLE = "not computable"


def reason(nc: Mapping[str, str] | None, key: str) -> str:
    """'not computable: <reason>' for a results key, from the longest matching key prefix
    in ``nc`` (``livseg.report.results``: prefix -> reason)."""
    best = ""
    for prefix in nc or {}:
        if (key == prefix or key.startswith(prefix + "/")) and len(prefix) > len(best):
            best = prefix
    return f"{NOT_COMPUTABLE}: {nc[best]}" if best else NOT_COMPUTABLE


def cell(
    results: Mapping[str, float], nc: Mapping[str, str] | None, keys: Sequence[str], render
) -> str:
    """``render(*values)`` of ``keys``, or the not-computable reason of the first missing one."""
    for k in keys:
        if k not in results:
            return reason(nc, k)
    return render(*(results[k] for k in keys))


def paper_table(
    results: Mapping[str, float],
    values: Sequence[str],
    methods: Sequence[str],
    control: str | None,
    reference: str | None,
    alpha: float = 0.05,
    nc: Mapping[str, str] | None = None,
    n_cases: int | None = None,
) -> pd.DataFrame:
    """The paper's layout: mean ± SD per method and outcome with '*' (P < alpha vs control)
    and '#' (vs reference) from one-way ANOVA + Fisher LSD, plus the ANOVA F and P rows.
    A cell says 'n = ' when fewer values than ``n_cases`` were available, and 'not
    computable: <reason>' where the data do not allow the statistic."""
    cols = {}
    for v in values:
        d = DECIMALS.get(v, 2)
        keys = {f"{a}_vs_{b}": f"lsd/{v}/{a}_vs_{b}/p" for a, b in design.method_pairs(methods)}
        mk = (
            marks.significance_marks(
                {pk: results[k] for pk, k in keys.items()}, methods, control, reference, alpha
            )
            if keys and all(k in results for k in keys.values())
            else {}
        )
        cells = []
        for m in methods:
            pre = f"descriptive/{v}/{m}"
            if pre + "/mean" not in results:
                cells.append(reason(nc, pre + "/mean"))
                continue
            mean, sd, n = (results[f"{pre}/{q}"] for q in ("mean", "sd", "n"))
            text = (
                f"{mean:.{d}f} ± {sd:.{d}f}"
                if math.isfinite(sd)
                else f"{mean:.{d}f} (SD {reason(nc, pre + '/sd')})"
            )
            if mk.get(m):
                text += " " + mk[m]
            if n_cases is not None and n < n_cases:
                text += f" (n = {n:g})"
            cells.append(text)
        cells.append(cell(results, nc, [f"oneway/{v}/F"], lambda f: f"{f:.2f}"))
        cells.append(cell(results, nc, [f"oneway/{v}/p"], fmt_p))
        cols[label(v)] = cells
    return pd.DataFrame(cols, index=[*methods, "F", "P"]).rename_axis("Group")


def paper_footnote(control: str | None, reference: str | None, alpha: float) -> str:
    """Footnote of the paper-layout tables."""
    parts = []
    if control:
        parts.append(f"* P < {alpha:g} vs {control}")
    if reference:
        parts.append(f"# P < {alpha:g} vs {reference}")
    return (
        "; ".join(parts) + ". Mean ± SD; one-way ANOVA with Fisher LSD pairwise t tests "
        "(pooled MSE, df = N − k, unadjusted), treating methods as independent groups as "
        "the paper did. See the paired analyses below for the tests the design calls for."
    )


def omnibus_table(
    results: Mapping[str, float],
    values: Sequence[str],
    nc: Mapping[str, str] | None = None,
    n_methods: int = 3,
) -> pd.DataFrame:
    """Per outcome: one-way, Welch, Kruskal-Wallis, RM-ANOVA (GG), Friedman, LMM; 'not
    computable: <reason>' where the data do not allow a test."""
    rows = []

    def fp(f: float, p: float) -> str:
        return f"{f:.2f} ({fmt_p(p)})"

    for v in values:
        r = results
        row = {
            "Outcome": label(v),
            "One-way ANOVA F (P)": cell(r, nc, [f"oneway/{v}/F", f"oneway/{v}/p"], fp),
            "Welch F (P)": cell(r, nc, [f"welch_anova/{v}/F", f"welch_anova/{v}/p"], fp),
            "Kruskal-Wallis H (P)": cell(r, nc, [f"kruskal/{v}/H", f"kruskal/{v}/p"], fp),
            "Complete cases": cell(r, nc, [f"paired_n/{v}"], lambda n: f"{n:g}"),
            "RM-ANOVA F": cell(r, nc, [f"rm_anova/{v}/F"], lambda f: f"{f:.2f}"),
            "GG ε": cell(r, nc, [f"rm_anova/{v}/eps_GG"], lambda e: f"{e:.3f}"),
            "RM-ANOVA P (GG)": cell(r, nc, [f"rm_anova/{v}/p_GG"], fmt_p),
        }
        if n_methods >= 3:
            row["Friedman χ² (P)"] = cell(r, nc, [f"friedman/{v}/Q", f"friedman/{v}/p"], fp)
            row["Kendall's W"] = cell(r, nc, [f"friedman/{v}/kendall_W"], lambda w: f"{w:.3f}")
        row["LMM F (P)"] = cell(
            r,
            nc,
            [f"lmm/{v}_case/F_method_satterthwaite", f"lmm/{v}_case/p_method_satterthwaite"],
            fp,
        )
        rows.append(row)
    return pd.DataFrame(rows)


def paired_table(
    results: Mapping[str, float],
    values: Sequence[str],
    methods: Sequence[str],
    nc: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Every pair per outcome (cases with values for both methods, n): mean difference
    [95% CI], Cohen's dz, paired t P with Holm, Wilcoxon V and P (exact when no ties, else
    normal with continuity correction) with Holm; 'not computable: <reason>' where the
    data do not allow a test."""
    rows = []
    r = results
    for v in values:
        d = DECIMALS.get(v, 2) + 1
        for a, b in design.method_pairs(methods):
            pk = f"{a}_vs_{b}"
            pre = f"paired_t/{v}/{pk}"
            w = f"wilcoxon/{v}/{pk}"
            wp = [f"{w}/p_exact"] if f"{w}/p_exact" in r else [f"{w}/p_normal_cc"]
            rows.append(
                {
                    "Outcome": label(v),
                    "Pair (A − B)": f"{a} − {b}",
                    "n": cell(r, nc, [pre + "/n"], lambda n: f"{n:g}"),
                    "Mean diff [95% CI]": cell(
                        r,
                        nc,
                        [pre + "/mean_diff", pre + "/ci_low", pre + "/ci_high"],
                        lambda md, lo, hi, d=d: f"{md:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]",
                    ),
                    "Cohen's dz": cell(r, nc, [pre + "/cohen_dz"], lambda x: _f(x, 2)),
                    "Paired t": cell(r, nc, [pre + "/t"], lambda t: f"{t:.2f}"),
                    "P": cell(r, nc, [pre + "/p"], fmt_p),
                    "P (Holm)": cell(r, nc, [f"padjust/{v}/paired_t_holm/{pk}"], fmt_p),
                    "Wilcoxon V": cell(r, nc, [w + "/V"], lambda x: f"{x:g}"),
                    "Wilcoxon P": cell(r, nc, wp, fmt_p),
                    "Wilcoxon P (Holm)": cell(r, nc, [f"padjust/{v}/wilcoxon_holm/{pk}"], fmt_p),
                }
            )
    return pd.DataFrame(rows)


def likert_table(
    scores: pd.DataFrame, methods: Sequence[str], nc: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Per method: n, median [IQR], mean ± SD and the 1-5 distribution (n, %); a method
    without scores says why."""
    s = design.check_scores(scores).dropna(subset=["score"])
    s = s[s["method"].isin(methods)]
    dist = descriptive.likert_distribution(s) if len(s) else pd.DataFrame(columns=["method"])
    by = {str(r["method"]): r for _, r in dist.iterrows()}
    rows = []
    for m in methods:
        if m not in by:
            rows.append({"Method": m, "n": 0, "Median [IQR]": reason(nc, f"likert/{m}/n")})
            continue
        r = by[m]
        row = {
            "Method": m,
            "n": int(r["n"]),
            "Median [IQR]": descriptive.format_median_iqr(r["median"], r["q1"], r["q3"]),
            "Mean ± SD": (
                descriptive.format_mean_sd(r["mean"], r["sd"], 2)
                if math.isfinite(r["sd"])
                else f"{r['mean']:.2f} (SD {reason(nc, f'likert/{m}/sd')})"
            ),
        }
        for lv in ("1", "2", "3", "4", "5"):
            row[lv] = f"{int(r[lv])} ({100 * r[lv] / r['n']:.0f}%)"
        rows.append(row)
    return pd.DataFrame(rows)


def agreement_table(
    results: Mapping[str, float], subjects: Sequence[str], nc: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Per subject (all targets, then each method): ICC(A,1), ICC(C,1), ICC(A,k) with 95% CI
    (targets scored by every reader), ICC(A,1) of the crossed random-effects model (every
    score, for incomplete designs), Fleiss' kappa (P), Conger's kappa, Krippendorff's alpha
    (ordinal, interval; every score)."""
    r = results
    rows = []
    for s in subjects:

        def ci(form: str, s: str = s) -> str:
            p = f"icc/{s}/{form}"
            return cell(
                r,
                nc,
                [p + "/value", p + "/ci_low", p + "/ci_high"],
                lambda v, lo, hi: f"{v:.3f} [{lo:.3f}, {hi:.3f}]",
            )

        rows.append(
            {
                "Targets": "all (case × method)" if s == "all" else s,
                "ICC(A,1) [95% CI]": ci("ICC2"),
                "ICC(C,1) [95% CI]": ci("ICC3"),
                "ICC(A,k) [95% CI]": ci("ICC2k"),
                "ICC(A,1) crossed model, every score [95% CI]": cell(
                    r,
                    nc,
                    [
                        f"icc_crossed/{s}/value",
                        f"icc_crossed/{s}/ci_low",
                        f"icc_crossed/{s}/ci_high",
                    ],
                    lambda v, lo, hi: f"{v:.3f} [{lo:.3f}, {hi:.3f}]",
                ),
                "Fleiss κ (P)": cell(
                    r,
                    nc,
                    [f"fleiss_kappa/{s}/kappa", f"fleiss_kappa/{s}/p"],
                    lambda k, p: f"{k:.3f} ({fmt_p(p)})",
                ),
                "Conger κ": cell(r, nc, [f"fleiss_kappa/{s}/conger_exact"], lambda k: f"{k:.3f}"),
                "Krippendorff α (ordinal)": cell(
                    r, nc, [f"kripp_alpha/{s}/ordinal"], lambda a: f"{a:.3f}"
                ),
                "Krippendorff α (interval)": cell(
                    r, nc, [f"kripp_alpha/{s}/interval"], lambda a: f"{a:.3f}"
                ),
            }
        )
    return pd.DataFrame(rows)


def icc_table(
    results: Mapping[str, float], subject: str = "all", nc: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """All six ICC forms of one subject with F, df, P and 95% CI."""
    r = results
    rows = []
    for form in ICC_FORMS:
        p = f"icc/{subject}/{form}"
        rows.append(
            {
                "Form": form,
                "Definition": ICC_DESCRIPTION[form],
                "ICC": cell(r, nc, [p + "/value"], lambda v: f"{v:.3f}"),
                "95% CI": cell(
                    r, nc, [p + "/ci_low", p + "/ci_high"], lambda lo, hi: f"[{lo:.3f}, {hi:.3f}]"
                ),
                "F": cell(r, nc, [p + "/F"], lambda f: f"{f:.2f}"),
                "df": cell(r, nc, [p + "/df1", p + "/df2"], lambda a, b: f"{a:g}, {b:g}"),
                "P": cell(r, nc, [p + "/p"], fmt_p),
            }
        )
    return pd.DataFrame(rows)


def kappa_table(results: Mapping[str, float], nc: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Cohen's kappa per reader pair (all targets)."""
    r = results
    keys = [*results, *(nc or {})]
    pairs = sorted(
        {k.split("/")[2] for k in keys if k.startswith("cohen_kappa/all/") and k.count("/") >= 2}
    )
    rows = []
    for pk in pairs:
        p = f"cohen_kappa/all/{pk}"
        rows.append(
            {
                "Readers": pk.replace("_", " vs "),
                "κ unweighted (SE)": cell(
                    r,
                    nc,
                    [p + "/unweighted", p + "/unweighted_se"],
                    lambda k, se: f"{k:.3f} ({se:.3f})",
                ),
                "κ linear": cell(r, nc, [p + "/linear"], lambda k: f"{k:.3f}"),
                "κ quadratic": cell(r, nc, [p + "/quadratic"], lambda k: f"{k:.3f}"),
            }
        )
    if not pairs:
        rows.append(
            {
                "Readers": "reader pairs",
                "κ unweighted (SE)": reason(nc, "cohen_kappa/all"),
                "κ linear": "",
                "κ quadratic": "",
            }
        )
    rows.append(
        {
            "Readers": "all (Kendall's W)",
            "κ unweighted (SE)": cell(r, nc, ["kendall_w/all/W"], lambda w: f"W = {w:.3f}"),
            "κ linear": "",
            "κ quadratic": "",
        }
    )
    return pd.DataFrame(rows)


def intra_reader_table(
    results: Mapping[str, float], subjects: Sequence[str], nc: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Intra-reader (test-retest) agreement of the washout re-reads per subject (a reader,
    ``all`` readers pooled, ``<subject>/<method>``): pairs, exact agreement, weighted kappa,
    ICC(A,1) [95% CI]; 'not computable: <reason>' where the pairs do not allow a statistic."""
    r = results
    rows = []
    for s in subjects:
        p = f"intra_reader/{s}"
        who, _, method = s.partition("/")
        rows.append(
            {
                "Reader": "all readers (pooled)" if who == "all" else who,
                "Method": method or "all methods",
                "Pairs (n)": cell(r, nc, [p + "/n_pairs"], lambda n: int(n)),
                "Exact agreement": cell(
                    r, nc, [p + "/exact_agreement"], lambda a: f"{100 * a:.1f}%"
                ),
                "κ linear": cell(r, nc, [p + "/kappa_linear"], lambda k: f"{k:.3f}"),
                "κ quadratic": cell(r, nc, [p + "/kappa_quadratic"], lambda k: f"{k:.3f}"),
                "ICC(A,1) [95% CI]": cell(
                    r,
                    nc,
                    [p + "/icc_a1", p + "/icc_a1_ci_low", p + "/icc_a1_ci_high"],
                    lambda v, lo, hi: f"{v:.3f} [{lo:.3f}, {hi:.3f}]",
                ),
            }
        )
    return pd.DataFrame(rows)


def detection_table(
    results: Mapping[str, float], methods: Sequence[str], nc: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Per method: detected / total, rate with Clopper-Pearson and Wilson 95% CIs, miss rate."""
    rows = []
    for m in methods:
        p = f"proportion/{m}"
        if p + "/rate" not in results:
            rows.append({"Method": m, "Detected / total": reason(nc, p + "/rate")})
            continue
        rate = results[p + "/rate"]
        rows.append(
            {
                "Method": m,
                "Detected / total": f"{results[p + '/detected']:g} / {results[p + '/n']:g}",
                "Rate": f"{100 * rate:.1f}%",
                "Clopper-Pearson 95% CI": f"{100 * results[p + '/clopper_pearson_low']:.1f}–"
                f"{100 * results[p + '/clopper_pearson_high']:.1f}%",
                "Wilson 95% CI": f"{100 * results[p + '/wilson_low']:.1f}–"
                f"{100 * results[p + '/wilson_high']:.1f}%",
                "Miss rate": f"{100 * (1 - rate):.1f}%",
            }
        )
    return pd.DataFrame(rows)


def detection_tests_table(
    results: Mapping[str, float], methods: Sequence[str], nc: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Every pair: McNemar (paired: b, c, exact P, Holm) beside the paper-style unpaired
    chi-square and Fisher tests."""
    r = results
    rows = []
    for a, b in design.method_pairs(methods):
        pk = f"{a}_vs_{b}"
        rows.append(
            {
                "Pair": f"{a} vs {b}",
                "Detected by A only (b)": cell(
                    r, nc, [f"mcnemar/{pk}/b_A_only"], lambda x: f"{x:g}"
                ),
                "Detected by B only (c)": cell(
                    r, nc, [f"mcnemar/{pk}/c_B_only"], lambda x: f"{x:g}"
                ),
                "McNemar exact P": cell(r, nc, [f"mcnemar/{pk}/p_exact"], fmt_p),
                "McNemar P (Holm)": cell(
                    r, nc, [f"padjust/lesions/mcnemar_exact_holm/{pk}"], fmt_p
                ),
                "χ² 2×2 P (unpaired)": cell(r, nc, [f"chisq_2x2/{pk}/p"], fmt_p),
                "Fisher P (unpaired)": cell(r, nc, [f"fisher/{pk}/p"], fmt_p),
            }
        )
    return pd.DataFrame(rows)


def models_table(
    results: Mapping[str, float], methods: Sequence[str], nc: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Mixed models of the scores: LMM score ~ method + (1|case) + (1|reader) and, when
    fitted, the cumulative logit mixed model (effects vs the first method)."""
    rows = []
    r = results
    lm, cm = "lmm/scores_case_reader", "clmm/scores_case_reader"
    lcol, ccol = "LMM estimate (score points)", "CLMM log odds ratio"
    fitted_clmm = any(k.startswith(cm) for k in [*results, *(nc or {})])
    for m in methods[1:]:
        row = {
            "Term": f"{m} vs {methods[0]}",
            lcol: cell(r, nc, [f"{lm}/beta/{m}"], lambda x: f"{x:.3f}"),
        }
        if fitted_clmm:
            row[ccol] = cell(r, nc, [f"{cm}/beta/{m}"], lambda x: f"{x:.3f}")
        rows.append(row)
    extra = [
        ("Case SD", f"{lm}/var_case", f"{cm}/sd_case"),
        ("Reader SD", f"{lm}/var_reader", f"{cm}/sd_reader"),
    ]
    for name, var_key, sd_key in extra:
        row = {"Term": name, lcol: cell(r, nc, [var_key], lambda x: f"{np.sqrt(x):.3f}")}
        if fitted_clmm:
            row[ccol] = cell(r, nc, [sd_key], lambda x: f"{x:.3f}")
        rows.append(row)
    row = {
        "Term": "Method test",
        lcol: cell(
            r,
            nc,
            [
                f"{lm}/F_method_satterthwaite",
                f"{lm}/ddf_method_satterthwaite",
                f"{lm}/p_method_satterthwaite",
            ],
            lambda f, ddf, p: f"F = {f:.2f} (denominator df {ddf:g}), P {fmt_p(p)}",
        ),
    }
    if fitted_clmm:
        row[ccol] = cell(
            r,
            nc,
            [f"{cm}/LR_method", f"{cm}/p_method"],
            lambda lr, p: f"LR χ² = {lr:.2f}, P {fmt_p(p)}",
        )
    rows.append(row)
    return pd.DataFrame(rows)


def bland_altman_table(
    results: Mapping[str, float], methods: Sequence[str], nc: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Per method: bias [95% CI] and 95% limits of agreement of predicted − reference (mL)."""
    rows = []
    for m in methods:
        p = f"bland_altman/{m}"
        if p + "/bias" not in results:
            rows.append({"Method": m, "n": "", "Bias (mL) [95% CI]": reason(nc, p + "/bias")})
            continue
        rows.append(
            {
                "Method": m,
                "n": f"{results[p + '/n']:g}",
                "Bias (mL) [95% CI]": f"{results[p + '/bias']:.2f} "
                f"[{results[p + '/bias_ci_low']:.2f}, "
                f"{results[p + '/bias_ci_high']:.2f}]",
                "SD of differences (mL)": f"{results[p + '/sd_diff']:.2f}",
                "95% limits of agreement (mL)": f"{results[p + '/loa_low']:.2f} to "
                f"{results[p + '/loa_high']:.2f}",
            }
        )
    return pd.DataFrame(rows)


def typical_cases(
    table: pd.DataFrame, methods: Sequence[str], value: str = "DSC", higher_is_better: bool = True
) -> pd.DataFrame:
    """Per method the best and worst case on ``value`` (its available values), and the case
    with the largest disagreement between methods (range of ``value`` across methods, cases
    with a value for every method); a row says 'not computable' where there is no value."""
    data = (
        table[["case", "method"]]
        .astype(str)
        .assign(_v=pd.to_numeric(table[value], errors="coerce"))
    )
    wide = data.pivot(index="case", columns="method", values="_v").reindex(columns=list(methods))
    wide = wide.round(decimals(value))  # the table shows what the metric's precision says

    def others(case: str) -> dict:
        return {f"{value} {mm}": float(wide.loc[case, mm]) for mm in methods}

    rows = []
    for m in methods:
        col = wide[m].dropna()
        if col.empty:
            rows.append(
                {
                    "Kind": f"best / worst {m}",
                    "Case": f"{NOT_COMPUTABLE}: no {value} values",
                    "Method": m,
                    value: np.nan,
                }
            )
            continue
        best = col.idxmax() if higher_is_better else col.idxmin()
        worst = col.idxmin() if higher_is_better else col.idxmax()
        for kind, case in (("best", best), ("worst", worst)):
            rows.append(
                {
                    "Kind": f"{kind} {m}",
                    "Case": case,
                    "Method": m,
                    value: float(col[case]),
                    **others(case),
                }
            )
    complete = wide.dropna(axis=0, how="any")
    if len(methods) >= 2 and len(complete):
        spread = complete.max(axis=1) - complete.min(axis=1)
        case = spread.idxmax()
        rows.append(
            {
                "Kind": "largest disagreement",
                "Case": case,
                "Method": "all",
                value: float(spread[case]),
                **others(case),
            }
        )
    else:
        why = "only one method" if len(methods) < 2 else f"no case has a {value} for every method"
        rows.append(
            {
                "Kind": "largest disagreement",
                "Case": f"{NOT_COMPUTABLE}: {why}",
                "Method": "all",
                value: np.nan,
            }
        )
    return pd.DataFrame(rows)


def _swapper(titles: Mapping[str, str]):
    """A function replacing each method name (whole word: 'unet2d' but not 'unet2d_b') in
    a text by its display name, other values unchanged; None when nothing changes."""
    names = {m: t for m, t in titles.items() if t != m}
    if not names:
        return None
    alternatives = "|".join(re.escape(m) for m in sorted(names, key=len, reverse=True))
    word = re.compile(r"(?<![\w-])(" + alternatives + r")(?![\w-])")

    def swap(x):
        return word.sub(lambda g: names[g.group(1)], x) if isinstance(x, str) else x

    return swap


def display_text(text: str, titles: Mapping[str, str]) -> str:
    """``text`` with each method name replaced by its display name (``titles``)."""
    swap = _swapper(titles)
    return swap(text) if swap else text


def with_display_names(df: pd.DataFrame, titles: Mapping[str, str]) -> pd.DataFrame:
    """``df`` with each method name replaced by its display name (``titles``) in the index,
    the column names and the text cells (whole words only)."""
    swap = _swapper(titles)
    if swap is None:
        return df
    out = df.map(swap)
    out.index = out.index.map(swap)
    out.columns = [swap(c) for c in out.columns]
    out.index.name, out.columns.name = df.index.name, df.columns.name
    return out


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def excel_value(x):
    """A table cell for Excel: a plain number as int / float, anything else unchanged."""
    if isinstance(x, str) and _NUMBER.match(x.strip()):
        v = float(x)
        return int(v) if v.is_integer() and "." not in x and "e" not in x.lower() else v
    return x


def paper_numbers(
    results: Mapping[str, float],
    values: Sequence[str],
    methods: Sequence[str],
    table: pd.DataFrame,
) -> pd.DataFrame:
    """The paper-layout table as numbers for Excel: per method (rows) and outcome the mean,
    SD and n (rounded to the outcome's decimals) and the '*' / '#' marks of ``table``
    (the text table of ``paper_table``); rows F and P hold the one-way ANOVA."""
    rows = []
    for i, m in enumerate(methods):
        row = {"Group": table.index[i]}
        for v in values:
            d, pre = decimals(v), f"descriptive/{v}/{m}"
            text = table.iloc[i][label(v)]
            row[f"{label(v)} mean"] = (
                round(results[pre + "/mean"], d) if pre + "/mean" in results else text
            )
            sd = results.get(pre + "/sd", math.nan)
            row[f"{label(v)} SD"] = round(sd, d) if math.isfinite(sd) else None
            row[f"{label(v)} n"] = int(results[pre + "/n"]) if pre + "/n" in results else 0
            mark = text.split(" ")[-1] if isinstance(text, str) else ""
            row[f"{label(v)} marks"] = mark if mark and set(mark) <= {"*", "#"} else ""
        rows.append(row)
    for q in ("F", "p"):
        row = {"Group": "F" if q == "F" else "P"}
        for v in values:
            key = f"oneway/{v}/{q}"
            row[f"{label(v)} mean"] = (
                round(results[key], 2 if q == "F" else 4)
                if key in results
                else table.loc["F" if q == "F" else "P", label(v)]
            )
        rows.append(row)
    return pd.DataFrame(rows)
