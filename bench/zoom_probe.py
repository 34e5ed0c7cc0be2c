"""Probe: does a second pass of each network on the liver's box, resampled to the network grid
(as phantom v2's "liver-crop" field of view is in training), find more tumour?

Usage: ``LIVSEG_THREADS=2 nice -n 10 python bench/zoom_probe.py [--methods unet2d,...]
[--out bench/results/zoom_probe.json]``

VALIDATION cases only (data seed 0, phantom v2, ``validation_lesions.VAL_INDICES``, the
cards' ``data.phantom.val_indices``), never a test case. Per network and case: liver /
tumour DSC (``livseg.metrics.dice``) and lesions detected (``livseg.metrics.lesion_table``)
of the first pass and of three ways to use the zoomed pass (``livseg.liver_box``, the rules
that weights trained with box views choose from since protocol amendment 6):
``replace`` (inside the box, the zoomed pass's labels), ``tumour`` (the organ of the first
pass, tumour where the zoomed pass calls it inside that organ), ``union`` (tumour where
either pass calls it, inside the first pass's organ). Seconds of both passes together.

Every variant goes through the networks' post-processing (``network_postprocess``). The run
in ``bench/results/zoom_probe.json`` (2026-12-04 ~18:00 UTC) predates protocol amendment 4,
so none of its variants has the organ split at thin bridges; a rerun has it. The zoomed
pass detects 23 of the 30 lesions against 12-16, but calls much more false tumour: every
variant has a lower mean tumour DSC than one pass (docs/methods.md, "What is missing or
shaky").
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from livseg.liver_box import ZOOM_RULES  # noqa: E402
from livseg.metrics import dice, lesion_table  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "zoom_probe.json"
NETWORKS = ("unet2d", "unet3d", "attention_unet")
VARIANTS = ZOOM_RULES  # livseg.liver_box.combine_passes


def main(argv: list[str] | None = None) -> int:
    from validation_lesions import VAL_INDICES, write_probe_report

    from livseg.liver_box import combine_passes
    from livseg.methods import get_method
    from livseg.methods.network_method import network_postprocess
    from livseg.phantom import case_seed, generate_case

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", default=",".join(NETWORKS))
    p.add_argument("--indices", type=int, nargs="*", default=VAL_INDICES)
    p.add_argument("--margin-mm", type=float, default=8.0)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    names = args.methods.split(",")
    load_before = os.getloadavg()
    methods = {n: get_method(n) for n in names}
    rows: list[dict] = []
    for i in args.indices:
        case = generate_case(case_seed(0, i), "full", profile="v2")
        vol, ref, sp = case.volume, case.labels, case.volume.spacing
        for name, m in methods.items():
            t0 = time.perf_counter()
            first, box, zoomed, _ = m.passes(vol, args.margin_mm)
            out = {"one_pass": first}
            if box is not None:
                for rule in VARIANTS[1:]:
                    out[rule] = network_postprocess(combine_passes(first, zoomed, box, rule), sp)
            t2 = time.perf_counter()
            row = {
                "case": i,
                "phase": case.meta["phase"],
                "fov": case.meta["scanner"]["field_of_view"],
                "shape": list(vol.array.shape),
                "method": name,
                "seconds_both_passes": round(t2 - t0, 2),
                "box": None if box is None else [[s.start, s.stop] for s in box],
            }
            for v, lab in out.items():
                table = lesion_table(lab, ref, sp)
                row[v] = {
                    "liver_dsc": round(dice(lab > 0, ref > 0), 4),
                    "tumour_dsc": round(dice(lab == 2, ref == 2), 4),
                    "detected": int(sum(bool(r["detected"]) for r in table)),
                    "lesions": len(table),
                }
            rows.append(row)
            print(i, name, {v: (row[v]["tumour_dsc"], row[v]["detected"]) for v in out},
                  row["seconds_both_passes"], flush=True)  # fmt: skip
    summary = {}
    for name in names:
        rs = [r for r in rows if r["method"] == name]
        summary[name] = {
            v: {
                "liver_dsc": round(float(np.mean([r[v]["liver_dsc"] for r in rs if v in r])), 4),
                "tumour_dsc": round(float(np.mean([r[v]["tumour_dsc"] for r in rs if v in r])), 4),
                "detected": int(sum(r[v]["detected"] for r in rs if v in r)),
                "lesions": int(sum(r[v]["lesions"] for r in rs if v in r)),
            }
            for v in VARIANTS
        }
        for v, s in summary[name].items():
            print(f"{name:15s} {v:9s} liver {s['liver_dsc']:.4f} tumour {s['tumour_dsc']:.4f} "
                  f"detected {s['detected']}/{s['lesions']}")  # fmt: skip
    what = (
        "validation phantoms (data seed 0, v2): one pass vs a second pass on the "
        "liver's box resampled to the network grid"
    )
    write_probe_report(
        args.out,
        what,
        methods,
        load_before,
        {"margin_mm": args.margin_mm, "indices": args.indices},
        {"summary": summary, "cases": rows},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
