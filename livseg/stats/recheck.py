"""Recheck of a published table of mean +- SD (n per group): what the paper's tests give.

From the printed means, SDs and n alone, in closed form: the one-way ANOVA (F, p, MSE), Fisher
LSD t and p for every pair (pooled MSE, df = N - k, as SPSS's LSD), Welch's ANOVA and Welch
t tests, Tukey HSD, Holm over the LSD p values of a metric, and how far each result can move
when the printed means and SDs move inside their rounding (+- half a unit of the last printed
decimal). For a paired design it also gives the paired t p value the same summaries would
have under a common correlation rho between methods, and the rho at which p = 0.05.

Input: a table with columns ``metric, method, mean, sd, n`` (optionally ``better``,
``marks``, ``label``); ``mean`` and ``sd`` may be text as printed ("0.80") so that the
rounding is known, else pass ``decimals``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np
import pandas as pd
from scipy import optimize, stats

from livseg.stats.design import StatsInputError, method_pairs, pair_name, require_columns
from livseg.stats.oneway import (
    anova_from_summary,
    lsd_from_summary,
    tukey_from_summary,
    welch_from_summary,
)
from livseg.stats.paired import p_adjust

RHO_GRID = (-0.5, 0.0, 0.3, 0.5, 0.7, 0.9)


def _decimals(text: object) -> int:
    s = str(text).strip()
    return len(s.split(".")[1]) if "." in s else 0


def _metric_rows(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    rows = table[table["metric"].astype(str) == metric]
    if rows.empty:
        raise StatsInputError(f"published table: no rows for metric {metric!r}")
    return rows


def _summaries(rows: pd.DataFrame):
    methods = [str(m) for m in rows["method"]]
    if len(set(methods)) != len(methods):
        raise StatsInputError("published table: a method is listed twice for one metric")
    means = dict(zip(methods, pd.to_numeric(rows["mean"].astype(str)), strict=True))
    sds = dict(zip(methods, pd.to_numeric(rows["sd"].astype(str)), strict=True))
    ns = dict(zip(methods, pd.to_numeric(rows["n"]).astype(int), strict=True))
    if any(v <= 0 for v in sds.values()) or any(v < 2 for v in ns.values()):
        raise StatsInputError("published table: SDs must be > 0 and n >= 2")
    half_m = {m: 0.5 * 10.0 ** -_decimals(t) for m, t in zip(methods, rows["mean"], strict=True)}
    half_s = {m: 0.5 * 10.0 ** -_decimals(t) for m, t in zip(methods, rows["sd"], strict=True)}
    return methods, means, sds, ns, half_m, half_s


def _ssw(sds, ns):
    return sum((ns[m] - 1) * sds[m] ** 2 for m in sds)


def f_range_under_rounding(means, sds, ns, half_m, half_s) -> tuple[float, float]:
    """Smallest and largest one-way F when every mean and SD moves within its rounding."""
    names = list(means)
    n = np.array([ns[m] for m in names], float)
    lo = np.array([means[m] - half_m[m] for m in names])
    hi = np.array([means[m] + half_m[m] for m in names])
    big_n, k = n.sum(), len(names)

    def ssb(x):
        g = (n * x).sum() / big_n
        return (n * (x - g) ** 2).sum()

    ssb_max = max(ssb(np.array(c)) for c in product(*zip(lo, hi, strict=True)))
    # min of a convex quadratic over a box: every mean clipped towards a common level c
    res = optimize.minimize_scalar(
        lambda c: ssb(np.clip(c, lo, hi)),
        bounds=(lo.min(), hi.max()),
        method="bounded",
        options={"xatol": 1e-14},
    )
    ssb_min = ssb(np.clip(res.x, lo, hi))
    ssw_max = _ssw({m: sds[m] + half_s[m] for m in names}, ns)
    ssw_min = _ssw({m: max(sds[m] - half_s[m], 0.0) for m in names}, ns)
    df1, df2 = k - 1, big_n - k
    return float((ssb_min / df1) / (ssw_max / df2)), float((ssb_max / df1) / (ssw_min / df2))


def lsd_p_range_under_rounding(a, b, means, sds, ns, half_m, half_s) -> tuple[float, float]:
    """Smallest and largest LSD p of the pair a, b within the rounding of the printed values."""
    k = len(means)
    df = sum(ns.values()) - k
    d = abs(means[a] - means[b])
    d_hi = d + half_m[a] + half_m[b]
    d_lo = max(0.0, d - half_m[a] - half_m[b])
    mse_hi = _ssw({m: sds[m] + half_s[m] for m in sds}, ns) / df
    mse_lo = _ssw({m: max(sds[m] - half_s[m], 0.0) for m in sds}, ns) / df
    w = 1.0 / ns[a] + 1.0 / ns[b]
    t_hi = d_hi / np.sqrt(mse_lo * w)
    t_lo = d_lo / np.sqrt(mse_hi * w)
    return float(2 * stats.t.sf(t_hi, df)), float(2 * stats.t.sf(t_lo, df))


def welch_t(a, b, means, sds, ns) -> dict[str, float]:
    """Welch two-sample t test of a - b from summaries."""
    va, vb = sds[a] ** 2 / ns[a], sds[b] ** 2 / ns[b]
    t = (means[a] - means[b]) / np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (ns[a] - 1) + vb**2 / (ns[b] - 1))
    return {"t": float(t), "df": float(df), "p": float(2 * stats.t.sf(abs(t), df))}


def student_t(a, b, means, sds, ns) -> dict[str, float]:
    """Student two-sample t test of a - b (pooled over the pair only) from summaries."""
    df = ns[a] + ns[b] - 2
    sp2 = ((ns[a] - 1) * sds[a] ** 2 + (ns[b] - 1) * sds[b] ** 2) / df
    t = (means[a] - means[b]) / np.sqrt(sp2 * (1 / ns[a] + 1 / ns[b]))
    return {"t": float(t), "df": float(df), "p": float(2 * stats.t.sf(abs(t), df))}


def paired_p_given_rho(a, b, means, sds, ns, rho: float) -> float:
    """Paired t p of a - b if the two methods' values correlate with ``rho`` (n pairs)."""
    n = min(ns[a], ns[b])
    var = sds[a] ** 2 + sds[b] ** 2 - 2 * rho * sds[a] * sds[b]
    if var <= 0:
        return 0.0 if means[a] != means[b] else 1.0
    t = (means[a] - means[b]) / np.sqrt(var / n)
    return float(2 * stats.t.sf(abs(t), n - 1))


def rho_for_paired_p(a, b, means, sds, ns, alpha: float = 0.05) -> float:
    """Smallest correlation rho at which the paired t p of a - b falls to ``alpha``
    (-1 if it is below alpha for every rho; NaN if it never reaches alpha)."""
    f = lambda r: paired_p_given_rho(a, b, means, sds, ns, r) - alpha  # noqa: E731
    if f(-1.0) < 0:
        return -1.0
    if f(1.0) > 0:
        return float("nan")
    return float(optimize.brentq(f, -1.0, 1.0, xtol=1e-14))


def rm_anova_given_rho(means, sds, ns, rho: float) -> dict[str, float]:
    """Repeated-measures F and p from summaries under a common correlation ``rho``
    (compound symmetry: error variance = mean variance - mean covariance)."""
    names = list(means)
    k = len(names)
    n = min(ns.values())
    an = anova_from_summary(
        [means[m] for m in names], [sds[m] for m in names], [ns[m] for m in names]
    )
    var = np.mean([sds[m] ** 2 for m in names])
    cov = np.mean([rho * sds[a] * sds[b] for a, b in method_pairs(names)])
    f = an["MSB"] / (var - cov)
    return {"F": float(f), "p": float(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))}


def recheck_metric(table: pd.DataFrame, metric: str, alpha: float = 0.05) -> dict:
    """Everything the recheck computes for one metric (see the module docstring)."""
    methods, means, sds, ns, half_m, half_s = _summaries(_metric_rows(table, metric))
    names = methods
    an = anova_from_summary(
        [means[m] for m in names], [sds[m] for m in names], [ns[m] for m in names]
    )
    welch = welch_from_summary(
        [means[m] for m in names], [sds[m] for m in names], [ns[m] for m in names]
    )
    lsd = lsd_from_summary(means, sds, ns)
    tukey = tukey_from_summary(means, sds, ns)
    holm = p_adjust({k: v["p"] for k, v in lsd.items()}, "holm")
    pairs = {}
    for a, b in method_pairs(names):
        key = pair_name(a, b)
        w, st = welch_t(a, b, means, sds, ns), student_t(a, b, means, sds, ns)
        pairs[key] = {
            "diff": lsd[key]["diff"],
            "lsd_t": lsd[key]["t"],
            "lsd_p": lsd[key]["p"],
            "tukey_q": tukey[key]["q"],
            "tukey_p": tukey[key]["p"],
            "student_t_pair": st["t"],
            "student_p_pair": st["p"],
            "welch_t": w["t"],
            "welch_df": w["df"],
            "welch_p": w["p"],
            "lsd_p_range_rounding": list(
                lsd_p_range_under_rounding(a, b, means, sds, ns, half_m, half_s)
            ),
            "paired_t_p_by_rho": {
                str(r): paired_p_given_rho(a, b, means, sds, ns, r) for r in RHO_GRID
            },
            "rho_for_paired_p05": rho_for_paired_p(a, b, means, sds, ns, alpha),
            "lsd_p_holm": holm[key],
        }
    return {
        "means": means,
        "sds": sds,
        "ns": ns,
        "oneway_anova": an,
        "oneway_F_range_under_rounding": list(
            f_range_under_rounding(means, sds, ns, half_m, half_s)
        ),
        "welch_anova": welch,
        "rm_anova_common_rho": {str(r): rm_anova_given_rho(means, sds, ns, r) for r in RHO_GRID},
        "pairs": pairs,
    }


def _pair_record(pairs: dict, a: str, b: str) -> dict:
    if pair_name(a, b) in pairs:
        return pairs[pair_name(a, b)]
    return pairs[pair_name(b, a)]


def check_claims(
    table: pd.DataFrame,
    control: str = "Control",
    reference: str | None = "UNet",
    alpha: float = 0.05,
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per printed comparison: every method against ``control`` ('*') and every
    other method against ``reference`` ('#'): whether the paper marks it, the recomputed LSD
    p, whether the mark (or its absence) holds at ``alpha`` (``verdict``: confirmed, NOT
    supported, unmarked but significant, unmarked n.s.), whether that verdict survives
    the rounding of the printed values, and the Welch, Tukey and Holm p values."""
    require_columns(table, ["metric", "method", "mean", "sd", "n"], "published table")
    metrics = list(metrics) if metrics is not None else list(pd.unique(table["metric"]))
    rows = []
    for metric in metrics:
        res = recheck_metric(table, metric, alpha)
        sub = _metric_rows(table, metric)
        marks = dict(
            zip(
                sub["method"].astype(str),
                sub.get("marks", pd.Series([""] * len(sub))).fillna("").astype(str),
                strict=True,
            )
        )
        for m in res["means"]:
            for symbol, comp in (("*", control), ("#", reference)):
                if comp is None or m == comp or comp not in res["means"]:
                    continue
                if symbol == "#" and m == control:
                    continue
                rec = _pair_record(res["pairs"], m, comp)
                printed = symbol in marks.get(m, "")
                sig = rec["lsd_p"] < alpha
                lo, hi = rec["lsd_p_range_rounding"]
                robust = (hi < alpha) if sig else (lo >= alpha)
                if printed:
                    verdict = "confirmed" if sig else "NOT supported"
                else:
                    verdict = "unmarked, but significant" if sig else "unmarked, n.s."
                rows.append(
                    {
                        "metric": metric,
                        "method": m,
                        "mark": symbol,
                        "versus": comp,
                        "printed": printed,
                        "lsd_p": rec["lsd_p"],
                        "significant": sig,
                        "holds": printed == sig,
                        "verdict": verdict,
                        "robust_to_rounding": robust,
                        "lsd_p_min": lo,
                        "lsd_p_max": hi,
                        "welch_p": rec["welch_p"],
                        "tukey_p": rec["tukey_p"],
                        "holm_p": rec["lsd_p_holm"],
                        "rho_for_paired_p05": rec["rho_for_paired_p05"],
                    }
                )
    return pd.DataFrame(rows)


def claim(
    table: pd.DataFrame, metric: str, better: str, worse: str, alpha: float = 0.05
) -> dict[str, float]:
    """A claim 'better beats worse on metric': LSD p and its verdict, the p range under
    rounding, Welch, Tukey and Holm p, and the rho needed for a paired p of 0.05."""
    res = recheck_metric(table, metric, alpha)
    rec = _pair_record(res["pairs"], better, worse)
    return {
        "lsd_p": rec["lsd_p"],
        "lsd_sig": float(rec["lsd_p"] < alpha),
        "lsd_p_range_rounding": rec["lsd_p_range_rounding"],
        "welch_p": rec["welch_p"],
        "tukey_p": rec["tukey_p"],
        "holm_p": rec["lsd_p_holm"],
        "rho_for_paired_p05": rec["rho_for_paired_p05"],
    }
