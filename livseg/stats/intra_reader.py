"""Intra-reader (test-retest) agreement from washout re-reads.

A study with a washout session has each reader score some of her items twice: session 1
(the main reading) and session 2 (the re-read, after the washout). A *pair* is (session 1
score, session 2 score) of one reader on one item (case x method). Per reader, and pooled
over readers (``all``), this module gives: the number of pairs, exact agreement (share of
pairs with the same score), Cohen's kappa with linear and quadratic weights over the fixed
categories 1-5, and ICC(A,1) (two-way random, absolute agreement, single measurement,
McGraw & Wong 1996; the two sessions are the "raters") with its 95% CI.

Input: the long score table with a ``session`` column (1 = first read, 2 = re-read), as
``db.export.scores_long`` writes it. Every other analysis of the report uses session 1 only
(``split_sessions``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from livseg.stats import agreement
from livseg.stats.design import StatsInputError, check_scores

CATEGORIES = (1, 2, 3, 4, 5)
STATS = (
    "n_pairs",
    "exact_agreement",
    "kappa_linear",
    "kappa_quadratic",
    "icc_a1",
    "icc_a1_ci_low",
    "icc_a1_ci_high",
)
MIN_PAIRS_PER_METHOD = 5


def split_sessions(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(session-1 scores, re-read pairs or None) of a long score table.

    Without a ``session`` column the table is all session 1 and there are no pairs. With
    one, its values must be 1 or 2; the pairs table has columns reader, case, method,
    first, second (one row per item a reader scored in both sessions). A reader scoring
    an item twice within one session raises StatsInputError (``check_scores``).
    """
    if "session" not in scores.columns:
        return scores, None
    session = pd.to_numeric(scores["session"], errors="coerce")
    bad = ~session.isin([1, 2])
    if bad.any():
        raise StatsInputError(
            "scores: column 'session' must hold 1 (first read) or 2 (re-read); "
            f"found {scores['session'][bad].iloc[0]!r}"
        )
    first = scores[session == 1].drop(columns="session")
    second = scores[session == 2].drop(columns="session")
    if second.empty:
        return first, None
    try:
        retest = check_scores(second)
    except StatsInputError as exc:
        raise StatsInputError(f"{exc} (in the re-read session 2)") from None
    base = check_scores(first)
    pairs = base.merge(retest, on=["reader", "case", "method"], suffixes=("_1", "_2"))
    pairs = pairs.dropna(subset=["score_1", "score_2"])
    pairs = pairs.rename(columns={"score_1": "first", "score_2": "second"})
    return first, pairs[["reader", "case", "method", "first", "second"]].reset_index(drop=True)


def pair_agreement(first: Sequence[float], second: Sequence[float]) -> dict[str, float]:
    """Agreement of paired scores (session 1, session 2) on the 1-5 scale.

    Returns n_pairs, exact_agreement (share, 0-1), kappa_linear, kappa_quadratic (Cohen's
    weighted kappa, categories 1-5 fixed), icc_a1 with icc_a1_ci_low / icc_a1_ci_high (95%).
    Raises StatsInputError for fewer than 2 pairs; a statistic that is undefined (no
    variation) is NaN.
    """
    x = np.column_stack([np.asarray(first, float), np.asarray(second, float)])
    x = x[np.isfinite(x).all(axis=1)]
    n = len(x)
    if n < 2:
        raise StatsInputError(f"fewer than 2 re-read pairs (n = {n})")
    out = {"n_pairs": float(n), "exact_agreement": float(np.mean(x[:, 0] == x[:, 1]))}
    with np.errstate(all="ignore"):
        kappa = agreement.cohen_kappa_pairs(pd.DataFrame(x, columns=["s1", "s2"]), CATEGORIES)
        out["kappa_linear"] = kappa["s1_s2"]["linear"]
        out["kappa_quadratic"] = kappa["s1_s2"]["quadratic"]
        if np.ptp(x) == 0:
            out.update(icc_a1=np.nan, icc_a1_ci_low=np.nan, icc_a1_ci_high=np.nan)
        else:
            icc2 = agreement.icc(x)["ICC2"]
            out.update(
                icc_a1=icc2["value"], icc_a1_ci_low=icc2["ci_low"], icc_a1_ci_high=icc2["ci_high"]
            )
    return {k: float(out[k]) for k in STATS}


def intra_reader_agreement(
    pairs: pd.DataFrame, methods: Sequence[str] | None = None
) -> dict[str, dict[str, float] | str]:
    """Agreement per subject: each reader (her order in ``pairs``), then ``all`` (pooled
    over readers), and ``<subject>/<method>`` for a subject whose every method has at least
    5 pairs. Values are ``pair_agreement`` dicts, or the reason text when not computable."""
    out: dict[str, dict[str, float] | str] = {}
    order = list(methods) if methods is not None else list(pd.unique(pairs["method"]))
    readers = [str(r) for r in pd.unique(pairs["reader"])]
    for subject in [*readers, "all"]:
        sub = pairs if subject == "all" else pairs[pairs["reader"] == subject]
        out[subject] = _attempt(sub)
        counts = sub["method"].value_counts()
        if len(order) > 1 and all(counts.get(m, 0) >= MIN_PAIRS_PER_METHOD for m in order):
            for m in order:
                out[f"{subject}/{m}"] = _attempt(sub[sub["method"] == m])
    return out


def _attempt(sub: pd.DataFrame) -> dict[str, float] | str:
    try:
        return pair_agreement(sub["first"], sub["second"])
    except StatsInputError as exc:
        return str(exc)


def undefined_reason(stat: str) -> str:
    """Why a NaN statistic of ``pair_agreement`` is undefined."""
    if stat.startswith("kappa"):
        return "kappa undefined: one and the same score in both sessions"
    return "no variation between the re-read items: ICC undefined"
