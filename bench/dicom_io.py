"""Bench of DICOM in / out on the real series (20 JPEG 2000 slices, 512 x 512).

Measures (median of --runs runs, wall seconds): reading the series (``livseg.io.load_volume``
-> ``livseg.dicom``), writing its liver mask as a DICOM-SEG, reading the SEG back, and, in
the same process as the reference, reading the same voxels from an uncompressed NIfTI of the
same grid (ratio DICOM / NIfTI). The 1-minute load average is recorded (shared machine).

Run: ``nice -n 10 python bench/dicom_io.py [--runs 5]``. Writes bench/results/dicom_io.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402

from livseg.dicom.seg import read_segmentation, write_segmentation  # noqa: E402
from livseg.io import load_volume, save_volume  # noqa: E402

DATA = REPO / "tests" / "data" / "abdomen-ct-dicom"


def median_s(fn, runs: int) -> float:
    """Median wall seconds of ``runs`` calls of ``fn``."""
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    volume = load_volume(DATA / "series")
    mask = (np.asarray(nib.load(str(DATA / "liver-mask.nii.gz")).dataobj) > 0).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        nifti = save_volume(volume, Path(tmp) / "ct.nii")
        seg = Path(tmp) / "seg.dcm"
        write_segmentation(mask, volume, seg, "bench", "1")
        out = {
            "series": "tests/data/abdomen-ct-dicom/series (20 x 512 x 512, JPEG 2000 lossless)",
            "runs": args.runs,
            "read_series_s": median_s(lambda: load_volume(DATA / "series"), args.runs),
            "read_nifti_same_grid_s": median_s(lambda: load_volume(nifti), args.runs),
            "write_seg_s": median_s(
                lambda: write_segmentation(mask, volume, seg, "bench", "1"), args.runs
            ),
            "read_seg_s": median_s(lambda: read_segmentation(seg), args.runs),
            "seg_bytes": seg.stat().st_size,
            "load_average_1min": os.getloadavg()[0],
        }
    out["ratio_dicom_to_nifti"] = out["read_series_s"] / out["read_nifti_same_grid_s"]
    for key, value in out.items():
        print(f"{key:>24}: {value:.3f}" if isinstance(value, float) else f"{key:>24}: {value}")
    path = REPO / "bench" / "results" / "dicom_io.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
