"""``python -m livseg train``: train one network on phantoms and / or a labelled folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    """Add the ``train`` sub-command."""
    p = subparsers.add_parser(
        "train",
        help="train a segmentation network on phantoms and / or a labelled folder",
        description=(
            "Train unet2d / unet3d / attention_unet with the paper's recipe (HU window "
            "[-150, 250] -> [0, 1], 256x256 in-plane, batch 4, Adam 1e-3, Dice + CE) plus "
            "MONAI augmentation, on a labelled folder (--cases: LiTS, MSD Task03 or nnU-Net "
            "raw; its own seeded train / validation / test split) and / or the TRAIN split of "
            "`python -m livseg phantom --n 150 --seed DATA_SEED --profile P` (test cases are "
            "never generated). Writes the best-validation weights to livseg/weights/"
            "<method>.pt (or --out) with a model card (<stem>.md + <stem>.card.json) and "
            "checkpoints to <workspace>/training/<method>/."
        ),
    )
    p.add_argument("--method", required=True, choices=("unet2d", "unet3d", "attention_unet"))
    p.add_argument("--steps", type=int, default=1000, help="Adam steps (default 1000)")
    p.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop after this much wall time (at a validation); steps done are recorded",
    )
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--data-seed", type=int, default=0, help="phantom dataset seed (default 0)")
    p.add_argument(
        "--n-cases",
        type=int,
        default=120,
        help="training-split cases to use, validation included (default all 120)",
    )
    p.add_argument("--n-val", type=int, default=6, help="of those, held out for validation")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--crop", type=int, default=128, help="2D crop size on the 256-grid")
    p.add_argument(
        "--patch",
        type=int,
        nargs=3,
        default=(128, 128, 32),
        metavar=("X", "Y", "Z"),
        help="3D patch size on the 256-grid",
    )
    p.add_argument(
        "--p-tumour",
        type=float,
        default=0.5,
        help="probability that a sample is centred on a tumour voxel",
    )
    p.add_argument(
        "--p-liver",
        type=float,
        default=0.3,
        help="probability that a sample is centred on a liver voxel",
    )
    p.add_argument(
        "--tumour-sampling",
        choices=("voxel", "lesion"),
        default="voxel",
        help="a tumour-centred sample takes any tumour voxel (voxel, default: large lesions "
        "dominate) or a lesion uniformly, then a voxel of it (lesion)",
    )
    p.add_argument(
        "--tumour-loss",
        choices=("voxel", "lesion"),
        default="voxel",
        help="cross-entropy weighs every voxel alike (voxel, default) or each tumour lesion as "
        "a 2 cm one (lesion: small lesions count as much as large; livseg.losses)",
    )
    p.add_argument(
        "--p-zoom",
        type=float,
        default=0.0,
        help="share of samples drawn from the cases' liver box views (the organ's box + 8 mm, "
        "resampled to the grid; livseg.liver_box). Above 0 the weights get a second pass on "
        "the first pass's liver box, its combination rule chosen on the validation cases",
    )
    p.add_argument(
        "--init-weights",
        type=Path,
        default=None,
        metavar="FILE",
        help="start from these weights of the same network (a fine-tune, e.g. "
        "livseg/weights/unet2d.pt on a site's own data); validated first as step 0",
    )
    p.add_argument(
        "--bn-batches",
        type=int,
        default=25,
        help="batches used to re-estimate BatchNorm statistics before validation",
    )
    p.add_argument("--val-every", type=int, default=100)
    p.add_argument(
        "--select-window",
        type=int,
        default=1,
        help="model selection: the checkpoint ending the best run of this many validations "
        "(mean liver + tumour DSC; default 1: the best single validation)",
    )
    p.add_argument(
        "--cases",
        type=Path,
        default=None,
        metavar="DIR",
        help="labelled folder (LiTS volume-N/segmentation-N, MSD Task03 or nnU-Net raw)",
    )
    p.add_argument(
        "--phantom-fraction",
        type=float,
        default=0.0,
        help="with --cases: share of the samples drawn from phantoms (default 0)",
    )
    p.add_argument(
        "--phantom-profile",
        choices=("v1", "v2"),
        default="v2",
        help="phantom look: v2 domain-randomised (default), v1 today's portal-venous",
    )
    p.add_argument("--val-fraction", type=float, default=0.15, help="of the folder's cases")
    p.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        help="of the folder's cases, held out (never loaded; listed in the model card)",
    )
    p.add_argument(
        "--no-augment", action="store_true", help="no MONAI augmentation (the plain recipe)"
    )
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument(
        "--size", choices=("full", "small"), default="full", help="phantom size (small: tests)"
    )
    p.add_argument("--note", default=None, help="a note for the model card's history")
    p.add_argument(
        "--cache-workers",
        type=int,
        default=1,
        help="processes that generate missing phantom cases into the cache (default 1)",
    )
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: free cores)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--out", type=Path, default=None, help="weights file (default livseg/weights)")
    p.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of last.pt / best.pt (default <workspace>/training/<method>/); "
        "one kept in git lets --resume continue in a fresh checkout",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


# TrainConfig fields that the options of the same name set as given
_SAME_NAME = (
    "method",
    "steps",
    "seed",
    "data_seed",
    "n_cases",
    "n_val",
    "batch_size",
    "lr",
    "val_every",
    "select_window",
    "p_tumour",
    "p_liver",
    "tumour_sampling",
    "tumour_loss",
    "p_zoom",
    "bn_batches",
    "threads",
    "device",
    "size",
    "phantom_profile",
    "phantom_fraction",
    "val_fraction",
    "test_fraction",
)


def run(args: argparse.Namespace) -> int:
    """Train; prints the summary as JSON; returns the exit code."""
    from livseg.training import TrainConfig, train

    try:
        cfg = TrainConfig(
            **{name: getattr(args, name) for name in _SAME_NAME},
            crop_2d=args.crop,
            patch_3d=tuple(args.patch),
            augment=not args.no_augment,
            cases_dir=str(args.cases) if args.cases is not None else None,
            init_weights=str(args.init_weights) if args.init_weights is not None else None,
            amp=not args.no_amp,
        )
        summary = train(
            cfg,
            resume=args.resume,
            out=args.out,
            show_progress=not args.quiet,
            max_minutes=args.max_minutes,
            command=command_line(args),
            note=args.note,
            cache_workers=args.cache_workers,
            checkpoint_dir=args.checkpoint_dir,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = {k: v for k, v in summary.items() if k not in ("data", "history")}
    print(json.dumps(summary, indent=1))
    return 0


def command_line(args: argparse.Namespace) -> str:
    """The run as one command line, every option spelled out (for the model card)."""
    parts = ["python -m livseg train"]
    for key, value in vars(args).items():
        if key in ("func", "command") or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, (list, tuple)):
            parts.append(f"{flag} {' '.join(str(v) for v in value)}")
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)
