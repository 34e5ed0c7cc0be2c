"""Command line of the reader-study database: ``python -m db <command>``.

Commands: init, status, create-coordinator, create-reader, reset-password, deactivate,
activate, list-users, list-studies, export-scores, import-runs (``db.external_runs``), demo
(``db.demo``: the same options as ``python -m livseg demo``, plus --another). The command
line acts with direct access to the database file (``db.access.SYSTEM``); every action is
recorded in the audit log.
Passwords are prompted twice (never echoed) or read from stdin with --password-stdin.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from db import auth
from db.access import SYSTEM
from db.engine import (
    default_url,
    get_engine,
    head_revision,
    init_db,
    schema_revision,
    session_scope,
)
from db.errors import LivsegDBError


def _engine(args):
    engine = get_engine(args.url)
    init_db(engine)
    return engine


def _read_password(args) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise SystemExit("error: --password-stdin given but stdin is empty")
        return line.rstrip("\r\n")
    first = getpass.getpass("Password: ")
    second = getpass.getpass("Repeat the password: ")
    if first != second:
        raise SystemExit("error: the two passwords differ; nothing was created")
    return first


def cmd_init(args) -> int:
    engine = _engine(args)
    print(f"database ready at revision {schema_revision(engine)} ({_safe_url(engine.url)})")
    return 0


def _safe_url(url) -> str:
    return url.render_as_string(hide_password=True)


def cmd_status(args) -> int:
    engine = get_engine(args.url)
    current, head = schema_revision(engine), head_revision()
    print(f"database: {_safe_url(engine.url)}")
    print(f"schema revision: {current or 'none (run: python -m db init)'} (newest: {head})")
    if current:
        with session_scope(engine) as session:
            print(
                f"accounts: {'yes' if auth.has_users(session) else 'none yet'}; "
                f"coordinator: {'yes' if auth.has_coordinator(session) else 'none yet'}"
            )
    return 0


def cmd_create_coordinator(args) -> int:
    engine = _engine(args)
    password = _read_password(args)
    with session_scope(engine) as session:
        if auth.has_coordinator(session):
            user, _ = auth.create_user(session, SYSTEM, args.username, "coordinator", password)
        else:
            user = auth.create_first_coordinator(session, args.username, password)
    print(f"coordinator '{user.username}' created")
    return 0


def cmd_create_reader(args) -> int:
    engine = _engine(args)
    password = _read_password(args) if args.password_stdin else None
    with session_scope(engine) as session:
        user, initial = auth.create_reader(session, SYSTEM, args.username, password)
    print(f"reader '{user.username}' created")
    if password is None:
        print(f"initial password (shown once, to be changed at first sign-in): {initial}")
    return 0


def cmd_reset_password(args) -> int:
    engine = _engine(args)
    with session_scope(engine) as session:
        initial = auth.reset_password(session, SYSTEM, args.username)
    print(f"new password for '{args.username}' (shown once, to be changed at sign-in): {initial}")
    return 0


def _set_active(args, active: bool) -> int:
    engine = _engine(args)
    with session_scope(engine) as session:
        auth.set_active(session, SYSTEM, args.username, active)
    print(f"'{args.username}' {'activated' if active else 'deactivated'}")
    return 0


def cmd_list_users(args) -> int:
    engine = _engine(args)
    with session_scope(engine) as session:
        frame = auth.list_users(session, SYSTEM)
    print(frame.to_string(index=False) if len(frame) else "no accounts yet")
    return 0


def cmd_list_studies(args) -> int:
    from db.studies import list_studies

    engine = _engine(args)
    with session_scope(engine) as session:
        frame = list_studies(session, SYSTEM)
    print(frame.to_string(index=False) if len(frame) else "no studies yet")
    return 0


def cmd_export_scores(args) -> int:
    from db.export import write_scores_csv
    from db.studies import study_id_by_name

    engine = _engine(args)
    with session_scope(engine) as session:
        study_id = study_id_by_name(session, SYSTEM, args.study) if args.study else None
        path = write_scores_csv(session, SYSTEM, args.out, study_id)
    print(f"scores written to {path}")
    return 0


def build_parser(prog: str = "python -m db") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="LivSeg reader-study database administration."
    )
    parser.add_argument(
        "--url",
        default=None,
        help=f"SQLAlchemy URL (default: LIVSEG_DATABASE_URL or the workspace SQLite file, "
        f"now {default_url()})",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("init", help="create or upgrade the schema (idempotent)")
    p.set_defaults(func=cmd_init)
    p = sub.add_parser("status", help="schema revision and whether accounts exist")
    p.set_defaults(func=cmd_status)

    for command, func, help_text, stdin_help in (
        (
            "create-coordinator",
            cmd_create_coordinator,
            "create a coordinator (the first one, or more)",
            "read the password from the first line of stdin instead of prompting",
        ),
        (
            "create-reader",
            cmd_create_reader,
            "create a reader; prints a generated password once",
            "set this password (first line of stdin) instead of generating one",
        ),
    ):
        p = sub.add_parser(command, help=help_text)
        p.add_argument("--username", required=True)
        p.add_argument("--password-stdin", action="store_true", help=stdin_help)
        p.set_defaults(func=func)

    p = sub.add_parser("reset-password", help="give an account a new generated password")
    p.add_argument("--username", required=True)
    p.set_defaults(func=cmd_reset_password)

    p = sub.add_parser("deactivate", help="deactivate an account (it can no longer sign in)")
    p.add_argument("--username", required=True)
    p.set_defaults(func=lambda a: _set_active(a, False))
    p = sub.add_parser("activate", help="re-activate an account")
    p.add_argument("--username", required=True)
    p.set_defaults(func=lambda a: _set_active(a, True))

    p = sub.add_parser("list-users", help="list accounts (no password material)")
    p.set_defaults(func=cmd_list_users)
    p = sub.add_parser("list-studies", help="list studies")
    p.set_defaults(func=cmd_list_studies)

    p = sub.add_parser("export-scores", help="write all scores (long format) to a CSV file")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.add_argument("--study", default=None, help="only this study (name)")
    p.set_defaults(func=cmd_export_scores)

    from db.demo import register_cli as register_demo  # the demo (files + readers + study)

    register_demo(sub)
    from db.external_runs import register_cli as register_import_runs  # H-DICOM (#12)

    register_import_runs(sub)
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m db") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LivsegDBError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
