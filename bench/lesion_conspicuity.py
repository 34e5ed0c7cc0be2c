"""How visible is each reference lesion in the image, and which ones does each method detect?

Usage: ``nice -n 10 python bench/lesion_conspicuity.py --cases T --runs R [--methods all]
--out bench/results/X.json``

T is a LiTS-layout folder (``volume-<id>.nii.gz`` + ``segmentation-<id>.nii.gz``, e.g. a
test folder written by ``bench/test_split.py``), R its runs folder (``R/<method>/<id>.nii.gz``,
``python -m livseg segment``). Reads what is there: it segments nothing, so the figures are
those of the runs (an analysis after a test evaluation, never an input to a choice of recipe).

Per reference lesion (``livseg.metrics.lesion_table``: 26-connected components of label 2, in
the same order), measured on the image itself (``lesion_conspicuity``): the lesion's mean HU
(its voxels more than 1.5 mm inside its border, all of them for a smaller lesion), the mean
and SD of the liver (label 1) in a shell 2-8 mm outside it, the contrast (surround - lesion,
HU; positive = darker than the liver) and the contrast-to-noise ratio CNR = |contrast| / SD.
The SD holds the liver's texture and the scanner's correlated noise together, what a reader
sees. Then, per method, the share of lesions detected (>= 1 predicted tumour voxel on it) in
bins of CNR (< 0.5, 0.5-1, 1-2, >= 2) x size (< 2 cm, >= 2 cm), and the share of the reference
tumour volume in each CNR bin. Writes the JSON with every lesion's row and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CNR_BINS = (0.0, 0.5, 1.0, 2.0, float("inf"))  # contrast-to-noise bin edges
CORE_MM = 1.5  # mm; lesion voxels deeper than this inside the border give its mean HU
SHELL_MM = (2.0, 8.0)  # mm; liver voxels this far outside the lesion give the surround
TUMOUR = 2
LIVER = 1


def lesion_conspicuity(
    hu: np.ndarray,
    labels: np.ndarray,
    spacing: tuple[float, float, float],
    core_mm: float = CORE_MM,
    shell_mm: tuple[float, float] = SHELL_MM,
) -> list[dict]:
    """One row per reference lesion (26-connected components of label 2, scan order, as
    ``livseg.metrics.lesion_table``): voxels, lesion_hu, surround_hu, surround_sd (HU),
    surround_voxels, contrast_hu (surround - lesion) and cnr (|contrast| / surround SD; None
    when the shell holds fewer than 10 liver voxels). hu: (X, Y, Z) HU; spacing in mm."""
    comp, n = ndimage.label(labels == TUMOUR, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return []
    sp = np.asarray(spacing, dtype=float)
    pad = np.ceil(shell_mm[1] / sp).astype(int) + 1
    rows = []
    for k, box in enumerate(ndimage.find_objects(comp), start=1):
        grown = tuple(
            slice(max(0, s.start - p), min(dim, s.stop + p))
            for s, p, dim in zip(box, pad, labels.shape, strict=True)
        )
        lesion = comp[grown] == k
        inside = ndimage.distance_transform_edt(lesion, sampling=sp)
        outside = ndimage.distance_transform_edt(~lesion, sampling=sp)
        core = lesion & (inside > core_mm)
        if not core.any():
            core = lesion
        shell = (labels[grown] == LIVER) & (outside >= shell_mm[0]) & (outside <= shell_mm[1])
        sub = hu[grown].astype(np.float64)
        lesion_hu = float(sub[core].mean())
        row = {
            "lesion": k,
            "voxels": int(lesion.sum()),
            "lesion_hu": round(lesion_hu, 2),
            "surround_voxels": int(shell.sum()),
            "surround_hu": None,
            "surround_sd": None,
            "contrast_hu": None,
            "cnr": None,
        }
        if shell.sum() >= 10:
            mean, sd = float(sub[shell].mean()), float(sub[shell].std(ddof=1))
            row.update(
                surround_hu=round(mean, 2),
                surround_sd=round(sd, 2),
                contrast_hu=round(mean - lesion_hu, 2),
                cnr=round(abs(mean - lesion_hu) / sd, 3) if sd > 0 else None,
            )
        rows.append(row)
    return rows


def cnr_bin(cnr: float | None) -> str:
    """The label of the CNR bin of ``cnr`` ("<0.5", "0.5-1", "1-2", ">=2"; "n/a" for None)."""
    if cnr is None:
        return "n/a"
    labels = ("<0.5", "0.5-1", "1-2", ">=2")
    for lo, hi, label in zip(CNR_BINS[:-1], CNR_BINS[1:], labels, strict=True):
        if lo <= cnr < hi:
            return label
    return labels[-1]


def detection_by_bin(lesions: list[dict], methods: list[str]) -> dict:
    """Per CNR bin x size (<2cm / >=2cm): lesions, reference mL, and per method detected."""
    out: dict = {}
    for row in lesions:
        size = "<2cm" if row["diameter_mm"] < 20.0 else ">=2cm"
        for key in (f"{row['cnr_bin']} {size}", f"{row['cnr_bin']} all"):
            cell = out.setdefault(key, {"lesions": 0, "volume_ml": 0.0, "detected": {}})
            cell["lesions"] += 1
            cell["volume_ml"] += row["volume_ml"]
            for m in methods:
                cell["detected"][m] = cell["detected"].get(m, 0) + int(row["detected"][m])
    for cell in out.values():  # rounded once, so the sums do not depend on the case order
        cell["volume_ml"] = round(cell["volume_ml"], 2)
    return dict(sorted(out.items()))


def main(argv: list[str] | None = None) -> int:
    from livseg import io
    from livseg.evaluation import evaluate_runs_with_lesions
    from livseg.naming import case_id

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=Path, required=True)
    p.add_argument("--runs", type=Path, required=True)
    p.add_argument("--methods", default="all")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    load_before = os.getloadavg()
    methods = None if args.methods == "all" else args.methods.split(",")
    _, lesion_rows = evaluate_runs_with_lesions(args.runs, args.cases, methods)
    names = sorted({r["method"] for r in lesion_rows})
    by_case: dict[str, dict[str, list[dict]]] = {}
    for r in lesion_rows:
        by_case.setdefault(r["case_id"], {}).setdefault(r["method"], []).append(r)
    lesions: list[dict] = []
    for files in io.scan_folder(args.cases):
        cid = None if files.labels is None else case_id(files.labels)
        if cid not in by_case:
            continue
        case = io.load_case(files.image, files.labels)
        seen = lesion_conspicuity(case.volume.array, case.labels, case.volume.spacing)
        tables = by_case[cid]
        absent = sorted(set(names) - set(tables))
        if absent:
            raise ValueError(f"case {cid}: no prediction from {', '.join(absent)} in {args.runs}")
        for m, table in tables.items():
            if [t["voxels"] for t in table] != [s["voxels"] for s in seen]:
                raise ValueError(f"case {cid}, {m}: the lesion lists differ")
        first = next(iter(tables.values()))
        for s, t in zip(seen, first, strict=True):
            lesions.append(
                {
                    "case_id": cid,
                    **s,
                    "volume_ml": round(float(t["volume_ml"]), 3),
                    "diameter_mm": round(float(t["diameter_mm"]), 2),
                    "cnr_bin": cnr_bin(s["cnr"]),
                    "detected": {m: bool(tables[m][s["lesion"] - 1]["detected"]) for m in names},
                }
            )
        print(cid, len(seen), "lesions", flush=True)
    bins = detection_by_bin(lesions, names)
    for key, cell in bins.items():
        rates = " ".join(f"{m} {cell['detected'][m]}/{cell['lesions']}" for m in names)
        print(f"CNR {key:12s} {cell['lesions']:4d} lesions {cell['volume_ml']:8.1f} mL  {rates}")
    report = {
        "what": "reference lesions' contrast-to-noise in the image vs detection by each method",
        "cases": str(args.cases),
        "runs": str(args.runs),
        "core_mm": CORE_MM,
        "shell_mm": list(SHELL_MM),
        "methods": names,
        "by_bin": bins,
        "lesions": lesions,
        "machine": platform.platform(),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
