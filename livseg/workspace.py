"""Where LivSeg keeps its files: the workspace folder (cases/, runs/, imports/, the SQLite file).

Set ``LIVSEG_WORKSPACE`` to move it; the default is ``workspace/`` inside the checkout
(which git ignores), or in the current folder when LivSeg runs from an installed package.
Server folders may be imported only from inside the import root (``LIVSEG_IMPORT_ROOT``,
default ``<workspace>/imports/``).
"""

from __future__ import annotations

import os
from pathlib import Path

from livseg.naming import inside_root

REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_workspace() -> Path:
    """``workspace/`` in the checkout; in the current folder for an installed package."""
    if (REPO_ROOT / "app.py").is_file() and (REPO_ROOT / "livseg").is_dir():
        return REPO_ROOT / "workspace"
    return Path.cwd() / "workspace"


def workspace_dir() -> Path:
    """The workspace folder (created if missing)."""
    path = Path(os.environ.get("LIVSEG_WORKSPACE", _default_workspace())).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def import_root() -> Path:
    """The one folder (and its sub-folders) server-side imports may read from:
    ``LIVSEG_IMPORT_ROOT``, default ``<workspace>/imports/`` (created if missing)."""
    raw = os.environ.get("LIVSEG_IMPORT_ROOT", "").strip()
    path = Path(raw).expanduser() if raw else workspace_dir() / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def import_folder(text: str, root: Path | str | None = None) -> Path:
    """The folder a user typed for a server-side import, resolved (absolute, ``~`` or relative
    to the root), when it lies inside ``root`` (default ``import_root()``); else
    ``livseg.naming.UnsafeNameError`` (a ValueError) naming the path and the root."""
    return inside_root(import_root() if root is None else root, text)


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
