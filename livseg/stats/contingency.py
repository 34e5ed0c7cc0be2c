"""Count tables of detected / missed lesions per method (independent-groups view).

Pearson chi-square on the methods x (detected, missed) table with Cramér's V, the 2x2
chi-square for every pair (with and without Yates' correction) and Fisher's exact test.
These ignore that the same lesions are read by every method: see ``livseg.stats.detection``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import contingency

from livseg.stats.design import (
    StatsInputError,
    method_order,
    method_pairs,
    pair_name,
    require_columns,
)


def detection_counts(lesions: pd.DataFrame, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """Per method: detected, missed and total lesion counts from a long 0/1 table."""
    require_columns(lesions, ["lesion", "method", "detected"], "lesions")
    order = method_order(lesions, methods)
    det = pd.to_numeric(lesions["detected"], errors="coerce")
    if det.isna().any() or not det.isin([0, 1]).all():
        raise StatsInputError("lesions: column 'detected' must hold only 0 or 1")
    d = lesions.assign(detected=det.astype(int), method=lesions["method"].astype(str))
    rows = []
    for m in order:
        x = d.loc[d["method"] == m, "detected"]
        rows.append(
            {
                "method": m,
                "detected": int(x.sum()),
                "missed": int((1 - x).sum()),
                "total": int(x.size),
            }
        )
    return pd.DataFrame(rows).set_index("method")


def _table(counts: pd.DataFrame) -> np.ndarray:
    require_columns(counts, ["detected", "missed"], "counts")
    t = counts[["detected", "missed"]].to_numpy(dtype=float)
    if (t < 0).any():
        raise StatsInputError("counts: negative count")
    if (t.sum(axis=0) == 0).any() or (t.sum(axis=1) == 0).any():
        raise StatsInputError("counts: a row or column of the table is all zero")
    return t


def chi_square(counts: pd.DataFrame) -> dict[str, float]:
    """Pearson chi-square (no continuity correction) on the k x 2 table, with Cramér's V."""
    t = _table(counts)
    res = stats.chi2_contingency(t, correction=False)
    v = contingency.association(t.astype(int), method="cramer", correction=False)
    return {
        "X2": float(res.statistic),
        "df": float(res.dof),
        "p": float(res.pvalue),
        "cramers_V": float(v),
    }


def chi_square_pairs(counts: pd.DataFrame) -> dict[str, dict[str, float]]:
    """2x2 chi-square for every pair: X2, p (uncorrected) and X2_yates, p_yates."""
    out = {}
    for a, b in method_pairs(list(counts.index)):
        t = _table(counts.loc[[a, b]])
        r0 = stats.chi2_contingency(t, correction=False)
        r1 = stats.chi2_contingency(t, correction=True)
        out[pair_name(a, b)] = {
            "X2": float(r0.statistic),
            "p": float(r0.pvalue),
            "X2_yates": float(r1.statistic),
            "p_yates": float(r1.pvalue),
        }
    return out


def fisher_pairs(counts: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Fisher's exact test for every pair: two-sided p, sample odds ratio ad/bc and the
    conditional maximum-likelihood odds ratio (R fisher.test's estimate)."""
    out = {}
    for a, b in method_pairs(list(counts.index)):
        t = counts.loc[[a, b], ["detected", "missed"]].to_numpy(dtype=int)
        res = stats.fisher_exact(t)
        cond = contingency.odds_ratio(t, kind="conditional").statistic
        out[pair_name(a, b)] = {
            "p": float(res.pvalue),
            "OR_sample": float(res.statistic),
            "OR_conditional_MLE": float(cond),
        }
    return out
