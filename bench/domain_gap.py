"""Domain gap of the four methods: the shared real CT series vs unseen phantoms of each phase.

Usage: ``LIVSEG_THREADS=1 nice -n 10 python bench/domain_gap.py [--per-phase 2] [--size full]
[--methods all] [--seed 9100]``

Per method: liver DSC on the real series (``tests/data/abdomen-ct-dicom``, else
``shared/real/abdomen-ct-dicom``: 20 slices of a contrast-enhanced abdominal CT, reference =
a TotalSegmentator liver mask, liver only), and liver / tumour DSC on phantom v2 cases of each contrast phase drawn from seeds
that no training uses (``case_seed(--seed, i)``; training uses dataset seeds 0-99), plus
phantom v1 (portal-venous, today's look) cases of the same seeds, and the seconds per case
of ``Method.segment``. On the real series also where the liver errs
(``real_series_breakdown``: precision, recall, false-positive mL and the part of it more
than 10 mm from the reference liver, i.e. another organ, missed mL, tumour mL called;
``--real-only`` runs just that, e.g. for another weights version through
``LIVSEG_WEIGHTS_DIR``, into ``--out``). DSC is ``livseg.metrics.dice`` (2|A&B| / (|A|+|B|); 1.0 when both are
empty), as in validation. Writes ``bench/results/domain_gap.json`` with the load average
before and after (this 2-core machine is shared).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livseg.metrics import dice  # noqa: E402  (2|A&B| / (|A|+|B|); 1.0 when both empty)

RESULTS = ROOT / "bench" / "results" / "domain_gap.json"
# the real series: the copy in tests/data (a plain clone has it), else the shared original
REAL_DIR = next(
    (
        d
        for d in (
            ROOT / "tests" / "data" / "abdomen-ct-dicom",
            ROOT.parent / "shared" / "real" / "abdomen-ct-dicom",
        )
        if (d / "series").is_dir()
    ),
    ROOT / "tests" / "data" / "abdomen-ct-dicom",
)
METHODS = ["classical", "unet2d", "unet3d", "attention_unet"]
UNSEEN_SEED = 9100  # dataset seed of the evaluation phantoms (training uses seeds < 100)


def real_case():
    """(volume, liver mask) of the real series, the mask on the volume's grid."""
    from livseg import io
    from livseg.dicom import read_series

    vol = read_series(REAL_DIR / "series")
    mask = io.load_labels(REAL_DIR / "liver-mask.nii.gz", like=vol) > 0
    return vol, mask


FAR_MM = 10.0  # a false-positive voxel this far from the reference liver lies in another organ


def real_series_breakdown(
    labels: np.ndarray, mask: np.ndarray, spacing: tuple[float, ...], voxel_ml: float
) -> dict[str, float]:
    """Where a liver prediction (labels > 0) differs from the reference ``mask``: precision,
    recall, false-positive / missed volume (mL), the false positives farther than
    ``FAR_MM`` (mm, Euclidean with ``spacing``) from the reference, and the tumour (label 2)
    volume called (mL)."""
    from scipy import ndimage

    pred, ref = labels > 0, mask.astype(bool)
    tp, fp, fn = int((pred & ref).sum()), int((pred & ~ref).sum()), int((~pred & ref).sum())
    far = ndimage.distance_transform_edt(~ref, sampling=spacing) > FAR_MM
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else float("nan"),
        "recall": round(tp / (tp + fn), 4) if tp + fn else float("nan"),
        "false_positive_ml": round(fp * voxel_ml, 1),
        "false_positive_far_ml": round(int((pred & far).sum()) * voxel_ml, 1),
        "missed_ml": round(fn * voxel_ml, 1),
        "tumour_called_ml": round(int((labels == 2).sum()) * voxel_ml, 1),
    }


def phantom_specs(per_phase: int, seed: int) -> list[tuple[str, int, str, str | None]]:
    """[(tag, case seed, profile, phase)]: per phase ``per_phase`` v2 cases, plus v1 cases."""
    from livseg.phantom import PHASES, case_seed

    out = []
    for p_i, phase in enumerate(PHASES):
        for i in range(per_phase):
            out.append((f"v2 {phase}", case_seed(seed, p_i * per_phase + i), "v2", phase))
    for i in range(per_phase):
        out.append(("v1 portal-venous", case_seed(seed, i), "v1", None))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-phase", type=int, default=2)
    ap.add_argument("--size", choices=("full", "small"), default="full")
    ap.add_argument("--methods", default="all")
    ap.add_argument("--seed", type=int, default=UNSEEN_SEED)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--real-only", action="store_true", help="only the real series (no phantoms)")
    ap.add_argument(
        "--figure",
        type=Path,
        default=None,
        metavar="PNG",
        help="only write the docs figure (real series next to v2 phantoms of every phase)",
    )
    args = ap.parse_args(argv)
    if args.figure is not None:
        write_figure(args.figure)
        print(f"wrote {args.figure}")
        return 0

    from livseg.inference import resolve_methods
    from livseg.methods import get_method
    from livseg.phantom import generate_case

    load_before = os.getloadavg()
    methods = resolve_methods(args.methods)
    threads = int(os.environ.get("LIVSEG_THREADS", 1))
    models = {name: get_method(name, device="cpu", threads=threads) for name in methods}
    vol, mask = real_case()
    results: dict = {name: {"phantoms": {}} for name in methods}
    for name, method in models.items():
        t0 = time.perf_counter()
        pred = method.segment(vol)
        results[name]["real_series_liver_dsc"] = round(dice(pred > 0, mask), 4)
        results[name]["real_series_seconds"] = round(time.perf_counter() - t0, 2)
        results[name]["real_series_breakdown"] = real_series_breakdown(
            pred, mask, tuple(vol.spacing), vol.voxel_volume_ml
        )
    del vol, mask
    rows: dict = {name: {} for name in methods}
    specs = [] if args.real_only else phantom_specs(args.per_phase, args.seed)
    for tag, s, profile, phase in specs:
        case = generate_case(s, args.size, profile=profile, phase=phase)
        for name, method in models.items():
            t0 = time.perf_counter()
            pred = method.segment(case.volume)
            rows[name].setdefault(tag, []).append(
                {
                    "seed": int(s),
                    "shape": list(case.volume.shape),
                    "liver_dsc": round(dice(pred > 0, case.labels > 0), 4),
                    "tumour_dsc": round(dice(pred == 2, case.labels == 2), 4),
                    "seconds": round(time.perf_counter() - t0, 2),
                }
            )
        del case
    for name in methods:
        row = results[name]
        for tag, rs in rows[name].items():
            row["phantoms"][tag] = {
                "liver_dsc_mean": round(statistics.mean(r["liver_dsc"] for r in rs), 4),
                "tumour_dsc_mean": round(statistics.mean(r["tumour_dsc"] for r in rs), 4),
                "seconds_median": round(statistics.median(r["seconds"] for r in rs), 2),
                "cases": rs,
            }
        b = row["real_series_breakdown"]
        print(
            f"{name:15s} real liver {row['real_series_liver_dsc']:.3f} "
            f"({row['real_series_seconds']:.1f} s; precision {b['precision']:.3f} recall "
            f"{b['recall']:.3f}, FP {b['false_positive_ml']:.0f} mL of which "
            f"{b['false_positive_far_ml']:.0f} > {FAR_MM:.0f} mm away, missed "
            f"{b['missed_ml']:.0f} mL, tumour {b['tumour_called_ml']:.0f} mL) | "
            + " | ".join(
                f"{t}: {v['liver_dsc_mean']:.3f}/{v['tumour_dsc_mean']:.3f}"
                for t, v in row["phantoms"].items()
            ),
            flush=True,
        )
    out = {
        "what": "liver DSC on the shared real series; liver / tumour DSC on unseen phantoms",
        "weights": {m: _weights_tag(m) for m in methods},
        "phantom_seed": None if args.real_only else args.seed,
        "per_phase": args.per_phase,
        "size": args.size,
        "threads": int(os.environ.get("LIVSEG_THREADS", 1)),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "machine": platform.platform(),
        "methods": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")
    return 0


FIGURE_SEED = 4  # one patient shown in the four phases
FIGURE_VARIETY = (5, 20, 22, 23)  # v2 cases: drawn phase, morphology, lesions, scanner


def write_figure(png: Path, tile_px: int = 256) -> Path:
    """Axial tiles (abdomen window, label outlines): row 1 the real series and one v2 patient
    in the four phases, row 2 v1 and four more v2 cases; each titled."""
    from PIL import Image, ImageDraw

    from livseg import render
    from livseg.cli.phantom import case_tiles
    from livseg.phantom import PHASES, case_seed, generate_case

    vol, mask = real_case()
    tiles = [(case_tiles(vol, mask.astype(np.uint8), tile_px)[0], "real series (liver mask)")]
    s = case_seed(UNSEEN_SEED, FIGURE_SEED)
    for phase in PHASES:
        c = generate_case(s, "full", profile="v2", phase=phase)
        tiles.append((case_tiles(c.volume, c.labels, tile_px)[0], f"v2 {phase}"))
    c = generate_case(s, "full")
    tiles.append((case_tiles(c.volume, c.labels, tile_px)[0], "v1 (today's look)"))
    for k in FIGURE_VARIETY:
        c = generate_case(case_seed(UNSEEN_SEED, k), "full", profile="v2")
        m = c.meta
        title = f"{m['phase']}, {m['liver_morphology']}, {m['scenario']}, {m['scanner']['field_of_view']}"
        tiles.append((case_tiles(c.volume, c.labels, tile_px)[0], title))
    titled = []
    for tile, title in tiles:
        im = Image.fromarray(np.ascontiguousarray(tile)).convert("RGB")
        canvas = Image.new("RGB", (im.width, im.height + 16), (0, 0, 0))
        canvas.paste(im, (0, 16))
        ImageDraw.Draw(canvas).text((3, 2), title, fill=(255, 255, 255))
        titled.append(np.asarray(canvas))
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    png.write_bytes(render.png_bytes(render.montage(titled, ncols=5, pad=4)[:, :, :3]))
    return png


def _weights_tag(name: str) -> str | None:
    from livseg.methods.network_method import file_hash, weights_path

    p = weights_path(name)
    return file_hash(p) if p.is_file() else None


if __name__ == "__main__":
    raise SystemExit(main())
