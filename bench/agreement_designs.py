"""Bench of the agreement statistics for study designs: the crossed-model ICC(A,1)
(livseg.stats.crossed_icc, 1,000 bootstrap refits) against the two-way ANOVA ICC
(livseg.stats.agreement.icc, closed form) in the same process, on the reference scores
(30 cases x 4 methods x 3 readers = 360 scores) and a larger incomplete design (10 readers,
each 6 of 30 cases x 4 methods = 240 of 1,200 cells); and the intra-reader agreement of 120
re-read pairs. Median of --runs runs (wall seconds); the 1-minute load average is recorded
because the machine is shared.

Run: ``nice -n 10 python bench/agreement_designs.py [--runs 7]``. Writes
bench/results/agreement_designs.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from db.blinding import connected_subset  # noqa: E402
from livseg.stats import agreement, design, intra_reader  # noqa: E402
from livseg.stats.crossed_icc import crossed_icc  # noqa: E402

DATA = REPO / "tests" / "data" / "stats" / "data"


def median_s(fn, runs: int) -> float:
    walls = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
    return statistics.median(walls)


def subset_scores() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    sets: list[set[int]] = []
    for _ in range(10):
        sets.append(set(connected_subset(30, 6, sets)))
    level = rng.normal(0, 1, (30, 4))
    rows = [
        {"case": f"c{c}", "method": f"m{m}", "reader": f"r{r}",
         "score": float(np.clip(np.round(3 + level[c, m] + rng.normal(0, 0.7)), 1, 5))}
        for r, cases in enumerate(sets) for c in cases for m in range(4)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    ref = pd.read_csv(DATA / "reader_scores.csv")
    wide, _ = design.ratings_matrix(ref)
    subset = subset_scores()
    rng = np.random.default_rng(2)
    first = rng.integers(1, 6, 120)
    second = np.clip(first + rng.integers(-1, 2, 120), 1, 5)
    load = os.getloadavg()[0]
    res = {
        "reference_360_scores": {
            "crossed_icc_s": median_s(lambda: crossed_icc(ref), args.runs),
            "anova_icc_s": median_s(lambda: agreement.icc(wide), args.runs),
        },
        "subset_240_of_1200_cells": {
            "crossed_icc_s": median_s(lambda: crossed_icc(subset), args.runs),
        },
        "intra_reader_120_pairs_s": median_s(
            lambda: intra_reader.pair_agreement(first, second), args.runs
        ),
        "runs": args.runs,
        "load_average_1min": [load, os.getloadavg()[0]],
    }
    r = res["reference_360_scores"]
    r["ratio_crossed_vs_anova"] = r["crossed_icc_s"] / r["anova_icc_s"]
    out = REPO / "bench" / "results" / "agreement_designs.json"
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
