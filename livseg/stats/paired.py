"""Paired / repeated-measures analyses: every case is segmented by every method.

Repeated-measures ANOVA with Greenhouse-Geisser and Huynh-Feldt corrections, paired t tests
(mean difference with 95% CI, Cohen's dz and d_av), Wilcoxon signed-rank tests (R's V
convention), Holm / Benjamini-Hochberg / Bonferroni adjustment, Friedman with Kendall's W and
a paired equivalence test (TOST). Input: a subjects x methods wide table
(``livseg.stats.design.paired_wide``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from livseg.stats.design import StatsInputError, method_pairs, pair_name


def rm_anova(wide: pd.DataFrame) -> dict[str, float]:
    """One-way repeated-measures ANOVA (subjects = rows, conditions = columns).

    Returns F, df1, df2, p, eps_GG, p_GG, eps_HF (capped at 1), p_HF, MSE.
    """
    y = wide.to_numpy(dtype=float)
    n, k = y.shape
    if k < 2 or n < 2:
        raise StatsInputError("rm_anova needs >= 2 subjects and >= 2 conditions")
    grand = y.mean()
    ss_cond = n * ((y.mean(axis=0) - grand) ** 2).sum()
    ss_subj = k * ((y.mean(axis=1) - grand) ** 2).sum()
    ss_err = ((y - grand) ** 2).sum() - ss_cond - ss_subj
    df1, df2 = k - 1, (k - 1) * (n - 1)
    mse = ss_err / df2
    f = (ss_cond / df1) / mse
    # Greenhouse-Geisser epsilon from the double-centred covariance matrix
    s = np.cov(y, rowvar=False, ddof=1)
    c = np.eye(k) - np.ones((k, k)) / k
    sc = c @ s @ c
    eps_gg = np.trace(sc) ** 2 / ((k - 1) * np.trace(sc @ sc))
    eps_hf = (n * (k - 1) * eps_gg - 2) / ((k - 1) * (n - 1 - (k - 1) * eps_gg))
    eps_hf = min(1.0, eps_hf)
    return {
        "F": float(f),
        "df1": float(df1),
        "df2": float(df2),
        "MSE": float(mse),
        "p": float(stats.f.sf(f, df1, df2)),
        "eps_GG": float(eps_gg),
        "p_GG": float(stats.f.sf(f, df1 * eps_gg, df2 * eps_gg)),
        "eps_HF": float(eps_hf),
        "p_HF": float(stats.f.sf(f, df1 * eps_hf, df2 * eps_hf)),
    }


def paired_t(a: np.ndarray, b: np.ndarray, confidence: float = 0.95) -> dict[str, float]:
    """Paired t test of a - b: t, df, p, mean difference with CI, Cohen's dz and d_av.

    dz = mean(d) / sd(d); d_av = mean(d) / sqrt((var a + var b) / 2).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = a - b
    n = d.size
    if n < 2:
        raise StatsInputError("paired t test needs >= 2 pairs")
    md, sd = d.mean(), d.std(ddof=1)
    se = sd / np.sqrt(n)
    res = stats.ttest_rel(a, b)
    tq = stats.t.ppf(0.5 + confidence / 2, n - 1)
    return {
        "t": float(res.statistic),
        "df": float(n - 1),
        "p": float(res.pvalue),
        "mean_diff": float(md),
        "ci_low": float(md - tq * se),
        "ci_high": float(md + tq * se),
        "cohen_dz": float(md / sd) if sd > 0 else float("nan"),
        "cohen_d_av": float(md / np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)),
    }


def wilcoxon_signed_rank(
    a: np.ndarray, b: np.ndarray, decimals: int | None = None
) -> dict[str, float]:
    """Wilcoxon signed-rank test on d = a - b, zeros dropped (R / scipy 'wilcox').

    V = sum of the ranks of positive differences (R's statistic). ``p_exact`` only when
    there are no ties or zeros (else NaN); ``p_normal`` = normal approximation with the
    tie-corrected variance, no continuity correction (scipy); ``p_normal_cc`` = with
    continuity correction (R wilcox.test, pingouin). By default the differences are used
    exactly as computed in floating point, as R and scipy do (so 19.2 - 15.2 and 8.3 - 4.3
    may not tie); pass ``decimals`` to round them first so that such true ties are ranked
    as ties.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if decimals is not None:
        d = np.round(d, decimals)
    nz = d[d != 0]
    n = nz.size
    ties_or_zeros = bool(n < d.size or np.unique(np.abs(nz)).size < n)
    out = {"n_nonzero": float(n), "ties_or_zeros": float(ties_or_zeros)}
    if n == 0:
        out.update(V=0.0, p_normal=1.0, p_normal_cc=1.0, p_exact=float("nan"))
        return out
    ranks = stats.rankdata(np.abs(nz))
    v = float(ranks[nz > 0].sum())
    mean = n * (n + 1) / 4
    _, counts = np.unique(ranks, return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24 - (counts**3 - counts).sum() / 48
    z = (v - mean) / np.sqrt(var) if var > 0 else 0.0
    zc = (abs(v - mean) - 0.5) / np.sqrt(var) if var > 0 else 0.0
    out["V"] = v
    out["p_normal"] = float(min(1.0, 2 * stats.norm.sf(abs(z))))
    out["p_normal_cc"] = float(min(1.0, 2 * stats.norm.sf(max(zc, 0.0))))
    if not ties_or_zeros:
        out["p_exact"] = float(stats.wilcoxon(nz, method="exact").pvalue)
    else:
        out["p_exact"] = float("nan")
    return out


def p_adjust(pvalues: Mapping[str, float], method: str = "holm") -> dict[str, float]:
    """Holm, Benjamini-Hochberg ('BH') or Bonferroni adjusted p values (R p.adjust)."""
    keys = list(pvalues)
    p = np.array([pvalues[k] for k in keys], dtype=float)
    m = p.size
    if m == 0:
        return {}
    order = np.argsort(p, kind="stable")
    ps = p[order]
    if method == "bonferroni":
        adj_sorted = np.minimum(1.0, ps * m)
    elif method == "holm":
        adj_sorted = np.minimum(1.0, np.maximum.accumulate(ps * (m - np.arange(m))))
    elif method in ("BH", "fdr_bh"):
        raw = ps * m / np.arange(1, m + 1)
        adj_sorted = np.minimum(1.0, np.minimum.accumulate(raw[::-1])[::-1])
    else:
        raise StatsInputError(f"unknown p adjustment {method!r}; use holm, BH or bonferroni")
    adj = np.empty(m)
    adj[order] = adj_sorted
    return {k: float(v) for k, v in zip(keys, adj, strict=True)}


def friedman(wide: pd.DataFrame) -> dict[str, float]:
    """Friedman test (tie-corrected) with Kendall's W = Q / (n (k - 1))."""
    y = wide.to_numpy(dtype=float)
    n, k = y.shape
    if k < 3:
        raise StatsInputError("Friedman test needs >= 3 conditions")
    res = stats.friedmanchisquare(*y.T)
    q = float(res.statistic)
    return {"Q": q, "df": float(k - 1), "p": float(res.pvalue), "kendall_W": q / (n * (k - 1))}


def tost_paired(a: np.ndarray, b: np.ndarray, margin: float) -> dict[str, float]:
    """Paired equivalence test (two one-sided t tests) of a - b within +-margin.

    p_lower tests H0: mean(d) <= -margin; p_upper tests H0: mean(d) >= +margin;
    p = max of the two.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = d.size
    se = d.std(ddof=1) / np.sqrt(n)
    t_low = (d.mean() + margin) / se
    t_up = (d.mean() - margin) / se
    p_low = float(stats.t.sf(t_low, n - 1))
    p_up = float(stats.t.cdf(t_up, n - 1))
    return {"p": max(p_low, p_up), "p_lower": p_low, "p_upper": p_up}


def pairwise_paired(
    wide: pd.DataFrame, methods: Sequence[str] | None = None
) -> dict[str, dict[str, dict[str, float]]]:
    """Paired t and Wilcoxon for every pair of columns, with Holm/BH/Bonferroni on both.

    Returns {"paired_t": {pair: {...}}, "wilcoxon": {pair: {...}}, "padjust": {name: {pair: p}}}.
    """
    cols = list(methods) if methods is not None else list(wide.columns)
    pt, wx = {}, {}
    for a, b in method_pairs(cols):
        key = pair_name(a, b)
        pt[key] = paired_t(wide[a].to_numpy(), wide[b].to_numpy())
        wx[key] = wilcoxon_signed_rank(wide[a].to_numpy(), wide[b].to_numpy())
    adj = {}
    for name, src, col in (("paired_t", pt, "p"), ("wilcoxon", wx, "p_normal_cc")):
        raw = {k: v[col] for k, v in src.items()}
        if name == "wilcoxon":  # exact p where available (R's default)
            raw = {
                k: (v["p_exact"] if not np.isnan(v["p_exact"]) else v["p_normal_cc"])
                for k, v in src.items()
            }
        for meth, label in (("holm", "holm"), ("BH", "BH"), ("bonferroni", "bonferroni")):
            adj[f"{name}_{label}"] = p_adjust(raw, meth)
    return {"paired_t": pt, "wilcoxon": wx, "padjust": adj}
