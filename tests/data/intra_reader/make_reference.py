"""Writes scores_long.csv (a washout study) and reference.json (intra-reader agreement)
with independent tools: scikit-learn's cohen_kappa_score (labels 1-5 fixed) and ICC(A,1)
from a statsmodels two-way ANOVA (target + session) with McGraw & Wong's (1996, case 2A)
formulas for the value and the 95% CI (their a, b form of the approximate df).

Run once: python tests/data/intra_reader/make_reference.py (R is not available here).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.anova import anova_lm

HERE = Path(__file__).resolve().parent
LABELS = [1, 2, 3, 4, 5]


def scores_long() -> pd.DataFrame:
    rng = np.random.default_rng(20261202)
    cases = [f"case_{i:02d}" for i in range(8)]
    methods = ["classical", "unet2d"]
    rows = []
    truth = {(c, m): rng.integers(1, 6) for c in cases for m in methods}
    reread = {"r1": 16, "r2": 6, "r3": 5}  # r1 re-reads all: >= 5 pairs per method
    for reader, n_again in reread.items():
        noise = {"r1": 0.6, "r2": 0.9, "r3": 1.2}[reader]
        items = [(c, m) for c in cases for m in methods]
        first = {}
        for c, m in items:
            first[(c, m)] = int(np.clip(round(truth[(c, m)] + rng.normal(0, noise)), 1, 5))
            rows.append((reader, 1, c, m, first[(c, m)]))
        picked = [items[i] for i in sorted(rng.choice(len(items), n_again, replace=False))]
        for c, m in picked:
            again = int(np.clip(round(first[(c, m)] + rng.normal(0, noise)), 1, 5))
            rows.append((reader, 2, c, m, again))
    return pd.DataFrame(rows, columns=["reader", "session", "case", "method", "score"])


def icc_a1(x: np.ndarray, alpha: float = 0.05) -> tuple[float, float, float]:
    n, k = x.shape
    long = pd.DataFrame(
        {
            "y": x.ravel(),
            "target": np.repeat(np.arange(n), k).astype(str),
            "session": np.tile(np.arange(k), n).astype(str),
        }
    )
    table = anova_lm(smf.ols("y ~ C(target) + C(session)", long).fit(), typ=1)
    ms = table["sum_sq"] / table["df"]
    msr, msc, mse = ms["C(target)"], ms["C(session)"], ms["Residual"]
    icc = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    a = k * icc / (n * (1 - icc))
    b = 1 + k * icc * (n - 1) / (n * (1 - icc))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1)))
    fl = stats.f.ppf(1 - alpha / 2, n - 1, v)
    fu = stats.f.ppf(1 - alpha / 2, v, n - 1)
    low = n * (msr - fl * mse) / (fl * (k * msc + (k * n - k - n) * mse) + n * msr)
    high = n * (fu * msr - mse) / (k * msc + (k * n - k - n) * mse + n * fu * msr)
    return float(icc), float(low), float(high)


def reference(pairs: pd.DataFrame) -> dict[str, float]:
    a, b = pairs["first"].to_numpy(int), pairs["second"].to_numpy(int)
    icc, low, high = icc_a1(np.column_stack([a, b]).astype(float))
    return {
        "n_pairs": float(len(a)),
        "exact_agreement": float(np.mean(a == b)),
        "kappa_linear": float(cohen_kappa_score(a, b, labels=LABELS, weights="linear")),
        "kappa_quadratic": float(cohen_kappa_score(a, b, labels=LABELS, weights="quadratic")),
        "icc_a1": icc,
        "icc_a1_ci_low": low,
        "icc_a1_ci_high": high,
    }


def main() -> None:
    scores = scores_long()
    scores.to_csv(HERE / "scores_long.csv", index=False)
    s1 = scores[scores.session == 1].drop(columns="session")
    s2 = scores[scores.session == 2].drop(columns="session")
    pairs = s1.merge(s2, on=["reader", "case", "method"], suffixes=("_1", "_2")).rename(
        columns={"score_1": "first", "score_2": "second"}
    )
    ref = {}
    for subject in ["r1", "r2", "r3", "all"]:
        sub = pairs if subject == "all" else pairs[pairs.reader == subject]
        for stat, value in reference(sub).items():
            ref[f"intra_reader/{subject}/{stat}"] = value
        counts = sub["method"].value_counts()
        if all(counts.get(m, 0) >= 5 for m in ("classical", "unet2d")):
            for m in ("classical", "unet2d"):
                for stat, value in reference(sub[sub.method == m]).items():
                    ref[f"intra_reader/{subject}/{m}/{stat}"] = value
    doc = {
        "source": "scikit-learn cohen_kappa_score; statsmodels anova_lm + McGraw & Wong 1996",
        "values": ref,
    }
    (HERE / "reference.json").write_text(json.dumps(doc, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
