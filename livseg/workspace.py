"""Where LivSeg keeps its files: the workspace folder (cases/, runs/, the SQLite file).

Set ``LIVSEG_WORKSPACE`` to move it; the default is ``workspace/`` inside the checkout,
which git ignores.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def workspace_dir() -> Path:
    """The workspace folder (created if missing)."""
    path = Path(os.environ.get("LIVSEG_WORKSPACE", REPO_ROOT / "workspace")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cases_dir() -> Path:
    """Folder of imported / generated cases (LiTS layout)."""
    path = workspace_dir() / "cases"
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    """Folder of predicted label maps, one sub-folder per method."""
    path = workspace_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path
