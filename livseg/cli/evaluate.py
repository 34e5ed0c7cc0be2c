"""``python -m livseg evaluate``: segmentation metrics of predictions against references.

One pair:   ``evaluate --pred P.nii.gz --ref R.nii.gz [--json]``
A folder:   ``evaluate --pred-dir D --ref-dir R --out metrics.csv``
Runs:       ``evaluate --runs-dir RUNS --ref-dir CASES --out metrics.csv``
(see ``livseg.metrics`` for the definitions and ``livseg.evaluation`` for the file layouts).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from livseg import evaluation, metrics, naming


def register(subparsers) -> None:
    """Add the ``evaluate`` sub-command."""
    parser = subparsers.add_parser(
        "evaluate",
        help="metrics (DSC, Jaccard, HD, HD95, ASSD, volume error, lesion detection)",
        description=(
            "Compare predicted label maps (0 background, 1 liver, 2 tumour) with reference "
            "ones: one pair (--pred/--ref), a folder (--pred-dir/--ref-dir) or a runs folder "
            "RUNS/<method>/<case_id>.nii.gz (--runs-dir/--ref-dir). Distances in mm, volumes in "
            "mL, lesions = 26-connected tumour components, detected when >= 1 voxel overlaps."
        ),
    )
    parser.add_argument("--pred", type=Path, help="predicted label map (NIfTI)")
    parser.add_argument("--ref", type=Path, help="reference label map (NIfTI)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (NaN -> null)")
    parser.add_argument("--pred-dir", type=Path, help="folder of predicted label maps")
    parser.add_argument("--runs-dir", type=Path, help="runs folder: <method>/<case_id>.nii.gz")
    parser.add_argument(
        "--ref-dir", type=Path, help="reference folder (LiTS: segmentation-<case_id>.nii.gz)"
    )
    parser.add_argument("--out", type=Path, help="CSV to write (folder modes)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def json_safe(value):
    """Replace NaN / inf floats by None (recursively) so the result is valid JSON."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _print_table(result: dict[str, dict]) -> None:
    for row in metrics.flatten_evaluation(result):
        print(
            f"{row['structure']:<7} DSC {row['dsc']:.4f}  Jaccard {row['jaccard']:.4f}  "
            f"HD {row['hd_mm']:.2f} mm  HD95 {row['hd95_mm']:.2f} mm  "
            f"ASSD {row['assd_mm']:.2f} mm  volume {row['volume_ml']:.2f} mL "
            f"(reference {row['reference_volume_ml']:.2f} mL, error {row['volume_error_pct']:.1f} %)"
        )
    les = result["tumour"]["lesions"]
    print(
        f"lesions: {les['reference']} reference, {les['detected']} detected, {les['missed']} "
        f"missed, {les['false_positive']} false positive, miss rate {les['miss_rate']:.3f}"
    )
    for name, sub in les["by_size"].items():
        print(
            f"  {name:<6} {sub['reference']} reference, {sub['detected']} detected, "
            f"{sub['missed']} missed, {sub['false_positive']} false positive"
        )


def _write_csv(rows: list[dict], out: Path) -> None:
    import pandas as pd

    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out, index=False)


def _progress_bar(quiet: bool, unit: str):
    """A ``progress(done, total)`` callable drawing a tqdm bar on stderr, and its closer."""
    if quiet:
        return None, lambda: None
    from tqdm import tqdm

    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc="evaluate", unit=unit, file=sys.stderr)
        bar.n = done
        bar.refresh()

    def close() -> None:
        if bar is not None:
            bar.close()

    return progress, close


def run(args: argparse.Namespace) -> int:
    """Run the chosen mode; returns 0, or 2 with a message on stderr for bad input."""
    pair = args.pred is not None or args.ref is not None
    folder = args.pred_dir is not None
    runs = args.runs_dir is not None
    if sum((pair, folder, runs)) != 1:
        print(
            "evaluate: give exactly one of --pred/--ref, --pred-dir/--ref-dir, "
            "--runs-dir/--ref-dir",
            file=sys.stderr,
        )
        return 2
    try:
        if pair:
            if args.pred is None or args.ref is None:
                print("evaluate: --pred and --ref go together", file=sys.stderr)
                return 2
            result = evaluation.evaluate_files(args.pred, args.ref)
            if args.json:
                print(json.dumps(json_safe(result), allow_nan=False))
            else:
                _print_table(result)
            if args.out:
                _write_csv(
                    [
                        {"case_id": naming.case_id(args.ref), **r}
                        for r in metrics.flatten_evaluation(result)
                    ],
                    args.out,
                )
            return 0
        if args.ref_dir is None or args.out is None:
            print("evaluate: folder modes need --ref-dir and --out", file=sys.stderr)
            return 2
        progress, close = _progress_bar(args.quiet, "run" if runs else "case")
        try:
            if runs:
                rows = evaluation.evaluate_runs(args.runs_dir, args.ref_dir, progress=progress)
            else:
                rows = evaluation.evaluate_folder(args.pred_dir, args.ref_dir, progress=progress)
        finally:
            close()
        _write_csv(rows, args.out)
        print(f"wrote {len(rows)} rows to {args.out}", file=sys.stderr)
        return 0
    except ValueError as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
