"""One outcome column's analyses (``metric_results``): descriptives, independent-groups
tests (one-way ANOVA, LSD, Tukey, Welch, Kruskal-Wallis), repeated measures (RM-ANOVA,
Friedman, LMM) and paired tests per method pair with their P adjustments.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from livseg.report.guarded import (
    NotComputable,
    NotComputableMap,
    attempt,
    finite,
    key_number,
    mark,
    put,
)
from livseg.stats import descriptive, design, mixed, oneway, paired


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
        put(out, pre, row)
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
        mark(nc, groups_keys, "only one method: nothing to compare")
    elif short:
        mark(nc, groups_keys, "fewer than 2 values for " + ", ".join(short))
    elif all(np.ptp(x) == 0 for x in vals.values()):
        same = np.ptp(np.concatenate(list(vals.values()))) == 0
        mark(
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
    an = attempt(
        nc,
        f"oneway/{value}",
        lambda: finite(
            oneway.anova_from_summary(*args),
            ["F", "p"],
            "no variation (all values are identical)"
            if len(set(np.concatenate(list(vals.values())))) == 1
            else _NO_VARIATION_WITHIN,
        ),
    )
    if an is not None:
        put(out, f"oneway/{value}", an, ["F", "df1", "df2", "p", "MSE", "eta2"])
        for pk, r in oneway.lsd_from_summary(means, sds, ns).items():
            put(out, f"lsd/{value}/{pk}", r, ["diff", "t", "p"])
        tk = attempt(nc, f"tukey/{value}", lambda: oneway.tukey_from_summary(means, sds, ns))
        for pk, r in (tk or {}).items():
            put(out, f"tukey/{value}/{pk}", r, ["q", "p"])
    else:
        mark(nc, [f"lsd/{value}", f"tukey/{value}"], nc[f"oneway/{value}"])


def _welch_and_kruskal(
    out: dict, nc: NotComputableMap, value: str, vals: Mapping[str, np.ndarray], args: tuple
) -> None:
    """welch_anova/<v> (refused when a method has zero variance) and kruskal/<v>."""
    zero_sd = [m for m in vals if np.ptp(vals[m]) == 0]
    if zero_sd:
        nc[f"welch_anova/{value}"] = "zero variance for " + ", ".join(zero_sd)
    else:
        put(
            out,
            f"welch_anova/{value}",
            attempt(
                nc,
                f"welch_anova/{value}",
                lambda: finite(oneway.welch_from_summary(*args), ["F", "p"], _NO_VARIATION_WITHIN),
            )
            or {},
        )
    put(
        out,
        f"kruskal/{value}",
        attempt(
            nc,
            f"kruskal/{value}",
            lambda: finite(
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
        mark(nc, paired_keys, "only one method: nothing to compare")
        return
    if len(complete) < 2:
        mark(
            nc,
            paired_keys,
            f"fewer than 2 cases with a value for every method (n = {len(complete)})",
        )
        return
    if np.ptp(complete.to_numpy(dtype=float)) == 0:
        mark(nc, paired_keys, "no variation (all values are identical)")
        return
    _rm_anova_and_friedman(out, nc, value, len(methods), complete)
    sub = table[table["case"].astype(str).isin(complete.index)]
    lmm = attempt(
        nc,
        f"lmm/{value}_case",
        lambda: checked_lmm(mixed.fit_lmm(sub, value, ("case",), methods, fit=lmm_fit)),
    )
    if lmm is not None:
        lmm_keys(out, f"lmm/{value}_case", lmm)


def _rm_anova_and_friedman(
    out: dict, nc: NotComputableMap, value: str, n_methods: int, complete: pd.DataFrame
) -> None:
    """rm_anova/<v> and, with 3+ methods, friedman/<v> of the complete cases x methods."""
    put(
        out,
        f"rm_anova/{value}",
        attempt(
            nc,
            f"rm_anova/{value}",
            lambda: finite(
                paired.rm_anova(complete),
                ["F", "p", "p_GG"],
                "no variation between or within the cases (F undefined)",
            ),
        )
        or {},
    )
    if n_methods >= 3:
        put(
            out,
            f"friedman/{value}",
            attempt(
                nc,
                f"friedman/{value}",
                lambda: finite(
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
            keys.append(f"tost_paired/{value}/margin{key_number(margin)}/{pk}")
        if n < 2:
            mark(nc, keys, f"fewer than 2 cases with values for both {a} and {b} (n = {n})")
            continue
        if np.ptp(d) == 0:
            why = (
                f"all {n} differences are zero"
                if not np.any(d)
                else f"the {n} differences are all equal ({d[0]:g}): no variation"
            )
            mark(nc, [keys[0], *keys[2:]], why)
        else:
            r = dict(paired.paired_t(xa, xb), n=float(n))
            put(out, keys[0], r)
            t_p[pk] = r["p"]
            if margin is not None:
                put(out, keys[2], paired.tost_paired(xa, xb, margin))
        if not np.any(d):
            nc[keys[1]] = f"all {n} differences are zero"
            continue
        w = paired.wilcoxon_signed_rank(xa, xb)
        put(out, keys[1], {k: v for k, v in w.items() if not (k == "p_exact" and math.isnan(v))})
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


def checked_lmm(lmm: dict) -> dict:
    """An LMM fit whose F test and variances are finite, else NotComputable."""
    vals = [lmm["F_method"], lmm["var_resid"], *lmm["var"].values(), *lmm["se"].values()]
    if not all(math.isfinite(float(v)) for v in vals) or not lmm["var_resid"] > 0:
        raise NotComputable(
            "singular model (no residual variance or a variance component that cannot be estimated)"
        )
    return lmm


def lmm_keys(out: dict, prefix: str, lmm: dict) -> None:
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
