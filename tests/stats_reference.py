"""The independent statistics reference (tests/data/stats, a copy kept with the tests):
R 4.2 / scipy / statsmodels values that the livseg.stats tests compare against, key by key."""

from __future__ import annotations

import json
import math
from pathlib import Path

# a copy of the project's stats reference (tests/data/stats/README.md)
REF_DIR = Path(__file__).resolve().parent / "data" / "stats"
REF: dict = json.loads((REF_DIR / "reference.json").read_text())["tests"]


def ref_keys(prefix: str) -> set[str]:
    """Reference keys starting with ``prefix``."""
    return {k for k in REF if k.startswith(prefix)}


def assert_ref(key: str, value: float, tol: float | None = None) -> None:
    """value equals the reference at 1e-6 (or the key's own, larger tolerance, or ``tol``)."""
    rec = REF[key]
    tol = tol if tol is not None else max(1e-6, rec.get("tolerance", 0.0))
    ref = rec["value"]
    assert (math.isnan(ref) and math.isnan(value)) or abs(value - ref) <= tol, (
        f"{key}: got {value!r}, reference {ref!r} (tol {tol})"
    )
