"""Every statistic of a study as one flat dict, keyed like the reference values.

Key scheme ``family/subject/[A_vs_B/]quantity`` (e.g. ``lsd/DSC/UNet_vs_Control/p``,
``icc/all/ICC2/ci_low``); a pair ``A_vs_B`` is A minus B with A listed first; methods keep
the order of the data. ``write_results_json`` stores ``{"meta": ..., "results": {key: value}}``
(NaN as null).
"""

from __future__ import annotations

import json
import math
import platform
import warnings
from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from livseg import metric_registry
from livseg.stats import (
    agreement,
    bland_altman,
    contingency,
    crossed_icc,
    descriptive,
    design,
    detection,
    intra_reader,
    mixed,
    oneway,
    ordinal,
    paired,
    power,
    reading_design,
)

METRIC_COLUMNS = metric_registry.OUTCOME_COLUMNS  # livseg.metric_registry
KRIPP_LEVELS = ("nominal", "ordinal", "interval", "ratio")
# per-case numbers that are not outcomes to compare (used for Bland-Altman, or signed versions)
NOT_OUTCOMES = (
    "case",
    "method",
    "volume_ml",
    "reference_volume_ml",
    "pred_ml",
    "ref_ml",
    "VE_signed_pct",
    "satisfaction",
)
ANALYSIS_ERRORS = (
    design.StatsInputError,
    ValueError,
    ZeroDivisionError,
    FloatingPointError,
    np.linalg.LinAlgError,
)


class NotComputable(Exception):
    """An analysis that the data do not allow (too few values, no variation, ...)."""


# what a single analysis may raise on degenerate data; caught per analysis and reported as
# "not computable: <reason>" (input errors are checked before, in ``check_inputs``)
GUARDED = (NotComputable, *ANALYSIS_ERRORS, ArithmeticError, IndexError, KeyError)


def metric_columns(metrics: pd.DataFrame) -> list[str]:
    """Outcome columns of a metrics table: the known ones (DSC, JI, HD_mm, HD95_mm, ASSD_mm,
    time_s, VER_pct) present; if none is present, every numeric column that is not an id,
    a volume or a signed error."""
    known = [c for c in METRIC_COLUMNS if c in metrics.columns]
    if known:
        return known
    return [
        c
        for c in metrics.columns
        if c not in NOT_OUTCOMES and pd.api.types.is_numeric_dtype(metrics[c])
    ]


def _num(x: float) -> str:
    return f"{x:g}"


def _put(out: dict, prefix: str, rec: Mapping[str, float], names: Sequence[str] | None = None):
    for k in names if names is not None else rec:
        if k in rec:
            out[f"{prefix}/{k}"] = float(rec[k])


def analysis_table(metrics: pd.DataFrame, scores: pd.DataFrame | None) -> pd.DataFrame:
    """The metrics table with a ``satisfaction`` column (mean of the readers) when scores
    are given."""
    design.require_columns(metrics, ["case", "method"], "metrics")
    m = metrics.copy()
    m["case"], m["method"] = m["case"].astype(str), m["method"].astype(str)
    if scores is not None and len(scores):
        sat = design.satisfaction(scores)
        if "satisfaction" in m.columns:
            m = m.drop(columns="satisfaction")
        m = m.merge(sat, on=["case", "method"], how="left")
    return m


NotComputableMap = dict[str, str]


def _finite(rec: Mapping[str, float], keys: Sequence[str], reason: str) -> Mapping[str, float]:
    """``rec`` unless one of ``keys`` is missing or not finite: then NotComputable(reason)."""
    for k in keys:
        v = rec.get(k)
        if v is None or not math.isfinite(float(v)):
            raise NotComputable(reason)
    return rec


def _attempt(nc: NotComputableMap, prefix: str, fn):
    """``fn()``, or None with ``nc[prefix]`` = the reason when the analysis cannot be done."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn()
        except GUARDED as exc:
            nc[prefix] = _reason_text(exc)
            return None


def _reason_text(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, (NotComputable, design.StatsInputError)) and text:
        return text
    # a library's own error text (e.g. numpy's) means nothing to a coordinator: say what
    # the data lack instead
    if isinstance(exc, np.linalg.LinAlgError):
        return "singular model (the data do not determine every estimate)"
    if isinstance(exc, (ZeroDivisionError, FloatingPointError, ArithmeticError)):
        return "no variation in the data (a division by zero)"
    return "too few values or no variation for this analysis"


def _mark(nc: NotComputableMap, prefixes: Sequence[str], reason: str) -> None:
    for p in prefixes:
        nc[p] = reason


def _values_by_method(
    table: pd.DataFrame, value: str, methods: Sequence[str]
) -> dict[str, np.ndarray]:
    col = design.numeric_column(table, value, "metrics")
    meth = table["method"].astype(str)
    return {m: col[meth == m].dropna().to_numpy(dtype=float) for m in methods}


def _wide(table: pd.DataFrame, value: str, methods: Sequence[str]) -> pd.DataFrame:
    """Cases x methods table of ``value`` with NaN where a value is missing."""
    data = (
        table[["case", "method"]]
        .astype(str)
        .assign(_v=design.numeric_column(table, value, "metrics"))
    )
    wide = data.pivot(index="case", columns="method", values="_v").reindex(columns=list(methods))
    wide.columns.name = None
    return wide


def metric_results(
    table: pd.DataFrame,
    value: str,
    methods: Sequence[str],
    *,
    margin: float | None = None,
    lmm_fit: str = "auto",
    not_computable: NotComputableMap | None = None,
) -> dict[str, float]:
    """Independent-groups and paired analyses of one outcome column.

    Missing values (NaN) are left out: descriptives and the independent-groups tests use
    the available values of each method (n in ``descriptive/<v>/<m>/n``); the pairwise
    paired tests use the cases with a value for both methods (n in
    ``paired_t/<v>/<pair>/n``); RM-ANOVA, Friedman and the LMM use the cases with a value
    for every method (``paired_n/<v>``). An analysis the data do not allow is left out of
    the result and ``not_computable[key prefix]`` says why."""
    nc = not_computable if not_computable is not None else {}
    out: dict[str, float] = {}
    vals = _values_by_method(table, value, methods)
    _descriptives(out, nc, value, vals)
    _independent_groups(out, nc, value, methods, vals)
    wide = _wide(table, value, methods)
    _repeated_measures(out, nc, table, value, methods, wide, lmm_fit)
    t_p, w_p = _pairwise_paired(out, nc, value, methods, wide, margin)
    _p_adjustments(out, nc, value, methods, t_p, w_p)
    return out


def _descriptives(
    out: dict, nc: NotComputableMap, value: str, vals: Mapping[str, np.ndarray]
) -> None:
    """descriptive/<v>/<m>/...: n, mean, SD, ... of each method's available values."""
    for m, x in vals.items():
        pre = f"descriptive/{value}/{m}"
        if x.size == 0:
            nc[pre] = "no values"
            continue
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            row = descriptive.describe_groups({m: x}).loc[m].to_dict()
        _put(out, pre, row)
        if x.size < 2:
            nc[f"{pre}/sd"] = "only 1 value"


def _independent_groups(
    out: dict,
    nc: NotComputableMap,
    value: str,
    methods: Sequence[str],
    vals: Mapping[str, np.ndarray],
) -> None:
    """One-way ANOVA, Fisher LSD, Tukey, Welch ANOVA and Kruskal-Wallis of the methods'
    values as independent groups, or why the data do not allow them."""
    groups_keys = [
        f"oneway/{value}",
        f"welch_anova/{value}",
        f"lsd/{value}",
        f"tukey/{value}",
        f"kruskal/{value}",
    ]
    short = [f"{m} (n = {x.size})" for m, x in vals.items() if x.size < 2]
    if len(methods) < 2:
        _mark(nc, groups_keys, "only one method: nothing to compare")
    elif short:
        _mark(nc, groups_keys, "fewer than 2 values for " + ", ".join(short))
    elif all(np.ptp(x) == 0 for x in vals.values()):
        same = np.ptp(np.concatenate(list(vals.values()))) == 0
        _mark(
            nc,
            groups_keys,
            "no variation (all values are identical)"
            if same
            else "no variation within the methods (every method's values are constant)",
        )
    else:
        means, sds, ns = oneway.summaries(vals)
        args = ([means[m] for m in vals], [sds[m] for m in vals], [ns[m] for m in vals])
        _oneway_lsd_tukey(out, nc, value, vals, args, (means, sds, ns))
        _welch_and_kruskal(out, nc, value, vals, args)


_NO_VARIATION_WITHIN = "no variation within the methods (every method's values are constant)"


def _oneway_lsd_tukey(
    out: dict,
    nc: NotComputableMap,
    value: str,
    vals: Mapping[str, np.ndarray],
    args: tuple,
    summaries: tuple,
) -> None:
    """oneway/<v>, lsd/<v>/<pair> and tukey/<v>/<pair> from the methods' summaries."""
    means, sds, ns = summaries
    an = _attempt(
        nc,
        f"oneway/{value}",
        lambda: _finite(
            oneway.anova_from_summary(*args),
            ["F", "p"],
            "no variation (all values are identical)"
            if len(set(np.concatenate(list(vals.values())))) == 1
            else _NO_VARIATION_WITHIN,
        ),
    )
    if an is not None:
        _put(out, f"oneway/{value}", an, ["F", "df1", "df2", "p", "MSE", "eta2"])
        for pk, r in oneway.lsd_from_summary(means, sds, ns).items():
            _put(out, f"lsd/{value}/{pk}", r, ["diff", "t", "p"])
        tk = _attempt(nc, f"tukey/{value}", lambda: oneway.tukey_from_summary(means, sds, ns))
        for pk, r in (tk or {}).items():
            _put(out, f"tukey/{value}/{pk}", r, ["q", "p"])
    else:
        _mark(nc, [f"lsd/{value}", f"tukey/{value}"], nc[f"oneway/{value}"])


def _welch_and_kruskal(
    out: dict, nc: NotComputableMap, value: str, vals: Mapping[str, np.ndarray], args: tuple
) -> None:
    """welch_anova/<v> (refused when a method has zero variance) and kruskal/<v>."""
    zero_sd = [m for m in vals if np.ptp(vals[m]) == 0]
    if zero_sd:
        nc[f"welch_anova/{value}"] = "zero variance for " + ", ".join(zero_sd)
    else:
        _put(
            out,
            f"welch_anova/{value}",
            _attempt(
                nc,
                f"welch_anova/{value}",
                lambda: _finite(oneway.welch_from_summary(*args), ["F", "p"], _NO_VARIATION_WITHIN),
            )
            or {},
        )
    _put(
        out,
        f"kruskal/{value}",
        _attempt(
            nc,
            f"kruskal/{value}",
            lambda: _finite(
                oneway.kruskal_from_groups(vals),
                ["H", "p"],
                "no variation (all values are identical)",
            ),
        )
        or {},
    )


def _repeated_measures(
    out: dict,
    nc: NotComputableMap,
    table: pd.DataFrame,
    value: str,
    methods: Sequence[str],
    wide: pd.DataFrame,
    lmm_fit: str,
) -> None:
    """paired_n/<v>, RM-ANOVA, Friedman (3+ methods) and the case LMM over the cases with
    a value for every method."""
    complete = wide.dropna(axis=0, how="any")
    out[f"paired_n/{value}"] = float(len(complete))
    paired_keys = [f"rm_anova/{value}", f"lmm/{value}_case"]
    if len(methods) >= 3:
        paired_keys.append(f"friedman/{value}")
    if len(methods) < 2:
        _mark(nc, paired_keys, "only one method: nothing to compare")
        return
    if len(complete) < 2:
        _mark(
            nc,
            paired_keys,
            f"fewer than 2 cases with a value for every method (n = {len(complete)})",
        )
        return
    if np.ptp(complete.to_numpy(dtype=float)) == 0:
        _mark(nc, paired_keys, "no variation (all values are identical)")
        return
    _rm_anova_and_friedman(out, nc, value, len(methods), complete)
    sub = table[table["case"].astype(str).isin(complete.index)]
    lmm = _attempt(
        nc,
        f"lmm/{value}_case",
        lambda: _checked_lmm(mixed.fit_lmm(sub, value, ("case",), methods, fit=lmm_fit)),
    )
    if lmm is not None:
        _lmm_keys(out, f"lmm/{value}_case", lmm)


def _rm_anova_and_friedman(
    out: dict, nc: NotComputableMap, value: str, n_methods: int, complete: pd.DataFrame
) -> None:
    """rm_anova/<v> and, with 3+ methods, friedman/<v> of the complete cases x methods."""
    _put(
        out,
        f"rm_anova/{value}",
        _attempt(
            nc,
            f"rm_anova/{value}",
            lambda: _finite(
                paired.rm_anova(complete),
                ["F", "p", "p_GG"],
                "no variation between or within the cases (F undefined)",
            ),
        )
        or {},
    )
    if n_methods >= 3:
        _put(
            out,
            f"friedman/{value}",
            _attempt(
                nc,
                f"friedman/{value}",
                lambda: _finite(
                    paired.friedman(complete),
                    ["Q", "p"],
                    "every case ranks the methods as ties",
                ),
            )
            or {},
        )


def _pairwise_paired(
    out: dict,
    nc: NotComputableMap,
    value: str,
    methods: Sequence[str],
    wide: pd.DataFrame,
    margin: float | None,
) -> tuple[dict[str, float], dict[str, float]]:
    """Paired t, TOST (with ``margin``) and Wilcoxon of each method pair over the cases with
    both values; the paired-t and the Wilcoxon P of each pair, for the adjustments."""
    t_p: dict[str, float] = {}
    w_p: dict[str, float] = {}
    for a, b in design.method_pairs(methods):
        pk = f"{a}_vs_{b}"
        both = wide[[a, b]].dropna(axis=0, how="any")
        n = len(both)
        xa, xb = both[a].to_numpy(), both[b].to_numpy()
        d = xa - xb
        keys = [f"paired_t/{value}/{pk}", f"wilcoxon/{value}/{pk}"]
        if margin is not None:
            keys.append(f"tost_paired/{value}/margin{_num(margin)}/{pk}")
        if n < 2:
            _mark(nc, keys, f"fewer than 2 cases with values for both {a} and {b} (n = {n})")
            continue
        if np.ptp(d) == 0:
            why = (
                f"all {n} differences are zero"
                if not np.any(d)
                else f"the {n} differences are all equal ({d[0]:g}): no variation"
            )
            _mark(nc, [keys[0], *keys[2:]], why)
        else:
            r = dict(paired.paired_t(xa, xb), n=float(n))
            _put(out, keys[0], r)
            t_p[pk] = r["p"]
            if margin is not None:
                _put(out, keys[2], paired.tost_paired(xa, xb, margin))
        if not np.any(d):
            nc[keys[1]] = f"all {n} differences are zero"
            continue
        w = paired.wilcoxon_signed_rank(xa, xb)
        _put(out, keys[1], {k: v for k, v in w.items() if not (k == "p_exact" and math.isnan(v))})
        w_p[pk] = w["p_exact"] if not math.isnan(w["p_exact"]) else w["p_normal_cc"]
    return t_p, w_p


def _p_adjustments(
    out: dict,
    nc: NotComputableMap,
    value: str,
    methods: Sequence[str],
    t_p: Mapping[str, float],
    w_p: Mapping[str, float],
) -> None:
    """Holm, BH and Bonferroni adjustments of the pairs' paired-t and Wilcoxon P values."""
    pairs = design.method_pairs(methods)
    for fam, raw in (("paired_t", t_p), ("wilcoxon", w_p)):
        for meth in ("holm", "BH", "bonferroni"):
            for pk, p in paired.p_adjust(raw, meth).items():
                out[f"padjust/{value}/{fam}_{meth}/{pk}"] = p
            for a, b in pairs:
                pk = f"{a}_vs_{b}"
                if pk not in raw:
                    nc[f"padjust/{value}/{fam}_{meth}/{pk}"] = nc.get(
                        f"{fam}/{value}/{pk}", "not computable"
                    )


def _checked_lmm(lmm: dict) -> dict:
    """An LMM fit whose F test and variances are finite, else NotComputable."""
    vals = [lmm["F_method"], lmm["var_resid"], *lmm["var"].values(), *lmm["se"].values()]
    if not all(math.isfinite(float(v)) for v in vals) or not lmm["var_resid"] > 0:
        raise NotComputable(
            "singular model (no residual variance or a variance component that cannot be estimated)"
        )
    return lmm


def _lmm_keys(out: dict, prefix: str, lmm: dict) -> None:
    for k, v in lmm["beta"].items():
        out[f"{prefix}/beta/{k}"] = v
    for k, v in lmm["se"].items():
        out[f"{prefix}/se/{k}"] = v
    for k, v in lmm["var"].items():
        out[f"{prefix}/var_{k}"] = v
    out[f"{prefix}/var_resid"] = lmm["var_resid"]
    out[f"{prefix}/F_method_satterthwaite"] = lmm["F_method"]
    out[f"{prefix}/ddf_method_satterthwaite"] = lmm["ddf_method"]
    out[f"{prefix}/p_method_satterthwaite"] = lmm["p_method"]
    out[f"{prefix}/p_method_kenward_roger"] = lmm["p_method"]


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
        _mark(
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
        _mark(nc, fams, "no scores for this method yet")
        return
    if len(readers) < 2:
        _mark(nc, fams, f"only one reader ({readers[0]}) has scored: agreement needs >= 2 readers")
        return
    n_all = int(ratings.notna().all(axis=1).sum())
    flat = ratings.to_numpy(dtype=float)
    same = np.unique(flat[np.isfinite(flat)]).size < 2
    few = f"fewer than 2 targets scored by every reader (n = {n_all})"
    _icc_and_fleiss(out, nc, subj, ratings, same, n_all, few)
    _kripp_alpha(out, nc, subj, ratings, same)
    _cohen_kappas(out, nc, subj, ratings, readers)
    tie = _IDENTICAL if same else "every reader gave all targets the same score"
    _put(
        out,
        f"kendall_w/{subj}",
        _attempt(
            nc,
            f"kendall_w/{subj}",
            lambda r=ratings, why=tie: _finite(agreement.kendall_w(r), ["W", "p"], why),
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
    icc_res = _attempt(
        nc,
        f"icc/{subj}",
        lambda r=ratings, why=(_IDENTICAL if same else "no variation between targets"): _all_finite(
            agreement.icc(r), "value", why
        ),
    )
    for form, r in (icc_res or {}).items():
        _put(out, f"icc/{subj}/{form}", r)
    if icc_res is None and n_all < 2:
        nc[f"icc/{subj}"] = few
    fk = _attempt(
        nc,
        f"fleiss_kappa/{subj}",
        lambda r=ratings, why=(_IDENTICAL if same else "kappa undefined"): _finite(
            agreement.fleiss_kappa(r), ["kappa"], why
        ),
    )
    _put(out, f"fleiss_kappa/{subj}", fk or {})
    if fk is None and n_all < 2:
        nc[f"fleiss_kappa/{subj}"] = few


def _kripp_alpha(
    out: dict, nc: NotComputableMap, subj: str, ratings: pd.DataFrame, same: bool
) -> None:
    """kripp_alpha/<subj>/<level> at the nominal, ordinal, interval and ratio levels."""
    for level in KRIPP_LEVELS:
        ka = _attempt(
            nc,
            f"kripp_alpha/{subj}/{level}",
            lambda r=ratings, lv=level, why=_IDENTICAL: _finite(
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
        ck = _attempt(
            nc,
            pre,
            lambda r=ratings, a=r1, b=r2: _finite(
                agreement.cohen_kappa_pairs(r[[a, b]])[f"{a}_{b}"],
                ["unweighted"],
                f"kappa undefined: readers {a} and {b} gave one and the same score",
            ),
        )
        _put(out, pre, ck or {})


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
        _mark(nc, models, "only one method: no method effect to model")
        return
    missing = [m for m in methods if m not in set(s["method"])]
    if missing:
        _mark(nc, models, "no scores yet for " + ", ".join(missing))
        return
    if len(readers) < 2 or s["case"].nunique() < 2:
        _mark(nc, models, "the model needs >= 2 readers and >= 2 cases (random intercepts)")
        return
    lmm = _attempt(
        nc,
        "lmm/scores_case_reader",
        lambda: _checked_lmm(mixed.fit_lmm(s, "score", ("case", "reader"), methods, fit=lmm_fit)),
    )
    if lmm is not None:
        _lmm_keys(out, "lmm/scores_case_reader", lmm)
    if ordinal_models:
        _ordinal_models(out, nc, s, methods)


def _ordinal_models(
    out: dict, nc: NotComputableMap, s: pd.DataFrame, methods: Sequence[str]
) -> None:
    """clm/scores/... and clmm/scores_case_reader/... (the CLMM starts from the CLM fit)."""
    c = _attempt(nc, "clm/scores", lambda: _checked_clm(ordinal.clm(s, methods)))
    if c is None:
        nc["clmm/scores_case_reader"] = nc["clm/scores"]
        return
    for k, v in c["beta"].items():
        out[f"clm/scores/beta/{k}"] = v
    for k, v in c["theta"].items():
        out[f"clm/scores/theta/{k}"] = v
    out["clm/scores/logLik"] = c["logLik"]
    cm = _attempt(
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
        _put(out, pre, _attempt(nc, pre, lambda x=sub: crossed_icc.crossed_icc(x)) or {})
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


def _all_finite(recs: Mapping[str, Mapping[str, float]], key: str, reason: str):
    for r in recs.values():
        _finite(r, [key], reason)
    return recs


def _checked_clm(res: dict) -> dict:
    vals = [*res["beta"].values(), *res["theta"].values(), res["logLik"]]
    if not all(math.isfinite(float(v)) and abs(float(v)) < 1e6 for v in vals):
        raise NotComputable(
            "the model does not converge (a method's scores are all at one "
            "end of the scale: separation)"
        )
    return res


def lesion_results(
    lesions: pd.DataFrame, methods: Sequence[str], not_computable: NotComputableMap | None = None
) -> dict[str, float]:
    """Lesion detection: counts, chi-square, Fisher, Cochran's Q, McNemar, rates with CIs.

    The paired tests (Cochran's Q, McNemar) use the lesions listed for every method."""
    nc = not_computable if not_computable is not None else {}
    out: dict[str, float] = {}
    les = lesions[lesions["method"].astype(str).isin(methods)]
    pairs = [f"{a}_vs_{b}" for a, b in design.method_pairs(methods)]
    counts = _detection_counts(les, methods)
    total = int(counts["total"].sum())
    chi_key = f"chisq/lesions_{len(counts)}x2"
    for m, r in counts.iterrows():
        if r["total"] == 0:
            nc[f"proportion/{m}"] = "no lesions for this method"
    present = counts[counts["total"] > 0]
    for m, r in detection.detection_rates(present).items():
        _put(out, f"proportion/{m}", r)
    if total == 0:
        _mark(
            nc,
            [
                chi_key,
                "cochran_q/lesions",
                *(
                    f"{f}/{pk}"
                    for f in (
                        "chisq_2x2",
                        "fisher",
                        "mcnemar",
                        "padjust/lesions/mcnemar_exact_holm",
                    )
                    for pk in pairs
                ),
            ],
            "no lesions",
        )
        return out
    if len(methods) < 2:
        _mark(nc, [chi_key, "cochran_q/lesions"], "only one method: nothing to compare")
        return out
    _detection_group_tests(out, nc, counts, methods, chi_key)
    _detection_paired_tests(out, nc, les, methods, pairs)
    return out


def _detection_counts(les: pd.DataFrame, methods: Sequence[str]) -> pd.DataFrame:
    """Detected, missed and total lesions of each method (index: method)."""
    det = pd.to_numeric(les["detected"]).astype(int)
    meth = les["method"].astype(str)
    return pd.DataFrame(
        [
            {
                "method": m,
                "detected": int(det[meth == m].sum()),
                "missed": int((1 - det[meth == m]).sum()),
                "total": int((meth == m).sum()),
            }
            for m in methods
        ]
    ).set_index("method")


def _detection_group_tests(
    out: dict, nc: NotComputableMap, counts: pd.DataFrame, methods: Sequence[str], chi_key: str
) -> None:
    """The k x 2 chi-square of the detected / missed counts, and each pair's 2 x 2
    chi-square and Fisher exact test."""
    _put(out, chi_key, _attempt(nc, chi_key, lambda: contingency.chi_square(counts)) or {})
    for a, b in design.method_pairs(methods):
        pk = f"{a}_vs_{b}"
        sub = counts.loc[[a, b]]
        _put(
            out,
            f"chisq_2x2/{pk}",
            _attempt(nc, f"chisq_2x2/{pk}", lambda t=sub, k=pk: contingency.chi_square_pairs(t)[k])
            or {},
        )
        if (sub["total"] == 0).any():
            nc[f"fisher/{pk}"] = "no lesions for one of the methods"
            continue
        _put(
            out,
            f"fisher/{pk}",
            _attempt(
                nc,
                f"fisher/{pk}",
                lambda t=sub, k=pk: _finite(contingency.fisher_pairs(t)[k], ["p"], "undefined"),
            )
            or {},
        )


def _detection_paired_tests(
    out: dict,
    nc: NotComputableMap,
    les: pd.DataFrame,
    methods: Sequence[str],
    pairs: Sequence[str],
) -> None:
    """Cochran's Q and the pairs' McNemar tests (Holm-adjusted exact P) over the lesions
    listed for every method."""
    d = les.assign(_l=les["lesion"].astype(str), _m=les["method"].astype(str))
    listed = d.groupby("_l")["_m"].nunique()
    keep = listed.index[listed == len(methods)]
    left_out = len(listed) - len(keep)
    out["cochran_q/lesions/n_lesions"] = float(len(keep))
    if len(keep) == 0:
        why = "no lesion is listed for every method yet"
        _mark(
            nc,
            [
                "cochran_q/lesions",
                *(f"mcnemar/{pk}" for pk in pairs),
                *(f"padjust/lesions/mcnemar_exact_holm/{pk}" for pk in pairs),
            ],
            why,
        )
        return
    mat = detection.detection_matrix(les[d["_l"].isin(keep)], methods)
    note = f" ({left_out} lesion(s) not listed for every method left out)" if left_out else ""
    cq = detection.cochran_q(mat)
    if math.isfinite(cq["Q"]):
        _put(out, "cochran_q/lesions", cq)
    else:
        nc["cochran_q/lesions"] = "every method detected exactly the same lesions" + note
    mc = detection.mcnemar_pairs(mat)
    for pk, r in mc.items():
        _put(out, f"mcnemar/{pk}", r)
    for pk, p in paired.p_adjust({k: v["p_exact"] for k, v in mc.items()}, "holm").items():
        out[f"padjust/lesions/mcnemar_exact_holm/{pk}"] = p


def check_inputs(
    metrics: pd.DataFrame,
    scores: pd.DataFrame | None,
    lesions: pd.DataFrame | None,
    volumes: pd.DataFrame | None,
    outcomes: Sequence[str],
) -> None:
    """Raise StatsInputError for the user's errors: missing columns, non-numeric or infinite
    cells, duplicate rows, Likert scores outside 1..5, detected not 0/1, negative volumes."""
    design.require_columns(metrics, ["case", "method", *outcomes], "metrics")
    for v in outcomes:
        design.numeric_column(metrics, v, "metrics")
    ids = metrics[["case", "method"]].astype(str)
    dup = ids.duplicated()
    if dup.any():
        r = ids[dup].iloc[0]
        raise design.StatsInputError(
            f"metrics: case {r['case']!r} has more than one row for method {r['method']!r}"
        )
    if scores is not None:
        design.check_scores(scores)
    if lesions is not None:
        design.require_columns(lesions, ["lesion", "method", "detected"], "lesions")
        det = pd.to_numeric(lesions["detected"], errors="coerce")
        if det.isna().any() or not det.isin([0, 1]).all():
            raise design.StatsInputError("lesions: column 'detected' must hold only 0 or 1")
        if lesions[["lesion", "method"]].astype(str).duplicated().any():
            raise design.StatsInputError("lesions: a lesion appears twice for the same method")
    if volumes is not None:
        design.require_columns(volumes, ["case", "method", "pred_ml", "ref_ml"], "volumes")
        for c in ("pred_ml", "ref_ml"):
            if (design.numeric_column(volumes, c, "volumes") < 0).any():
                raise design.StatsInputError("volumes: negative volume")


def compute_results(
    metrics: pd.DataFrame,
    scores: pd.DataFrame | None = None,
    lesions: pd.DataFrame | None = None,
    *,
    methods: Sequence[str] | None = None,
    volumes: pd.DataFrame | None = None,
    equivalence_margins: Mapping[str, float] | None = None,
    power_scenarios: Sequence[tuple[float, float]] | None = None,
    ordinal_models: bool = True,
    lmm_fit: str = "auto",
    outcomes: Sequence[str] | None = None,
    notes: list[str] | None = None,
    not_computable: NotComputableMap | None = None,
) -> dict[str, float]:
    """All statistics of a study, flat, under the reference key scheme.

    ``outcomes``: the metric columns to analyse (default ``metric_columns``). Input errors
    (missing columns, non-numeric cells, duplicates, invalid scores) raise StatsInputError.
    Each analysis the data do not allow (too few values, no variation, a singular model,
    one method, ...) is left out of the result; ``not_computable`` gets its key prefix ->
    the reason, and ``notes`` one sentence per subject and reason."""
    notes = notes if notes is not None else []
    nc: NotComputableMap = not_computable if not_computable is not None else {}
    chosen = list(outcomes) if outcomes is not None else metric_columns(metrics)
    rereads = None
    if scores is not None:  # every analysis but intra-reader agreement uses session 1
        scores, rereads = intra_reader.split_sessions(scores)
    check_inputs(metrics, scores, lesions, volumes, chosen)
    table = analysis_table(metrics, scores)
    order = design.method_order(table, methods)
    _check_key_names(order, scores)
    margins = dict(equivalence_margins or {})
    out: dict[str, float] = {}
    values = chosen + (["satisfaction"] if scores is not None else [])
    if scores is not None and "satisfaction" not in table:
        table = table.assign(satisfaction=np.nan)
    for v in values:
        out.update(
            metric_results(
                table, v, order, margin=margins.get(v), lmm_fit=lmm_fit, not_computable=nc
            )
        )
    if scores is not None:
        out.update(
            score_results(
                scores, order, ordinal_models=ordinal_models, lmm_fit=lmm_fit, not_computable=nc
            )
        )
    if scores is not None:
        out.update(crossed_icc_results(scores, order, not_computable=nc))
    if rereads is not None:
        out.update(intra_reader_results(rereads, order, not_computable=nc))
    if lesions is not None:
        out.update(lesion_results(lesions, order, not_computable=nc))
    if volumes is not None:
        _bland_altman_results(out, nc, volumes, order)
    _power_results(out, power_scenarios)
    notes.extend(summarise_not_computable(nc))
    return out


def _check_key_names(order: Sequence[str], scores: pd.DataFrame | None) -> None:
    """Refuses a method or reader name with '/', the separator of the results keys."""
    names = list(order) + (
        [str(r) for r in pd.unique(scores["reader"])]
        if scores is not None and "reader" in scores
        else []
    )
    bad = [n for n in names if "/" in n]
    if bad:
        raise design.StatsInputError(
            f"method / reader names must not contain '/' (the results key separator): {bad}"
        )


def _bland_altman_results(
    out: dict, nc: NotComputableMap, volumes: pd.DataFrame, order: Sequence[str]
) -> None:
    """bland_altman/<m>/...: agreement of predicted and reference volumes (mL) per method."""
    vol = volumes.assign(method=volumes["method"].astype(str))
    for m in order:
        sel = vol[vol["method"] == m].dropna(subset=["pred_ml", "ref_ml"])
        pre = f"bland_altman/{m}"
        if len(sel) < 2:
            nc[pre] = f"fewer than 2 cases with both volumes (n = {len(sel)})"
            continue
        _put(
            out,
            pre,
            _attempt(
                nc,
                pre,
                lambda s=sel: bland_altman.bland_altman(
                    s["pred_ml"].to_numpy(float), s["ref_ml"].to_numpy(float)
                ),
            )
            or {},
        )


def _power_results(out: dict, power_scenarios: Sequence[tuple[float, float]] | None) -> None:
    """power/paired_t/delta<d>_sd<s>/...: paired-t power at n = 30 and the n for 80% power."""
    for delta, sd in power_scenarios or ():
        key = f"power/paired_t/delta{_num(delta)}_sd{_num(sd)}"
        out[f"{key}/power_at_n30"] = power.paired_t_power(30, delta, sd)
        out[f"{key}/n_for_power0.8"] = power.paired_t_sample_size(delta, sd)
        out[f"{key}/n_for_power0.8_one_tail_approx"] = power.paired_t_sample_size(
            delta, sd, both_tails=False
        )


def summarise_not_computable(nc: Mapping[str, str]) -> list[str]:
    """One sentence per subject (outcome, 'all', method) and reason, naming the analyses
    that are not computable (the Holm / BH / Bonferroni rows follow their tests and are not
    repeated)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for prefix, reason in nc.items():
        fam, *rest = prefix.split("/")
        if fam == "padjust" and rest and rest[0] != "lesions":
            continue
        subject = rest[0] if rest else fam
        if fam == "lmm" and subject.endswith("_case"):
            subject = subject[: -len("_case")]
        what = "/".join([fam, *rest[1:]])
        groups.setdefault((subject, reason), []).append(what)
    return [
        f"{subject} — {', '.join(dict.fromkeys(items))}: not computable: {reason}"
        for (subject, reason), items in groups.items()
    ]


def software_versions() -> dict[str, str]:
    """Versions of Python and the libraries the statistics use."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("numpy", "scipy", "statsmodels", "pandas", "krippendorff", "plotly"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def write_results_json(
    results: Mapping[str, float],
    path: str | Path,
    meta: Mapping | None = None,
    not_computable: Mapping[str, str] | None = None,
) -> Path:
    """Write ``{"meta": ..., "results": {key: value}, "not_computable": {key prefix:
    reason}}`` (NaN -> null), keys sorted."""
    path = Path(path)
    clean = {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v)
        for k, v in sorted(results.items())
    }
    doc = {
        "meta": {
            "key_scheme": "family/subject/[A_vs_B/]quantity; A_vs_B = A minus B",
            "software": software_versions(),
            **(dict(meta) if meta else {}),
        },
        "results": clean,
        "not_computable": dict(sorted((not_computable or {}).items())),
    }
    path.write_text(json.dumps(doc, indent=1, default=str))
    return path
