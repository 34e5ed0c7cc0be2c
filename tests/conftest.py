"""Shared pytest fixtures: every test gets its own workspace folder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path, monkeypatch):
    """Point LIVSEG_WORKSPACE (and so the default SQLite file) at a temporary folder."""
    ws = tmp_path / "workspace"
    monkeypatch.setenv("LIVSEG_WORKSPACE", str(ws))
    monkeypatch.delenv("LIVSEG_DATABASE_URL", raising=False)
    yield ws
