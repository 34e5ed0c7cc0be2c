"""Lesion detection on the same lesions for every method (paired binary outcomes).

Cochran's Q across methods, McNemar for every pair (chi-square with and without continuity
correction, and the exact binomial test), and detection rates with Clopper-Pearson and
Wilson 95% intervals.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from scipy import stats

from livseg.stats.design import (
    StatsInputError,
    method_order,
    method_pairs,
    pair_name,
    require_columns,
)


def detection_matrix(lesions: pd.DataFrame, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Lesions x methods 0/1 matrix; every lesion must be read by every method."""
    require_columns(lesions, ["lesion", "method", "detected"], "lesions")
    order = method_order(lesions, methods)
    det = pd.to_numeric(lesions["detected"], errors="coerce")
    if det.isna().any() or not det.isin([0, 1]).all():
        raise StatsInputError("lesions: column 'detected' must hold only 0 or 1")
    d = lesions[["lesion", "method"]].astype(str).assign(detected=det.astype(int))
    if d.duplicated(["lesion", "method"]).any():
        raise StatsInputError("lesions: a lesion appears twice for the same method")
    wide = d.pivot(index="lesion", columns="method", values="detected")[order]
    if wide.isna().any().any():
        miss = wide.index[wide.isna().any(axis=1)][0]
        raise StatsInputError(
            f"lesions: lesion {miss!r} is not listed for every method; paired tests need "
            "the same lesions for every method"
        )
    wide.columns.name = None
    return wide.astype(int)


def cochran_q(matrix: pd.DataFrame) -> dict[str, float]:
    """Cochran's Q (chi-square with k - 1 df) on a subjects x methods 0/1 matrix."""
    x = matrix.to_numpy(dtype=float)
    k = x.shape[1]
    if k < 2:
        raise StatsInputError("Cochran's Q needs at least 2 methods")
    col, row = x.sum(axis=0), x.sum(axis=1)
    den = k * row.sum() - (row**2).sum()
    if den == 0:
        return {"Q": float("nan"), "df": float(k - 1), "p": float("nan")}
    q = (k - 1) * (k * (col**2).sum() - col.sum() ** 2) / den
    return {"Q": float(q), "df": float(k - 1), "p": float(stats.chi2.sf(q, k - 1))}


def mcnemar_pairs(matrix: pd.DataFrame) -> dict[str, dict[str, float]]:
    """McNemar for every pair A_vs_B: b = detected by A only, c = by B only.

    X2 = (b - c)^2 / (b + c); X2_cc with continuity correction (R mcnemar.test default);
    p_exact = two-sided binomial test of b out of b + c (statsmodels' default).
    """
    out = {}
    for a, b_name in method_pairs(list(matrix.columns)):
        xa, xb = matrix[a].to_numpy(), matrix[b_name].to_numpy()
        b = int(((xa == 1) & (xb == 0)).sum())
        c = int(((xa == 0) & (xb == 1)).sum())
        rec = {"b_A_only": float(b), "c_B_only": float(c)}
        if b + c == 0:
            rec.update(X2=float("nan"), p=1.0, X2_cc=float("nan"), p_cc=1.0, p_exact=1.0)
        else:
            x2 = (b - c) ** 2 / (b + c)
            x2cc = (max(abs(b - c) - 1, 0)) ** 2 / (b + c)
            rec.update(
                X2=float(x2),
                p=float(stats.chi2.sf(x2, 1)),
                X2_cc=float(x2cc),
                p_cc=float(stats.chi2.sf(x2cc, 1)),
                p_exact=float(stats.binomtest(b, b + c).pvalue),
            )
        out[pair_name(a, b_name)] = rec
    return out


def detection_rates(counts: pd.DataFrame, confidence: float = 0.95) -> dict[str, dict[str, float]]:
    """Detection rate per method with Clopper-Pearson (exact) and Wilson intervals."""
    require_columns(counts, ["detected", "missed"], "counts")
    out = {}
    for m, row in counts.iterrows():
        k, n = int(row["detected"]), int(row["detected"] + row["missed"])
        if n == 0:
            raise StatsInputError(f"counts: method {m!r} has no lesions")
        bt = stats.binomtest(k, n)
        cp = bt.proportion_ci(confidence, method="exact")
        wi = bt.proportion_ci(confidence, method="wilson")
        out[str(m)] = {
            "rate": k / n,
            "clopper_pearson_low": float(cp.low),
            "clopper_pearson_high": float(cp.high),
            "wilson_low": float(wi.low),
            "wilson_high": float(wi.high),
            "detected": float(k),
            "n": float(n),
        }
    return out
