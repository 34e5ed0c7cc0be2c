"""The installed ``livseg`` command (pyproject's console script): both command lines in one."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _entry_point():
    target = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]["livseg"]
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def test_help_lists_the_jobs_of_both_command_lines(capsys):
    with pytest.raises(SystemExit) as stop:
        _entry_point()(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: livseg")
    for job in ("phantom", "evaluate", "train", "segment", "report", "demo", "db"):
        assert f"    {job}" in out


def test_db_jobs_run_under_livseg_db(capsys, tmp_path):
    main = _entry_point()
    assert main(["db"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: livseg db")
    for job in ("init", "create-reader", "export-scores", "demo"):
        assert job in out
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert main(["db", "--url", url, "init"]) == 0
    assert "database ready at revision" in capsys.readouterr().out
    assert (tmp_path / "x.db").is_file()


def test_version_has_one_source():
    import livseg

    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in meta["project"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "livseg.__version__"}
    assert livseg.__version__
