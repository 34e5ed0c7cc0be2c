"""The demo set-up's database part: register the demo files, create readers and an open study.

``livseg.demo.prepare_demo`` writes the files (phantom cases, runs, metrics); this module
records them in the database (cases, methods, runs, evaluations, lesion detections), creates
three reader accounts (generated passwords, returned once) and a study in which every reader
scores every (case, method) item, and opens it. ``create_demo`` does both steps (used by
``python -m db demo``); the app calls the two steps itself to show a progress bar.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import auth, catalog, studies
from db.access import require_coordinator
from db.models import Case, Run, Study, User

N_READERS = 3
READER_PREFIX = "reader"
STUDY_NAME = "Demo study"
CASE_PREFIX = "demo-"
# the metric columns of a metrics row that are stored as evaluations (numbers only)
_NOT_METRICS = {"case_id", "method", "structure", "device", "version"}


@dataclass
class DemoResult:
    """What the demo created: the study, the readers and (once) their initial passwords."""

    study_id: int
    study_name: str
    readers: list[str]
    new_passwords: list[tuple[str, str]] = field(default_factory=list)  # (username, password)
    cases: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    runs: int = 0


def workspace_counts(session: Session) -> dict[str, int]:
    """Headline counts for the coordinator's overview (cases, runs, studies, readers)."""

    def count(model, *where) -> int:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    return {
        "Cases": count(Case),
        "Runs": count(Run),
        "Studies": count(Study),
        "Readers": count(User, User.role == "reader"),
    }


def _read_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _number(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def _free_study_name(session: Session) -> str:
    taken = set(session.scalars(select(Study.name)))
    if STUDY_NAME not in taken:
        return STUDY_NAME
    i = 2
    while f"{STUDY_NAME} {i}" in taken:
        i += 1
    return f"{STUDY_NAME} {i}"


def _method_titles(methods: list[str]) -> dict[str, str]:
    """Human titles of the registered methods (no weights are loaded)."""
    from livseg.methods import TITLES

    return {name: TITLES.get(name, "") for name in methods}


def register_demo(session: Session, coordinator, files) -> DemoResult:
    """Record ``files`` (a ``livseg.demo.DemoFiles``) and create readers + an open study.

    Readers ``reader1``..``reader3`` are created when missing (their generated passwords are
    returned in ``new_passwords``, once); existing ones are reused and keep their passwords.
    """
    require_coordinator(session, coordinator)
    cases_dir, runs_dir = Path(files.cases_dir), Path(files.runs_dir)

    case_names = {}
    for case_id in files.case_ids:
        name = f"{CASE_PREFIX}{case_id}"
        catalog.register_case(
            session,
            coordinator,
            name,
            cases_dir / f"volume-{case_id}.nii.gz",
            cases_dir / f"segmentation-{case_id}.nii.gz",
            split="test",
            meta={"source": "livseg.phantom demo", "seed": files.config.seed},
        )
        case_names[case_id] = name

    titles = _method_titles(list(files.methods))
    for method in files.methods:
        catalog.register_method(session, coordinator, method, titles.get(method, ""))

    run_ids: dict[tuple[str, str], int] = {}
    for method in files.methods:
        for case_id, case_name in case_names.items():
            prediction = runs_dir / method / f"{case_id}.nii.gz"
            if not prediction.exists():
                continue
            sidecar = prediction.with_name(f"{case_id}.json")
            info = json.loads(sidecar.read_text()) if sidecar.exists() else {}
            run_ids[(case_id, method)] = catalog.register_run(
                session,
                coordinator,
                case_name,
                method,
                prediction,
                info.get("seconds"),
                device=str(info.get("device") or ""),
                method_version=str(info.get("version") or ""),
            )

    for row in _read_csv(Path(files.metrics_csv)):
        run_id = run_ids.get((row["case_id"], row["method"]))
        if run_id is None:
            continue
        values = {k: _number(v) for k, v in row.items() if k not in _NOT_METRICS}
        catalog.add_evaluations(session, coordinator, run_id, row["structure"], values)

    lesions: dict[int, list[dict]] = {}
    for row in _read_csv(Path(getattr(files, "lesions_csv", Path(files.root) / "lesions.csv"))):
        run_id = run_ids.get((row["case_id"], row["method"]))
        if run_id is None:
            continue
        lesions.setdefault(run_id, []).append(
            {
                "lesion": int(row["lesion"]),
                "detected": row["detected"] in ("True", "true", "1"),
                "diameter_mm": _number(row.get("diameter_mm")),
                "volume_ml": _number(row.get("volume_ml")),
                "size_bin": row.get("size_bin") or None,
            }
        )
    for run_id, rows in lesions.items():
        catalog.add_lesion_detections(session, coordinator, run_id, rows)

    readers, new_passwords = [], []
    existing = set(session.scalars(select(User.username)))
    for i in range(1, N_READERS + 1):
        username = f"{READER_PREFIX}{i}"
        if username not in existing:
            _, password = auth.create_reader(session, coordinator, username)
            new_passwords.append((username, password))
        readers.append(username)

    methods_run = sorted({m for (_, m) in run_ids}, key=list(files.methods).index)
    study_name = _free_study_name(session)
    study_id = studies.create_study(
        session,
        coordinator,
        study_name,
        cases=list(case_names.values()),
        methods=methods_run,
        readers=readers,
        seed=int(files.config.seed),
    )
    studies.open_study(session, coordinator, study_id)
    return DemoResult(
        study_id=study_id,
        study_name=study_name,
        readers=readers,
        new_passwords=new_passwords,
        cases=list(case_names.values()),
        methods=methods_run,
        runs=len(run_ids),
    )


def create_demo(
    session: Session,
    coordinator,
    config=None,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[object, DemoResult]:
    """Prepare the demo files (``livseg.demo.prepare_demo``) then :func:`register_demo`.

    Returns (the DemoFiles, the DemoResult). The files step holds no database transaction.
    """
    from livseg.demo import DemoConfig, prepare_demo

    require_coordinator(session, coordinator)
    session.commit()  # no transaction held while the files are made (minutes)
    files = prepare_demo(config or DemoConfig.from_env(), progress=progress)
    return files, register_demo(session, coordinator, files)


def register_cli(subparsers) -> None:
    """Add ``demo`` to ``python -m db`` (files + readers + open study, like the app's button)."""
    from livseg.demo import SIZES, DemoConfig

    env = DemoConfig.from_env()
    parser = subparsers.add_parser(
        "demo",
        help="the whole demo: phantom cases, every method, metrics, 3 readers, an open study",
    )
    parser.add_argument("--cases", type=int, default=env.n_cases, help="number of phantom cases")
    parser.add_argument("--size", choices=SIZES, default=env.size, help="phantom size")
    parser.add_argument("--seed", type=int, default=env.seed, help="phantom seed")
    parser.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    """Run the demo as the command line's SYSTEM actor; print the readers' passwords once."""
    import sys

    from db.access import SYSTEM
    from db.engine import get_engine, init_db, session_scope
    from livseg.demo import DemoConfig, DemoError, terminal_progress

    try:
        config = DemoConfig(n_cases=args.cases, size=args.size, seed=args.seed)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    engine = get_engine(args.url)
    init_db(engine)
    try:
        with terminal_progress() as progress, session_scope(engine) as session:
            files, result = create_demo(session, SYSTEM, config, progress=progress)
    except (DemoError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"demo ready in {files.seconds:.0f} s: study '{result.study_name}' is open")
    print(
        f"  {len(result.cases)} cases x {len(result.methods)} methods ({', '.join(result.methods)})"
    )
    for name, reason in files.skipped.items():
        print(f"  skipped method {name}: {reason}")
    if result.new_passwords:
        print("reader accounts (initial passwords, shown only once; changed at first sign-in):")
        for username, password in result.new_passwords:
            print(f"  {username}  {password}")
    else:
        print(f"readers (existing accounts kept): {', '.join(result.readers)}")
    return 0
