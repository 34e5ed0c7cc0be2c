"""ICC(A,1) from a crossed random-effects model of an incomplete reader design.

Model: score = mu + target + reader + error, target ~ N(0, s2_t), reader ~ N(0, s2_r),
error ~ N(0, s2_e), all independent; targets (items = case x method) and readers crossed,
any cell may be missing (case subsets, reading under way). ICC(A,1) = s2_t / (s2_t + s2_r +
s2_e): the agreement of two readers on one target, as for a complete design.

The variances are estimated by Henderson's method III (fitting constants): s2_e from the
residual of the full fixed-effects fit; s2_r from R(reader | mu, target), s2_t from
R(target | mu, reader), each equated to its expectation. With complete data this is the
two-way ANOVA estimator, so the ICC equals the Shrout-Fleiss / McGraw-Wong ICC(A,1). The
95% CI is a seeded parametric bootstrap (percentile; the model refitted to data simulated
from the estimates, negative variance estimates set to 0 for the simulation only). The
point estimate uses the estimates as they are, negative ones included, as the ANOVA
ICC(A,1) does, so both agree on complete data. The design must be connected
(``livseg.stats.reading_design``): else reader and target effects are not separable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix

from livseg.stats.design import StatsInputError

N_BOOTSTRAP = 1000
SEED = 20261202


def _design(scores: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = scores.dropna(subset=["score"])
    target = (s["case"].astype(str) + "\x1f" + s["method"].astype(str)).to_numpy()
    t_codes, _ = pd.factorize(target)
    r_codes, _ = pd.factorize(s["reader"].astype(str))
    return t_codes, r_codes, s["score"].to_numpy(dtype=float)


class _Henderson3:
    """The quadratic forms and their expectations for one design (independent of y).

    With target means absorbed (M_t y = y minus its target's mean), the reader effects
    solve the small reduced normal equations C b = q, C = Zr'M_t Zr (readers x readers),
    q = Zr'M_t y, and R(reader | mu, target) = q'C^+ q; the fit of the full model is the
    targets' fit plus it. Cost: sums over targets and readers plus one pseudo-inverse of
    C, instead of any n x n matrix."""

    def __init__(self, t_codes: np.ndarray, r_codes: np.ndarray):
        n = len(t_codes)
        self.t_codes, self.r_codes = t_codes, r_codes
        self.n_t, self.n_r = int(t_codes.max()) + 1, int(r_codes.max()) + 1
        self.zt = coo_matrix((np.ones(n), (np.arange(n), t_codes)), (n, self.n_t)).tocsr()
        self.zr = coo_matrix((np.ones(n), (np.arange(n), r_codes)), (n, self.n_r)).tocsr()
        self.per_t = np.bincount(t_codes, minlength=self.n_t).astype(float)
        self.per_r = np.bincount(r_codes, minlength=self.n_r).astype(float)
        cells = (self.zt.T @ self.zr).toarray()  # n_tr: targets x readers, 0/1
        c = np.diag(self.per_r) - cells.T @ (cells / self.per_t[:, None])
        w, v = np.linalg.eigh(c)
        keep = w > max(w.max(), 1.0) * 1e-10
        self.c_pinv = (v[:, keep] / w[keep]) @ v[:, keep].T
        rank_c = int(keep.sum())
        rank_t, rank_r = self.n_t, self.n_r  # the intercept lies in both spans
        rank_full = rank_t + rank_c
        self.df_e = n - rank_full
        if self.df_e < 1:
            raise StatsInputError("no residual degrees of freedom (each target read once?)")
        # E R(reader | mu, target) = (rank_full - rank_t) s2_e + tr(C) s2_r, likewise targets
        self.df_r, self.df_t = rank_full - rank_t, rank_full - rank_r
        self.c_r = float(np.trace(c))
        self.c_t = float(n - (cells**2 / self.per_r[None, :]).sum())
        if self.df_r < 1 or self.df_t < 1 or self.c_r <= 0 or self.c_t <= 0:
            raise StatsInputError("reader and target effects are not separable in this design")

    def variances(self, y: np.ndarray) -> np.ndarray:
        """(s2_t, s2_r, s2_e) of each column of ``y`` (n x B)."""
        y = y.reshape(len(y), -1)
        total = (y**2).sum(axis=0)
        sum_t = self.zt.T @ y  # n_t x B
        sum_r = self.zr.T @ y
        fit_t = (sum_t**2 / self.per_t[:, None]).sum(axis=0)
        fit_r = (sum_r**2 / self.per_r[:, None]).sum(axis=0)
        q = self.zr.T @ (y - (sum_t / self.per_t[:, None])[self.t_codes])  # Zr'M_t y
        fit_full = fit_t + np.einsum("rb,rb->b", q, self.c_pinv @ q)
        s2_e = (total - fit_full) / self.df_e
        s2_r = (fit_full - fit_t - self.df_r * s2_e) / self.c_r
        s2_t = (fit_full - fit_r - self.df_t * s2_e) / self.c_t
        return np.vstack([s2_t, s2_r, s2_e])


def _icc(v: np.ndarray) -> np.ndarray:
    """s2_t / (s2_t + s2_r + s2_e) from the estimates as they are (a negative one included,
    as the ANOVA ICC(A,1) does: then both agree on complete data); NaN for a total <= 0."""
    total = v.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, v[0] / total, np.nan)


def crossed_icc(
    scores: pd.DataFrame,
    confidence: float = 0.95,
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = SEED,
) -> dict[str, float]:
    """ICC(A,1) of a long score table (case, method, reader, score; missing cells allowed)
    from the crossed random-effects model, with its bootstrap CI.

    Returns value, ci_low, ci_high, var_target, var_reader, var_resid (Henderson III, a
    negative estimate kept as is, in the ICC too), n_targets, n_readers, n_scores.
    Raises StatsInputError when the design does not allow the model (fewer than 2 readers
    or targets, no residual df, effects not separable) or the scores do not vary.
    """
    t_codes, r_codes, y = _design(scores)
    n_t, n_r = (int(t_codes.max()) + 1, int(r_codes.max()) + 1) if len(y) else (0, 0)
    if n_r < 2 or n_t < 2:
        raise StatsInputError(f"need >= 2 readers and >= 2 targets (have {n_r} and {n_t})")
    if np.ptp(y) == 0:
        raise StatsInputError("all scores are identical: agreement undefined")
    h3 = _Henderson3(t_codes, r_codes)
    est = h3.variances(y)[:, 0]
    value = float(_icc(est[:, None])[0])
    if not np.isfinite(value):
        raise StatsInputError("no variation between targets or readers")
    rng = np.random.default_rng(seed)
    sd = np.sqrt(np.clip(est, 0, None))
    sims = (
        rng.normal(0, sd[0], (n_t, n_bootstrap))[t_codes]
        + rng.normal(0, sd[1], (n_r, n_bootstrap))[r_codes]
        + rng.normal(0, sd[2], (len(y), n_bootstrap))
    )
    boot = _icc(h3.variances(sims))
    boot = boot[np.isfinite(boot)]
    a = (1 - confidence) / 2
    low, high = np.quantile(boot, [a, 1 - a]) if boot.size else (np.nan, np.nan)
    return {
        "value": value,
        "ci_low": float(low),
        "ci_high": float(high),
        "var_target": float(est[0]),
        "var_reader": float(est[1]),
        "var_resid": float(est[2]),
        "n_targets": float(n_t),
        "n_readers": float(n_r),
        "n_scores": float(len(y)),
    }
