"""bench/compare_weights.py: new - old DSC paired over the same cases (scipy as reference)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import compare_weights  # noqa: E402


def _csv(dsc: dict[str, list[float]], version: str, missed: list[int]) -> pd.DataFrame:
    rows = []
    for structure, values in dsc.items():
        for case, value in enumerate(values):
            row = {
                "case_id": str(case),
                "method": "unet3d",
                "structure": structure,
                "dsc": value,
                "version": version,
            }
            if structure == "tumour":
                row |= {
                    "lesions_missed": missed[case],
                    "lesions_lt2cm_missed": max(missed[case] - 1, 0),
                    "lesions_false_positive": 2,
                }
            rows.append(row)
    return pd.DataFrame(rows)


def test_paired_differences_match_scipy():
    rng = np.random.default_rng(3)
    old_l, old_t = rng.uniform(0.8, 0.95, 12), rng.uniform(0.2, 0.7, 12)
    new_l, new_t = old_l + rng.normal(0.01, 0.02, 12), old_t + rng.normal(0.05, 0.1, 12)
    new = _csv({"liver": list(new_l), "tumour": list(new_t)}, "b", [1] * 12)
    old = _csv({"liver": list(old_l), "tumour": list(old_t)}, "a", [2] * 12)
    rows = {r["structure"]: r for r in compare_weights.compare(new, old, ["unet3d"])}
    for structure, (x, y) in {"liver": (new_l, old_l), "tumour": (new_t, old_t)}.items():
        r = rows[structure]
        assert r["diff_mean"] == pytest.approx(float(np.mean(x - y)), abs=1e-4)
        assert r["paired_t_p"] == pytest.approx(stats.ttest_rel(x, y).pvalue, abs=1e-4)
        assert r["wilcoxon_p"] == pytest.approx(stats.wilcoxon(x, y).pvalue, abs=1e-4)
        assert r["better"] == int((x > y).sum()) and r["worse"] == int((x < y).sum())
    assert rows["tumour"]["old_missed"] == 24 and rows["tumour"]["new_missed"] == 12
    assert rows["tumour"]["old_missed_lt2cm"] == 12 and rows["tumour"]["new_missed_lt2cm"] == 0


def test_refuses_other_cases_or_the_same_version():
    a = _csv({"liver": [0.9, 0.8, 0.7], "tumour": [0.5, 0.4, 0.3]}, "a", [0, 0, 0])
    b = _csv({"liver": [0.9, 0.8], "tumour": [0.5, 0.4]}, "b", [0, 0])
    with pytest.raises(SystemExit, match="different cases"):
        compare_weights.compare(a, b, ["unet3d"])
    with pytest.raises(SystemExit, match="the same version a"):
        compare_weights.compare(a, a, ["unet3d"])


def test_same_weights_compares_code_and_refuses_other_weights():
    a = _csv({"liver": [0.9, 0.8, 0.7], "tumour": [0.5, 0.4, 0.3]}, "a", [0, 0, 0])
    a2 = _csv({"liver": [0.91, 0.82, 0.7], "tumour": [0.5, 0.4, 0.3]}, "a", [0, 0, 0])
    b = _csv({"liver": [0.9, 0.8, 0.7], "tumour": [0.5, 0.4, 0.3]}, "b", [0, 0, 0])
    liver = compare_weights.compare(a2, a, ["unet3d"], same_weights=True)[0]
    assert liver["diff_mean"] == pytest.approx(0.01, abs=1e-4)
    assert liver["better"] == 2 and liver["worse"] == 0
    with pytest.raises(SystemExit, match="versions b and a differ"):
        compare_weights.compare(b, a, ["unet3d"], same_weights=True)
