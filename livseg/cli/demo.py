"""``python -m livseg demo``: prepare the demo's files (phantom cases, runs, metrics).

The accounts and the study are the database's part: ``python -m db demo`` does both steps.
"""

from __future__ import annotations

import argparse
import sys

from livseg.demo import (
    DemoError,
    add_demo_arguments,
    config_from_args,
    prepare_demo,
    terminal_progress,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="generate phantom cases, run every method, compute metrics (the demo's files)",
        description=(
            "Generate the demo's phantom cases, run every available method on them and compute "
            "the metrics, into <workspace>/demo (or --out). Defaults come from LIVSEG_DEMO_CASES, "
            "LIVSEG_DEMO_SIZE, LIVSEG_DEMO_SEED and LIVSEG_DEMO_METHODS."
        ),
    )
    add_demo_arguments(parser)
    parser.add_argument("--out", default=None, help="output folder (default <workspace>/demo)")
    parser.add_argument(
        "--replace",
        action="store_true",
        help="replace a demo already in the folder (its files may be used by a study)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Prepare the demo files with a tqdm progress bar on stderr; print what was made."""
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with terminal_progress() as progress:
            files = prepare_demo(config, out_dir=args.out, progress=progress, replace=args.replace)
    except (DemoError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"demo files in {files.root} ({files.seconds:.1f} s)")
    print(f"  cases:   {len(files.case_ids)} in {files.cases_dir}")
    print(f"  methods: {', '.join(files.methods)}")
    for name, reason in files.skipped.items():
        print(f"  skipped: {name} ({reason})")
    print(f"  metrics: {files.metrics_csv}")
    print(
        "next: `python -m db demo` adds the reader accounts and the study (or use the app's button)"
    )
    return 0
