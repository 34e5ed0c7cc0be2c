"""Linear mixed models for the paired design: value ~ method + (1|case) [+ (1|reader)].

Two fitters:

- ``"anova"``: for a balanced, complete design (every case x method [x reader] exactly once)
  the REML estimates equal the ANOVA (moment) estimators whenever those are positive, and
  the fixed effects, their standard errors and the F test of method follow in closed form
  (exact; this is what lme4 converges to). The method F test uses the residual stratum, so its
  Satterthwaite / Kenward-Roger denominator df is the residual df.
- ``"statsmodels"``: statsmodels MixedLM (REML) with crossed random intercepts as variance
  components of a single group; works for unbalanced or incomplete data. Variance components
  agree with lme4 to ~1e-4 (the reader variance has a flat likelihood with 3 readers); the F
  test is a Wald F with the residual df of the additive model (an approximation).

``fit="auto"`` picks the closed form when the design is balanced and the moment estimates
are positive, else statsmodels.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from livseg.stats.design import StatsInputError, method_order, numeric_column, require_columns


def _prepare(
    df: pd.DataFrame, value: str, random: Sequence[str], methods: Sequence[str] | None
) -> tuple[pd.DataFrame, list[str]]:
    require_columns(df, ["method", value, *random], "mixed model")
    order = method_order(df, methods)
    d = df[["method", *random]].astype(str).assign(y=numeric_column(df, value, "mixed model"))
    d = d[d["method"].isin(order)].dropna(subset=["y"])
    if len(order) < 2:
        raise StatsInputError("mixed model: need >= 2 methods")
    return d, order


def _balanced(d: pd.DataFrame, factors: Sequence[str]) -> bool:
    cells = d.groupby(list(factors), observed=True).size()
    full = np.prod([d[f].nunique() for f in factors])
    return len(cells) == full and (cells == 1).all()


def _fit_anova(d: pd.DataFrame, order: list[str], random: Sequence[str]) -> dict | None:
    y = d["y"].to_numpy(dtype=float)
    n_obs = y.size
    grand = y.mean()
    levels = {f: d[f].nunique() for f in ["method", *random]}
    ss, dfs = {}, {}
    for f in ["method", *random]:
        means = d.groupby(f, observed=True)["y"].mean()
        size = n_obs / levels[f]
        ss[f] = size * ((means - grand) ** 2).sum()
        dfs[f] = levels[f] - 1
    ss_res = ((y - grand) ** 2).sum() - sum(ss.values())
    df_res = n_obs - 1 - sum(dfs.values())
    ms_res = ss_res / df_res
    var = {}
    for f in random:
        var[f] = (ss[f] / dfs[f] - ms_res) / (n_obs / levels[f])
        if var[f] <= 0:
            return None
    means = d.groupby("method", observed=True)["y"].mean()
    per_method = n_obs / levels["method"]
    beta = {"Intercept": float(means[order[0]])}
    se = {
        "Intercept": float(np.sqrt(sum(var[f] / levels[f] for f in random) + ms_res / per_method))
    }
    for m in order[1:]:
        beta[m] = float(means[m] - means[order[0]])
        se[m] = float(np.sqrt(2 * ms_res / per_method))
    f_stat = (ss["method"] / dfs["method"]) / ms_res
    return {
        "beta": beta,
        "se": se,
        "var": {f: float(v) for f, v in var.items()},
        "var_resid": float(ms_res),
        "F_method": float(f_stat),
        "df1_method": float(dfs["method"]),
        "ddf_method": float(df_res),
        "p_method": float(stats.f.sf(f_stat, dfs["method"], df_res)),
        "fit": "anova",
        "n_obs": float(n_obs),
    }


def _fit_statsmodels(d: pd.DataFrame, order: list[str], random: Sequence[str]) -> dict:
    import statsmodels.formula.api as smf

    d = d.assign(_g=1, method=pd.Categorical(d["method"], categories=order))
    if len(random) == 1:  # one random intercept: the usual grouped model
        model = smf.mixedlm("y ~ method", d, groups=random[0])
    else:  # crossed random intercepts: variance components of one group
        vc = {f: f"0 + C({f})" for f in random}
        model = smf.mixedlm("y ~ method", d, groups="_g", re_formula="0", vc_formula=vc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.fit(reml=True)
    names = ["Intercept"] + [f"method[T.{m}]" for m in order[1:]]
    keys = ["Intercept", *order[1:]]
    fe = res.fe_params
    cov = res.cov_params().loc[names, names].to_numpy()
    beta = {k: float(fe[n]) for k, n in zip(keys, names, strict=True)}
    se = {k: float(np.sqrt(cov[i, i])) for i, k in enumerate(keys)}
    if len(random) == 1:
        var = {random[0]: float(res.cov_re.iloc[0, 0])}
    else:
        vcomp = dict(zip(model.exog_vc.names, np.atleast_1d(res.vcomp), strict=True))
        var = {f: float(vcomp[f]) for f in random}
    b = np.array([beta[m] for m in order[1:]])
    v = cov[1:, 1:]
    f_stat = float(b @ np.linalg.solve(v, b) / b.size)
    df_res = len(d) - 1 - (len(order) - 1) - sum(d[f].nunique() - 1 for f in random)
    return {
        "beta": beta,
        "se": se,
        "var": var,
        "var_resid": float(res.scale),
        "F_method": f_stat,
        "df1_method": float(b.size),
        "ddf_method": float(df_res),
        "p_method": float(stats.f.sf(f_stat, b.size, df_res)),
        "fit": "statsmodels",
        "n_obs": float(len(d)),
    }


def fit_lmm(
    df: pd.DataFrame,
    value: str,
    random: Sequence[str] = ("case",),
    methods: Sequence[str] | None = None,
    fit: str = "auto",
) -> dict:
    """Fit ``value ~ method + (1|r) for r in random`` by REML (treatment contrasts against the
    first method). Returns beta, se (dicts keyed Intercept / method), var (per random factor),
    var_resid, F_method, df1_method, ddf_method, p_method, fit (which fitter ran)."""
    if fit not in ("auto", "anova", "statsmodels"):
        raise StatsInputError(f"unknown LMM fitter {fit!r}; use auto, anova or statsmodels")
    d, order = _prepare(df, value, random, methods)
    if fit in ("auto", "anova"):
        out = _fit_anova(d, order, random) if _balanced(d, ["method", *random]) else None
        if out is not None:
            return out
        if fit == "anova":
            raise StatsInputError(
                "mixed model: the closed form needs a balanced complete design with positive "
                "variance components; use fit='statsmodels'"
            )
    return _fit_statsmodels(d, order, random)
