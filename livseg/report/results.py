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
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from livseg.stats import (
    agreement,
    bland_altman,
    contingency,
    descriptive,
    design,
    detection,
    mixed,
    oneway,
    ordinal,
    paired,
    power,
)

METRIC_COLUMNS = ("DSC", "JI", "HD_mm", "HD95_mm", "ASSD_mm", "time_s", "VER_pct")
KRIPP_LEVELS = ("nominal", "ordinal", "interval", "ratio")
# per-case numbers that are not outcomes to compare (used for Bland-Altman, or signed versions)
NOT_OUTCOMES = ("case", "method", "volume_ml", "reference_volume_ml", "pred_ml", "ref_ml",
                "VE_signed_pct", "satisfaction")
ANALYSIS_ERRORS = (design.StatsInputError, ValueError, ZeroDivisionError, FloatingPointError,
                   np.linalg.LinAlgError)


def metric_columns(metrics: pd.DataFrame) -> list[str]:
    """Outcome columns of a metrics table: the known ones (DSC, JI, HD_mm, HD95_mm, ASSD_mm,
    time_s, VER_pct) present; if none is present, every numeric column that is not an id,
    a volume or a signed error."""
    known = [c for c in METRIC_COLUMNS if c in metrics.columns]
    if known:
        return known
    return [c for c in metrics.columns
            if c not in NOT_OUTCOMES and pd.api.types.is_numeric_dtype(metrics[c])]


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


def metric_results(table: pd.DataFrame, value: str, methods: Sequence[str],
                   *, margin: float | None = None, lmm_fit: str = "auto") -> dict[str, float]:
    """Independent-groups and paired analyses of one outcome column."""
    out: dict[str, float] = {}
    g = design.groups(table, value, methods)
    means, sds, ns = oneway.summaries(g)
    for m, row in descriptive.describe_groups(g).iterrows():
        _put(out, f"descriptive/{value}/{m}", row.to_dict())
    args = ([means[m] for m in g], [sds[m] for m in g], [ns[m] for m in g])
    _put(out, f"oneway/{value}", oneway.anova_from_summary(*args),
         ["F", "df1", "df2", "p", "MSE", "eta2"])
    _put(out, f"welch_anova/{value}", oneway.welch_from_summary(*args))
    for pk, r in oneway.lsd_from_summary(means, sds, ns).items():
        _put(out, f"lsd/{value}/{pk}", r, ["diff", "t", "p"])
    for pk, r in oneway.tukey_from_summary(means, sds, ns).items():
        _put(out, f"tukey/{value}/{pk}", r, ["q", "p"])
    _put(out, f"kruskal/{value}", oneway.kruskal_from_groups(g))
    wide = design.paired_wide(table, value, methods)
    out[f"paired_n/{value}"] = float(len(wide))
    _put(out, f"rm_anova/{value}", paired.rm_anova(wide))
    if len(methods) >= 3:
        _put(out, f"friedman/{value}", paired.friedman(wide))
    pp = paired.pairwise_paired(wide)
    for pk, r in pp["paired_t"].items():
        _put(out, f"paired_t/{value}/{pk}", r)
    for pk, r in pp["wilcoxon"].items():
        rr = {k: v for k, v in r.items() if not (k == "p_exact" and math.isnan(v))}
        _put(out, f"wilcoxon/{value}/{pk}", rr)
    for name, adj in pp["padjust"].items():
        for pk, p in adj.items():
            out[f"padjust/{value}/{name}/{pk}"] = p
    if margin is not None:
        for a, b in design.method_pairs(methods):
            _put(out, f"tost_paired/{value}/margin{_num(margin)}/{a}_vs_{b}",
                 paired.tost_paired(wide[a].to_numpy(), wide[b].to_numpy(), margin))
    sub = table[table["case"].isin(wide.index)]
    lmm = mixed.fit_lmm(sub, value, ("case",), methods, fit=lmm_fit)
    _lmm_keys(out, f"lmm/{value}_case", lmm)
    return out


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


def score_results(scores: pd.DataFrame, methods: Sequence[str], *, ordinal_models: bool = True,
                  lmm_fit: str = "auto") -> dict[str, float]:
    """Reader-agreement statistics, Likert descriptives and models of the scores."""
    out: dict[str, float] = {}
    s = design.check_scores(scores)
    s = s[s["method"].isin(methods)]
    dist = descriptive.likert_distribution(s, ("method",))
    for _, row in dist.iterrows():
        for k in ("1", "2", "3", "4", "5", "n", "mean", "sd", "median", "q1", "q3"):
            out[f"likert/{row['method']}/{k}"] = float(row[k])
    full, _ = design.ratings_matrix(s)
    subjects = [("all", None)] + [(m, m) for m in methods]
    for subj, meth in subjects:
        ratings = full if meth is None else full.xs(meth, level=0)
        for form, r in agreement.icc(ratings).items():
            _put(out, f"icc/{subj}/{form}", r)
        _put(out, f"fleiss_kappa/{subj}", agreement.fleiss_kappa(ratings))
        for level in KRIPP_LEVELS:
            out[f"kripp_alpha/{subj}/{level}"] = agreement.krippendorff_alpha(ratings, level)
        for pk, r in agreement.cohen_kappa_pairs(ratings).items():
            _put(out, f"cohen_kappa/{subj}/{pk}", r)
        _put(out, f"kendall_w/{subj}", agreement.kendall_w(ratings))
    lmm = mixed.fit_lmm(s, "score", ("case", "reader"), methods, fit=lmm_fit)
    _lmm_keys(out, "lmm/scores_case_reader", lmm)
    if ordinal_models:
        c = ordinal.clm(s, methods)
        for k, v in c["beta"].items():
            out[f"clm/scores/beta/{k}"] = v
        for k, v in c["theta"].items():
            out[f"clm/scores/theta/{k}"] = v
        out["clm/scores/logLik"] = c["logLik"]
        cm = ordinal.clmm(s, ("case", "reader"), methods, start=c)
        for k, v in cm["beta"].items():
            out[f"clmm/scores_case_reader/beta/{k}"] = v
        for k, v in cm["sd"].items():
            out[f"clmm/scores_case_reader/sd_{k}"] = v
        out["clmm/scores_case_reader/LR_method"] = cm["LR_method"]
        out["clmm/scores_case_reader/p_method"] = cm["p_method"]
    return out


def lesion_results(lesions: pd.DataFrame, methods: Sequence[str]) -> dict[str, float]:
    """Lesion detection: counts, chi-square, Fisher, Cochran's Q, McNemar, rates with CIs."""
    out: dict[str, float] = {}
    les = lesions[lesions["method"].astype(str).isin(methods)]
    counts = contingency.detection_counts(les, methods)
    _put(out, f"chisq/lesions_{len(counts)}x2", contingency.chi_square(counts))
    for pk, r in contingency.chi_square_pairs(counts).items():
        _put(out, f"chisq_2x2/{pk}", r)
    for pk, r in contingency.fisher_pairs(counts).items():
        _put(out, f"fisher/{pk}", r)
    for m, r in detection.detection_rates(counts).items():
        _put(out, f"proportion/{m}", r)
    mat = detection.detection_matrix(les, methods)
    _put(out, "cochran_q/lesions", detection.cochran_q(mat))
    mc = detection.mcnemar_pairs(mat)
    for pk, r in mc.items():
        _put(out, f"mcnemar/{pk}", r)
    for pk, p in paired.p_adjust({k: v["p_exact"] for k, v in mc.items()}, "holm").items():
        out[f"padjust/lesions/mcnemar_exact_holm/{pk}"] = p
    return out


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
) -> dict[str, float]:
    """All statistics of a study, flat, under the reference key scheme.

    ``outcomes``: the metric columns to analyse (default ``metric_columns``). An outcome or
    a block (scores, lesions, volumes) that cannot be analysed (e.g. no variation, too few
    values) is left out and a sentence saying why is appended to ``notes``; other errors
    propagate."""
    notes = notes if notes is not None else []
    table = analysis_table(metrics, scores)
    order = design.method_order(table, methods)
    if len(order) < 2:
        raise design.StatsInputError(f"need at least 2 methods to compare; found {order}")
    names = order + ([str(r) for r in pd.unique(scores["reader"])]
                     if scores is not None and "reader" in scores else [])
    bad = [n for n in names if "/" in n]
    if bad:
        raise design.StatsInputError(
            f"method / reader names must not contain '/' (the results key separator): {bad}")
    margins = dict(equivalence_margins or {})
    out: dict[str, float] = {}
    chosen = list(outcomes) if outcomes is not None else metric_columns(metrics)
    for v in chosen:
        design.require_columns(metrics, [v], "metrics")
    values = chosen + (["satisfaction"] if "satisfaction" in table else [])

    def guarded(what: str, fn) -> dict[str, float]:
        with np.errstate(divide="ignore", invalid="ignore"):
            try:
                return fn()
            except ANALYSIS_ERRORS as exc:
                notes.append(f"{what} left out: {exc}")
                return {}

    for v in values:
        out.update(guarded(f"outcome {v}", lambda v=v: metric_results(
            table, v, order, margin=margins.get(v), lmm_fit=lmm_fit)))
    if scores is not None and len(scores):
        out.update(guarded("reader scores", lambda: score_results(
            scores, order, ordinal_models=ordinal_models, lmm_fit=lmm_fit)))
    if lesions is not None and len(lesions):
        out.update(guarded("lesion detection", lambda: lesion_results(lesions, order)))
    if volumes is not None and len(volumes):
        ba = guarded("Bland-Altman", lambda: {
            f"bland_altman/{m}/{k}": float(x)
            for m, r in bland_altman.bland_altman_by_method(volumes, None).items()
            for k, x in r.items()})
        out.update(ba)
    for delta, sd in power_scenarios or ():
        key = f"power/paired_t/delta{_num(delta)}_sd{_num(sd)}"
        out[f"{key}/power_at_n30"] = power.paired_t_power(30, delta, sd)
        out[f"{key}/n_for_power0.8"] = power.paired_t_sample_size(delta, sd)
        out[f"{key}/n_for_power0.8_one_tail_approx"] = power.paired_t_sample_size(
            delta, sd, both_tails=False)
    return out


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


def write_results_json(results: Mapping[str, float], path: str | Path,
                       meta: Mapping | None = None) -> Path:
    """Write ``{"meta": ..., "results": {key: value}}`` (NaN -> null), keys sorted."""
    path = Path(path)
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in sorted(results.items())}
    doc = {"meta": {"key_scheme": "family/subject/[A_vs_B/]quantity; A_vs_B = A minus B",
                    "software": software_versions(), **(dict(meta) if meta else {})},
           "results": clean}
    path.write_text(json.dumps(doc, indent=1, default=str))
    return path
