"""The db package's modules import each other without cycles, counting the imports made
inside functions (a lazy import hides a cycle from Python, not from this test)."""

from __future__ import annotations

import ast
from pathlib import Path

DB = Path(__file__).resolve().parents[1] / "db"


def _db_imports(path: Path) -> set[str]:
    """The db modules ``path`` imports anywhere in its body (``db.x`` names)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "db":
                found |= {f"db.{a.name}" for a in node.names if (DB / f"{a.name}.py").exists()}
            elif node.module.startswith("db."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("db.")}
    return found


def _graph() -> dict[str, set[str]]:
    modules = {f"db.{p.stem}": p for p in DB.glob("*.py") if p.stem != "__init__"}
    return {name: _db_imports(path) & set(modules) - {name} for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_sees_lazy_imports():
    assert "db.access" in _graph()["db.web_sessions"]


def test_no_import_cycle_between_db_modules():
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()) or [])
