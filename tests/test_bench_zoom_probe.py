"""bench/zoom_probe.py: the liver box its second pass reads (voxel arithmetic by hand)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import zoom_probe  # noqa: E402


def test_liver_box_grows_by_the_margin_in_mm_and_one_slice_in_z():
    labels = np.zeros((100, 80, 30), np.uint8)
    labels[40:60, 30:50, 10:20] = 1
    labels[45:50, 35:40, 12:14] = 2
    box = zoom_probe.liver_box(labels, (0.8, 0.5, 3.0), margin_mm=8.0)
    # 8 mm = 10 voxels at 0.8 mm, 16 at 0.5 mm; z grows by one slice
    assert box == (slice(30, 70), slice(14, 66), slice(9, 21))


def test_liver_box_is_clipped_to_the_image_and_none_without_organ():
    labels = np.zeros((20, 20, 5), np.uint8)
    assert zoom_probe.liver_box(labels, (1.0, 1.0, 1.0), 8.0) is None
    labels[0:5, 15:20, 0:5] = 1
    box = zoom_probe.liver_box(labels, (1.0, 1.0, 1.0), 8.0)
    assert box == (slice(0, 13), slice(7, 20), slice(0, 5))
