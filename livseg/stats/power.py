"""Power and sample size of the paired t test (two-sided, noncentral t)."""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats

from livseg.stats.design import StatsInputError


def paired_t_power(
    n: float, delta: float, sd: float, alpha: float = 0.05, both_tails: bool = True
) -> float:
    """Power of the two-sided paired t test with n pairs, true mean difference ``delta``
    and SD of the differences ``sd``. ``both_tails=False`` ignores the wrong-direction
    rejection region (R power.t.test's default strict=FALSE)."""
    if n < 2 or sd <= 0:
        raise StatsInputError("power: need n >= 2 pairs and sd > 0")
    df = n - 1
    nc = abs(delta) / sd * np.sqrt(n)
    tcrit = stats.t.ppf(1 - alpha / 2, df)
    power = stats.nct.sf(tcrit, df, nc)
    if both_tails:
        power += stats.nct.cdf(-tcrit, df, nc)
    return float(power)


def paired_t_sample_size(
    delta: float, sd: float, power: float = 0.8, alpha: float = 0.05, both_tails: bool = True
) -> float:
    """Number of pairs (real, not rounded up) giving ``power`` for the paired t test."""
    if not 0 < power < 1 or delta == 0:
        raise StatsInputError("sample size: need 0 < power < 1 and a non-zero difference")
    f = lambda n: paired_t_power(n, delta, sd, alpha, both_tails) - power  # noqa: E731
    hi = 4.0
    while f(hi) < 0:
        hi *= 2
        if hi > 1e9:
            raise StatsInputError("sample size: no n below 1e9 reaches the requested power")
    return float(optimize.brentq(f, 2.0, hi, xtol=1e-12, rtol=1e-14))
