"""Ordinal (cumulative logit) models of Likert scores.

- ``clm``: proportional-odds model score ~ method (maximum likelihood with an analytic
  gradient), parameterised as R ordinal::clm: logit P(Y <= j) = theta_j - x'beta.
- ``clmm``: the same with crossed random intercepts, e.g. (1|case) + (1|reader), fitted by
  the Laplace approximation (as ordinal::clmm's default): an inner Newton search for the
  mode of the standardised random effects, an outer quasi-Newton search over thresholds,
  fixed effects and log SDs. The likelihood-ratio test of method compares it with the model
  without method.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import expit

from livseg.stats.design import StatsInputError, check_scores, method_order


def _design(scores: pd.DataFrame, methods: Sequence[str] | None):
    s = check_scores(scores).dropna(subset=["score"])
    order = method_order(s, methods)
    s = s[s["method"].isin(order)]
    levels = np.sort(s["score"].unique())
    if levels.size < 3:
        raise StatsInputError("ordinal model: need at least 3 distinct score levels")
    y = np.searchsorted(levels, s["score"].to_numpy())
    x = np.column_stack([(s["method"] == m).to_numpy(float) for m in order[1:]])
    return s, order, levels, y, x


def _thresholds(raw: np.ndarray) -> np.ndarray:
    return np.concatenate([[raw[0]], raw[0] + np.cumsum(np.exp(raw[1:]))])


def _threshold_names(levels: np.ndarray) -> list[str]:
    def fmt(v: float) -> str:
        return str(int(v)) if float(v).is_integer() else str(v)

    return [f"{fmt(a)}|{fmt(b)}" for a, b in zip(levels[:-1], levels[1:], strict=True)]


def _clm_negloglik(params: np.ndarray, y: np.ndarray, x: np.ndarray, n_cut: int):
    """Negative log-likelihood of the fixed-effects cumulative logit model and its gradient
    (thresholds parameterised as th1 + cumulative exp increments)."""
    raw, beta = params[:n_cut], params[n_cut:]
    theta = _thresholds(raw)
    eta = x @ beta if beta.size else np.zeros(len(y))
    ext = np.concatenate([[-np.inf], theta, [np.inf]])
    a, c = ext[y + 1] - eta, ext[y] - eta
    fa, fc = expit(a), expit(c)
    prob = np.maximum(fa - fc, 1e-300)
    da, dc = fa * (1 - fa), fc * (1 - fc)
    g_eta = -(da - dc) / prob
    g_theta = np.zeros(n_cut)
    np.add.at(g_theta, np.minimum(y, n_cut - 1), np.where(y < n_cut, da / prob, 0.0))
    np.add.at(g_theta, np.maximum(y - 1, 0), np.where(y > 0, -dc / prob, 0.0))
    # chain rule: theta_j = raw_0 + sum_{1<=l<=j} exp(raw_l)
    g_raw = np.empty(n_cut)
    g_raw[0] = g_theta.sum()
    tail = np.cumsum(g_theta[::-1])[::-1]
    g_raw[1:] = np.exp(raw[1:]) * tail[1:]
    grad = np.concatenate([g_raw, x.T @ g_eta if beta.size else np.zeros(0)])
    return -float(np.log(prob).sum()), -grad


def clm(scores: pd.DataFrame, methods: Sequence[str] | None = None) -> dict:
    """Proportional-odds model score ~ method (maximum likelihood, analytic gradient):
    theta (per cut), beta (per method vs the first), logLik."""
    s, order, levels, y, x = _design(scores, methods)
    n_cut = levels.size - 1
    cum = np.cumsum(np.bincount(y, minlength=levels.size))[:-1] / len(y)
    th0 = np.log(cum / (1 - cum))
    x0 = np.concatenate([[th0[0]], np.log(np.maximum(np.diff(th0), 1e-3)), np.zeros(x.shape[1])])
    res = optimize.minimize(
        _clm_negloglik,
        x0,
        args=(y, x, n_cut),
        jac=True,
        method="BFGS",
        options={"gtol": 1e-10, "maxiter": 2000},
    )
    theta = _thresholds(res.x[:n_cut])
    return {
        "beta": {m: float(res.x[n_cut + i]) for i, m in enumerate(order[1:])},
        "theta": dict(zip(_threshold_names(levels), map(float, theta), strict=True)),
        "logLik": float(-res.fun),
        "n_obs": float(len(y)),
        "n_params": float(n_cut + x.shape[1]),
    }


class _LaplaceCLMM:
    """Negative Laplace log-likelihood of a cumulative logit model with random intercepts."""

    def __init__(self, y: np.ndarray, x: np.ndarray, groups: list[np.ndarray], n_cut: int):
        self.y, self.x, self.n_cut = y, x, n_cut
        self.codes = groups
        self.sizes = [int(g.max()) + 1 for g in groups]
        self.z = np.hstack([np.eye(s)[g] for g, s in zip(groups, self.sizes, strict=True)])
        self.b = np.zeros(self.z.shape[1])

    def _pieces(self, theta: np.ndarray, eta: np.ndarray):
        ext = np.concatenate([[-np.inf], theta, [np.inf]])
        a, c = ext[self.y + 1] - eta, ext[self.y] - eta
        fa, fc = expit(a), expit(c)
        prob = np.maximum(fa - fc, 1e-300)
        da, dc = fa * (1 - fa), fc * (1 - fc)
        d1 = da - dc
        d2 = da * (1 - 2 * fa) - dc * (1 - 2 * fc)
        grad = -d1 / prob  # d log p / d eta
        hess = d2 / prob - (d1 / prob) ** 2
        return np.log(prob), grad, hess

    def negloglik(self, params: np.ndarray) -> float:
        k = self.n_cut
        p = self.x.shape[1]
        theta = _thresholds(params[:k])
        beta = params[k : k + p]
        sd = np.exp(params[k + p :])
        scale = np.concatenate([np.full(s, v) for s, v in zip(self.sizes, sd, strict=True)])
        zs = self.z * scale
        fixed = self.x @ beta if p else np.zeros(len(self.y))
        b = self.b.copy()
        for _ in range(50):
            lp, g, h = self._pieces(theta, fixed + zs @ b)
            grad = zs.T @ g - b
            hess = (zs.T * h) @ zs - np.eye(b.size)
            step = np.linalg.solve(hess, grad)
            b = b - step
            if np.abs(step).max() < 1e-10:
                break
        lp, g, h = self._pieces(theta, fixed + zs @ b)
        hess = (zs.T * h) @ zs - np.eye(b.size)
        sign, logdet = np.linalg.slogdet(-hess)
        if sign <= 0 or not np.isfinite(lp.sum()):
            return 1e12
        self.b = b
        return float(-(lp.sum() - 0.5 * b @ b - 0.5 * logdet))


def _fit_laplace(y, x, groups, n_cut, start_theta, start_beta):
    model = _LaplaceCLMM(y, x, groups, n_cut)
    raw0 = np.concatenate([[start_theta[0]], np.log(np.diff(start_theta))])
    x0 = np.concatenate([raw0, start_beta, np.zeros(len(groups))])
    return optimize.minimize(
        model.negloglik, x0, method="BFGS", options={"gtol": 1e-8, "maxiter": 1000}
    )


def clmm(
    scores: pd.DataFrame,
    random: Sequence[str] = ("case", "reader"),
    methods: Sequence[str] | None = None,
    start: dict | None = None,
) -> dict:
    """Cumulative link mixed model score ~ method + (1|r) for r in ``random`` (Laplace).

    ``start``: a ``clm`` result of the same data to start from (computed if None).
    Returns beta (per method vs the first), theta, sd (per random factor), logLik and the
    likelihood-ratio test of method (LR_method, df, p_method).
    """
    s, order, levels, y, x = _design(scores, methods)
    codes = [pd.factorize(s[r].astype(str))[0] for r in random]
    if any(c.max() < 1 for c in codes):
        raise StatsInputError("clmm: every random factor needs at least 2 levels")
    start = start if start is not None else clm(s, order)
    th0 = np.array(list(start["theta"].values()))
    b0 = np.array(list(start["beta"].values()))
    n_cut = th0.size
    full = _fit_laplace(y, x, codes, n_cut, th0, b0)
    null = _fit_laplace(y, np.zeros((len(y), 0)), codes, n_cut, th0, np.zeros(0))
    p = x.shape[1]
    lr = 2 * (null.fun - full.fun)
    return {
        "beta": {m: float(full.x[n_cut + i]) for i, m in enumerate(order[1:])},
        "theta": dict(
            zip(_threshold_names(levels), map(float, _thresholds(full.x[:n_cut])), strict=True)
        ),
        "sd": {r: float(np.exp(full.x[n_cut + p + i])) for i, r in enumerate(random)},
        "logLik": float(-full.fun),
        "LR_method": float(lr),
        "df_method": float(p),
        "p_method": float(stats.chi2.sf(lr, p)),
    }
