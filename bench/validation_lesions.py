"""Which lesions of the training-validation phantoms each method misses, and whether a moved
decision threshold would find them (the probes behind protocol amendment 3).

Usage: ``LIVSEG_THREADS=2 nice -n 10 python bench/validation_lesions.py [--methods all]
[--out bench/results/validation_lesions.json]``

Only the VALIDATION cases of a run are read: the ones a model selection already uses (data
seed 0, phantom v2, dataset indices ``VAL_INDICES``, as in every shipped card's
``data.phantom.val_indices``), never a test case. Per reference lesion (``livseg.metrics
.lesion_table``: 26-connected components of label 2), its family, its contrast below the
liver (HU) and drawn diameter from the phantom's own record, the case's phase and noise SD
(HU), and whether each method detects it (>= 1 predicted tumour voxel on it). Per network,
mean validation liver / tumour DSC (``livseg.metrics.dice``) when the decision of the one
predictor is moved by offsets on its logit gaps (liver - background, tumour - background):
``offset_gaps`` subtracts ``organ`` from both gaps and ``tumour`` from the tumour gap, so
offset (0, 0) is the shipped argmax and a negative tumour offset calls more tumour.
(The probe as first run, 07:40 UTC, is this sweep; the lesion table was a second script.) Writes
the JSON with the load average before and after, and the weights' versions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livseg.metrics import dice, lesion_table  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "validation_lesions.json"
METHODS = ["classical", "unet2d", "unet3d", "attention_unet"]
NETWORKS = ("unet2d", "unet3d", "attention_unet")
VAL_INDICES = [75, 76, 79, 80, 81, 82, 83, 84]  # data seed 0's validation cases (the cards')
ORGAN_OFFSETS = (-2.0, -1.0, 0.0, 1.0, 2.0)
TUMOUR_OFFSETS = (-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0)


def offset_gaps(gaps: torch.Tensor, organ: float, tumour: float) -> torch.Tensor:
    """(Z, 2, gx, gy) logit gaps with the decision moved: both gaps - ``organ``, the tumour
    gap - ``tumour`` more. The argmax of (0, liver, tumour) on the result then calls tumour
    where tumour gap - ``tumour`` > max(liver gap, ``organ``), else liver where liver gap >
    ``organ``, else background (so a negative tumour offset can also grow the organ)."""
    out = gaps.clone()
    out[:, 0] -= organ
    out[:, 1] -= organ + tumour
    return out


def join_lesions(table: list[dict], drawn: list[dict]) -> list[dict]:
    """The phantom's record of each reference lesion next to ``lesion_table``'s row.

    Both list the components of the same label map in scan order; a differing count or a
    diameter more than 0.05 mm apart raises (the lists would not be the same lesions)."""
    if len(table) != len(drawn):
        raise ValueError(f"{len(table)} lesions in the label map, {len(drawn)} in the record")
    for row, rec in zip(table, drawn, strict=True):
        if abs(float(row["diameter_mm"]) - float(rec["diameter_mm"])) > 0.05:
            raise ValueError(
                f"lesion {row['lesion']}: {row['diameter_mm']:.2f} mm in the label map, "
                f"{rec['diameter_mm']:.2f} mm in the record"
            )
    return [
        {
            "diameter_mm": round(float(row["diameter_mm"]), 2),
            "kind": rec["kind"],
            "contrast_hu": rec["contrast_hu"],
        }
        for row, rec in zip(table, drawn, strict=True)
    ]


def network_gaps(method, volume) -> torch.Tensor:
    """The one predictor's logit gaps of a network method on ``volume`` (network grid)."""
    from livseg.methods.network_method import _window_value, grid_logit_gaps, prepare_slices

    x = prepare_slices(volume.array, method.grid)
    gaps, _ = grid_logit_gaps(
        method.net,
        x,
        method.spatial_dims,
        method.multiple,
        method.torch_device,
        method.batch_slices,
        _window_value(method.hu_window),
    )
    return gaps


def labels_at(gaps: torch.Tensor, volume, organ: float, tumour: float) -> np.ndarray:
    """The network method's labels with the decision moved (its own post-processing)."""
    from livseg.methods.network_method import logit_gaps_to_labels, network_postprocess

    moved = offset_gaps(gaps, organ, tumour)
    return network_postprocess(logit_gaps_to_labels(moved, volume.array.shape[:2]), volume.spacing)


def main(argv: list[str] | None = None) -> int:
    from livseg.methods import get_method
    from livseg.phantom import case_seed, generate_case

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", default="all", help="comma-separated, or all")
    p.add_argument("--indices", type=int, nargs="*", default=VAL_INDICES)
    p.add_argument("--size", choices=("full", "small"), default="full")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    names = METHODS if args.methods == "all" else args.methods.split(",")
    load_before = os.getloadavg()
    methods = {n: get_method(n) for n in names}
    lesions: list[dict] = []
    sweeps: dict[str, dict[str, list[list[float]]]] = {n: {} for n in names if n in NETWORKS}
    for i in args.indices:
        case = generate_case(case_seed(0, i), args.size, profile="v2")
        meta, ref, sp = case.meta, case.labels, case.volume.spacing
        detected: dict[str, list[bool]] = {}
        rows: list[dict] = []
        for name, m in methods.items():
            if name in NETWORKS:
                gaps = network_gaps(m, case.volume)
                combos = [(o, 0.0) for o in ORGAN_OFFSETS] + [
                    (0.0, t) for t in TUMOUR_OFFSETS if t != 0.0
                ]
                for organ, tumour in combos:
                    lab = labels_at(gaps, case.volume, organ, tumour)
                    sweeps[name].setdefault(f"{organ:+.1f},{tumour:+.1f}", []).append(
                        [dice(lab > 0, ref > 0), dice(lab == 2, ref == 2)]
                    )
                lab = labels_at(gaps, case.volume, 0.0, 0.0)
            else:
                lab = m.segment(case.volume)
            table = lesion_table(lab, ref, sp)
            rows = join_lesions(table, meta["lesions"])
            detected[name] = [bool(r["detected"]) for r in table]
        for k, row in enumerate(rows):
            lesions.append(
                {
                    "case": i,
                    "phase": meta["phase"],
                    "noise_sd_hu": meta["noise_sd_hu"],
                    "scenario": meta["scenario"],
                    **row,
                    "detected": {n: d[k] for n, d in detected.items()},
                }
            )
        print(i, meta["phase"], meta["scenario"], len(rows), "lesions; detected",
              {n: sum(d) for n, d in detected.items()}, flush=True)  # fmt: skip
    summary = {
        name: {
            key: dict(
                zip(("liver_dsc", "tumour_dsc"), np.mean(v, axis=0).round(4).tolist(), strict=True)
            )
            for key, v in sorted(sw.items(), key=lambda kv: tuple(map(float, kv[0].split(","))))
        }
        for name, sw in sweeps.items()
    }
    for name, table in summary.items():
        for key, v in table.items():
            print(f"{name:15s} offsets (organ, tumour) {key}: liver {v['liver_dsc']:.4f} "
                  f"tumour {v['tumour_dsc']:.4f}")  # fmt: skip
    print({n: f"{sum(le['detected'][n] for le in lesions)}/{len(lesions)} detected" for n in names})
    what = (
        "validation phantoms (data seed 0, v2): lesions detected per method; DSC vs "
        "decision offsets on the networks' logit gaps"
    )
    write_probe_report(
        args.out,
        what,
        methods,
        load_before,
        {"indices": args.indices, "size": args.size},
        {"offset_sweep": summary, "lesions": lesions},
    )
    return 0


def write_probe_report(
    out: Path, what: str, methods: dict, load_before, settings: dict, results: dict
) -> None:
    """A probe's JSON: what it is, its settings, the methods' versions, the load average
    before and now, the machine, then its results; printed path."""
    report = {
        "what": what,
        **settings,
        "versions": {n: m.version for n, m in methods.items()},
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "machine": platform.platform(),
        **results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    raise SystemExit(main())
