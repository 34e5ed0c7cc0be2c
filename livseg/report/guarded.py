"""Analyses that degrade instead of failing: the errors a single analysis may raise on
degenerate data, and the helpers that record a flat result (``put``) or the reason it is
not computable (``attempt``, ``finite``, ``mark``) under the results key scheme.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from livseg.stats import design

ANALYSIS_ERRORS = (
    design.StatsInputError,
    ValueError,
    ZeroDivisionError,
    FloatingPointError,
    np.linalg.LinAlgError,
)


class NotComputable(Exception):
    """An analysis that the data do not allow (too few values, no variation, ...)."""


# what a single analysis may raise on degenerate data; caught per analysis and reported as
# "not computable: <reason>" (input errors are checked before, in ``check_inputs``)
GUARDED = (NotComputable, *ANALYSIS_ERRORS, ArithmeticError, IndexError, KeyError)


NotComputableMap = dict[str, str]  # key prefix -> why it is not computable


def key_number(x: float) -> str:
    """A number as it appears in a results key (``%g``: 0.02, 30)."""
    return f"{x:g}"


def put(out: dict, prefix: str, rec: Mapping[str, float], names: Sequence[str] | None = None):
    """``out[prefix/k] = float(rec[k])`` for each ``k`` of ``names`` (default all) in ``rec``."""
    for k in names if names is not None else rec:
        if k in rec:
            out[f"{prefix}/{k}"] = float(rec[k])


def finite(rec: Mapping[str, float], keys: Sequence[str], reason: str) -> Mapping[str, float]:
    """``rec`` unless one of ``keys`` is missing or not finite: then NotComputable(reason)."""
    for k in keys:
        v = rec.get(k)
        if v is None or not math.isfinite(float(v)):
            raise NotComputable(reason)
    return rec


def attempt(nc: NotComputableMap, prefix: str, fn):
    """``fn()``, or None with ``nc[prefix]`` = the reason when the analysis cannot be done."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn()
        except GUARDED as exc:
            nc[prefix] = reason_text(exc)
            return None


def reason_text(exc: BaseException) -> str:
    """Why an analysis failed, in words a coordinator understands."""
    text = str(exc).strip()
    if isinstance(exc, (NotComputable, design.StatsInputError)) and text:
        return text
    # a library's own error text (e.g. numpy's) means nothing to a coordinator: say what
    # the data lack instead
    if isinstance(exc, np.linalg.LinAlgError):
        return "singular model (the data do not determine every estimate)"
    if isinstance(exc, (ZeroDivisionError, FloatingPointError, ArithmeticError)):
        return "no variation in the data (a division by zero)"
    return "too few values or no variation for this analysis"


def mark(nc: NotComputableMap, prefixes: Sequence[str], reason: str) -> None:
    """Records ``reason`` as why each key prefix of ``prefixes`` is not computable."""
    for p in prefixes:
        nc[p] = reason


def all_finite(recs: Mapping[str, Mapping[str, float]], key: str, reason: str):
    """``recs`` unless a record's ``key`` is missing or not finite: then NotComputable."""
    for r in recs.values():
        finite(r, [key], reason)
    return recs
