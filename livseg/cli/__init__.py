"""Command line of LivSeg: ``python -m livseg <command> ...``.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (called with the parsed
arguments, returns an exit code). Adding a command = one module + one line in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable

# module name inside livseg.cli, in the order --help lists them
COMMANDS: list[str] = [
    "phantom",
    "evaluate",
    "train",
    "zoom_rule",
    "segment",
    "report",
    "demo",
]


def build_parser(
    prog: str = "python -m livseg",
    extra: Callable[[argparse._SubParsersAction], None] | None = None,
) -> argparse.ArgumentParser:
    """Build the top-level parser with every available sub-command.

    ``extra(subparsers)`` may add more sub-commands (the installed ``livseg`` command adds
    ``db`` this way, so this package never imports the database layer).
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description="LivSeg: liver and liver-tumour CT segmentation reader studies.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"livseg.cli.{name}").register(sub)
    if extra is not None:
        extra(sub)
    return parser


def main(
    argv: list[str] | None = None,
    prog: str = "python -m livseg",
    extra: Callable[[argparse._SubParsersAction], None] | None = None,
) -> int:
    """Parse ``argv`` and run the chosen sub-command; returns the exit code."""
    parser = build_parser(prog, extra)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
