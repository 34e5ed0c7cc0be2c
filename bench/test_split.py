"""Protocol step 7: the shipped methods on the phantom test splits, once, with a summary table.

Usage: ``LIVSEG_THREADS=1 nice -n 10 python bench/test_split.py [--write-cards] [--work DIR]
[--data-seed S] [--profiles v2 v1] [--methods all] [--n-cases N]``

Runs exactly the commands of docs/methods.md ("Clean training protocol", step 7), one
profile at a time: ``livseg.training.write_split(DIR/T<profile>, S, "test", profile=...)``
(the 30 test cases of data seed S, default 0, which no training or validation reads; a
protocol amendment is evaluated on a seed not seen before), ``python -m livseg
segment --method all --cases T --out R`` and ``python -m livseg evaluate --runs-dir R
--ref-dir T --out metrics.csv``. Then prints, per profile, method and structure (liver =
labels 1 + 2, tumour = label 2), the per-case mean ± SD of DSC, Jaccard, HD95 / HD (mm,
NaN when a method predicts no tumour in a case: n counts the finite ones), volume error
(%), and the median seconds per case inside the runs, with the issue's goals (liver >= 0.95,
tumour >= 0.75 per network) marked. Writes ``bench/results/test_split.json`` (data seed 0;
``test_split_seed<S>.json`` for another) with the load average before and after;
``--write-cards`` adds each network's figures to its model card
(``livseg.model_card.add_test_evaluation``: once per data seed, for the weights the runs
used). ``--split
train --n-cases 2`` checks the script on training cases (a smoke run,
not the protocol's figure; its JSON goes to the work folder).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livseg.metric_registry import BY_KEY  # noqa: E402
from livseg.model_card import TEST_FIGURES, format_stat  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "test_split.json"
GOALS = {"liver": 0.95, "tumour": 0.75}  # issue 11: phantoms of an unseen seed, per network


def _cli(*args: str) -> None:
    cmd = [sys.executable, "-m", "livseg", *args]
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def write_cases(
    folder: Path, profile: str, split: str, n_cases: int | None, data_seed: int = 0
) -> list[int]:
    """The ``split`` cases of ``data_seed`` for ``profile`` in LiTS layout (first ``n_cases``)."""
    from livseg.training import write_split

    return write_split(folder, data_seed, split, profile=profile, limit=n_cases)


def results_path(data_seed: int) -> Path:
    """bench/results/test_split.json for data seed 0, test_split_seed<S>.json for another."""
    return RESULTS if data_seed == 0 else RESULTS.with_name(f"test_split_seed{data_seed}.json")


def _stat(values: pd.Series) -> dict:
    finite = values[values.map(lambda v: isinstance(v, float | int) and math.isfinite(v))]
    if finite.empty:
        return {"mean": None, "sd": None, "n": 0}
    sd = float(finite.std(ddof=1)) if len(finite) > 1 else 0.0
    return {"mean": round(float(finite.mean()), 4), "sd": round(sd, 4), "n": int(len(finite))}


def summarise(rows: pd.DataFrame) -> list[dict]:
    """Per method x structure: mean / SD / n of each column, |volume error|, median seconds."""
    out = []
    for (method, structure), g in rows.groupby(["method", "structure"], sort=True):
        entry = {"method": method, "structure": structure, "cases": int(len(g))}
        for key in TEST_FIGURES:
            entry[key] = _stat(pd.to_numeric(g[key], errors="coerce"))
        entry["abs_volume_error_pct"] = _stat(pd.to_numeric(g["volume_error_pct"]).abs())
        entry["median_seconds"] = round(float(pd.to_numeric(g["seconds"]).median()), 3)
        goal = GOALS[structure] if method != "classical" else None
        entry["goal_dsc"] = goal
        entry["goal_met"] = None if goal is None else bool(entry["dsc"]["mean"] >= goal)
        out.append(entry)
    return out


LESION_SIZES = {
    "all": "lesions",
    "<2 cm": "lesions_lt2cm",
    "2-5 cm": "lesions_2to5cm",
    ">5 cm": "lesions_gt5cm",
}


def lesion_summary(rows: pd.DataFrame) -> dict:
    """Per method: reference lesions, missed and false-positive lesions summed over the cases,
    by lesion size (``livseg evaluate``'s 26-connected tumour components)."""
    tumour = rows[rows["structure"] == "tumour"]
    out = {}
    for method, g in tumour.groupby("method", sort=True):
        out[method] = {
            size: {
                "reference": int(g[f"{col}_reference"].sum()),
                "missed": int(g[f"{col}_missed"].sum()),
                "false_positive": int(g[f"{col}_false_positive"].sum()),
            }
            for size, col in LESION_SIZES.items()
        }
    return out


def print_table(profile: str, summary: list[dict], n_cases: int, data_seed: int = 0) -> None:
    """A markdown table as docs/methods.md shows it."""
    print(f"\nphantom {profile} ({n_cases} cases, data seed {data_seed})")
    labels = [BY_KEY[key].label for key in TEST_FIGURES]
    head = ["method", "structure", *labels, "\\|volume error\\| (%)", "s / case", "goal"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for e in summary:
        cells = [e["method"], e["structure"]]
        for key, digits in TEST_FIGURES.items():
            cells.append(format_stat(e[key], digits, e["cases"]))
        cells.append(format_stat(e["abs_volume_error_pct"], 1))
        cells.append(f"{e['median_seconds']:.2f}")
        cells.append(
            "-"
            if e["goal_met"] is None
            else f">= {e['goal_dsc']}: {'met' if e['goal_met'] else 'NOT met'}"
        )
        print("| " + " | ".join(cells) + " |")


def write_cards(report: dict, command: str) -> None:
    """Each shipped network's figures of every profile into its model card (once)."""
    from livseg.methods import NETWORK_METHODS
    from livseg.methods.network_method import weights_path
    from livseg.model_card import add_test_evaluation

    if report["smoke_run"]:
        raise SystemExit("--write-cards is for the protocol run (the whole test split) only")
    profiles = report["profiles"]
    methods = sorted({m for p in profiles.values() for m in p["versions"]})
    for method in methods:
        if method not in NETWORK_METHODS:
            continue  # the classical control and external methods have no card
        weights = weights_path(method)
        if not weights.exists():
            continue
        versions = {p["versions"][method] for p in profiles.values()}
        if len(versions) != 1:
            raise SystemExit(f"{method}: runs of several weights versions {sorted(versions)}")
        evaluation = {
            "data_seed": report["data_seed"],
            "date_utc": report["date_utc"],
            "command": command,
            "profiles": {
                name: {
                    "cases": p["cases"],
                    **{
                        e["structure"]: {
                            k: v for k, v in e.items() if k not in ("method", "structure")
                        }
                        for e in p["summary"]
                        if e["method"] == method
                    },
                }
                for name, p in profiles.items()
            },
        }
        md, _ = add_test_evaluation(weights, versions.pop(), evaluation)
        print(f"wrote the test evaluation into {md}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/livseg-test-split"))
    parser.add_argument("--profiles", nargs="+", default=["v2", "v1"])
    parser.add_argument(
        "--data-seed",
        type=int,
        default=0,
        help="whose test splits (default 0; amendment 1: 1; amendment 2: 2)",
    )
    parser.add_argument("--methods", default="all")
    parser.add_argument("--n-cases", type=int, default=None, help="smoke run: first N cases")
    parser.add_argument(
        "--split", default="test", help="test (the protocol); train for a smoke run of the script"
    )
    parser.add_argument(
        "--write-cards",
        action="store_true",
        help="add the figures to each shipped network's model card (the protocol run, once)",
    )
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    report: dict = {
        "benchmark": "protocol step 7: shipped methods on the phantom test splits "
        f"(data seed {args.data_seed})",
        "data_seed": args.data_seed,
        "smoke_run": args.n_cases is not None or args.split != "test",
        "split": args.split,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "threads": os.environ.get("LIVSEG_THREADS"),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg_before": [round(x, 2) for x in load_before],
        "profiles": {},
    }
    for profile in args.profiles:
        tag = f"{profile}-s{args.data_seed}"  # a folder per seed: no case of another seed in it
        cases, runs = args.work / f"{args.split}-{tag}", args.work / f"runs-{tag}"
        indices = write_cases(cases, profile, args.split, args.n_cases, args.data_seed)
        _cli("segment", "--method", args.methods, "--cases", str(cases), "--out", str(runs))
        csv = args.work / f"metrics-{tag}.csv"
        _cli("evaluate", "--runs-dir", str(runs), "--ref-dir", str(cases), "--out", str(csv))
        rows = pd.read_csv(csv)
        summary = summarise(rows)
        versions = rows.groupby("method")["version"].first().astype(str).to_dict()
        report["profiles"][profile] = {
            "cases": len(indices),
            "indices": indices,
            "versions": versions,
            "summary": summary,
            "lesions": lesion_summary(rows),
        }
        print_table(profile, summary, len(indices), args.data_seed)
    report["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    report["wall_seconds"] = round(time.perf_counter() - t0, 1)
    out = (
        results_path(args.data_seed)
        if not report["smoke_run"]
        else args.work / "test_split_smoke.json"
    )
    if args.write_cards:
        write_cards(report, " ".join(["python", "bench/test_split.py", *(argv or sys.argv[1:])]))
    out.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {out} ({report['wall_seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
