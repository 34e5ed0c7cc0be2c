"""``python -m livseg phantom``: write synthetic CT phantoms in LiTS layout + manifest.json."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(subparsers) -> None:
    """Add the ``phantom`` sub-command."""
    p = subparsers.add_parser(
        "phantom",
        help="generate synthetic liver-tumour CT phantoms (LiTS layout)",
        description=(
            "Write N synthetic portal-venous CT cases as volume-<i>.nii.gz (int16 HU) and "
            "segmentation-<i>.nii.gz (uint8: 0 background, 1 liver, 2 tumour) plus "
            "manifest.json (split 8:2 train/test, spacing, shape, lesions)."
        ),
    )
    p.add_argument("--out", required=True, type=Path, help="output folder (created if missing)")
    p.add_argument("--n", required=True, type=int, help="number of cases (>= 1)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (>= 0), default 0")
    p.add_argument(
        "--size",
        choices=("full", "small"),
        default="full",
        help="full: 512x512, 60-150 slices; small: 128x128, 24-40 slices (tests)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate the dataset; returns the exit code."""
    from livseg import phantom

    if args.n < 1:
        print(f"error: --n must be >= 1, got {args.n}", file=sys.stderr)
        return 2
    if args.seed < 0:
        print(f"error: --seed must be >= 0, got {args.seed}", file=sys.stderr)
        return 2
    if args.out.exists() and not args.out.is_dir():
        print(f"error: --out {args.out} exists and is not a folder", file=sys.stderr)
        return 2
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=args.n, unit="case", desc="phantoms")

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.update(1)

    t0 = time.perf_counter()
    manifest = phantom.write_dataset(args.out, args.n, args.seed, size=args.size, progress=progress)
    if bar is not None:
        bar.close()
    print(
        f"wrote {manifest['n']} cases ({manifest['n_train']} train / {manifest['n_test']} test) "
        f"to {args.out} in {time.perf_counter() - t0:.1f} s"
    )
    return 0
