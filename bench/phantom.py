"""Phantom generation speed: v1 (the demo's look) and v2 (domain-randomised), full size.

Usage: ``LIVSEG_THREADS=1 nice -n 10 python bench/phantom.py [--n 4] [--seed 11]``

Generates seeds ``seed .. seed+n-1`` with both profiles in the same process, alternating
(so machine load hits both alike), and prints / writes per-case seconds, medians, the
v2 / v1 ratio of medians, the slices per case and the load average before and after
(this 2-core machine is shared) to ``bench/results/phantom.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "phantom.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    from livseg.phantom import generate_case

    load_before = os.getloadavg()
    rows = {"v1": [], "v2": []}
    for s in range(args.seed, args.seed + args.n):
        for profile in ("v1", "v2"):
            t0 = time.perf_counter()
            case = generate_case(s, "full", profile=profile)
            sec = time.perf_counter() - t0
            rows[profile].append(
                {"seed": s, "seconds": round(sec, 2), "shape": list(case.volume.shape)}
            )
            print(f"{profile} seed {s}: {sec:.2f} s, shape {case.volume.shape}", flush=True)
    med = {p: statistics.median(r["seconds"] for r in rows[p]) for p in rows}
    out = {
        "what": "seconds per full-size phantom case (generate_case), same process, alternating",
        "median_seconds": {p: round(v, 2) for p, v in med.items()},
        "ratio_v2_over_v1": round(med["v2"] / med["v1"], 2),
        "cases": rows,
        "threads": int(os.environ.get("LIVSEG_THREADS", 1)),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
    }
    print(json.dumps({k: out[k] for k in ("median_seconds", "ratio_v2_over_v1")}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
