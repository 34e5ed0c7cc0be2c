"""The one list of LivSeg's metrics and outcomes: names, labels, units, decimals, direction.

Every place that names a metric reads it from here: ``livseg.metrics`` (the keys an
evaluation returns), ``db.export`` (stored key -> report column), ``livseg.report`` (labels,
decimals, which direction is better) and the Cases page (the metric chooser).

Two spellings, both here: ``key`` is the evaluation's / database's name (``livseg.metrics``,
lower case: ``dsc``, ``hd_mm``; None for outcomes an evaluation does not compute, such as the
run time or the readers' satisfaction) and ``column`` the report tables' column (``DSC``,
``HD_mm``: the seed paper's names, ``livseg.report`` input). ``direction``: ``"higher"`` /
``"lower"`` is better, or None for values that are not better or worse (volumes, the signed
volume error).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One metric or outcome (see the module docstring)."""

    column: str  # report column: "DSC"
    key: str | None  # livseg.metrics / database key: "dsc"; None when not an evaluation key
    label: str  # short label in tables and figures: "HD (mm)"
    title: str  # label in a chooser: "Hausdorff (mm)"
    unit: str  # "", "mm", "mL", "%", "s", "1-5"
    decimals: int  # decimals shown for means / SDs
    direction: str | None  # "higher" / "lower" is better, None: neither

    @property
    def higher_is_better(self) -> bool:
        """True when a larger value is better."""
        return self.direction == "higher"


# in the evaluation's key order (METRIC_KEYS), then the outcomes that are not evaluation keys
REGISTRY: tuple[Metric, ...] = (
    Metric("DSC", "dsc", "DSC", "Dice (DSC)", "", 3, "higher"),
    Metric("JI", "jaccard", "JI", "Jaccard (JI)", "", 3, "higher"),
    Metric("HD_mm", "hd_mm", "HD (mm)", "Hausdorff (mm)", "mm", 2, "lower"),
    Metric("HD95_mm", "hd95_mm", "HD95 (mm)", "HD95 (mm)", "mm", 2, "lower"),
    Metric("ASSD_mm", "assd_mm", "ASSD (mm)", "ASSD (mm)", "mm", 2, "lower"),
    Metric("volume_ml", "volume_ml", "Volume (mL)", "Volume (mL)", "mL", 2, None),
    Metric(
        "reference_volume_ml",
        "reference_volume_ml",
        "Reference volume (mL)",
        "Reference volume (mL)",
        "mL",
        2,
        None,
    ),
    Metric(
        "VE_signed_pct",
        "volume_error_pct",
        "Signed volume error (%)",
        "Signed volume error (%)",
        "%",
        2,
        None,
    ),
    Metric("time_s", None, "Time (s)", "Time (s)", "s", 1, "lower"),
    Metric("VER_pct", None, "Volume error (%)", "Volume error (%)", "%", 1, "lower"),
    Metric("satisfaction", None, "Satisfaction (1-5)", "Satisfaction (1-5)", "1-5", 2, "higher"),
)

BY_COLUMN: dict[str, Metric] = {m.column: m for m in REGISTRY}
BY_KEY: dict[str, Metric] = {m.key: m for m in REGISTRY if m.key is not None}

# the keys an evaluation returns per structure (livseg.metrics.evaluate_structure)
EVALUATION_KEYS: tuple[str, ...] = tuple(BY_KEY)
# per-case outcomes the report compares between methods (satisfaction comes from the scores)
OUTCOME_COLUMNS: tuple[str, ...] = ("DSC", "JI", "HD_mm", "HD95_mm", "ASSD_mm", "time_s", "VER_pct")
DEFAULT_DECIMALS = 2

# report columns computed from another column rather than stored: column -> (source, rule);
# VER_pct, the paper's volume error, is the absolute value of the signed error (%)
DERIVED: dict[str, tuple[str, Callable[[float], float]]] = {"VER_pct": ("VE_signed_pct", abs)}


def metric(column: str) -> Metric:
    """The registry entry of a report column; KeyError naming the known columns."""
    try:
        return BY_COLUMN[column]
    except KeyError:
        raise KeyError(f"unknown metric column {column!r}; known: {', '.join(BY_COLUMN)}") from None


def labels() -> dict[str, str]:
    """Report column -> short label."""
    return {m.column: m.label for m in REGISTRY}


def decimals() -> dict[str, int]:
    """Report column -> decimals shown."""
    return {m.column: m.decimals for m in REGISTRY}


def higher_is_better() -> tuple[str, ...]:
    """Report columns where a larger value is better."""
    return tuple(m.column for m in REGISTRY if m.direction == "higher")


def stored_to_column() -> dict[str, str]:
    """Evaluation / database key -> report column (``dsc`` -> ``DSC``)."""
    return {m.key: m.column for m in REGISTRY if m.key is not None}


def titles(columns: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Report column -> chooser title, for ``columns`` in their order."""
    return {c: BY_COLUMN[c].title for c in columns}


def add_derived(row: dict[str, float | None]) -> dict[str, float | None]:
    """Fill the derived columns (``DERIVED``) of one row of report columns, in place, and
    return it: ``VER_pct`` = ``|VE_signed_pct|`` (%); None where the source is missing."""
    for column, (source, rule) in DERIVED.items():
        value = row.get(source)
        row[column] = None if value is None else rule(value)
    return row
