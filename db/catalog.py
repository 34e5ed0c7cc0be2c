"""The catalogue of cases, methods, runs (predictions) and their evaluations.

All writes are coordinator-only (or ``db.access.SYSTEM`` for the command line and batch
scripts). Registering an existing case or method name updates it (idempotent imports).
Metric names follow ``livseg.metrics.METRIC_KEYS`` (dsc, jaccard, hd_mm, hd95_mm, assd_mm,
volume_ml, reference_volume_ml, volume_error_pct); other names are stored as given.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    import pandas as pd

from db import audit
from db.access import require_coordinator
from db.engine import write_transaction
from db.errors import InvalidInput, NotFound
from db.models import STRUCTURES, Case, Evaluation, LesionDetection, Method, Run, utcnow

_NAME_MAX = {"case": 128, "method": 64}


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"The {what} name must be non-empty text.")
    name = value.strip()
    if len(name) > _NAME_MAX[what]:
        raise InvalidInput(f"The {what} name is longer than {_NAME_MAX[what]} characters.")
    return name


def _path(value: object, what: str, check_exists: bool) -> str:
    if not isinstance(value, str | Path) or not str(value).strip():
        raise InvalidInput(f"The {what} must be a file path.")
    path = str(Path(value).expanduser())
    if check_exists and not Path(path).is_file():
        raise InvalidInput(f"The {what} {path} does not exist or is not a file.")
    return path


def _seconds(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(f"seconds must be a number, got {value!r}.")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidInput(f"seconds must be finite and >= 0, got {value!r}.")
    return seconds


def _case_by_name(session: Session, name: str) -> Case:
    case = session.scalar(select(Case).where(Case.name == name))
    if case is None:
        raise NotFound(f"No case named '{name}'.")
    return case


def _method_by_name(session: Session, name: str) -> Method:
    method = session.scalar(select(Method).where(Method.name == name))
    if method is None:
        raise NotFound(f"No method named '{name}'.")
    return method


def register_case(
    session: Session,
    actor,
    name: str,
    image_path: str | Path,
    label_path: str | Path | None = None,
    *,
    split: str = "test",
    meta: Mapping[str, Any] | None = None,
    check_files: bool = True,
) -> int:
    """Add (or update) a case: its CT file and optional reference label file. Returns its id."""
    name = _name(name, "case")
    image = _path(image_path, "image file", check_files)
    label = None if label_path is None else _path(label_path, "label file", check_files)
    if split not in ("train", "test"):
        raise InvalidInput(f"split must be 'train' or 'test', got {split!r}.")
    meta_dict = dict(meta or {})

    def work() -> int:
        acting = require_coordinator(session, actor)
        case = session.scalar(select(Case).where(Case.name == name))
        after = {"name": name, "image_path": image, "label_path": label, "split": split}
        if case is None:
            case = Case(
                name=name,
                image_path=image,
                label_path=label,
                split=split,
                meta=meta_dict,
                created_at=utcnow(),
            )
            session.add(case)
            session.flush()
            audit.record(session, acting.id, "case.create", "case", case.id, after=after)
        else:
            before = {
                "name": case.name,
                "image_path": case.image_path,
                "label_path": case.label_path,
                "split": case.split,
            }
            case.image_path, case.label_path, case.split = image, label, split
            case.meta = meta_dict
            if before != after:
                audit.record(
                    session, acting.id, "case.update", "case", case.id, before=before, after=after
                )
        return case.id

    return write_transaction(session, work)


def register_method(session: Session, actor, name: str, description: str = "") -> int:
    """Add (or update the description of) a segmentation method. Returns its id."""
    name = _name(name, "method")
    if not isinstance(description, str):
        raise InvalidInput("The method description must be text.")

    def work() -> int:
        acting = require_coordinator(session, actor)
        method = session.scalar(select(Method).where(Method.name == name))
        if method is None:
            method = Method(name=name, description=description, created_at=utcnow())
            session.add(method)
            session.flush()
            audit.record(
                session, acting.id, "method.create", "method", method.id, after={"name": name}
            )
        else:
            method.description = description
        return method.id

    return write_transaction(session, work)


def register_run(
    session: Session,
    actor,
    case: str,
    method: str,
    prediction_path: str | Path,
    seconds: float | None,
    *,
    device: str = "",
    method_version: str = "",
    check_files: bool = True,
) -> int:
    """Record that ``method`` segmented ``case`` (names): prediction file, wall seconds,
    device (e.g. "cpu"), method version (e.g. weights hash). Returns the run id.

    Several runs of one (case, method) may exist; studies and tables use the newest.
    """
    case_name, method_name = _name(case, "case"), _name(method, "method")
    prediction = _path(prediction_path, "prediction file", check_files)
    secs = _seconds(seconds)
    if not isinstance(device, str) or not isinstance(method_version, str):
        raise InvalidInput("device and method_version must be text.")

    def work() -> int:
        acting = require_coordinator(session, actor)
        case_row = _case_by_name(session, case_name)
        method_row = _method_by_name(session, method_name)
        run = Run(
            case_id=case_row.id,
            method_id=method_row.id,
            prediction_path=prediction,
            seconds=secs,
            device=device[:64],
            method_version=method_version[:128],
            created_at=utcnow(),
        )
        session.add(run)
        session.flush()
        audit.record(
            session,
            acting.id,
            "run.create",
            "run",
            run.id,
            after={"case": case_name, "method": method_name, "seconds": secs},
        )
        return run.id

    return write_transaction(session, work)


def _metric_value(key: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(f"Metric '{key}' must be a number, got {value!r}.")
    number = float(value)
    return None if math.isnan(number) else number


def add_evaluations(
    session: Session, actor, run_id: int, structure: str, metrics: Mapping[str, object]
) -> int:
    """Store the metrics of one structure ("liver" / "tumour") of a run; returns rows written.

    ``metrics`` maps metric name -> number (NaN / None stored as NULL, inf kept); nested
    values (dicts / lists, e.g. the ``lesions`` summary of ``livseg.metrics.evaluate_case``)
    are skipped. Existing values of the same metric are replaced.
    """
    if structure not in STRUCTURES:
        raise InvalidInput(f"structure must be one of {', '.join(STRUCTURES)}, got {structure!r}.")
    if not isinstance(metrics, Mapping):
        raise InvalidInput("metrics must be a mapping of metric name -> number.")
    values: dict[str, float | None] = {}
    for key, value in metrics.items():
        if isinstance(value, Mapping | list | tuple):
            continue
        if not isinstance(key, str) or not key or len(key) > 64:
            raise InvalidInput(f"Bad metric name {key!r}.")
        values[key] = _metric_value(key, value)

    def work() -> int:
        require_coordinator(session, actor)
        if session.get(Run, run_id) is None:
            raise NotFound(f"No run #{run_id}.")
        existing = {
            ev.metric: ev
            for ev in session.scalars(
                select(Evaluation).where(
                    Evaluation.run_id == run_id, Evaluation.structure == structure
                )
            )
        }
        for key, value in values.items():
            if key in existing:
                existing[key].value = value
            else:
                session.add(Evaluation(run_id=run_id, structure=structure, metric=key, value=value))
        return len(values)

    return write_transaction(session, work)


def add_lesion_detections(
    session: Session, actor, run_id: int, rows: Iterable[Mapping[str, object]]
) -> int:
    """Store per-reference-lesion detection of a run (rows of ``livseg.metrics.lesion_table``:
    lesion, detected, and optionally diameter_mm, volume_ml, size_bin). Replaces earlier rows
    of the same lesion. Returns the number of rows written."""
    clean = []
    for row in rows:
        lesion = row.get("lesion")
        if isinstance(lesion, bool) or not isinstance(lesion, numbers.Integral) or lesion < 1:
            raise InvalidInput(f"lesion must be a positive integer, got {lesion!r}.")
        detected = row.get("detected")
        if not isinstance(detected, bool | numbers.Integral) or int(detected) not in (0, 1):
            raise InvalidInput(f"detected must be True or False, got {detected!r}.")
        size_bin = row.get("size_bin")
        clean.append(
            {
                "lesion": int(lesion),
                "detected": bool(detected),
                "diameter_mm": _metric_value("diameter_mm", row.get("diameter_mm")),
                "volume_ml": _metric_value("volume_ml", row.get("volume_ml")),
                "size_bin": None if size_bin is None else str(size_bin)[:16],
            }
        )

    def work() -> int:
        require_coordinator(session, actor)
        if session.get(Run, run_id) is None:
            raise NotFound(f"No run #{run_id}.")
        existing = {
            d.lesion: d
            for d in session.scalars(
                select(LesionDetection).where(LesionDetection.run_id == run_id)
            )
        }
        for values in clean:
            row = existing.get(values["lesion"])
            if row is None:
                session.add(LesionDetection(run_id=run_id, **values))
            else:
                for key, value in values.items():
                    setattr(row, key, value)
        return len(clean)

    return write_transaction(session, work)


def list_cases(session: Session, actor) -> pd.DataFrame:
    """Cases (coordinator only): id, name, image_path, label_path, split."""
    import pandas as pd

    require_coordinator(session, actor)
    columns = ["id", "name", "image_path", "label_path", "split"]
    rows = [
        {c: getattr(x, c) for c in columns}
        for x in session.scalars(select(Case).order_by(Case.name))
    ]
    return pd.DataFrame(rows, columns=columns)


def list_methods(session: Session, actor) -> pd.DataFrame:
    """Methods (coordinator only): id, name, description."""
    import pandas as pd

    require_coordinator(session, actor)
    columns = ["id", "name", "description"]
    rows = [
        {c: getattr(x, c) for c in columns}
        for x in session.scalars(select(Method).order_by(Method.name))
    ]
    return pd.DataFrame(rows, columns=columns)


def list_runs(session: Session, actor) -> pd.DataFrame:
    """Runs (coordinator only): id, case, method, prediction_path, seconds, device,
    method_version, created_at."""
    import pandas as pd

    require_coordinator(session, actor)
    stmt = (
        select(Run, Case.name, Method.name)
        .join(Case, Case.id == Run.case_id)
        .join(Method, Method.id == Run.method_id)
        .order_by(Run.id)
    )
    columns = [
        "id",
        "case",
        "method",
        "prediction_path",
        "seconds",
        "device",
        "method_version",
        "created_at",
    ]
    rows = [
        {
            "id": r.id,
            "case": c,
            "method": m,
            "prediction_path": r.prediction_path,
            "seconds": r.seconds,
            "device": r.device,
            "method_version": r.method_version,
            "created_at": r.created_at,
        }
        for r, c, m in session.execute(stmt)
    ]
    return pd.DataFrame(rows, columns=columns)


def record_run(
    session: Session,
    actor,
    case: str,
    run: Any,
    evaluation: Mapping[str, Any] | None = None,
) -> int:
    """Register one written run (a ``livseg.inference.RunRecord``: method, labels_path,
    seconds, device, version) of ``case``, its method if new, and, when given, its
    ``livseg.metrics.evaluate_case`` result (liver and tumour metrics plus the tumour's
    lesion table). Coordinator only. Returns the run id."""
    register_method(session, actor, run.method)
    run_id = register_run(
        session,
        actor,
        case,
        run.method,
        run.labels_path,
        run.seconds,
        device=str(run.device),
        method_version=str(run.version),
    )
    if evaluation is not None:
        for structure in ("liver", "tumour"):
            add_evaluations(session, actor, run_id, structure, evaluation[structure])
        add_lesion_detections(session, actor, run_id, evaluation["tumour"].get("lesion_table", []))
    return run_id
