"""Descriptive statistics: mean +- SD per method and Likert distributions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from livseg.stats.design import check_scores, groups, method_order


def describe(
    metrics: pd.DataFrame, value: str, methods: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per method: n, mean, SD (ddof 1), median, Q1, Q3, min, max of column ``value``."""
    return describe_groups(groups(metrics, value, methods))


def describe_groups(values: dict[str, np.ndarray]) -> pd.DataFrame:
    """``describe`` of already separated groups (method -> values)."""
    rows = []
    for m, x in values.items():
        q1, med, q3 = np.percentile(x, [25, 50, 75])
        rows.append(
            {
                "method": m,
                "n": int(x.size),
                "mean": float(x.mean()),
                "sd": float(x.std(ddof=1)),
                "median": float(med),
                "q1": float(q1),
                "q3": float(q3),
                "min": float(x.min()),
                "max": float(x.max()),
            }
        )
    return pd.DataFrame(rows).set_index("method")


def likert_distribution(
    scores: pd.DataFrame,
    by: Sequence[str] = ("method",),
    levels: Sequence[int] = (1, 2, 3, 4, 5),
) -> pd.DataFrame:
    """Counts of each Likert level per group (rows) with n, mean, SD, median, Q1, Q3.

    Quartiles use linear interpolation (numpy default, R type 7).
    """
    s = check_scores(scores).dropna(subset=["score"])
    by = list(by)
    order = method_order(s)
    rows = []
    for key, g in s.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        x = g["score"].to_numpy(dtype=float)
        q1, med, q3 = np.percentile(x, [25, 50, 75])
        row = dict(zip(by, key, strict=True))
        row.update({str(lv): int((x == lv).sum()) for lv in levels})
        row.update(
            n=int(x.size),
            mean=float(x.mean()),
            sd=float(x.std(ddof=1)) if x.size > 1 else float("nan"),
            median=float(med),
            q1=float(q1),
            q3=float(q3),
        )
        rows.append(row)
    out = pd.DataFrame(rows)
    if "method" in by:
        out["_o"] = out["method"].map({m: i for i, m in enumerate(order)})
        out = out.sort_values(["_o", *[b for b in by if b != "method"]]).drop(columns="_o")
    return out.reset_index(drop=True)


def format_mean_sd(mean: float, sd: float, decimals: int = 2) -> str:
    """'0.89 ± 0.04' style text."""
    return f"{mean:.{decimals}f} ± {sd:.{decimals}f}"


def format_median_iqr(median: float, q1: float, q3: float, decimals: int = 1) -> str:
    """'4.0 [3.0–5.0]' style text (median [IQR])."""
    return f"{median:.{decimals}f} [{q1:.{decimals}f}–{q3:.{decimals}f}]"
