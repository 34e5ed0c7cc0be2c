"""Lesion detection analyses (``lesion_results``): detection rates, chi-square and Fisher
tests of the counts, Cochran's Q and McNemar over the lesions listed for every method.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from livseg.report.guarded import (
    NotComputableMap,
    attempt,
    finite,
    mark,
    put,
)
from livseg.stats import contingency, design, detection, paired


def lesion_results(
    lesions: pd.DataFrame, methods: Sequence[str], not_computable: NotComputableMap | None = None
) -> dict[str, float]:
    """Lesion detection: counts, chi-square, Fisher, Cochran's Q, McNemar, rates with CIs.

    The paired tests (Cochran's Q, McNemar) use the lesions listed for every method."""
    nc = not_computable if not_computable is not None else {}
    out: dict[str, float] = {}
    les = lesions[lesions["method"].astype(str).isin(methods)]
    pairs = [f"{a}_vs_{b}" for a, b in design.method_pairs(methods)]
    counts = _detection_counts(les, methods)
    total = int(counts["total"].sum())
    chi_key = f"chisq/lesions_{len(counts)}x2"
    for m, r in counts.iterrows():
        if r["total"] == 0:
            nc[f"proportion/{m}"] = "no lesions for this method"
    present = counts[counts["total"] > 0]
    for m, r in detection.detection_rates(present).items():
        put(out, f"proportion/{m}", r)
    if total == 0:
        mark(
            nc,
            [
                chi_key,
                "cochran_q/lesions",
                *(
                    f"{f}/{pk}"
                    for f in (
                        "chisq_2x2",
                        "fisher",
                        "mcnemar",
                        "padjust/lesions/mcnemar_exact_holm",
                    )
                    for pk in pairs
                ),
            ],
            "no lesions",
        )
        return out
    if len(methods) < 2:
        mark(nc, [chi_key, "cochran_q/lesions"], "only one method: nothing to compare")
        return out
    _detection_group_tests(out, nc, counts, methods, chi_key)
    _detection_paired_tests(out, nc, les, methods, pairs)
    return out


def _detection_counts(les: pd.DataFrame, methods: Sequence[str]) -> pd.DataFrame:
    """Detected, missed and total lesions of each method (index: method)."""
    det = pd.to_numeric(les["detected"]).astype(int)
    meth = les["method"].astype(str)
    return pd.DataFrame(
        [
            {
                "method": m,
                "detected": int(det[meth == m].sum()),
                "missed": int((1 - det[meth == m]).sum()),
                "total": int((meth == m).sum()),
            }
            for m in methods
        ]
    ).set_index("method")


def _detection_group_tests(
    out: dict, nc: NotComputableMap, counts: pd.DataFrame, methods: Sequence[str], chi_key: str
) -> None:
    """The k x 2 chi-square of the detected / missed counts, and each pair's 2 x 2
    chi-square and Fisher exact test."""
    put(out, chi_key, attempt(nc, chi_key, lambda: contingency.chi_square(counts)) or {})
    for a, b in design.method_pairs(methods):
        pk = f"{a}_vs_{b}"
        sub = counts.loc[[a, b]]
        put(
            out,
            f"chisq_2x2/{pk}",
            attempt(nc, f"chisq_2x2/{pk}", lambda t=sub, k=pk: contingency.chi_square_pairs(t)[k])
            or {},
        )
        if (sub["total"] == 0).any():
            nc[f"fisher/{pk}"] = "no lesions for one of the methods"
            continue
        put(
            out,
            f"fisher/{pk}",
            attempt(
                nc,
                f"fisher/{pk}",
                lambda t=sub, k=pk: finite(contingency.fisher_pairs(t)[k], ["p"], "undefined"),
            )
            or {},
        )


def _detection_paired_tests(
    out: dict,
    nc: NotComputableMap,
    les: pd.DataFrame,
    methods: Sequence[str],
    pairs: Sequence[str],
) -> None:
    """Cochran's Q and the pairs' McNemar tests (Holm-adjusted exact P) over the lesions
    listed for every method."""
    d = les.assign(_l=les["lesion"].astype(str), _m=les["method"].astype(str))
    listed = d.groupby("_l")["_m"].nunique()
    keep = listed.index[listed == len(methods)]
    left_out = len(listed) - len(keep)
    out["cochran_q/lesions/n_lesions"] = float(len(keep))
    if len(keep) == 0:
        why = "no lesion is listed for every method yet"
        mark(
            nc,
            [
                "cochran_q/lesions",
                *(f"mcnemar/{pk}" for pk in pairs),
                *(f"padjust/lesions/mcnemar_exact_holm/{pk}" for pk in pairs),
            ],
            why,
        )
        return
    mat = detection.detection_matrix(les[d["_l"].isin(keep)], methods)
    note = f" ({left_out} lesion(s) not listed for every method left out)" if left_out else ""
    cq = detection.cochran_q(mat)
    if math.isfinite(cq["Q"]):
        put(out, "cochran_q/lesions", cq)
    else:
        nc["cochran_q/lesions"] = "every method detected exactly the same lesions" + note
    mc = detection.mcnemar_pairs(mat)
    for pk, r in mc.items():
        put(out, f"mcnemar/{pk}", r)
    for pk, p in paired.p_adjust({k: v["p_exact"] for k, v in mc.items()}, "holm").items():
        out[f"padjust/lesions/mcnemar_exact_holm/{pk}"] = p
