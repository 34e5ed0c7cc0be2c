"""A PostgreSQL server for the database tests: the one in LIVSEG_TEST_POSTGRES_URL, or a
throw-away server started from /usr/lib/postgresql/*/bin in a temporary folder.

``server_url()`` returns a SQLAlchemy URL of a server where databases may be created (the
throw-away one is started once per test process, as the ``postgres`` system user when
running as root, on a free port of 127.0.0.1, with fsync off, and stopped at exit), or
raises ``PostgresUnavailable`` with the reason. ``fresh_database(name)`` creates a new
empty database there and returns its URL.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ENV_URL = "LIVSEG_TEST_POSTGRES_URL"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be used (the reason is the message)."""


_lock = threading.Lock()
_state: dict[str, object] = {}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in candidates:
        if Path(folder, "initdb").is_file() and Path(folder, "pg_ctl").is_file():
            return Path(folder)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(initdb).parent
    raise PostgresUnavailable("no initdb/pg_ctl found (/usr/lib/postgresql/*/bin or PATH)")


def _as_owner(cmd: list[str], run_as: str | None) -> list[str]:
    if run_as is None:
        return cmd
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", run_as, "--", *cmd]
    return ["su", run_as, "-s", "/bin/sh", "-c", " ".join(cmd)]


def _start_throwaway() -> str:
    bin_dir = _bin_dir()
    run_as = None
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable("running as root and no 'postgres' system user") from None
        run_as = "postgres"
    base = Path(tempfile.mkdtemp(prefix="livseg-pg-"))
    data = base / "data"
    if run_as:
        shutil.chown(base, user=run_as)
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}

    def pg_tool(tool: str, *args: str) -> subprocess.CompletedProcess:
        """Run a PostgreSQL program as the data folder's owner (2 minutes at most)."""
        return subprocess.run(
            _as_owner([str(bin_dir / tool), *args], run_as),
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    init = pg_tool(
        "initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"
    )
    if init.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise PostgresUnavailable(f"initdb failed: {init.stderr.strip()[-300:]}")
    options = (
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    log_file = str(base / "server.log")
    start = pg_tool(
        "pg_ctl", "-D", str(data), "-o", options, "-l", log_file, "-w", "-t", "60", "start"
    )
    if start.returncode != 0:
        log = ""
        if (base / "server.log").exists():
            log = (base / "server.log").read_text(errors="replace")[-300:]
        shutil.rmtree(base, ignore_errors=True)
        raise PostgresUnavailable(f"pg_ctl start failed: {start.stderr.strip()[-200:]} {log}")

    def stop() -> None:
        subprocess.run(
            _as_owner(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], run_as
            ),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)

    atexit.register(stop)
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"


def server_url() -> str:
    """URL of a usable PostgreSQL server (maintenance database); PostgresUnavailable if none."""
    with _lock:
        if "url" in _state:
            return str(_state["url"])
        if "error" in _state:
            raise PostgresUnavailable(str(_state["error"]))
        try:
            try:
                import psycopg  # noqa: F401
            except ImportError:
                raise PostgresUnavailable("the psycopg driver is not installed") from None
            url = os.environ.get(ENV_URL, "").strip() or _start_throwaway()
            engine = create_engine(url, isolation_level="AUTOCOMMIT")
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
            finally:
                engine.dispose()
        except PostgresUnavailable as exc:
            _state["error"] = str(exc)
            raise
        except Exception as exc:  # connection refused, bad URL, ...
            _state["error"] = f"cannot use PostgreSQL: {type(exc).__name__}: {exc}"
            raise PostgresUnavailable(str(_state["error"])) from exc
        _state["url"] = url
        return url


def fresh_database(name: str, template: str | None = None) -> str:
    """Create database ``name`` (optionally as a copy of ``template``); returns its URL."""
    url = make_url(server_url())
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            suffix = f' TEMPLATE "{template}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
    finally:
        engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(name: str) -> None:
    """Drop database ``name`` (closing other sessions on it first)."""
    engine = create_engine(make_url(server_url()), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()
