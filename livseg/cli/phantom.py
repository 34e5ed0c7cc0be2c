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
            "Write N synthetic CT cases (v1: portal-venous; v2: domain-randomised) as "
            "volume-<i>.nii.gz (int16 HU) and "
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
    p.add_argument(
        "--profile",
        choices=("v1", "v2"),
        default="v1",
        help="v1: today's portal-venous look (default); v2: domain-randomised (phase, HU, "
        "liver shape, lesion families, scanner drawn per case)",
    )
    p.add_argument(
        "--phase",
        choices=("non-contrast", "arterial", "portal-venous", "delayed"),
        default=None,
        help="v2 only: force this contrast phase (default: drawn per case)",
    )
    p.add_argument(
        "--montage",
        type=Path,
        default=None,
        metavar="PNG",
        help="also write a PNG montage (axial + coronal with label outlines) of the first 4 cases",
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
    if args.phase is not None and args.profile != "v2":
        print("error: --phase needs --profile v2 (v1 is portal-venous only)", file=sys.stderr)
        return 2
    manifest = phantom.write_dataset(
        args.out,
        args.n,
        args.seed,
        size=args.size,
        progress=progress,
        profile=args.profile,
        phase=args.phase,
    )
    if bar is not None:
        bar.close()
    if args.montage is not None:
        write_montage(args.out, manifest, args.montage)
        print(f"montage: {args.montage}")
    print(
        f"wrote {manifest['n']} cases ({manifest['n_train']} train / {manifest['n_test']} test) "
        f"to {args.out} in {time.perf_counter() - t0:.1f} s"
    )
    return 0


def case_tiles(volume, labels, tile_px: int = 256):
    """Axial and coronal views (abdomen window, label outlines) through the largest tumour,
    each scaled to ``tile_px`` pixels wide with square pixels in mm."""
    import numpy as np
    from PIL import Image

    from livseg import render

    tum = labels == 2
    if tum.any():
        per_z = tum.sum(axis=(0, 1))
        k = int(np.argmax(per_z))
        j = int(np.argmax(tum[:, :, k].sum(axis=0)))
    else:
        k = int(np.argmax((labels > 0).sum(axis=(0, 1))))
        j = int(np.argmax((labels > 0).sum(axis=(0, 2))))
    tiles = []
    for axis, idx in (("axial", k), ("coronal", j)):
        gray = render.window(render.display_slice(volume.array, axis, idx), *render.ABDOMEN)
        rgba = render.overlay_rgba(gray, render.display_slice(labels, axis, idx), 1.0, "outline")
        sq = render.to_square_pixels(rgba, render.pixel_size_mm(volume.spacing, axis), nearest=True)
        h = max(1, round(sq.shape[0] * tile_px / sq.shape[1]))
        tiles.append(np.asarray(Image.fromarray(sq).resize((tile_px, h), Image.LANCZOS)))
    return tiles


def write_montage(out_dir: Path, manifest: dict, png: Path, n_cases: int = 4) -> Path:
    """PNG montage of the first n_cases of a written dataset: axial + coronal per case, two
    cases per row."""
    from livseg import io, render

    tiles = []
    for entry in manifest["cases"][:n_cases]:
        case = io.load_case(Path(out_dir) / entry["image"], Path(out_dir) / entry["labels"])
        tiles.extend(case_tiles(case.volume, case.labels))
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    png.write_bytes(render.png_bytes(render.montage(tiles, ncols=4, pad=4)[:, :, :3]))
    return png
