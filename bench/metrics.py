"""Speed of livseg.metrics against MedPy on one full-size liver case (512 x 512 x 120).

Usage: ``nice -n 10 python bench/metrics.py [--repeats 7] [--medpy-repeats 1] [--no-medpy]``

Builds a realistic pair (a smooth liver-like blob of ~1.5 L with tumours of several
sizes on a 0.75 x 0.75 x 2.5 mm grid; prediction = perturbed reference with one missed
lesion and one false-positive lesion), or uses ``livseg.phantom.generate_case`` when it is
available and ``--phantom`` is given. Times ``livseg.metrics.evaluate_case`` (liver +
tumour, all metrics, lesion detection) and MedPy's ``dc, jc, hd, hd95, assd`` for both
structures in the same process, checks that the values agree, prints medians and writes
``bench/results/metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from livseg import metrics  # noqa: E402

SHAPE = (512, 512, 120)
SPACING = (0.75, 0.75, 2.5)
RESULTS = Path(__file__).resolve().parent / "results" / "metrics.json"


def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Smooth random field of unit standard deviation (sigma in voxels of ``shape``)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return field / field.std()


def _upsample(coarse: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Linear upsampling of a coarse field to ``shape``."""
    factors = [n / c for n, c in zip(shape, coarse.shape, strict=True)]
    return ndimage.zoom(coarse, factors, order=1, mode="nearest")


def synthetic_pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """(pred_labels, ref_labels, spacing): a ~1.5 L liver with 6 tumours, 512 x 512 x 120."""
    rng = np.random.default_rng(seed)
    centre = np.array([300.0, 250.0, 60.0]) * SPACING  # mm
    semi = np.array([100.0, 75.0, 48.0])  # mm: 4/3 pi a b c = 1.51 L
    # work in the liver's box only
    lo = np.floor((centre - 1.3 * semi) / SPACING).astype(int).clip(0)
    hi = np.minimum(np.ceil((centre + 1.3 * semi) / SPACING).astype(int), SHAPE)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    sub_shape = tuple(int(b - a) for a, b in zip(lo, hi, strict=True))
    axes = [
        (np.arange(a, b) * s - c) / r
        for a, b, s, c, r in zip(lo, hi, SPACING, centre, semi, strict=True)
    ]
    x, y, z = np.meshgrid(*axes, indexing="ij", sparse=True)
    radius2 = x**2 + y**2 + z**2
    coarse_shape = tuple(max(n // 8, 4) for n in sub_shape)
    bumps = _upsample(_smooth_field(rng, coarse_shape, 2.0), sub_shape)
    ref_liver = radius2 + 0.12 * bumps < 1.0
    pred_liver = (
        radius2 + 0.12 * bumps + 0.05 * _upsample(_smooth_field(rng, coarse_shape, 1.5), sub_shape)
        < 1.02
    )

    ref = np.zeros(SHAPE, np.uint8)
    pred = np.zeros(SHAPE, np.uint8)
    ref[box][ref_liver] = 1
    pred[box][pred_liver] = 1
    # tumours: (offset from centre in units of the semi-axes, diameter mm, fate in prediction)
    tumours = [
        ((0.3, 0.2, 0.1), 62.0, "found"),
        ((-0.4, 0.1, -0.2), 32.0, "found"),
        ((0.1, -0.45, 0.3), 24.0, "found"),
        ((-0.2, -0.3, -0.4), 15.0, "found"),
        ((0.55, -0.1, -0.3), 11.0, "missed"),
        ((-0.55, 0.35, 0.25), 9.0, "found"),
        ((0.0, 0.5, -0.1), 12.0, "false_positive"),
    ]
    full_axes = [np.arange(n) * s for n, s in zip(SHAPE, SPACING, strict=True)]
    for offset, diameter, fate in tumours:
        c = centre + np.array(offset) * semi
        r = diameter / 2
        tb = tuple(
            slice(max(int((ci - r - 4) / s), 0), min(int((ci + r + 4) / s) + 1, n))
            for ci, s, n in zip(c, SPACING, SHAPE, strict=True)
        )
        tx, ty, tz = np.meshgrid(
            *[a[sl] for a, sl in zip(full_axes, tb, strict=True)], indexing="ij", sparse=True
        )
        d2 = (tx - c[0]) ** 2 + (ty - c[1]) ** 2 + (tz - c[2]) ** 2
        if fate != "false_positive":
            ref[tb][d2 <= r**2] = 2
        if fate != "missed":
            shift = rng.normal(0, 1.0, 3)
            d2p = (
                (tx - c[0] - shift[0]) ** 2
                + (ty - c[1] - shift[1]) ** 2
                + (tz - c[2] - shift[2]) ** 2
            )
            pred[tb][d2p <= (r * rng.uniform(0.9, 1.1)) ** 2] = 2
    return pred, ref, SPACING


def phantom_pair(seed: int = 0):
    """(pred_labels, ref_labels, spacing) from livseg.phantom with a perturbed prediction."""
    from livseg.phantom import generate_case  # another engineer's module

    case = generate_case(seed, size="full")
    ref = np.asarray(case.labels, dtype=np.uint8)
    # prediction: the reference shifted by (2, -1, 0) voxels, its smallest lesion removed
    pred = np.roll(ref, (2, -1, 0), axis=(0, 1, 2))
    lesions, n = ndimage.label(pred == 2, structure=np.ones((3, 3, 3)))
    if n > 1:
        sizes = np.bincount(lesions.ravel())[1:]
        pred[lesions == int(np.argmin(sizes)) + 1] = 1
    return pred, ref, tuple(float(s) for s in case.volume.spacing)


def medpy_all(pred: np.ndarray, ref: np.ndarray, spacing) -> dict:
    """MedPy's dc, jc, hd, hd95, assd for liver and tumour."""
    from medpy.metric import binary

    out = {}
    for name, p, r in (("liver", pred > 0, ref > 0), ("tumour", pred == 2, ref == 2)):
        out[name] = {
            "dsc": binary.dc(p, r),
            "jaccard": binary.jc(p, r),
            "hd_mm": binary.hd(p, r, voxelspacing=spacing),
            "hd95_mm": binary.hd95(p, r, voxelspacing=spacing),
            "assd_mm": binary.assd(p, r, voxelspacing=spacing),
        }
    return out


def timed(fn, repeats: int) -> tuple[list[float], object]:
    """Wall seconds of ``repeats`` calls and the last result."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def phantom_timing(repeats: int) -> dict | None:
    """livseg-only timing of evaluate_case on a livseg.phantom case (None if unavailable)."""
    try:
        pred, ref, spacing = phantom_pair()
    except ImportError:
        print("livseg.phantom not available: no phantom timing")
        return None
    times, result = timed(lambda: metrics.evaluate_case(pred, ref, spacing), repeats)
    median = statistics.median(times)
    print(
        f"phantom case {ref.shape}, spacing {tuple(round(v, 3) for v in spacing)} mm: "
        f"livseg evaluate_case median {median:.3f} s over {repeats}"
    )
    return {
        "shape": list(ref.shape),
        "spacing_mm": list(spacing),
        "livseg_evaluate_case_s": {"median": median, "all": times},
        "lesions": {k: v for k, v in result["tumour"]["lesions"].items() if k != "by_size"},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="repeats of livseg (median)")
    parser.add_argument("--medpy-repeats", type=int, default=1, help="repeats of MedPy")
    parser.add_argument("--no-medpy", action="store_true", help="skip the slow MedPy run")
    parser.add_argument("--phantom", action="store_true", help="use livseg.phantom as THE pair")
    parser.add_argument(
        "--no-phantom-check",
        action="store_true",
        help="skip the extra livseg-only timing on a livseg.phantom case",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    load_at_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    pred, ref, spacing = phantom_pair() if args.phantom else synthetic_pair()
    build_s = time.perf_counter() - t0
    voxel_ml = float(np.prod(spacing)) / 1000
    print(f"pair: shape {ref.shape}, spacing {spacing} mm, built in {build_s:.1f} s")
    print(
        f"reference liver {np.count_nonzero(ref > 0) * voxel_ml:.0f} mL, "
        f"tumour {np.count_nonzero(ref == 2) * voxel_ml:.1f} mL"
    )

    ours_times, ours = timed(lambda: metrics.evaluate_case(pred, ref, spacing), args.repeats)
    split = {
        "liver_only": timed(
            lambda: metrics.evaluate_structure(pred > 0, ref > 0, spacing), args.repeats
        )[0],
        "lesion_table": timed(lambda: metrics.lesion_table(pred, ref, spacing), args.repeats)[0],
    }
    ours_median = statistics.median(ours_times)
    print(
        f"livseg evaluate_case (liver + tumour + lesions): median {ours_median:.3f} s "
        f"over {args.repeats} (min {min(ours_times):.3f}, max {max(ours_times):.3f})"
    )
    for k, v in split.items():
        print(f"  livseg {k}: median {statistics.median(v):.3f} s")
    lesions = ours["tumour"]["lesions"]
    print(
        f"lesions: reference {lesions['reference']}, detected {lesions['detected']}, "
        f"missed {lesions['missed']}, false positive {lesions['false_positive']}"
    )

    result: dict = {
        "shape": list(ref.shape),
        "spacing_mm": list(spacing),
        "source": "livseg.phantom" if args.phantom else "bench synthetic pair",
        "machine": {
            "python": platform.python_version(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
            "load_average_1min_at_start": load_at_start,
        },
        "livseg_evaluate_case_s": {"median": ours_median, "all": ours_times},
        "livseg_liver_only_s": statistics.median(split["liver_only"]),
        "livseg_lesion_table_s": statistics.median(split["lesion_table"]),
        "values": {s: {k: ours[s][k] for k in metrics.METRIC_KEYS} for s in metrics.STRUCTURES},
        "lesions": {k: v for k, v in lesions.items() if k != "by_size"},
    }
    if not args.no_medpy:
        med_times, med = timed(lambda: medpy_all(pred, ref, spacing), args.medpy_repeats)
        med_median = statistics.median(med_times)
        diff = max(abs(ours[s][k] - med[s][k]) for s in med for k in med[s])
        ratio = med_median / ours_median
        print(
            f"MedPy dc+jc+hd+hd95+assd (liver + tumour, no lesions): median {med_median:.2f} s "
            f"over {args.medpy_repeats}"
        )
        print(f"speed-up: {ratio:.0f}x; max |livseg - MedPy| = {diff:.2e}")
        result.update(
            {
                "medpy_all_metrics_s": {"median": med_median, "all": med_times},
                "speedup_vs_medpy": ratio,
                "max_abs_diff_vs_medpy": diff,
            }
        )
    if not args.phantom and not args.no_phantom_check:
        result["phantom_case"] = phantom_timing(args.repeats)
    result["machine"]["load_average_1min_at_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
