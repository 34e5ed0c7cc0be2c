"""Two versions of the same methods on the same test cases: paired differences per case.

Usage: ``python bench/compare_weights.py --new NEW.csv --old OLD.csv [--methods m1,m2]
[--out bench/results/X.json]``

NEW / OLD are ``python -m livseg evaluate`` CSVs of the same cases (e.g. ``bench/test_split.py``
run in a checkout of the new weights and in one of the earlier weights, ``--work`` apart).
Per method and structure (liver, tumour): mean DSC of each version, the paired mean
difference new - old with its 95 % CI and p (``livseg.stats.paired.paired_t``), the Wilcoxon
signed-rank p (``wilcoxon_signed_rank``: exact without ties, else R's
normal approximation), cases better / worse, and the reference lesions
missed (all and < 2 cm) and false-positive lesions summed over the cases. Refuses CSVs whose
case ids differ, or where a method has the same version in both (nothing to compare).
``--same-weights`` compares two versions of the code around the same weights instead (e.g.
post-processing, amendment 4: a checkout before the change as OLD); then it refuses a method
whose versions differ.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livseg.stats.paired import paired_t, wilcoxon_signed_rank  # noqa: E402

LESION_COLUMNS = {
    "missed": "lesions_missed",
    "missed_lt2cm": "lesions_lt2cm_missed",
    "false_positive": "lesions_false_positive",
}


def _wilcoxon_p(w: dict[str, float]) -> float:
    """The exact p without ties or zeros, else the normal one with continuity correction (R)."""
    return float(w["p_exact"]) if math.isfinite(w["p_exact"]) else float(w["p_normal_cc"])


def compare(
    new: pd.DataFrame, old: pd.DataFrame, methods: list[str], same_weights: bool = False
) -> list[dict]:
    """One row per method x structure with the paired statistics of new - old DSC.
    ``same_weights``: the two CSVs come from the same weights (other code), so a method's
    versions must be equal instead of different."""
    out = []
    for method in methods:
        a, b = new[new.method == method], old[old.method == method]
        if a.empty or b.empty:
            raise SystemExit(f"{method}: not in both CSVs")
        va, vb = str(a.version.iloc[0]), str(b.version.iloc[0])
        if va == vb and not same_weights:
            raise SystemExit(f"{method}: the same version {va} in both CSVs")
        if va != vb and same_weights:
            raise SystemExit(f"{method}: --same-weights, but versions {va} and {vb} differ")
        for structure in ("liver", "tumour"):
            x = a[a.structure == structure].set_index("case_id").sort_index()
            y = b[b.structure == structure].set_index("case_id").sort_index()
            if list(x.index) != list(y.index):
                raise SystemExit(f"{method} {structure}: the CSVs hold different cases")
            new_dsc, old_dsc = x.dsc.to_numpy(float), y.dsc.to_numpy(float)
            d = new_dsc - old_dsc
            t, w = paired_t(new_dsc, old_dsc), wilcoxon_signed_rank(new_dsc, old_dsc)
            row = {
                "method": method,
                "structure": structure,
                "new_version": va,
                "old_version": vb,
                "cases": int(len(d)),
                "new_dsc_mean": round(float(new_dsc.mean()), 4),
                "old_dsc_mean": round(float(old_dsc.mean()), 4),
                "diff_mean": round(float(t["mean_diff"]), 4),
                "diff_ci95": [round(float(t["ci_low"]), 4), round(float(t["ci_high"]), 4)],
                "paired_t_p": round(float(t["p"]), 4),
                "wilcoxon_p": round(_wilcoxon_p(w), 4),
                "better": int((d > 0).sum()),
                "worse": int((d < 0).sum()),
            }
            if structure == "tumour":
                for key, col in LESION_COLUMNS.items():
                    row[f"new_{key}"] = int(x[col].fillna(0).sum())
                    row[f"old_{key}"] = int(y[col].fillna(0).sum())
            out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new", type=Path, required=True, action="append")
    parser.add_argument("--old", type=Path, required=True, action="append")
    parser.add_argument("--label", action="append", help="a name per --new / --old pair")
    parser.add_argument("--methods", default="unet2d,unet3d,attention_unet")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--same-weights",
        action="store_true",
        help="NEW and OLD ran the same weights with other code (e.g. post-processing)",
    )
    args = parser.parse_args(argv)
    if len(args.new) != len(args.old):
        parser.error("give one --old per --new")
    labels = args.label or [p.stem for p in args.new]
    methods = [m for m in args.methods.split(",") if m]
    report: dict = {"what": "new - old DSC per case, same cases", "comparisons": {}}
    for label, new, old in zip(labels, args.new, args.old, strict=True):
        rows = compare(pd.read_csv(new), pd.read_csv(old), methods, args.same_weights)
        report["comparisons"][label] = {"new": str(new), "old": str(old), "rows": rows}
        print(f"\n{label}: new - old DSC, paired over the same cases")
        for r in rows:
            lesions = ""
            if r["structure"] == "tumour":
                lesions = (
                    f"  missed {r['old_missed']} -> {r['new_missed']}"
                    f" (<2 cm {r['old_missed_lt2cm']} -> {r['new_missed_lt2cm']}),"
                    f" FP {r['old_false_positive']} -> {r['new_false_positive']}"
                )
            print(
                f"  {r['method']:15s} {r['structure']:7s} {r['old_dsc_mean']:.3f} -> "
                f"{r['new_dsc_mean']:.3f}  diff {r['diff_mean']:+.3f} "
                f"[{r['diff_ci95'][0]:+.3f}, {r['diff_ci95'][1]:+.3f}]  t p={r['paired_t_p']:.3f}"
                f"  Wilcoxon p={r['wilcoxon_p']:.3f}  better/worse {r['better']}/{r['worse']}"
                + lesions
            )
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
