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

from livseg import metric_registry
from livseg.report.detection_analyses import lesion_results
from livseg.report.guarded import (
    ANALYSIS_ERRORS,
    GUARDED,
    NotComputable,
    NotComputableMap,
    attempt,
    key_number,
    put,
    reason_text,
)
from livseg.report.metric_analyses import metric_results
from livseg.report.score_analyses import (
    KRIPP_LEVELS,
    SCORE_FAMILIES,
    SCORE_MODELS,
    crossed_icc_results,
    intra_reader_results,
    score_results,
)
from livseg.stats import bland_altman, design, intra_reader, power

_reason_text = reason_text  # the name tests/test_report_presentation.py imports

__all__ = [
    "ANALYSIS_ERRORS",
    "GUARDED",
    "KRIPP_LEVELS",
    "SCORE_FAMILIES",
    "SCORE_MODELS",
    "NotComputable",
    "NotComputableMap",
    "analysis_table",
    "check_inputs",
    "compute_results",
    "crossed_icc_results",
    "intra_reader_results",
    "lesion_results",
    "metric_columns",
    "metric_results",
    "score_results",
    "software_versions",
    "summarise_not_computable",
    "write_results_json",
]


METRIC_COLUMNS = metric_registry.OUTCOME_COLUMNS  # livseg.metric_registry


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
        put(
            out,
            pre,
            attempt(
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
        key = f"power/paired_t/delta{key_number(delta)}_sd{key_number(sd)}"
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
