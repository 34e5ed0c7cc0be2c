"""Intra-reader (test-retest) agreement of washout re-reads against independent references:
scikit-learn's cohen_kappa_score and a statsmodels ANOVA with McGraw & Wong's ICC(A,1)
formulas (tests/data/intra_reader/reference.json, written by make_reference.py there)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from livseg.cli import main
from livseg.report import build_report
from livseg.report.results import compute_results
from livseg.stats import intra_reader
from livseg.stats.design import StatsInputError

HERE = Path(__file__).resolve().parent / "data" / "intra_reader"
SCORES = HERE / "scores_long.csv"
REF = json.loads((HERE / "reference.json").read_text())["values"]


def _metrics(scores: pd.DataFrame) -> pd.DataFrame:
    items = scores[["case", "method"]].drop_duplicates().sort_values(["method", "case"])
    rng = np.random.default_rng(3)
    return items.assign(DSC=rng.uniform(0.6, 0.95, len(items))).reset_index(drop=True)


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    return pd.read_csv(SCORES)


def test_every_statistic_matches_the_independent_reference(scores):
    _, pairs = intra_reader.split_sessions(scores)
    got = intra_reader.intra_reader_agreement(pairs)
    flat = {
        f"intra_reader/{subject}/{stat}": value
        for subject, rec in got.items()
        for stat, value in rec.items()
    }
    assert set(flat) == set(REF)  # per method only for r1 and all (>= 5 pairs per method)
    for key, ref in REF.items():
        assert flat[key] == pytest.approx(ref, abs=1e-9), key


def test_kappa_equals_scikit_learn_with_the_categories_fixed():
    # categories 1, 2 and 5 only: linear weights over 1-5 differ from weights over {1, 2, 5}
    a, b = [1, 2, 5, 5, 2, 1, 5], [2, 2, 5, 1, 1, 1, 5]
    got = intra_reader.pair_agreement(a, b)
    for weights in ("linear", "quadratic"):
        ref = cohen_kappa_score(a, b, labels=[1, 2, 3, 4, 5], weights=weights)
        assert got[f"kappa_{weights}"] == pytest.approx(ref, abs=1e-12)
    assert got["kappa_linear"] != pytest.approx(cohen_kappa_score(a, b, weights="linear"))


def test_report_results_json_and_excel_hold_intra_reader_agreement(tmp_path, scores):
    res = build_report(_metrics(scores), scores, None, tmp_path, make_figures=False)
    for key, ref in REF.items():
        assert res.results[key] == pytest.approx(ref, abs=1e-9), key
    # a complete session 1: the crossed-model ICC is the two-way ICC(A,1) (reference-tested)
    for subject in ("all", "classical", "unet2d"):
        crossed = res.results[f"icc_crossed/{subject}/value"]
        assert crossed == pytest.approx(res.results[f"icc/{subject}/ICC2/value"], abs=1e-12)
    doc = json.loads(res.results_path.read_text())
    assert doc["results"]["intra_reader/all/icc_a1_ci_low"] == pytest.approx(
        REF["intra_reader/all/icc_a1_ci_low"], abs=1e-9
    )
    table = res.tables["Intra-reader agreement"]
    pooled = table[(table["Reader"] == "all readers (pooled)") & (table["Method"] == "all methods")]
    assert pooled["Pairs (n)"].tolist() == [27]
    want = REF["intra_reader/all/icc_a1"]
    assert pooled["ICC(A,1) [95% CI]"].iloc[0].startswith(f"{want:.3f} [")
    page = res.html_path.read_text(encoding="utf-8")
    assert "Intra-reader agreement (washout re-reads)" in page
    wb = openpyxl.load_workbook(res.xlsx_path, read_only=True)
    cells = [c for row in wb["Intra-reader agreement"].iter_rows(values_only=True) for c in row]
    assert 27 in cells  # numeric, not text


def test_every_other_analysis_uses_session_one_unchanged(scores):
    metrics = _metrics(scores)
    first = scores[scores.session == 1].drop(columns="session")
    with_rereads = compute_results(metrics, scores, ordinal_models=False)
    session_one = compute_results(metrics, first, ordinal_models=False)
    others = {k: v for k, v in with_rereads.items() if not k.startswith("intra_reader/")}
    assert others.keys() == session_one.keys()
    for k, v in session_one.items():
        assert others[k] == pytest.approx(v, nan_ok=True), k
    assert not any(k.startswith("intra_reader/") for k in session_one)


def test_report_cli_takes_the_long_export_with_sessions(tmp_path, scores, capsys):
    metrics = tmp_path / "metrics.csv"
    _metrics(scores).to_csv(metrics, index=False)
    code = main(
        ["report", "--metrics", str(metrics), "--scores", str(SCORES), "--out",
         str(tmp_path / "out"), "--no-ordinal"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["results"]["intra_reader/r2/n_pairs"] == REF["intra_reader/r2/n_pairs"] == 6


def test_degenerate_and_bad_sessions():
    with pytest.raises(StatsInputError, match="session"):
        intra_reader.split_sessions(
            pd.DataFrame({"case": ["a"], "method": ["m"], "reader": ["r"], "score": [3],
                          "session": [3]})
        )  # fmt: skip
    twice = pd.DataFrame(
        {"case": ["a", "a", "a"], "method": ["m"] * 3, "reader": ["r"] * 3, "score": [3, 4, 4],
         "session": [1, 2, 2]}
    )  # fmt: skip
    with pytest.raises(StatsInputError, match="re-read session 2"):
        intra_reader.split_sessions(twice)
    one = intra_reader.pair_agreement([3, 3, 3], [3, 3, 3])
    assert one["exact_agreement"] == 1.0 and math.isnan(one["kappa_linear"])
    with pytest.raises(StatsInputError, match="fewer than 2"):
        intra_reader.pair_agreement([3], [4])
    # no session-2 row: no intra-reader analysis at all
    s1 = twice.iloc[:1]
    assert intra_reader.split_sessions(s1)[1] is None
