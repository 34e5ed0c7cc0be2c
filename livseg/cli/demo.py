"""``python -m livseg demo``: prepare the demo's files (phantom cases, runs, metrics).

The accounts and the study are the database's part: ``python -m db demo`` does both steps.
"""

from __future__ import annotations

import argparse
import sys

from livseg.demo import SIZES, DemoConfig, DemoError, prepare_demo, terminal_progress


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command."""
    env = DemoConfig.from_env()
    parser = subparsers.add_parser(
        "demo",
        help="generate phantom cases, run every method, compute metrics (the demo's files)",
        description=(
            "Generate the demo's phantom cases, run every available method on them and compute "
            "the metrics, into <workspace>/demo (or --out). Defaults come from LIVSEG_DEMO_CASES, "
            "LIVSEG_DEMO_SIZE, LIVSEG_DEMO_SEED and LIVSEG_DEMO_METHODS."
        ),
    )
    parser.add_argument(
        "--cases",
        type=int,
        default=env.n_cases,
        help=f"number of phantom cases (default {env.n_cases})",
    )
    parser.add_argument(
        "--size", choices=SIZES, default=env.size, help=f"phantom size (default {env.size})"
    )
    parser.add_argument(
        "--seed", type=int, default=env.seed, help=f"phantom seed (default {env.seed})"
    )
    parser.add_argument(
        "--methods",
        default=",".join(env.methods) if env.methods else "all",
        help="comma-separated method names, or 'all' (default)",
    )
    parser.add_argument("--out", default=None, help="output folder (default <workspace>/demo)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Prepare the demo files with a tqdm progress bar on stderr; print what was made."""
    methods = (
        None
        if args.methods in ("", "all")
        else tuple(m.strip() for m in args.methods.split(",") if m.strip())
    )
    try:
        config = DemoConfig(n_cases=args.cases, size=args.size, seed=args.seed, methods=methods)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        with terminal_progress() as progress:
            files = prepare_demo(config, out_dir=args.out, progress=progress)
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
