"""bench/domain_gap.py's real-series breakdown, on masks whose errors are known by construction."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import domain_gap  # noqa: E402


def test_breakdown_counts_each_kind_of_error():
    spacing = (1.0, 1.0, 2.0)  # mm: a voxel is 2 mm^3 = 0.002 mL
    ref = np.zeros((60, 40, 10), bool)
    ref[10:30, 10:30, 2:8] = True  # 2400 voxels
    labels = np.zeros(ref.shape, np.uint8)
    labels[10:30, 10:30, 2:8] = 1
    labels[10:30, 10:20, 2:8] = 2  # tumour inside: still liver, 1200 voxels
    labels[10:30, 10:12, 2:8] = 0  # missed: 240 voxels
    labels[30:32, 10:30, 2:8] = 1  # false positive touching the liver (1-2 mm away): 240
    labels[50:55, 10:30, 2:8] = 1  # false positive 21-25 mm away (another organ): 600
    b = domain_gap.real_series_breakdown(labels, ref, spacing, voxel_ml=0.002)
    tp, fp, fn = 2400 - 240, 240 + 600, 240
    assert b["precision"] == pytest.approx(tp / (tp + fp), abs=1e-4)
    assert b["recall"] == pytest.approx(tp / (tp + fn), abs=1e-4)
    assert b["false_positive_ml"] == pytest.approx(fp * 0.002, abs=0.05)
    assert b["false_positive_far_ml"] == pytest.approx(600 * 0.002, abs=0.05)
    assert b["missed_ml"] == pytest.approx(240 * 0.002, abs=0.05)
    assert b["tumour_called_ml"] == pytest.approx((1200 - 240) * 0.002, abs=0.05)
