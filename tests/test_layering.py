"""The import layering of the tree, checked by parsing every module's imports with ast.

livseg/ (science core) imports neither streamlit, nor db, nor pages, nor components;
db/ imports neither streamlit, nor pages, nor components. Imports inside functions and under
``if TYPE_CHECKING`` count too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "livseg": {"streamlit", "db", "pages", "components"},
    "db": {"streamlit", "pages", "components"},
}


def imported_modules(source: str, filename: str = "<string>") -> set[str]:
    """Top-level names of every module a Python source imports (absolute imports only)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value.split(".")[0])
    return names


def layer_violations(package: str) -> list[str]:
    """``file: module`` for every forbidden import under ``package``."""
    found = []
    for path in sorted((REPO / package).rglob("*.py")):
        imports = imported_modules(path.read_text(encoding="utf-8"), str(path))
        found += [f"{path.relative_to(REPO)}: {m}" for m in sorted(imports & FORBIDDEN[package])]
    return found


def test_the_checker_sees_every_kind_of_import():
    src = (
        "import streamlit as st\n"
        "from db.engine import get_engine\n"
        "def f():\n"
        "    import pages._shared\n"
        "    importlib.import_module('components.slice_viewer')\n"
        "from . import sibling\n"
    )
    assert imported_modules(src) == {"streamlit", "db", "pages", "components"}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layering(package):
    assert (REPO / package).is_dir()
    assert layer_violations(package) == []


def test_the_reading_viewer_payload_does_not_import_torch():
    """The Reading page builds payloads with numpy only: importing torch there cost the first
    readers of a server 2-7 s (bench/app_load.py profile)."""
    import subprocess
    import sys

    code = "import sys, livseg.viewer_payload, db.reading; print('torch' in sys.modules)"
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
