"""Bland-Altman agreement of predicted vs reference volumes (mL)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from livseg.stats.design import StatsInputError, method_order, numeric_column, require_columns


def bland_altman(pred: np.ndarray, ref: np.ndarray, confidence: float = 0.95) -> dict[str, float]:
    """Bias (mean of pred - ref), SD of the differences, 95% limits of agreement
    (bias +- 1.96 SD) and the t-based CI of the bias; units of the input (mL)."""
    p, r = np.asarray(pred, dtype=float), np.asarray(ref, dtype=float)
    if p.shape != r.shape or p.size < 2:
        raise StatsInputError("Bland-Altman: need >= 2 paired values of equal length")
    if not (np.isfinite(p).all() and np.isfinite(r).all()):
        raise StatsInputError("Bland-Altman: volumes must be finite")
    d = p - r
    n = d.size
    bias, sd = d.mean(), d.std(ddof=1)
    z = stats.norm.ppf(0.5 + confidence / 2)
    tq = stats.t.ppf(0.5 + confidence / 2, n - 1)
    return {
        "n": float(n),
        "bias": float(bias),
        "sd_diff": float(sd),
        "loa_low": float(bias - z * sd),
        "loa_high": float(bias + z * sd),
        "bias_ci_low": float(bias - tq * sd / np.sqrt(n)),
        "bias_ci_high": float(bias + tq * sd / np.sqrt(n)),
    }


def bland_altman_by_method(
    volumes: pd.DataFrame, methods: Sequence[str] | None = None
) -> dict[str, dict[str, float]]:
    """Bland-Altman per method from a table ``case, method, pred_ml, ref_ml``."""
    require_columns(volumes, ["case", "method", "pred_ml", "ref_ml"], "volumes")
    pred = numeric_column(volumes, "pred_ml", "volumes")
    ref = numeric_column(volumes, "ref_ml", "volumes")
    if (pred < 0).any() or (ref < 0).any():
        raise StatsInputError("volumes: negative volume")
    out = {}
    for m in method_order(volumes, methods):
        sel = (volumes["method"].astype(str) == m) & pred.notna() & ref.notna()
        out[m] = bland_altman(pred[sel].to_numpy(), ref[sel].to_numpy())
    return out
