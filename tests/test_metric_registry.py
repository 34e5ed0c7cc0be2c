"""The one metric registry (issue 10 finding 5): every reader takes names, labels, decimals
and direction from livseg.metric_registry, and the registry agrees with what is computed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from livseg import metric_registry as reg
from livseg import metrics

REPO = Path(__file__).resolve().parents[1]


def test_evaluation_keys_are_what_evaluate_structure_returns():
    a = np.zeros((8, 8, 8), bool)
    a[2:6, 2:6, 2:6] = True
    got = metrics.evaluate_structure(a, a, (1.0, 1.0, 2.0))
    hand = ["dsc", "jaccard", "hd_mm", "hd95_mm", "assd_mm", "volume_ml"]
    hand += ["reference_volume_ml", "volume_error_pct"]
    assert list(metrics.METRIC_KEYS) == hand
    assert set(hand) <= set(got)


def test_directions_units_and_decimals_by_hand():
    assert reg.metric("DSC").higher_is_better and reg.metric("JI").higher_is_better
    assert reg.metric("satisfaction").direction == "higher"
    for col in ("HD_mm", "HD95_mm", "ASSD_mm", "time_s", "VER_pct"):
        assert reg.metric(col).direction == "lower"
    assert reg.metric("VE_signed_pct").direction is None  # neither: 0 is best
    assert reg.metric("HD_mm").unit == "mm" and reg.metric("volume_ml").unit == "mL"
    assert (reg.metric("DSC").decimals, reg.metric("HD_mm").decimals) == (3, 2)


def test_every_reader_uses_the_registry():
    from db import export
    from livseg.report import results, tables

    assert export.METRIC_COLUMNS == {
        "dsc": "DSC",
        "jaccard": "JI",
        "hd_mm": "HD_mm",
        "hd95_mm": "HD95_mm",
        "assd_mm": "ASSD_mm",
        "volume_ml": "volume_ml",
        "reference_volume_ml": "reference_volume_ml",
        "volume_error_pct": "VE_signed_pct",
    }
    assert set(export.METRIC_COLUMNS.values()) <= set(export.METRICS_TABLE_COLUMNS)
    assert results.METRIC_COLUMNS == reg.OUTCOME_COLUMNS
    assert tables.LABELS == reg.labels() and tables.DECIMALS == reg.decimals()
    assert set(tables.HIGHER_IS_BETTER) == {"DSC", "JI", "satisfaction"}
    assert all(c in reg.BY_COLUMN for c in (*tables.TABLE1, *tables.TABLE2))


def test_no_second_list_of_metric_labels_in_the_tree():
    """A label such as "Hausdorff (mm)" or "HD95 (mm)" is written only in the registry."""
    found = []
    for folder in ("livseg", "db", "pages", "components"):
        for path in (REPO / folder).rglob("*.py"):
            if path.name == "metric_registry.py":
                continue
            text = path.read_text(encoding="utf-8")
            for needle in ('"Hausdorff (mm)"', '"HD95 (mm)"', '"Jaccard (JI)"', '"HD_mm": "'):
                if needle in text:
                    found.append(f"{path.relative_to(REPO)}: {needle}")
    assert found == []


def test_derived_volume_error_by_hand_and_only_in_the_registry():
    """VER_pct = |VE_signed_pct| (hand values), None where the signed error is missing; no
    other module computes it (db.export used to: metrics in db)."""
    assert reg.add_derived({"VE_signed_pct": -12.5}) == {"VE_signed_pct": -12.5, "VER_pct": 12.5}
    assert reg.add_derived({"VE_signed_pct": 3.0})["VER_pct"] == 3.0
    assert reg.add_derived({"VE_signed_pct": None})["VER_pct"] is None
    assert reg.add_derived({})["VER_pct"] is None
    found = []
    for folder in ("livseg", "db", "pages", "components"):
        for path in (REPO / folder).rglob("*.py"):
            if path.name != "metric_registry.py" and '"VER_pct"] =' in path.read_text("utf-8"):
                found.append(str(path.relative_to(REPO)))
    assert found == []
