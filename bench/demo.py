"""Bench of the one-click demo: ``python -m db demo`` as a newcomer runs it, on a fresh
temporary workspace, timed from the shell command to its exit, with the seconds spent in each
phase the progress bar names (from its output) and the load average around it.

The figure depends on the machine's load (the demo runs four methods on four full-size
phantom CT cases on the CPU): quote it with the load. Writes bench/results/demo.json.
Run: ``python bench/demo.py [--runs N] [--cases 4 --size full]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "demo.json"
# a tqdm line: "<phase>:  15%|...| 00:39"
_BAR = re.compile(r"([^\r|]+?):\s+\d+%\|[^|]*\|\s*(\d+):(\d+)")


def phase_seconds(stderr: str) -> dict[str, float]:
    """Seconds from the first appearance of each phase label to the next one (tqdm output)."""
    starts: list[tuple[str, float]] = []
    for label, minutes, seconds in _BAR.findall(stderr):
        label = label.splitlines()[-1].strip()
        if label.startswith(("Generating", "Phantom case")):
            label = "Phantom cases"
        elif label.startswith("Segmentation and metrics"):
            label = "Segmentation and metrics"
        at = int(minutes) * 60 + int(seconds)
        if not starts or starts[-1][0] != label:
            starts.append((label, float(at)))
    out: dict[str, float] = {}
    for (label, start), (_, end) in zip(starts, starts[1:], strict=False):
        out[label] = out.get(label, 0.0) + end - start
    return out


def one_run(cases: int, size: str) -> dict:
    """Time one ``python -m db demo`` on a new workspace; returns its figures."""
    with tempfile.TemporaryDirectory(prefix="livseg-demo-bench-") as tmp:
        env = dict(
            os.environ,
            LIVSEG_WORKSPACE=tmp,
            LIVSEG_DATABASE_URL=f"sqlite:///{tmp}/db.sqlite",
        )
        env.pop("LIVSEG_DEMO_METHODS", None)
        load_before = os.getloadavg()
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "db", "demo", "--cases", str(cases), "--size", size],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - t0
        load_after = os.getloadavg()
    if done.returncode != 0:
        raise SystemExit(f"python -m db demo failed:\n{done.stderr[-2000:]}")
    methods = re.search(r"x (\d+) methods", done.stdout)
    return {
        "wall_s": round(wall, 1),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "methods": int(methods.group(1)) if methods else None,
        "phases_s": phase_seconds(done.stderr),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--cases", type=int, default=4)
    parser.add_argument("--size", default="full", choices=("small", "full"))
    args = parser.parse_args()
    runs = [one_run(args.cases, args.size) for _ in range(args.runs)]
    for i, run in enumerate(runs, 1):
        print(
            f"run {i}: {run['wall_s']:.1f} s for {args.cases} {args.size} cases x "
            f"{run['methods']} methods; load average {run['load_before'][0]:.2f} before, "
            f"{run['load_after'][0]:.2f} after ({os.cpu_count()} CPUs)"
        )
        for label, seconds in run["phases_s"].items():
            print(f"    {label}: {seconds:.0f} s")
    result = {
        "what": "python -m db demo on a fresh workspace, shell command to exit",
        "cases": args.cases,
        "size": args.size,
        "cpus": os.cpu_count(),
        "median_wall_s": statistics.median(r["wall_s"] for r in runs),
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"median {result['median_wall_s']:.1f} s -> {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
