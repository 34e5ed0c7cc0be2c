"""Agreement while a study is being read (the Study page's "Agreement so far").

``agreement_so_far`` says exactly which readers each statistic uses: the ICCs use the items
scored by every reader who has scored (named), Krippendorff's alpha and the crossed
random-effects ICC every score. ``intra_reader_so_far`` gives the test-retest agreement of
the washout re-reads scored so far. Input: the long score table of one study (case,
method, reader, score, and session for the re-reads).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from livseg.stats import agreement, crossed_icc, intra_reader, reading_design
from livseg.stats.design import StatsInputError


@dataclass(frozen=True)
class InterimAgreement:
    """Agreement statistics so far: ``table`` (statistic, value, readers, items) and
    ``note`` (which readers are used, who has not scored yet, why a statistic is missing)."""

    table: pd.DataFrame
    note: str
    readers_scored: tuple[str, ...]
    readers_waiting: tuple[str, ...]


def _names(readers: Sequence[str]) -> str:
    return ", ".join(readers)


def agreement_so_far(scores: pd.DataFrame, study_readers: Sequence[str] = ()) -> InterimAgreement:
    """Inter-reader agreement of the session-1 scores so far.

    ``study_readers``: every reader of the study, so that those without a score yet are
    named. Rows: ICC(A,1) and ICC(C,1) on the items scored by every reader who has scored,
    Krippendorff's alpha (ordinal, every score), ICC(A,1) of the crossed random-effects
    model (every score; connected designs). A statistic the scores do not allow yet is
    left out and the note says why.
    """
    first, _ = intra_reader.split_sessions(scores)
    s = first.dropna(subset=["score"]).astype({"reader": str})
    scored = tuple(str(r) for r in pd.unique(s["reader"]))
    waiting = tuple(r for r in study_readers if r not in scored)
    notes = []
    if waiting:
        notes.append(f"No score yet from {_names(waiting)}: left out.")
    rows: list[dict] = []
    if len(scored) < 2:
        notes.append("Agreement needs at least two readers with scores.")
        return InterimAgreement(pd.DataFrame(rows), " ".join(notes), scored, waiting)
    ratings = s.pivot_table(
        index=["method", "case"], columns="reader", values="score", aggfunc="first"
    )[list(scored)]
    complete = ratings.dropna()
    k, who = len(scored), f"all {len(scored)} readers who have scored ({_names(scored)})"
    if len(complete) >= 2 and np.ptp(complete.to_numpy(float)) > 0:
        icc = agreement.icc(complete)
        for form, name in (
            ("ICC2", "ICC(A,1) absolute agreement"),
            ("ICC3", "ICC(C,1) consistency"),
        ):
            if math.isfinite(icc[form]["value"]):
                rows.append(
                    {
                        "statistic": name,
                        "value": icc[form]["value"],
                        "readers": k,
                        "items": len(complete),
                        "uses": f"items scored by {who}",
                    }
                )
    else:
        notes.append(
            f"ICC: {len(complete)} items scored by {who} so far, with variation needed "
            "on at least 2."
        )
    flat = ratings.to_numpy(dtype=float)
    if np.unique(flat[np.isfinite(flat)]).size >= 2:
        rows.append(
            {
                "statistic": "Krippendorff's alpha (ordinal)",
                "value": agreement.krippendorff_alpha(flat, "ordinal"),
                "readers": k,
                "items": int(ratings.notna().any(axis=1).sum()),
                "uses": f"every score of {_names(scored)}",
            }
        )
    layout = reading_design.reading_design(s)
    notes.append(f"Design so far: {layout.text()}.")
    if layout.connected:
        try:
            crossed = crossed_icc.crossed_icc(s)
        except StatsInputError as exc:
            notes.append(f"Crossed-model ICC not computable yet: {exc}.")
        else:
            rows.append(
                {
                    "statistic": "ICC(A,1) crossed model (reader, item)",
                    "value": crossed["value"],
                    "readers": k,
                    "items": int(crossed["n_targets"]),
                    "uses": f"every score of {_names(scored)}",
                }
            )
    else:
        notes.append(
            f"The readers form {layout.n_components} groups that share no item: no "
            "crossed-model ICC."
        )
    return InterimAgreement(pd.DataFrame(rows), " ".join(notes), scored, waiting)


def intra_reader_so_far(scores: pd.DataFrame) -> pd.DataFrame | None:
    """Test-retest agreement of the re-reads scored so far, one row per reader and one for
    all readers pooled (reader, pairs, exact agreement, kappa linear / quadratic, ICC(A,1)
    with its 95% CI; NaN where undefined or fewer than 2 pairs), or None without re-reads."""
    _, pairs = intra_reader.split_sessions(scores)
    if pairs is None:
        return None
    rows = []
    agreement_of = intra_reader.intra_reader_agreement(pairs) if len(pairs) else {"all": ""}
    for subject, rec in agreement_of.items():
        if "/" in subject:
            continue
        n = int((pairs["reader"] == subject).sum()) if subject != "all" else len(pairs)
        row = {"reader": "all readers (pooled)" if subject == "all" else subject}
        if isinstance(rec, str):
            row.update(dict.fromkeys(intra_reader.STATS, math.nan), n_pairs=n)
        else:
            row.update(rec)
        rows.append(row)
    table = pd.DataFrame(rows)
    table["n_pairs"] = table["n_pairs"].astype(int)
    return table
