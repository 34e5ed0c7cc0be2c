"""Exports (coordinator only): the long table of all scores and the DataFrames the report uses.

- ``scores_long``: one row per score (study, reader, session, case, method, codes, score,
  comment, seconds, timestamps); ``write_scores_csv`` writes it.
- ``metrics_table``: case, method, DSC, JI, HD_mm, time_s, VER_pct (+ HD95_mm, ASSD_mm,
  volume_ml, reference_volume_ml, VE_signed_pct) for the liver or the tumour.
- ``scores_table``: case, method, reader, score (one session of one study).
- ``answers_long``: one row per item x question answered (the study's several questions).
- ``lesions_table``: case, lesion, method, detected (+ size).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import practice
from db.access import require_coordinator
from db.errors import InvalidInput
from db.models import (
    STRUCTURES,
    Answer,
    Assignment,
    Case,
    Evaluation,
    Item,
    LesionDetection,
    Method,
    Run,
    Score,
    Study,
    StudyQuestion,
    User,
)
from db.questions import decode_answer
from db.studies import _study
from livseg import metric_registry

# the leading columns of both long tables (name -> database column)
_READING = {
    "study": Study.name,
    "reader": User.username,
    "session": Assignment.session_number,
    "position": Assignment.position,
    "case": Case.name,
    "method": Method.name,
}
_READING_COLUMNS = tuple(_READING.values())
SCORES_LONG_COLUMNS = [
    *_READING,
    "item_code",
    "reading_code",
    "score",
    "comment",
    "seconds",
    "created_at",
    "updated_at",
    "revision",
]
# stored metric name (livseg.metrics.METRIC_KEYS) -> report column, from the one registry
# (volume_error_pct -> VE_signed_pct; VER_pct, its absolute value, is a registry-derived column)
METRIC_COLUMNS = metric_registry.stored_to_column()
METRICS_TABLE_COLUMNS = [
    "case",
    "method",
    "DSC",
    "JI",
    "HD_mm",
    "time_s",
    "VER_pct",
    "HD95_mm",
    "ASSD_mm",
    "volume_ml",
    "reference_volume_ml",
    "VE_signed_pct",
]


def _join_reading(stmt):
    """Join an assignment's study, reader, item, case and method to ``stmt`` (a select
    that already has ``Assignment``); practice readings are left out (never analysed)."""
    return (
        stmt.where(Assignment.practice.is_(False))
        .join(Study, Study.id == Assignment.study_id)
        .join(User, User.id == Assignment.reader_id)
        .join(Item, Item.id == Assignment.item_id)
        .join(Case, Case.id == Item.case_id)
        .join(Method, Method.id == Item.method_id)
    )


def scores_long(session: Session, coordinator, study_id: int | None = None) -> pd.DataFrame:
    """Every score (of one study, or all), one row each, ordered by study, reader, position.

    Columns: study, reader, session, position, case, method, item_code (the item's opaque
    code), reading_code (the code the reader saw), score, comment, seconds, created_at,
    updated_at (UTC), revision (1 + number of edits).
    """
    require_coordinator(session, coordinator)
    stmt = (
        select(
            *_READING_COLUMNS,
            Item.code,
            Assignment.code,
            Score.value,
            Score.comment,
            Score.seconds_spent,
            Score.created_at,
            Score.updated_at,
            Score.revision,
        )
        .select_from(Score)
        .join(Assignment, Assignment.id == Score.assignment_id)
    )
    stmt = _join_reading(stmt).order_by(Study.id, User.username, Assignment.position)
    if study_id is not None:
        stmt = stmt.where(Study.id == _study(session, study_id).id)
    frame = pd.DataFrame(session.execute(stmt).all(), columns=SCORES_LONG_COLUMNS)
    return frame.astype({"score": "int64", "session": "int64", "position": "int64"})


ANSWERS_LONG_COLUMNS = [
    *_READING,
    "reading_code",
    "question_position",
    "question",
    "kind",
    "structure",
    "prompt",
    "value",
]


def answers_long(session: Session, coordinator, study_id: int | None = None) -> pd.DataFrame:
    """Every answer to every question (of one study, or all), one row per item x question,
    ordered by study, reader, position, question position.

    Columns: study, reader, session, position, case, method, reading_code, question_position
    (1 = the main Likert score), question (its key), kind (likert, likert_structure, yes_no,
    number, text), structure (per-structure Likert), prompt, value (int 1-5, True / False,
    a number, or text).
    """
    require_coordinator(session, coordinator)
    stmt = (
        select(
            *_READING_COLUMNS,
            Assignment.code,
            StudyQuestion.position,
            StudyQuestion.key,
            StudyQuestion.kind,
            StudyQuestion.structure,
            StudyQuestion.prompt,
            Answer.number,
            Answer.text,
        )
        .select_from(Answer)
        .join(StudyQuestion, StudyQuestion.id == Answer.question_id)
        .join(Assignment, Assignment.id == Answer.assignment_id)
    )
    stmt = _join_reading(stmt).order_by(
        Study.id, User.username, Assignment.position, StudyQuestion.position
    )
    if study_id is not None:
        stmt = stmt.where(Study.id == _study(session, study_id).id)
    rows = [(*row[:12], decode_answer(row[9], row[12], row[13])) for row in session.execute(stmt)]
    frame = pd.DataFrame(rows, columns=ANSWERS_LONG_COLUMNS)
    frame["value"] = frame["value"].astype(object)
    return frame.astype({"session": "int64", "position": "int64", "question_position": "int64"})


def write_scores_csv(
    session: Session, coordinator, path: str | Path, study_id: int | None = None
) -> Path:
    """Write ``scores_long`` to a UTF-8 CSV file; returns its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    scores_long(session, coordinator, study_id).to_csv(target, index=False)
    return target


def _newest_runs(session: Session, study_id: int | None):
    """(run id, case name, method name, seconds) of the newest run of each case x method,
    or of the runs a study's items use."""
    if study_id is not None:
        study = _study(session, study_id)
        run_ids = select(Item.run_id).where(Item.study_id == study.id, practice.real_items(study))
    else:
        run_ids = select(func.max(Run.id)).group_by(Run.case_id, Run.method_id)
    stmt = (
        select(Run.id, Case.name, Method.name, Run.seconds)
        .join(Case, Case.id == Run.case_id)
        .join(Method, Method.id == Run.method_id)
        .where(Run.id.in_(run_ids))
        .order_by(Case.name, Method.name)
    )
    return session.execute(stmt).all()


def metrics_table(
    session: Session, coordinator, structure: str = "tumour", study_id: int | None = None
) -> pd.DataFrame:
    """Per case x method (the newest run, or the runs of ``study_id``) for one structure.

    Columns: case, method, DSC, JI, HD_mm, time_s (the run's wall seconds), VER_pct
    (absolute volume error, %), HD95_mm, ASSD_mm, volume_ml, reference_volume_ml,
    VE_signed_pct (signed volume error, %: positive = over-segmentation). Missing = NaN.
    """
    require_coordinator(session, coordinator)
    if structure not in STRUCTURES:
        raise InvalidInput(f"structure must be one of {', '.join(STRUCTURES)}, got {structure!r}.")
    runs = _newest_runs(session, study_id)
    values: dict[int, dict[str, float | None]] = {}
    if runs:
        for run_id, metric, value in session.execute(
            select(Evaluation.run_id, Evaluation.metric, Evaluation.value).where(
                Evaluation.structure == structure, Evaluation.run_id.in_([r[0] for r in runs])
            )
        ):
            values.setdefault(run_id, {})[metric] = value
    rows = []
    for run_id, case, method, seconds in runs:
        got = values.get(run_id, {})
        row = {"case": case, "method": method, "time_s": seconds}
        for key, column in METRIC_COLUMNS.items():
            row[column] = got.get(key)
        rows.append(metric_registry.add_derived(row))  # VER_pct = |VE_signed_pct|
    frame = pd.DataFrame(rows, columns=METRICS_TABLE_COLUMNS)
    numeric = [c for c in METRICS_TABLE_COLUMNS if c not in ("case", "method")]
    return frame.astype(dict.fromkeys(numeric, "float64"))


def scores_table(
    session: Session, coordinator, study_id: int, session_number: int = 1
) -> pd.DataFrame:
    """case, method, reader, score of one session (1 = main reading, 2 = re-reading)."""
    if session_number not in (1, 2):
        raise InvalidInput(f"session_number must be 1 or 2, got {session_number!r}.")
    frame = scores_long(session, coordinator, study_id)
    frame = frame[frame["session"] == session_number]
    return frame[["case", "method", "reader", "score"]].reset_index(drop=True)


def lesions_table(session: Session, coordinator, study_id: int | None = None) -> pd.DataFrame:
    """One row per reference lesion x method (newest runs, or the runs of ``study_id``).

    Columns: case, lesion ("<case>#<n>", unique over cases), lesion_index (n), method,
    detected (bool), diameter_mm, volume_ml, size_bin.
    """
    require_coordinator(session, coordinator)
    runs = {r[0]: r for r in _newest_runs(session, study_id)}
    columns = [
        "case",
        "lesion",
        "lesion_index",
        "method",
        "detected",
        "diameter_mm",
        "volume_ml",
        "size_bin",
    ]
    rows = []
    if runs:
        for det in session.scalars(
            select(LesionDetection)
            .where(LesionDetection.run_id.in_(list(runs)))
            .order_by(LesionDetection.run_id, LesionDetection.lesion)
        ):
            _, case, method, _ = runs[det.run_id]
            rows.append(
                {
                    "case": case,
                    "lesion": f"{case}#{det.lesion}",
                    "lesion_index": det.lesion,
                    "method": method,
                    "detected": bool(det.detected),
                    "diameter_mm": det.diameter_mm,
                    "volume_ml": det.volume_ml,
                    "size_bin": det.size_bin,
                }
            )
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["case", "lesion_index", "method"], ignore_index=True)
