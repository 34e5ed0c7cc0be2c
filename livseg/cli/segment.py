"""``python -m livseg segment``: run a method on one image or on a folder of cases."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(subparsers) -> None:
    """Add the ``segment`` sub-command."""
    p = subparsers.add_parser(
        "segment",
        help="segment liver and tumour in one image or a folder of cases",
        description=(
            "One image: --image IMG --out OUT.nii.gz writes the label map (0 background, "
            "1 liver, 2 tumour) on the image's own grid and prints the wall seconds. "
            "A folder: --cases DIR --out RUNS writes RUNS/<method>/<case_id>.nii.gz + .json "
            "(the runs layout read by `python -m livseg evaluate --runs-dir`)."
        ),
    )
    p.add_argument(
        "--method",
        required=True,
        help="classical, unet2d, unet3d, attention_unet, a comma list, or all",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--image",
        type=Path,
        help="one CT volume: .nii / .nii.gz, or a DICOM series (folder, .zip, enhanced CT .dcm)",
    )
    src.add_argument("--cases", type=Path, help="folder of cases (LiTS or MSD layout)")
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        help="output .nii.gz or, for a DICOM image, .dcm (DICOM-SEG) with --image; "
        "runs folder with --cases",
    )
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads (default: LIVSEG_THREADS, else the free cores)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Segment; returns the exit code: 0, 1 when some cases of a folder failed (each is
    listed at the end; the others were segmented), 2 for bad input."""
    from livseg.inference import resolve_methods
    from livseg.io import LivSegInputError

    try:
        names = resolve_methods(args.method)
        if args.threads is not None and args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        if args.image is not None:
            return _one_image(args, names)
        return _folder(args, names)
    except (LivSegInputError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _one_image(args: argparse.Namespace, names: list[str]) -> int:
    from livseg.inference import run_method
    from livseg.io import load_volume, save_labels
    from livseg.methods import get_method
    from livseg.naming import is_nifti_name, safe_child

    out = Path(args.out)
    if len(names) > 1:
        if is_nifti_name(out):
            raise ValueError("with several methods, --out must be a folder")
        targets = {n: safe_child(out, n, ".nii.gz") for n in names}
    else:
        if not out.name.lower().endswith((".nii", ".nii.gz", ".dcm")):
            raise ValueError(f"--out must end in .nii.gz, .nii or .dcm (DICOM-SEG), got {out}")
        targets = {names[0]: out}
    volume = load_volume(args.image)
    for name in names:
        t0 = time.perf_counter()
        get_method(name, device=args.device, threads=args.threads)
        load_s = time.perf_counter() - t0
        res = run_method(name, volume, device=args.device, threads=args.threads)
        if targets[name].name.lower().endswith(".dcm"):
            from livseg.dicom.seg import write_segmentation

            path = write_segmentation(
                res.labels,
                volume,
                targets[name],
                algorithm_name=name,
                algorithm_version=res.version,
            )
        else:
            path = save_labels(res.labels, volume, targets[name])
        print(
            f"{name}: {res.seconds:.2f} s on {res.device} "
            f"({res.params.get('threads')} threads; weights/setup {load_s:.2f} s) -> {path}"
        )
    return 0


def _folder(args: argparse.Namespace, names: list[str]) -> int:
    from tqdm import tqdm

    from livseg.inference import CaseFailure, run_cases

    bar = tqdm(desc="segment", unit="run", disable=args.quiet)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    failures: list[CaseFailure] = []
    records = run_cases(
        args.cases,
        args.out,
        names,
        progress=progress,
        device=args.device,
        threads=args.threads,
        failures=failures,
    )
    bar.close()
    for name in names:
        secs = sorted(r.seconds for r in records if r.method == name)
        if secs:
            med = secs[len(secs) // 2]
            print(f"{name}: {len(secs)} cases, median {med:.2f} s per case -> {args.out / name}")
    if failures:
        n_cases = len(failures) + len({r.case for r in records})
        print(f"error: {len(failures)} of {n_cases} cases failed:", file=sys.stderr)
        for failure in failures:
            print(f"  case {failure.case_id}: {failure.problem}", file=sys.stderr)
        return 1
    return 0
