"""The report's "Further questions" (issue 13): per Likert question mean ± SD per method and
Friedman / Wilcoxon on the per-case means, per yes / no question the proportion and
Cochran's Q; against scipy, statsmodels and the hand formula of Cochran's Q."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import cochrans_q

from livseg.report import build_report
from livseg.report.questions import analyse_questions, questions_table

DATA = Path(__file__).resolve().parent / "data" / "stats" / "data"
METHODS = ["UNet", "UNet3D", "AttnUNet", "Control"]


def _answers(methods=METHODS, n_cases=12, readers=("r1", "r2", "r3"), seed=5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_cases):
        for j, m in enumerate(methods):
            for r in readers:
                base = {"case": f"C{c + 1:02d}", "method": m, "reader": r, "session": 1}
                main = int(rng.integers(1, 6))
                liver = int(np.clip(round(2 + j * 0.6 + rng.normal(0, 1)), 1, 5))
                ok = bool(rng.random() < 0.2 + 0.2 * j)
                for pos, key, kind, prompt, value in (
                    (1, "quality", "likert", "How much correction?", main),
                    (2, "liver_quality", "likert_structure", "Liver?", liver),
                    (3, "acceptable", "yes_no", "Acceptable without edits?", ok),
                    (4, "missed", "number", "Missed lesions", float(rng.integers(0, 3))),
                ):
                    rows.append(
                        {
                            **base,
                            "question_position": pos,
                            "question": key,
                            "kind": kind,
                            "prompt": prompt,
                            "value": value,
                        }
                    )
    return pd.DataFrame(rows)


def _cochran_q_by_hand(x: np.ndarray) -> float:
    """Q = (k - 1) (k sum C_j^2 - N^2) / (k N - sum R_i^2) (Cochran 1950)."""
    k = x.shape[1]
    col, row = x.sum(axis=0), x.sum(axis=1)
    total = x.sum()
    return (k - 1) * (k * (col**2).sum() - total**2) / (k * total - (row**2).sum())


def test_likert_and_yes_no_questions_against_scipy_and_statsmodels():
    answers = _answers()
    results = analyse_questions(answers, METHODS)
    assert [r.question for r in results] == ["liver_quality", "acceptable"]  # not main, number
    liver, acceptable = results

    sub = answers[answers["question"] == "liver_quality"].astype({"value": float})
    for m in METHODS:
        v = sub.loc[sub["method"] == m, "value"].to_numpy(float)
        mean, sd, n = liver.per_method[m]
        assert mean == pytest.approx(v.mean()) and sd == pytest.approx(np.std(v, ddof=1))
        assert n == 36
    wide = sub.groupby(["case", "method"])["value"].mean().unstack()[METHODS]
    ref = stats.friedmanchisquare(*[wide[m].to_numpy() for m in METHODS])
    assert liver.test == "Friedman" and liver.n == 12
    assert liver.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert liver.p == pytest.approx(ref.pvalue, rel=1e-9)

    yn = answers[answers["question"] == "acceptable"]
    x = (
        yn.pivot_table(index=["case", "reader"], columns="method", values="value", aggfunc="first")[
            METHODS
        ]
        .astype(float)
        .to_numpy()
    )
    ref_q = cochrans_q(x)
    assert acceptable.test == "Cochran's Q" and acceptable.n == 36
    assert acceptable.statistic == pytest.approx(_cochran_q_by_hand(x), rel=1e-9)
    assert acceptable.statistic == pytest.approx(ref_q.statistic, rel=1e-9)
    assert acceptable.p == pytest.approx(ref_q.pvalue, rel=1e-9)
    assert acceptable.df == 3
    for j, m in enumerate(METHODS):
        k, share, n = acceptable.per_method[m]
        assert (k, n) == (x[:, j].sum(), 36) and share == pytest.approx(x[:, j].mean())

    table = questions_table(results, METHODS)
    assert list(table["Question"]) == ["Liver?", "Acceptable without edits?"]
    k0 = int(x[:, 0].sum())
    assert table.loc[1, "UNet"] == f"{k0}/36 ({100 * k0 / 36:.0f}%)"


def test_two_methods_use_wilcoxon_and_csv_text_answers_are_read():
    answers = _answers(methods=["UNet", "Control"], n_cases=15, seed=9)
    answers["value"] = answers["value"].astype(str)  # as read back from answers_long.csv
    liver, acceptable = analyse_questions(answers, ["UNet", "Control"])
    sub = answers[answers["question"] == "liver_quality"].assign(
        value=lambda d: d["value"].astype(int)
    )
    wide = sub.groupby(["case", "method"])["value"].mean().unstack()
    ref = stats.wilcoxon(
        wide["UNet"], wide["Control"], zero_method="wilcox", correction=True, method="approx"
    )
    assert liver.test == "Wilcoxon signed-rank"
    assert liver.p == pytest.approx(ref.pvalue, rel=1e-9)
    yn = answers[answers["question"] == "acceptable"]
    x = (
        yn.assign(value=yn["value"] == "True")
        .pivot_table(index=["case", "reader"], columns="method", values="value", aggfunc="first")[
            ["UNet", "Control"]
        ]
        .astype(float)
        .to_numpy()
    )
    # two methods: Cochran's Q is McNemar's chi-square without continuity correction
    b, c = ((x[:, 0] == 1) & (x[:, 1] == 0)).sum(), ((x[:, 0] == 0) & (x[:, 1] == 1)).sum()
    assert acceptable.statistic == pytest.approx((b - c) ** 2 / (b + c), rel=1e-9)
    assert acceptable.p == pytest.approx(stats.chi2.sf((b - c) ** 2 / (b + c), 1), rel=1e-9)


def test_not_computable_when_every_answer_is_the_same():
    answers = _answers()
    answers.loc[answers["question"] == "acceptable", "value"] = True
    _, acceptable = analyse_questions(answers, METHODS)
    assert acceptable.not_computable == "every reading gives every method the same answer"
    table = questions_table([acceptable], METHODS)
    assert table.loc[0, "Statistic"].startswith("not computable: ")


def test_the_report_has_a_further_questions_section_only_with_answers(tmp_path):
    met = pd.read_csv(DATA / "case_metrics.csv")
    scores = pd.read_csv(DATA / "reader_scores.csv")
    answers = _answers(n_cases=30)
    res = build_report(
        met,
        scores,
        None,
        tmp_path / "a",
        make_figures=False,
        ordinal_models=False,
        answers=answers,
    )
    table = res.tables["Further questions"]
    assert list(table["Question"]) == ["Liver?", "Acceptable without edits?"]
    html = res.html_path.read_text(encoding="utf-8")
    assert "Further questions" in html and "Acceptable without edits?" in html
    plain = build_report(
        met, scores, None, tmp_path / "b", make_figures=False, ordinal_models=False
    )
    assert "Further questions" not in plain.tables
    assert "Further questions" not in plain.html_path.read_text(encoding="utf-8")
    # the main analyses do not change with the answers
    assert plain.results == res.results


def test_cli_report_reads_the_answers_csv(tmp_path, capsys):
    from livseg.cli import main

    path = tmp_path / "answers_long.csv"
    _answers(n_cases=30).to_csv(path, index=False)  # as the Report page offers it
    out = tmp_path / "out"
    args = ["report", "--metrics", str(DATA / "case_metrics.csv"), "--out", str(out)]
    assert main([*args, "--answers", str(path), "--no-ordinal"]) == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Further questions" in html and "Acceptable without edits?" in html
    expected = analyse_questions(_answers(n_cases=30), METHODS)[1]
    assert f"{expected.statistic:.3f}" in html
