"""The installed ``livseg`` command: every batch job of LivSeg in one place.

``livseg <command>`` runs the science core's command line (``python -m livseg``: phantom,
evaluate, train, segment, report, demo) and ``livseg db <command>`` the reader-study
database's (``python -m db``: init, accounts, demo study, exports). It lives in ``db``
because the layering runs one way: db may import livseg, livseg never imports db.
"""

from __future__ import annotations

import argparse
import sys

PROG = "livseg"


def _add_db_command(sub: argparse._SubParsersAction) -> None:
    """List ``db`` in ``livseg --help``; ``main`` dispatches it before parsing."""
    sub.add_parser(
        "db",
        help="reader-study database: init, accounts, demo study, exports (livseg db --help)",
        add_help=False,
    )


def main(argv: list[str] | None = None) -> int:
    """Run ``livseg [db] <command> ...``; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "db":
        from db.__main__ import build_parser as db_parser
        from db.__main__ import main as db_main

        if len(argv) == 1:
            db_parser(f"{PROG} db").print_help()
            return 0
        return db_main(argv[1:], prog=f"{PROG} db")
    from livseg.cli import main as livseg_main

    return livseg_main(argv, prog=PROG, extra=_add_db_command)


if __name__ == "__main__":
    sys.exit(main())
