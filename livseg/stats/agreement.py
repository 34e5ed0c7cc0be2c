"""Reader agreement on Likert scores.

ICC in the six Shrout-Fleiss / McGraw-Wong forms (F, p, 95% CI), Cohen's kappa per reader
pair (unweighted, linear, quadratic weights), Fleiss' kappa (with irr's z test and Conger's
exact variant), Krippendorff's alpha (missing scores allowed) and Kendall's W.

Input: a targets x readers matrix (``livseg.stats.design.ratings_matrix``).

ICC CI convention (docs/statistics.md): Shrout & Fleiss F-based limits for ICC(1), ICC(C,1),
ICC(C,k); McGraw & Wong's approximate-df limits for ICC(A,1); for ICC(A,k) the Spearman-Brown
transform of the ICC(A,1) limits (pingouin / psych::ICC; irr::icc uses another formula). The
F tests use F = MS_rows / MS_error for ICC2 and ICC3 (pingouin / psych).
"""

from __future__ import annotations

from itertools import combinations

import krippendorff
import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.inter_rater import cohens_kappa

from livseg.stats.design import StatsInputError

ICC_FORMS = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")
ICC_DESCRIPTION = {
    "ICC1": "ICC(1,1) one-way random, single rater",
    "ICC2": "ICC(2,1) = ICC(A,1) two-way random, absolute agreement, single rater",
    "ICC3": "ICC(3,1) = ICC(C,1) two-way mixed, consistency, single rater",
    "ICC1k": "ICC(1,k) one-way random, mean of k raters",
    "ICC2k": "ICC(2,k) = ICC(A,k) two-way random, absolute agreement, mean of k raters",
    "ICC3k": "ICC(3,k) = ICC(C,k) two-way mixed, consistency, mean of k raters",
}


def _complete(ratings: pd.DataFrame | np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(ratings, dtype=float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise StatsInputError(f"{what}: need a targets x raters matrix with >= 2 raters")
    x = x[~np.isnan(x).any(axis=1)]
    if x.shape[0] < 2:
        raise StatsInputError(f"{what}: fewer than 2 targets scored by every rater")
    return x


def icc(
    ratings: pd.DataFrame | np.ndarray, confidence: float = 0.95
) -> dict[str, dict[str, float]]:
    """The six ICC forms with F, df1, df2, p and CI; targets with a missing score are dropped."""
    x = _complete(ratings, "ICC")
    n, k = x.shape
    grand = x.mean()
    ss_r = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_c = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_t = ((x - grand) ** 2).sum()
    ss_e = ss_t - ss_r - ss_c
    msr, msc = ss_r / (n - 1), ss_c / (k - 1)
    msw = (ss_c + ss_e) / (n * (k - 1))
    mse = ss_e / ((n - 1) * (k - 1))
    a = 1 - confidence
    icc1 = (msr - msw) / (msr + (k - 1) * msw)
    icc2 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    icc3 = (msr - mse) / (msr + (k - 1) * mse)
    icc1k = (msr - msw) / msr
    icc2k = (msr - mse) / (msr + (msc - mse) / n)
    icc3k = (msr - mse) / msr
    df1, df1w, df2e = n - 1, n * (k - 1), (n - 1) * (k - 1)
    f1, f3 = msr / msw, msr / mse
    p1, p3 = stats.f.sf(f1, df1, df1w), stats.f.sf(f3, df1, df2e)
    # one-way and consistency limits (Shrout & Fleiss 1979)
    f1l = f1 / stats.f.ppf(1 - a / 2, df1, df1w)
    f1u = f1 * stats.f.ppf(1 - a / 2, df1w, df1)
    f3l = f3 / stats.f.ppf(1 - a / 2, df1, df2e)
    f3u = f3 * stats.f.ppf(1 - a / 2, df2e, df1)
    # absolute agreement, single rater (McGraw & Wong 1996, approximate df v)
    fj = msc / mse
    vn = df2e * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    vd = df1 * (k * icc2 * fj) ** 2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = vn / vd
    f2u = stats.f.ppf(1 - a / 2, n - 1, v)
    f2l = stats.f.ppf(1 - a / 2, v, n - 1)
    l2 = n * (msr - f2u * mse) / (f2u * (k * msc + (k * n - k - n) * mse) + n * msr)
    u2 = n * (f2l * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f2l * msr)
    rows = {
        "ICC1": (icc1, f1, df1, df1w, p1, (f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1)),
        "ICC2": (icc2, f3, df1, df2e, p3, l2, u2),
        "ICC3": (icc3, f3, df1, df2e, p3, (f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1)),
        "ICC1k": (icc1k, f1, df1, df1w, p1, 1 - 1 / f1l, 1 - 1 / f1u),
        "ICC2k": (
            icc2k,
            f3,
            df1,
            df2e,
            p3,
            l2 * k / (1 + l2 * (k - 1)),
            u2 * k / (1 + u2 * (k - 1)),
        ),
        "ICC3k": (icc3k, f3, df1, df2e, p3, 1 - 1 / f3l, 1 - 1 / f3u),
    }
    return {
        name: {
            "value": float(r[0]),
            "F": float(r[1]),
            "df1": float(r[2]),
            "df2": float(r[3]),
            "p": float(r[4]),
            "ci_low": float(r[5]),
            "ci_high": float(r[6]),
        }
        for name, r in rows.items()
    }


def cohen_kappa_pairs(
    ratings: pd.DataFrame, categories: tuple[int, ...] = (1, 2, 3, 4, 5)
) -> dict[str, dict[str, float]]:
    """Cohen's kappa for every reader pair: unweighted (+ SE under H1 and H0), linear and
    quadratic weights, with the category set fixed to ``categories``."""
    out = {}
    cats = np.asarray(categories, dtype=float)
    for r1, r2 in combinations(list(ratings.columns), 2):
        pair = ratings[[r1, r2]].dropna().to_numpy(dtype=float)
        if len(pair) < 2:
            raise StatsInputError(f"kappa: readers {r1} and {r2} share fewer than 2 targets")
        idx = [np.searchsorted(cats, pair[:, j]) for j in (0, 1)]
        if any(
            (i >= len(cats)).any() or (cats[np.minimum(i, len(cats) - 1)] != pair[:, j]).any()
            for j, i in enumerate(idx)
        ):
            raise StatsInputError(f"kappa: scores outside the categories {categories}")
        table = np.zeros((len(cats), len(cats)))
        np.add.at(table, (idx[0], idx[1]), 1)
        un = cohens_kappa(table)
        out[f"{r1}_{r2}"] = {
            "unweighted": float(un.kappa),
            "unweighted_se": float(un.std_kappa),
            "unweighted_se0": float(un.std_kappa0),
            "linear": float(cohens_kappa(table, wt="linear", return_results=False)),
            "quadratic": float(cohens_kappa(table, wt="quadratic", return_results=False)),
        }
    return out


def fleiss_kappa(ratings: pd.DataFrame | np.ndarray) -> dict[str, float]:
    """Fleiss' kappa with irr's z test (kappa = 0) and Conger's exact kappa (complete targets)."""
    x = _complete(ratings, "Fleiss' kappa")
    n, m = x.shape
    cats = np.unique(x)
    counts = (x[:, :, None] == cats[None, None, :]).sum(axis=1)  # targets x categories
    pj = counts.sum(axis=0) / (n * m)
    po = ((counts * (counts - 1)).sum(axis=1) / (m * (m - 1))).mean()
    pe = (pj**2).sum()
    kappa = (po - pe) / (1 - pe)
    pq = pj * (1 - pj)
    var = 2 / (pq.sum() ** 2 * n * m * (m - 1)) * (pq.sum() ** 2 - (pq * (1 - 2 * pj)).sum())
    z = kappa / np.sqrt(var)
    # Conger (1980): expected agreement from each rater's own marginals
    rater_p = (x[:, :, None] == cats[None, None, :]).mean(axis=0)  # raters x categories
    pe_c = (pj**2).sum() - (rater_p.var(axis=0, ddof=0)).sum() / (m - 1)
    return {
        "kappa": float(kappa),
        "z": float(z),
        "p": float(2 * stats.norm.sf(abs(z))),
        "conger_exact": float((po - pe_c) / (1 - pe_c)),
    }


def krippendorff_alpha(ratings: pd.DataFrame | np.ndarray, level: str = "ordinal") -> float:
    """Krippendorff's alpha at ``level`` (nominal, ordinal, interval, ratio); NaN = missing."""
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise StatsInputError(f"unknown level of measurement {level!r}")
    x = np.asarray(ratings, dtype=float).T  # raters x units
    if np.isfinite(x).sum() < 2:
        raise StatsInputError("Krippendorff's alpha: fewer than 2 scores")
    return float(krippendorff.alpha(reliability_data=x, level_of_measurement=level))


def kendall_w(ratings: pd.DataFrame | np.ndarray) -> dict[str, float]:
    """Kendall's W across raters (each rater ranks the targets), with and without tie
    correction, and the Friedman chi-square test of it."""
    x = _complete(ratings, "Kendall's W")
    n, m = x.shape  # n targets ranked by m raters
    ranks = np.apply_along_axis(stats.rankdata, 0, x)
    rsum = ranks.sum(axis=1)
    s = ((rsum - rsum.mean()) ** 2).sum()
    ties = 0.0
    for j in range(m):
        _, c = np.unique(x[:, j], return_counts=True)
        ties += (c**3 - c).sum()
    w_unc = 12 * s / (m**2 * (n**3 - n))
    w = 12 * s / (m**2 * (n**3 - n) - m * ties)
    chi2 = m * (n - 1) * w
    return {
        "W": float(w),
        "W_uncorrected": float(w_unc),
        "chi2": float(chi2),
        "df": float(n - 1),
        "p": float(stats.chi2.sf(chi2, n - 1)),
    }
