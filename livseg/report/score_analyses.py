"""The reader scores' analyses: Likert descriptives, reader agreement (ICC, Fleiss' and
Cohen's kappa, Krippendorff's alpha, Kendall's W), the crossed-model ICC, intra-reader
agreement of the washout re-reads, and the LMM / CLM / CLMM of the scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from livseg.report.guarded import (
    NotComputable,
    NotComputableMap,
    all_finite,
    attempt,
    finite,
    mark,
    put,
)
from livseg.report.metric_analyses import checked_lmm, lmm_keys
from livseg.stats import (
    agreement,
    crossed_icc,
    descriptive,
    design,
    intra_reader,
    mixed,
    ordinal,
    reading_design,
)

KRIPP_LEVELS = ("nominal", "ordinal", "interval", "ratio")


SCORE_FAMILIES = ("icc", "fleiss_kappa", "kripp_alpha", "cohen_kappa", "kendall_w")


SCORE_MODELS = ("lmm/scores_case_reader", "clm/scores", "clmm/scores_case_reader")


def score_results(
    scores: pd.DataFrame,
    methods: Sequence[str],
    *,
    ordinal_models: bool = True,
    lmm_fit: str = "auto",
    not_computable: NotComputableMap | None = None,
) -> dict[str, float]:
    """Reader-agreement statistics, Likert descriptives and models of the scores; each
    analysis the scores do not allow is recorded in ``not_computable`` instead."""
    nc = not_computable if not_computable is not None else {}
    out: dict[str, float] = {}
    s = design.check_scores(scores).dropna(subset=["score"])
    s = s[s["method"].isin(methods)]
    subjects = ["all", *methods]
    models = list(SCORE_MODELS if ordinal_models else SCORE_MODELS[:1])
    if s.empty:
        mark(
            nc,
            ["likert", *(f"{f}/{subj}" for f in SCORE_FAMILIES for subj in subjects), *models],
            "no reader scores yet",
        )
        return out
    _likert_descriptives(out, nc, s, methods)
    full, readers = design.ratings_matrix(s)
    for subj in subjects:
        _subject_agreement(out, nc, subj, full, readers)
    _score_models(out, nc, s, methods, readers, models, ordinal_models, lmm_fit)
    return out


def _likert_descriptives(
    out: dict, nc: NotComputableMap, s: pd.DataFrame, methods: Sequence[str]
) -> None:
    """likert/<m>/...: the counts of each score 1-5, n, mean, SD, median and quartiles."""
    dist = descriptive.likert_distribution(s, ("method",))
    for m in methods:
        if m not in set(dist["method"]):
            nc[f"likert/{m}"] = "no scores for this method yet"
    for _, row in dist.iterrows():
        for k in ("1", "2", "3", "4", "5", "n", "mean", "sd", "median", "q1", "q3"):
            out[f"likert/{row['method']}/{k}"] = float(row[k])
        if row["n"] < 2:
            nc[f"likert/{row['method']}/sd"] = "only 1 score"


_IDENTICAL = "all scores are identical: agreement undefined"


def _subject_agreement(
    out: dict, nc: NotComputableMap, subj: str, full: pd.DataFrame, readers: Sequence[str]
) -> None:
    """ICC, Fleiss' kappa, Krippendorff's alpha, Cohen's kappas and Kendall's W of the
    readers over the items of ``subj`` ('all' or a method)."""
    fams = [f"{f}/{subj}" for f in SCORE_FAMILIES]
    ratings = (
        full
        if subj == "all"
        else (full.xs(subj, level=0) if subj in full.index.get_level_values(0) else None)
    )
    if ratings is None:
        mark(nc, fams, "no scores for this method yet")
        return
    if len(readers) < 2:
        mark(nc, fams, f"only one reader ({readers[0]}) has scored: agreement needs >= 2 readers")
        return
    n_all = int(ratings.notna().all(axis=1).sum())
    flat = ratings.to_numpy(dtype=float)
    same = np.unique(flat[np.isfinite(flat)]).size < 2
    few = f"fewer than 2 targets scored by every reader (n = {n_all})"
    _icc_and_fleiss(out, nc, subj, ratings, same, n_all, few)
    _kripp_alpha(out, nc, subj, ratings, same)
    _cohen_kappas(out, nc, subj, ratings, readers)
    tie = _IDENTICAL if same else "every reader gave all targets the same score"
    put(
        out,
        f"kendall_w/{subj}",
        attempt(
            nc,
            f"kendall_w/{subj}",
            lambda r=ratings, why=tie: finite(agreement.kendall_w(r), ["W", "p"], why),
        )
        or {},
    )
    if f"kendall_w/{subj}" in nc and n_all < 2:
        nc[f"kendall_w/{subj}"] = few


def _icc_and_fleiss(
    out: dict,
    nc: NotComputableMap,
    subj: str,
    ratings: pd.DataFrame,
    same: bool,
    n_all: int,
    few: str,
) -> None:
    """icc/<subj>/<form>/... (the ICC forms) and fleiss_kappa/<subj>."""
    icc_res = attempt(
        nc,
        f"icc/{subj}",
        lambda r=ratings, why=(_IDENTICAL if same else "no variation between targets"): all_finite(
            agreement.icc(r), "value", why
        ),
    )
    for form, r in (icc_res or {}).items():
        put(out, f"icc/{subj}/{form}", r)
    if icc_res is None and n_all < 2:
        nc[f"icc/{subj}"] = few
    fk = attempt(
        nc,
        f"fleiss_kappa/{subj}",
        lambda r=ratings, why=(_IDENTICAL if same else "kappa undefined"): finite(
            agreement.fleiss_kappa(r), ["kappa"], why
        ),
    )
    put(out, f"fleiss_kappa/{subj}", fk or {})
    if fk is None and n_all < 2:
        nc[f"fleiss_kappa/{subj}"] = few


def _kripp_alpha(
    out: dict, nc: NotComputableMap, subj: str, ratings: pd.DataFrame, same: bool
) -> None:
    """kripp_alpha/<subj>/<level> at the nominal, ordinal, interval and ratio levels."""
    for level in KRIPP_LEVELS:
        ka = attempt(
            nc,
            f"kripp_alpha/{subj}/{level}",
            lambda r=ratings, lv=level, why=_IDENTICAL: finite(
                {"a": agreement.krippendorff_alpha(r, lv)}, ["a"], why
            ),
        )
        if ka is not None:
            out[f"kripp_alpha/{subj}/{level}"] = ka["a"]
        elif same:
            nc[f"kripp_alpha/{subj}/{level}"] = _IDENTICAL


def _cohen_kappas(
    out: dict, nc: NotComputableMap, subj: str, ratings: pd.DataFrame, readers: Sequence[str]
) -> None:
    """cohen_kappa/<subj>/<r1>_<r2>/...: Cohen's kappa of each pair of readers."""
    for r1, r2 in combinations(readers, 2):
        pre = f"cohen_kappa/{subj}/{r1}_{r2}"
        ck = attempt(
            nc,
            pre,
            lambda r=ratings, a=r1, b=r2: finite(
                agreement.cohen_kappa_pairs(r[[a, b]])[f"{a}_{b}"],
                ["unweighted"],
                f"kappa undefined: readers {a} and {b} gave one and the same score",
            ),
        )
        put(out, pre, ck or {})


def _score_models(
    out: dict,
    nc: NotComputableMap,
    s: pd.DataFrame,
    methods: Sequence[str],
    readers: Sequence[str],
    models: Sequence[str],
    ordinal_models: bool,
    lmm_fit: str,
) -> None:
    """The scores' LMM (case and reader random intercepts) and, with ``ordinal_models``,
    the CLM and CLMM, or why the scores do not allow them."""
    if len(methods) < 2:
        mark(nc, models, "only one method: no method effect to model")
        return
    missing = [m for m in methods if m not in set(s["method"])]
    if missing:
        mark(nc, models, "no scores yet for " + ", ".join(missing))
        return
    if len(readers) < 2 or s["case"].nunique() < 2:
        mark(nc, models, "the model needs >= 2 readers and >= 2 cases (random intercepts)")
        return
    lmm = attempt(
        nc,
        "lmm/scores_case_reader",
        lambda: checked_lmm(mixed.fit_lmm(s, "score", ("case", "reader"), methods, fit=lmm_fit)),
    )
    if lmm is not None:
        lmm_keys(out, "lmm/scores_case_reader", lmm)
    if ordinal_models:
        _ordinal_models(out, nc, s, methods)


def _ordinal_models(
    out: dict, nc: NotComputableMap, s: pd.DataFrame, methods: Sequence[str]
) -> None:
    """clm/scores/... and clmm/scores_case_reader/... (the CLMM starts from the CLM fit)."""
    c = attempt(nc, "clm/scores", lambda: _checked_clm(ordinal.clm(s, methods)))
    if c is None:
        nc["clmm/scores_case_reader"] = nc["clm/scores"]
        return
    for k, v in c["beta"].items():
        out[f"clm/scores/beta/{k}"] = v
    for k, v in c["theta"].items():
        out[f"clm/scores/theta/{k}"] = v
    out["clm/scores/logLik"] = c["logLik"]
    cm = attempt(
        nc,
        "clmm/scores_case_reader",
        lambda: _checked_clm(ordinal.clmm(s, ("case", "reader"), methods, start=c)),
    )
    if cm is not None:
        for k, v in cm["beta"].items():
            out[f"clmm/scores_case_reader/beta/{k}"] = v
        for k, v in cm["sd"].items():
            out[f"clmm/scores_case_reader/sd_{k}"] = v
        out["clmm/scores_case_reader/LR_method"] = cm["LR_method"]
        out["clmm/scores_case_reader/p_method"] = cm["p_method"]


def crossed_icc_results(
    scores: pd.DataFrame, methods: Sequence[str], not_computable: NotComputableMap | None = None
) -> dict[str, float]:
    """ICC(A,1) of the crossed random-effects model (reader, target), which uses every
    score of an incomplete design (``livseg.stats.crossed_icc``), for all targets and per
    method: ``icc_crossed/<all|method>/<value|ci_low|ci_high|var_*|n_*>``."""
    nc = not_computable if not_computable is not None else {}
    out: dict[str, float] = {}
    s = design.check_scores(scores).dropna(subset=["score"])
    s = s[s["method"].isin(methods)]
    for subj in ["all", *methods]:
        pre = f"icc_crossed/{subj}"
        sub = s if subj == "all" else s[s["method"] == subj]
        if sub.empty:
            nc[pre] = "no reader scores yet" if s.empty else "no scores for this method yet"
            continue
        layout = reading_design.reading_design(sub)
        if not layout.connected:
            nc[pre] = (
                f"the readers form {layout.n_components} groups that share no item: reader "
                "and item effects are not separable"
            )
            continue
        put(out, pre, attempt(nc, pre, lambda x=sub: crossed_icc.crossed_icc(x)) or {})
    return out


def intra_reader_results(
    pairs: pd.DataFrame, methods: Sequence[str], not_computable: NotComputableMap | None = None
) -> dict[str, float]:
    """Intra-reader agreement of the washout re-reads (``livseg.stats.intra_reader``) under
    ``intra_reader/<reader or all>[/<method>]/<stat>``; what the pairs do not allow is
    recorded in ``not_computable``."""
    nc = not_computable if not_computable is not None else {}
    out: dict[str, float] = {}
    pairs = pairs[pairs["method"].isin(methods)]
    if pairs.empty:
        nc["intra_reader"] = "no item scored in both sessions yet"
        return out
    present = [m for m in methods if m in set(pairs["method"])]
    for subject, rec in intra_reader.intra_reader_agreement(pairs, present).items():
        pre = f"intra_reader/{subject}"
        if isinstance(rec, str):
            nc[pre] = rec
            continue
        for stat in intra_reader.STATS:
            if math.isfinite(rec[stat]):
                out[f"{pre}/{stat}"] = rec[stat]
            else:
                nc[f"{pre}/{stat}"] = intra_reader.undefined_reason(stat)
    return out


def _checked_clm(res: dict) -> dict:
    vals = [*res["beta"].values(), *res["theta"].values(), res["logLik"]]
    if not all(math.isfinite(float(v)) and abs(float(v)) < 1e6 for v in vals):
        raise NotComputable(
            "the model does not converge (a method's scores are all at one "
            "end of the scale: separation)"
        )
    return res
