"""Input checks and reshaping shared by every statistics family.

The study tables are long DataFrames (one row per observation):

- metrics: ``case, method, <metric columns>`` (one row per case x method);
- scores: ``case, method, reader, score`` (Likert 1-5, one row per case x method x reader);
- lesions: ``lesion, method, detected`` (0/1, the same lesions for every method).

Methods keep the order in which they first appear in the data; a pair ``A_vs_B`` always
means A minus B, with A listed before B.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd


class StatsInputError(ValueError):
    """Raised when a table cannot be analysed (missing columns, unpaired data, ...)."""


def require_columns(df: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise StatsInputError naming the missing columns of ``df``."""
    if not isinstance(df, pd.DataFrame):
        raise StatsInputError(f"{what}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise StatsInputError(f"{what}: missing column(s) {missing}; found {list(df.columns)}")


def method_order(df: pd.DataFrame, methods: Sequence[str] | None = None) -> list[str]:
    """Methods in first-appearance order, or ``methods`` after checking they exist."""
    require_columns(df, ["method"], "table")
    present = [str(m) for m in pd.unique(df["method"].astype(str))]
    if methods is None:
        return present
    unknown = [m for m in methods if m not in present]
    if unknown:
        raise StatsInputError(f"unknown method(s) {unknown}; the data hold {present}")
    return [str(m) for m in methods]


def method_pairs(methods: Sequence[str]) -> list[tuple[str, str]]:
    """All pairs (A, B) with A listed before B: the ``A_vs_B`` = A minus B convention."""
    return list(combinations(list(methods), 2))


def pair_name(a: str, b: str) -> str:
    """Key fragment for a pair: ``A_vs_B``."""
    return f"{a}_vs_{b}"


def numeric_column(df: pd.DataFrame, value: str, what: str) -> pd.Series:
    """The column ``value`` as float, refusing non-numeric or non-finite entries."""
    require_columns(df, [value], what)
    col = pd.to_numeric(df[value], errors="coerce")
    bad = col.isna() & df[value].notna()
    if bad.any():
        raise StatsInputError(
            f"{what}: column {value!r} has non-numeric value(s), e.g. {df[value][bad].iloc[0]!r}"
        )
    if np.isinf(col.to_numpy(dtype=float)).any():
        raise StatsInputError(f"{what}: column {value!r} has infinite value(s)")
    return col.astype(float)


def groups(
    df: pd.DataFrame, value: str, methods: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Non-missing values of ``value`` per method (independent-groups view)."""
    order = method_order(df, methods)
    col = numeric_column(df, value, "metrics")
    out: dict[str, np.ndarray] = {}
    for m in order:
        vals = col[df["method"].astype(str) == m].dropna().to_numpy(dtype=float)
        if vals.size < 2:
            raise StatsInputError(f"{value}: method {m!r} has {vals.size} value(s); need >= 2")
        out[m] = vals
    return out


def paired_wide(
    df: pd.DataFrame, value: str, methods: Sequence[str] | None = None, subject: str = "case"
) -> pd.DataFrame:
    """Subjects x methods table of ``value`` for the paired (repeated-measures) analyses.

    Subjects missing a method are dropped (complete cases); duplicates are an error.
    """
    require_columns(df, [subject, "method", value], "metrics")
    order = method_order(df, methods)
    data = df[[subject, "method"]].astype(str).assign(_v=numeric_column(df, value, "metrics"))
    dup = data.duplicated([subject, "method"])
    if dup.any():
        row = data[dup].iloc[0]
        raise StatsInputError(
            f"{value}: {subject} {row[subject]!r} has more than one row for method {row['method']!r}"
        )
    wide = data.pivot(index=subject, columns="method", values="_v")[order]
    wide = wide.dropna(axis=0, how="any")
    if len(wide) < 2:
        raise StatsInputError(
            f"{value}: fewer than 2 {subject}s have a value for every method {order}"
        )
    wide.columns.name = None
    return wide


def check_scores(scores: pd.DataFrame, low: int = 1, high: int = 5) -> pd.DataFrame:
    """Validate a long reader-score table and return it with string ids and float scores."""
    require_columns(scores, ["case", "method", "reader", "score"], "scores")
    out = scores[["case", "method", "reader"]].astype(str)
    out["score"] = numeric_column(scores, "score", "scores")
    vals = out["score"].dropna()
    off = vals[(vals < low) | (vals > high) | (vals != np.round(vals))]
    if len(off):
        raise StatsInputError(
            f"scores: Likert scores must be whole numbers {low}..{high}; found {off.iloc[0]!r}"
        )
    dup = out.duplicated(["case", "method", "reader"])
    if dup.any():
        r = out[dup].iloc[0]
        raise StatsInputError(
            f"scores: reader {r['reader']!r} scored case {r['case']!r} / method {r['method']!r} twice"
        )
    return out


def satisfaction(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean Likert score over readers per case x method (the paper's 'satisfaction')."""
    s = check_scores(scores)
    order = method_order(s)
    out = s.groupby(["case", "method"], sort=False)["score"].mean().reset_index()
    out["method"] = pd.Categorical(out["method"], categories=order, ordered=True)
    out = out.sort_values(["method", "case"], kind="stable")
    out["method"] = out["method"].astype(str)
    return out.rename(columns={"score": "satisfaction"}).reset_index(drop=True)


def ratings_matrix(
    scores: pd.DataFrame, method: str | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Targets x readers matrix of scores (targets = case x method, or cases of one method).

    Missing scores stay NaN. Returns the matrix and the reader order.
    """
    s = check_scores(scores)
    if method is not None:
        s = s[s["method"] == method]
        if s.empty:
            raise StatsInputError(f"scores: no scores for method {method!r}")
    readers = [str(r) for r in pd.unique(s["reader"])]
    order = method_order(s)
    s = s.assign(_m=pd.Categorical(s["method"], categories=order, ordered=True))
    wide = s.pivot_table(
        index=["_m", "case"], columns="reader", values="score", aggfunc="first", observed=True
    )
    wide = wide[readers]
    wide.columns.name = None
    return wide, readers
