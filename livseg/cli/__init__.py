"""Command line of LivSeg: ``python -m livseg <command> ...``.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed
arguments, returns an exit code). Adding a command = one module + one line in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# module name inside livseg.cli, in the order --help lists them
COMMANDS: list[str] = [
    "phantom",
    "evaluate",
    "train",
    "segment",
    "report",
    "demo",
]


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="python -m livseg",
        description="LivSeg: liver and liver-tumour CT segmentation reader studies.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"livseg.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen sub-command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
