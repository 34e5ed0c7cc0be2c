"""The study's further questions in the report: one row per Likert or yes / no question.

Input: the long answers table (``db.export.answers_long``: case, method, reader, session,
question, kind, prompt, value, question_position). The first question (the main Likert
score, question_position 1) is analysed by the rest of the report ("satisfaction"); every
further Likert (per-structure too) and yes / no question gets, from session 1:

- Likert: mean +- SD of the scores per method (n = scores), and the test the report uses
  for the main score on the per-case mean over readers (cases with a value for every
  method): Friedman for three or more methods, Wilcoxon signed-rank (exact without ties,
  else normal with continuity correction) for two;
- yes / no: the proportion of "yes" per method (k / n), and Cochran's Q over the readings
  (case x reader) answered for every method.

Number and text answers are exported, not tested. An analysis the data do not allow is
"not computable: <reason>" in its row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.contingency_tables import cochrans_q

from livseg.stats import paired
from livseg.stats.design import StatsInputError

TESTED_KINDS = ("likert", "likert_structure", "yes_no")
NOTE = (
    "The study's questions after the main Likert score, first reading. Likert: mean ± SD "
    "(n scores) per method; Friedman test (3+ methods) or Wilcoxon signed-rank (2) on the "
    "per-case mean over readers, cases with a value for every method. Yes / no: answers "
    "'yes' / answers (%) per method; Cochran's Q over the readings (case x reader) answered "
    "for every method."
)
COLUMNS = ["question", "kind", "prompt", "case", "method", "reader", "session", "value"]


@dataclass(frozen=True)
class QuestionResult:
    """One question's analysis: per method (mean, SD, n) for Likert or (yes, n) for yes / no;
    the test's name, statistic, df, p and n (cases or readings), or why it is not computable."""

    question: str
    kind: str
    prompt: str
    per_method: dict[str, tuple[float, float, int]]
    test: str
    statistic: float = math.nan
    df: float = math.nan
    p: float = math.nan
    n: int = 0
    not_computable: str | None = None


def _likert(key: str, prompt: str, kind: str, rows: pd.DataFrame, methods) -> QuestionResult:
    values = rows.assign(value=rows["value"].astype(float))
    per = {}
    for m in methods:
        v = values.loc[values["method"] == m, "value"].to_numpy(dtype=float)
        per[m] = (
            float(v.mean()) if v.size else math.nan,
            float(v.std(ddof=1)) if v.size > 1 else math.nan,
            int(v.size),
        )
    present = [m for m in methods if per[m][2]]
    test = "Friedman" if len(present) >= 3 else "Wilcoxon signed-rank"
    base = {"question": key, "kind": kind, "prompt": prompt, "per_method": per, "test": test}
    if len(present) < 2:
        return QuestionResult(**base, not_computable="only one method: nothing to compare")
    wide = values.pivot_table(index="case", columns="method", values="value", aggfunc="mean")
    complete = wide[present].dropna(axis=0, how="any")
    if len(complete) < 2:
        return QuestionResult(
            **base,
            n=len(complete),
            not_computable=f"fewer than 2 cases with a value for every method (n = {len(complete)})",
        )
    y = complete.to_numpy(dtype=float)
    if len(present) >= 3:
        if np.all(np.ptp(y, axis=1) == 0):
            return QuestionResult(
                **base, n=len(y), not_computable="every case ranks the methods as ties"
            )
        r = paired.friedman(complete)
        return QuestionResult(**base, statistic=r["Q"], df=r["df"], p=r["p"], n=len(y))
    if not np.any(y[:, 0] - y[:, 1]):
        return QuestionResult(**base, n=len(y), not_computable=f"all {len(y)} differences are zero")
    w = paired.wilcoxon_signed_rank(y[:, 0], y[:, 1])
    p = w["p_exact"] if not math.isnan(w["p_exact"]) else w["p_normal_cc"]
    return QuestionResult(**base, statistic=w["V"], p=p, n=len(y))


def _yes(value: object) -> float:
    """1.0 for yes, 0.0 for no: True / False, 1 / 0, or their text read back from a CSV."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "yes", "1", "1.0"):
            return 1.0
        if text in ("false", "no", "0", "0.0"):
            return 0.0
        raise StatsInputError(f"answers: {value!r} is not a yes / no answer")
    return float(bool(value))


def _yes_no(key: str, prompt: str, rows: pd.DataFrame, methods) -> QuestionResult:
    values = rows.assign(value=rows["value"].map(_yes))
    per = {}
    for m in methods:
        v = values.loc[values["method"] == m, "value"].to_numpy(dtype=float)
        per[m] = (float(v.sum()), float(v.mean()) if v.size else math.nan, int(v.size))
    present = [m for m in methods if per[m][2]]
    base = {
        "question": key,
        "kind": "yes_no",
        "prompt": prompt,
        "per_method": per,
        "test": "Cochran's Q",
    }
    if len(present) < 2:
        return QuestionResult(**base, not_computable="only one method: nothing to compare")
    wide = values.pivot_table(
        index=["case", "reader"], columns="method", values="value", aggfunc="first"
    )
    complete = wide[present].dropna(axis=0, how="any").to_numpy(dtype=float)
    if len(complete) < 2:
        return QuestionResult(
            **base,
            n=len(complete),
            not_computable=f"fewer than 2 readings answered for every method (n = {len(complete)})",
        )
    if np.all(np.ptp(complete, axis=1) == 0):
        return QuestionResult(
            **base,
            n=len(complete),
            not_computable="every reading gives every method the same answer",
        )
    r = cochrans_q(complete)
    return QuestionResult(
        **base, statistic=float(r.statistic), df=float(r.df), p=float(r.pvalue), n=len(complete)
    )


def analyse_questions(answers: pd.DataFrame, methods: Sequence[str]) -> list[QuestionResult]:
    """The analysis of every further Likert / yes-no question of ``answers`` (session 1;
    the main question, question_position 1, is left to the rest of the report), in the
    study's question order; ``methods`` in the report's order."""
    missing = [c for c in COLUMNS if c not in answers.columns]
    if missing:
        raise StatsInputError(f"answers: missing column(s) {', '.join(missing)}")
    a = answers[answers["session"].astype(int) == 1]
    if "question_position" in a.columns:
        a = a[a["question_position"].astype(int) > 1]
        a = a.sort_values("question_position", kind="stable")
    a = a[a["kind"].isin(TESTED_KINDS) & a["value"].notna()]
    a = a.assign(case=a["case"].astype(str), method=a["method"].astype(str))
    out = []
    for key in pd.unique(a["question"]):
        rows = a[a["question"] == key]
        kind, prompt = str(rows["kind"].iloc[0]), str(rows["prompt"].iloc[0])
        if kind == "yes_no":
            out.append(_yes_no(str(key), prompt, rows, list(methods)))
        else:
            out.append(_likert(str(key), prompt, kind, rows, list(methods)))
    return out


def questions_table(results: Sequence[QuestionResult], methods: Sequence[str]) -> pd.DataFrame:
    """The report's "Further questions" table: one row per question, per method
    'mean ± SD (n)' (Likert) or 'k/n (p%)' (yes / no), then the test and its p."""
    rows = []
    for r in results:
        row = {"Question": r.prompt, "Answer": "1-5" if r.kind != "yes_no" else "yes / no"}
        for m in methods:
            a, b, n = r.per_method.get(m, (math.nan, math.nan, 0))
            if not n:
                row[m] = "–"
            elif r.kind == "yes_no":
                row[m] = f"{int(a)}/{n} ({100 * b:.0f}%)"
            else:
                sd = "–" if math.isnan(b) else f"{b:.2f}"
                row[m] = f"{a:.2f} ± {sd} ({n})"
        row["Test"] = r.test
        if r.not_computable:
            row["Statistic"], row["p"] = f"not computable: {r.not_computable}", ""
        else:
            df = "" if math.isnan(r.df) else f", df {r.df:g}"
            row["Statistic"] = f"{r.statistic:.3f}{df} (n = {r.n})"
            row["p"] = f"{r.p:.3g}" if r.p >= 0.001 else "<0.001"
        rows.append(row)
    return pd.DataFrame(rows)
