"""Importing another program's predictions as runs of a method (``python -m db import-runs``).

A folder holds one prediction per case (NIfTI ``.nii`` / ``.nii.gz`` or DICOM-SEG ``.dcm``).

**Naming rule.** A file belongs to the registered case whose ``livseg.naming.case_key`` equals
the file's: the file name without ``.nii`` / ``.nii.gz`` / ``.dcm``, without a leading
``prediction-`` / ``segmentation-`` / ``volume-`` and without nnU-Net's ``_0000``; digit-only
ids match by value. So case ``lits-007`` takes ``lits-007.nii.gz`` or
``prediction-lits-007.dcm``, case ``7`` takes ``7.nii.gz`` or ``0007.nii.gz``. Files that
match no case are listed, not imported. An optional sidecar ``<file stem>.json`` may give
``seconds`` (wall time of that prediction) and ``version``; without it seconds are unknown.

Each file is checked on its own: read on its case image's grid (same shape and affine), its
labels mapped to LivSeg's (``livseg.label_mapping``: ``--label liver=5`` for TotalSegmentator,
a binary mask is liver), written as a 0/1/2 NIfTI into the runs folder
(``workspace/runs/<method>/<case>.nii.gz``) and evaluated against the case's reference with
``livseg.metrics.evaluate_case``. A file that fails gets its message in the report and the
others are still imported. The method is registered with its title, kind 'external' and what
the import used (``Method.meta``); then every run is recorded with its metrics in ONE unit of
work (``db.catalog.record_run``), audited, and a re-import of the same folder updates the
same runs instead of adding new ones. The method's name, title and paths stay server-side:
studies show readers only opaque codes (``db.blinding``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import audit
from db.access import require_coordinator
from db.catalog import record_run, register_method
from db.engine import write_transaction
from db.errors import InvalidInput
from db.models import Case, Method

PREDICTION_SUFFIXES = (".nii.gz", ".nii", ".dcm")
TITLE_MAX = 128


@dataclass
class ImportReport:
    """What an import did: runs recorded (case, file, run id, liver DSC), files refused with
    their message, files matching no case."""

    method: str
    imported: list[dict] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary, one line per run / problem."""
        out = [f"{self.method}: {len(self.imported)} runs imported"]
        for row in self.imported:
            dsc = row.get("liver_dsc")
            shown = "no reference" if dsc is None else f"liver DSC {dsc:.4f}"
            out.append(f"  {row['case']}: {Path(row['file']).name} ({shown})")
        for path, message in self.problems:
            out.append(f"  refused {path}: {message}")
        for path in self.unmatched:
            out.append(f"  no case matches {path}")
        return out


def _stem(path: Path) -> str:
    name = path.name
    for suffix in PREDICTION_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def prediction_files(folder: Path) -> list[Path]:
    """Prediction files of a folder (not recursive; hidden files skipped), sorted."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and p.name.lower().endswith(PREDICTION_SUFFIXES)
    )


def _sidecar(path: Path) -> tuple[float | None, str]:
    """Seconds and version from ``<stem>.json`` when present and valid, else (None, "")."""
    side = path.with_name(_stem(path) + ".json")
    if not side.is_file():
        return None, ""
    try:
        info = json.loads(side.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"sidecar {side.name} is not valid JSON ({exc})") from None
    seconds = info.get("seconds") if isinstance(info, dict) else None
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ValueError(f"sidecar {side.name}: seconds must be a number, got {seconds!r}")
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"sidecar {side.name}: seconds must be finite and >= 0")
    version = str(info.get("version", "")) if isinstance(info, dict) else ""
    return (None if seconds is None else float(seconds)), version[:128]


def _check_title(title: str | None, name: str) -> str:
    title = (title or name).strip()
    if not title:
        raise InvalidInput("The method title must be non-empty text.")
    if len(title) > TITLE_MAX or "\x00" in title:
        raise InvalidInput(f"The method title must be 1-{TITLE_MAX} characters without NUL.")
    return title


def import_runs(
    session: Session,
    actor,
    method: str,
    title: str | None,
    folder,
    mapping: dict[str, tuple[int, ...]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import a folder of predictions as runs of the external method ``method`` (see the
    module docstring). Coordinator only. Returns the report; raises InvalidInput for a
    missing folder, a bad name / title, or a name that belongs to a built-in / plug-in
    method."""
    from livseg.inference import RunRecord
    from livseg.io import load_labels, load_volume, save_labels
    from livseg.label_mapping import map_labels, read_label_values
    from livseg.metrics import evaluate_case
    from livseg.naming import UnsafeNameError, case_key, run_files
    from livseg.workspace import runs_dir

    require_coordinator(session, actor)
    name = (method or "").strip()
    try:
        run_files(runs_dir(), name, "probe")  # the name must be one safe folder name
    except UnsafeNameError as exc:
        raise InvalidInput(f"Method name {method!r} is not usable: {exc.problem}.") from None
    title = _check_title(title, name)
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InvalidInput(f"The prediction folder {folder} does not exist or is not a folder.")
    existing = session.scalar(select(Method).where(Method.name == name))
    if existing is not None and (existing.kind or "builtin") != "external":
        raise InvalidInput(
            f"'{name}' is a {existing.kind or 'builtin'} method; imported runs need another name."
        )
    cases = {case_key(c.name): c for c in session.scalars(select(Case))}
    files = prediction_files(folder)
    if not files:
        raise InvalidInput(f"No .nii, .nii.gz or .dcm predictions in {folder}.")
    report = ImportReport(method=name)
    good: list[tuple[Case, RunRecord, dict, Path]] = []
    for done, path in enumerate(files, 1):
        case = cases.get(case_key(_stem(path)))
        if case is None:
            report.unmatched.append(str(path))
        else:
            try:
                seconds, version = _sidecar(path)
                volume = load_volume(case.image_path)
                labels = map_labels(read_label_values(path, volume), mapping, where=str(path))
                evaluation = None
                if case.label_path:
                    reference = load_labels(case.label_path, like=volume)
                    evaluation = evaluate_case(labels, reference, volume.spacing)
                labels_path, info_path = run_files(runs_dir(), name, case.name)
                save_labels(labels, volume, labels_path)
                info = {
                    "method": name,
                    "case": case.name,
                    "seconds": seconds,
                    "device": "external",
                    "version": version,
                    "source_file": str(path),
                }
                info_path.write_text(json.dumps(info, indent=1))
                record = RunRecord(
                    method=name,
                    case=case.name,
                    labels_path=labels_path,
                    info_path=info_path,
                    seconds=seconds,  # type: ignore[arg-type]
                    device="external",
                    version=version,
                    threads=None,
                )
                good.append((case, record, evaluation, path))
            except (ValueError, OSError) as exc:  # LivSegInputError is a ValueError
                report.problems.append((str(path), str(exc)))
        if progress is not None:
            progress(done, len(files))

    meta = {
        "source_dir": str(folder),
        "label_mapping": None if mapping is None else {k: list(v) for k, v in mapping.items()},
    }

    def work() -> None:
        acting = require_coordinator(session, actor)
        method_id = register_method(session, actor, name, description=title)
        report.imported.clear()
        for case, record, evaluation, path in good:
            run_id = record_run(session, actor, case.name, record, evaluation)
            dsc = None if evaluation is None else evaluation["liver"].get("dsc")
            report.imported.append(
                {"case": case.name, "file": str(path), "run_id": run_id, "liver_dsc": dsc}
            )
        row = session.get(Method, method_id)  # after record_run, which resets the description
        row.description, row.title, row.kind, row.meta = title, title, "external", meta
        audit.record(
            session,
            acting.id,
            "runs.import",
            "method",
            method_id,
            after={
                "method": name,
                "title": title,
                "runs": len(good),
                "refused": len(report.problems),
                "unmatched": len(report.unmatched),
                **meta,
            },
        )

    if good:
        write_transaction(session, work)
    return report


def cmd_import_runs(args) -> int:
    """``python -m db import-runs``: print the report; exit 0 when at least one run was
    imported and nothing refused, 1 when some files were refused or unmatched, 2 on error."""
    from db.access import SYSTEM
    from db.engine import get_engine, init_db, session_scope
    from livseg.label_mapping import parse_mapping

    try:
        mapping = parse_mapping(args.label)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    engine = get_engine(args.url)
    init_db(engine)
    with session_scope(engine) as session:
        report = import_runs(session, SYSTEM, args.method, args.title, args.dir, mapping)
    print("\n".join(report.lines()))
    if not report.imported:
        return 2
    return 1 if report.problems or report.unmatched else 0


def register_cli(sub) -> None:
    """Add the ``import-runs`` sub-command to ``python -m db``."""
    p = sub.add_parser(
        "import-runs",
        help="import a folder of another program's predictions as runs of a method",
        description=(
            "One prediction per case (.nii, .nii.gz or DICOM-SEG .dcm), matched to the "
            "registered cases by name (livseg.naming.case_key of the file name); optional "
            "<stem>.json sidecar with seconds. Each file is checked against its case's grid; "
            "refused files are listed and the others imported and evaluated."
        ),
    )
    p.add_argument("--method", required=True, help="method name (kept from readers)")
    p.add_argument("--title", default=None, help="readable title (default: the name)")
    p.add_argument("--dir", required=True, type=Path, help="folder of predictions")
    p.add_argument(
        "--label",
        action="append",
        default=None,
        help="label mapping, repeatable: liver=5 (TotalSegmentator), tumour=N[,M]; default: "
        "a binary mask is liver, 0/1/2 maps are LivSeg's",
    )
    p.set_defaults(func=cmd_import_runs)
