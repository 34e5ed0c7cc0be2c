"""The catalogue of cases, methods, runs (predictions) and their evaluations.

All writes are coordinator-only (or ``db.access.SYSTEM`` for the command line and batch
scripts). Case names are identities: an existing name is refused unless the very same files
are registered again or a replace is asked for and no study uses the case. Registering an
existing method name updates its description. Every write function is one unit of work
(``db.engine.write_transaction``): called inside another one (``record_run``, the demo, the
run-and-evaluate service) it only flushes, and the caller commits once.
Metric names follow ``livseg.metrics.METRIC_KEYS`` (dsc, jaccard, hd_mm, hd95_mm, assd_mm,
volume_ml, reference_volume_ml, volume_error_pct); other names are stored as given.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    import pandas as pd

from db import audit, models
from db.access import require_coordinator
from db.engine import write_transaction
from db.errors import CaseExists, CaseInUse, InvalidInput, LivsegDBError, NotFound
from db.models import Case, Evaluation, Item, LesionDetection, Method, Run, Study
from db.text import check_text

_NAME_MAX = {"case": 128, "method": 64}


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"The {what} name must be non-empty text.")
    check_text(value, f"The {what} name")
    name = value.strip()
    if len(name) > _NAME_MAX[what]:
        raise InvalidInput(f"The {what} name is longer than {_NAME_MAX[what]} characters.")
    return name


def _path(value: object, what: str, check_exists: bool) -> str:
    if not isinstance(value, str | Path) or not str(value).strip():
        raise InvalidInput(f"The {what} must be a file path.")
    check_text(str(value), f"The {what}")
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


def _case_files(case: Case) -> dict[str, object]:
    return {
        "name": case.name,
        "image_path": case.image_path,
        "label_path": case.label_path,
        "split": case.split,
    }


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
    replace: bool = False,
) -> int:
    """Add a case: its CT file and optional reference label file. Returns its id.

    A case name is an identity: registering a name that exists with the same files and
    split is a repeat (its id is returned, nothing written); with other files it raises
    ``CaseExists`` unless ``replace=True``, and a replace is refused (``CaseInUse``) while a
    study uses the case, so a study never loses its case or reference labels.
    """
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
                created_at=models.utcnow(),
            )
            session.add(case)
            session.flush()
            audit.record(session, acting.id, "case.create", "case", case.id, after=after)
            return case.id
        before = _case_files(case)
        if before == after:
            return case.id  # the same case registered again (a repeated import)
        if not replace:
            raise CaseExists(
                f"A case named '{name}' already exists (CT {Path(case.image_path).name}"
                + (f", reference {Path(case.label_path).name}" if case.label_path else "")
                + "): choose another name, or replace it explicitly."
            )
        studies_using = list(
            session.scalars(
                select(Study.name)
                .join(Item, Item.study_id == Study.id)
                .where(Item.case_id == case.id)
                .distinct()
                .order_by(Study.name)
            )
        )
        if studies_using:
            raise CaseInUse(
                f"The case '{name}' is used by the study "
                f"{', '.join(repr(s) for s in studies_using)}: it cannot be replaced "
                "(import the new files under another name)."
            )
        case.image_path, case.label_path, case.split = image, label, split
        case.meta = meta_dict
        audit.record(session, acting.id, "case.update", "case", case.id, before=before, after=after)
        return case.id

    return write_transaction(session, work)


def case_exists(session: Session, actor, name: str) -> bool:
    """True when a case of that name is registered (coordinator only)."""
    require_coordinator(session, actor)
    return session.scalar(select(Case.id).where(Case.name == _name(name, "case"))) is not None


def _method_kind(name: str) -> str:
    """'plugin' for an installed package's entry point (``livseg.methods.plugins``), else
    'builtin' (``db.external_runs`` sets 'external' itself)."""
    from livseg.methods import plugins

    return "plugin" if plugins.is_plugin(name) else "builtin"


def register_method(session: Session, actor, name: str, description: str = "") -> int:
    """Add (or update the description of) a segmentation method. Returns its id."""
    name = _name(name, "method")
    if not isinstance(description, str):
        raise InvalidInput("The method description must be text.")

    def work() -> int:
        acting = require_coordinator(session, actor)
        method = session.scalar(select(Method).where(Method.name == name))
        if method is None:
            method = Method(
                name=name,
                description=description,
                kind=_method_kind(name),
                created_at=models.utcnow(),
            )
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
            created_at=models.utcnow(),
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


def _require_run(session: Session, actor, run_id: int) -> Run:
    """The run ``run_id`` for a coordinator (``NotFound`` when there is none)."""
    require_coordinator(session, actor)
    run = session.get(Run, run_id)
    if run is None:
        raise NotFound(f"No run #{run_id}.")
    return run


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
    if structure not in models.STRUCTURES:
        raise InvalidInput(
            f"structure must be one of {', '.join(models.STRUCTURES)}, got {structure!r}."
        )
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
        _require_run(session, actor, run_id)
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
        _require_run(session, actor, run_id)
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


def _table_by_name(session: Session, actor, model, columns: list[str]) -> pd.DataFrame:
    """The rows of a catalogue table (coordinator only), ordered by name, as a DataFrame."""
    import pandas as pd

    require_coordinator(session, actor)
    rows = [
        {c: getattr(x, c) for c in columns}
        for x in session.scalars(select(model).order_by(model.name))
    ]
    return pd.DataFrame(rows, columns=columns)


def list_cases(session: Session, actor) -> pd.DataFrame:
    """Cases (coordinator only): id, name, image_path, label_path, split."""
    return _table_by_name(session, actor, Case, ["id", "name", "image_path", "label_path", "split"])


def list_methods(session: Session, actor) -> pd.DataFrame:
    """Methods (coordinator only): id, name, description, title (readable, may be None) and
    kind ('builtin' | 'external' | 'plugin'; migration 0004)."""
    return _table_by_name(session, actor, Method, ["id", "name", "description", "title", "kind"])


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
    lesion table), as ONE unit of work: all of it is committed or nothing (a failure half
    way leaves no run without metrics). Coordinator only. Returns the run id.

    Idempotent on the run's file: recording a prediction file that a run of the same case
    and method already points at (a retry, or the same run written again) updates that run
    and its metrics instead of adding a second run.
    """
    case_name, method_name = _name(case, "case"), _name(run.method, "method")
    prediction = _path(run.labels_path, "prediction file", True)
    secs = _seconds(run.seconds)

    def work() -> int:
        acting = require_coordinator(session, actor)
        register_method(session, actor, method_name)
        case_row = _case_by_name(session, case_name)
        method_row = _method_by_name(session, method_name)
        existing = session.scalar(
            select(Run)
            .where(
                Run.case_id == case_row.id,
                Run.method_id == method_row.id,
                Run.prediction_path == prediction,
            )
            .order_by(Run.id.desc())
            .limit(1)
        )
        if existing is None:
            run_id = register_run(
                session,
                actor,
                case_name,
                method_name,
                prediction,
                secs,
                device=str(run.device),
                method_version=str(run.version),
            )
        else:
            run_id = existing.id
            before = {
                "seconds": existing.seconds,
                "device": existing.device,
                "method_version": existing.method_version,
            }
            existing.seconds = secs
            existing.device = str(run.device)[:64]
            existing.method_version = str(run.version)[:128]
            existing.created_at = models.utcnow()
            audit.record(
                session,
                acting.id,
                "run.update",
                "run",
                run_id,
                before=before,
                after={"case": case_name, "method": method_name, "seconds": secs},
            )
        if evaluation is not None:
            if existing is not None:  # the run's file was rewritten: its old metrics go
                session.execute(delete(Evaluation).where(Evaluation.run_id == run_id))
                session.execute(delete(LesionDetection).where(LesionDetection.run_id == run_id))
            for structure in ("liver", "tumour"):
                add_evaluations(session, actor, run_id, structure, evaluation[structure])
            add_lesion_detections(
                session, actor, run_id, evaluation["tumour"].get("lesion_table", [])
            )
        return run_id

    return write_transaction(session, work)


def case_display_files(session: Session, actor, name: str) -> tuple[str, dict[str, str]]:
    """What the Cases page shows of one case (coordinator only): (its CT path, {panel title:
    label map path}) with "Reference" first when the case has reference labels, then each
    method's newest run (methods by name). NotFound for an unknown case."""
    require_coordinator(session, actor)
    case = _case_by_name(session, _name(name, "case"))
    newest = select(func.max(Run.id)).where(Run.case_id == case.id).group_by(Run.method_id)
    rows = session.execute(
        select(Method.name, Run.prediction_path)
        .join(Method, Method.id == Run.method_id)
        .where(Run.id.in_(newest))
        .order_by(Method.name)
    ).all()
    panels = {"Reference": case.label_path} if case.label_path else {}
    panels.update({method: path for method, path in rows})
    return case.image_path, panels


@dataclass
class ImportOutcome:
    """What ``import_cases`` did: the names imported, and each refused case with why."""

    imported: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # case name -> reason

    def summary(self) -> str:
        """``"3 of 4 cases imported."``"""
        return f"{len(self.imported)} of {len(self.imported) + len(self.failed)} cases imported."


def import_cases(
    session: Session,
    actor,
    cases: Sequence[tuple[str, str | Path, str | Path | None]],
    *,
    progress: Callable[[float, str], None] | None = None,
) -> ImportOutcome:
    """Check and register cases given as (name, CT file, reference label file or None), each
    its own unit of work (coordinator only): the files are loaded as the app will load them
    (``livseg.io``; a file that does not load is refused with its reason) and the name
    follows ``register_case``'s identity rule (an existing name with other files is refused).
    One refused case does not stop the others. ``progress(fraction, text)`` per case."""
    from livseg.io import load_labels, load_volume

    require_coordinator(session, actor)
    session.commit()  # no transaction is held while the files are read
    outcome = ImportOutcome()
    for i, (name, image, labels) in enumerate(cases):
        if progress is not None:
            progress(i / len(cases), f"Checking case {i + 1} of {len(cases)} ({name})")
        try:
            volume = load_volume(image)
            if labels is not None:
                load_labels(labels, like=volume)
            register_case(session, actor, name, image, labels)
        except (ValueError, OSError, LivsegDBError) as exc:
            outcome.failed[name] = str(exc)
        else:
            outcome.imported.append(name)
    if progress is not None:
        progress(1.0, outcome.summary())
    return outcome
