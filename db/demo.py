"""The demo set-up's database part: record the demo's runs, create readers and an open study.

``livseg.demo.prepare_demo`` writes the files and evaluates the runs (phantom cases, runs,
metrics; ``livseg.pipeline``); :func:`register_demo` records them as ONE unit of work (cases,
methods, runs with their metrics and lesions through the run-and-evaluate service's
``db.runs.record_evaluated``, three reader accounts with generated passwords returned once,
a study in which every reader scores every (case, method) item, opened): all of it or
nothing. :func:`create_demo` does both steps (``python -m db demo`` and the app's button,
which runs it as a background job, ``db.jobs``).

A demo is set up once: a second one is refused (``DemoExists``) unless asked for
explicitly (``another=True``; ``--another``; the app's confirmation), and then goes into
fresh files (``<workspace>/demo-<n>``), fresh case names (``demo<n>-<id>``) and a new study
("Demo study <n>"), leaving the first demo's files and study as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import auth, catalog, studies
from db.access import require_coordinator
from db.engine import write_transaction
from db.errors import DemoExists
from db.models import Case, Item, Run, Study, User
from livseg import naming

N_READERS = 3
READER_PREFIX = "reader"
STUDY_NAME = "Demo study"
CASE_PREFIX = "demo-"
DEMO_SOURCE = "livseg.phantom demo"  # cases' meta["source"]; meta["demo"] = its number


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
    practice_cases: list[str] = field(default_factory=list)  # read first, not analysed


@dataclass(frozen=True)
class DemoPlan:
    """Where the n-th demo goes: its folder, case-name prefix and study name."""

    number: int
    folder: Path
    case_prefix: str
    study_name: str

    def case_name(self, case_id: str) -> str:
        """The database name of the demo's phantom case ``case_id`` (its files' one case id,
        ``livseg.naming.case_id``): ``demo-<id>`` (``demo<n>-<id>`` for the n-th demo), so
        that demos never collide with each other or with cases imported under their ids."""
        return f"{self.case_prefix}{case_id}"


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


def _demo_numbers(session: Session) -> set[int]:
    numbers = set()
    for meta in session.scalars(select(Case.meta).where(Case.name.like("demo%"))):
        if isinstance(meta, dict) and meta.get("source") == DEMO_SOURCE:
            numbers.add(int(meta.get("demo", 1)))
    return numbers


def existing_demo(session: Session) -> str | None:
    """A sentence naming the demo studies already set up (name and status), or None."""
    if not _demo_numbers(session):
        return None
    rows = session.execute(
        select(Study.name, Study.status)
        .join(Item, Item.study_id == Study.id)
        .join(Case, Case.id == Item.case_id)
        .where(Case.name.like("demo%"))
        .distinct()
        .order_by(Study.name)
    ).all()
    named = ", ".join(f"'{name}' ({status})" for name, status in rows) or "no study yet"
    return f"A demo is already set up: {named}."


def _folder_in_use(session: Session, folder: Path) -> bool:
    prefix = f"{folder}/"
    return (
        session.scalar(
            select(Case.id).where(Case.image_path.startswith(prefix, autoescape=True)).limit(1)
        )
        is not None
    )


def plan_demo(session: Session) -> DemoPlan:
    """Where the next demo goes: the first demo in ``<workspace>/demo`` with cases
    ``demo-<id>`` and "Demo study"; the n-th in ``demo-<n>`` with ``demo<n>-<id>`` and
    "Demo study <n>" (a folder that cases of the database use is never reused)."""
    from livseg.demo import demo_dir

    numbers = _demo_numbers(session)
    number = max(numbers) + 1 if numbers else 1
    while True:
        folder = (
            demo_dir() if number == 1 else naming.safe_child(demo_dir().parent, f"demo-{number}")
        )
        if not _folder_in_use(session, folder):
            break
        number += 1
    prefix = CASE_PREFIX if number == 1 else f"demo{number}-"
    return DemoPlan(number, folder, prefix, _free_study_name(session, number))


def _free_study_name(session: Session, number: int = 1) -> str:
    taken = set(session.scalars(select(Study.name)))
    name = STUDY_NAME if number == 1 else f"{STUDY_NAME} {number}"
    i = max(number, 1)
    while name in taken:
        i += 1
        name = f"{STUDY_NAME} {i}"
    return name


def _method_titles(methods: list[str]) -> dict[str, str]:
    """Human titles of the registered methods (no weights are loaded)."""
    from livseg.methods import TITLES

    return {name: TITLES.get(name, "") for name in methods}


def register_demo(
    session: Session, coordinator, files, *, plan: DemoPlan | None = None, another: bool = False
) -> DemoResult:
    """Record ``files`` (a ``livseg.demo.DemoFiles`` with its evaluated runs) and create
    readers + an open study, as ONE unit of work (all of it, or nothing on an error).

    Readers ``reader1``..``reader3`` are created when missing (their generated passwords are
    returned in ``new_passwords``, once); existing ones are reused and keep their passwords.
    A demo already set up raises ``DemoExists`` unless ``another``; ``plan`` (default
    :func:`plan_demo`) names the cases and the study.
    """
    from db.runs import record_evaluated

    titles = _method_titles(list(files.methods))

    def work() -> DemoResult:
        require_coordinator(session, coordinator)
        chosen = plan or plan_demo(session)
        if chosen.number > 1 and not another:
            raise DemoExists(_exists_message(existing_demo(session)))
        case_names = {}
        practice_ids = list(files.practice_case_ids)
        for case_id in [*files.case_ids, *practice_ids]:
            name = chosen.case_name(case_id)
            image, labels = naming.lits_files(files.cases_dir, case_id)  # the LiTS layout
            catalog.register_case(
                session,
                coordinator,
                name,
                image,
                labels,
                split="test",
                meta={"source": DEMO_SOURCE, "seed": files.config.seed, "demo": chosen.number},
            )
            case_names[case_id] = name
        for method in files.methods:
            catalog.register_method(session, coordinator, method, titles.get(method, ""))
        run_ids = {
            (item.case, item.method): record_evaluated(
                session, coordinator, case_names[item.case], item
            )
            for item in files.runs
        }

        readers, new_passwords = [], []
        existing = set(session.scalars(select(User.username)))
        for i in range(1, N_READERS + 1):
            username = f"{READER_PREFIX}{i}"
            if username not in existing:
                _, password = auth.create_reader(session, coordinator, username)
                new_passwords.append((username, password))
            readers.append(username)

        methods_run = sorted({m for (_, m) in run_ids}, key=list(files.methods).index)
        study_cases = [case_names[c] for c in files.case_ids]
        practice = [case_names[c] for c in practice_ids]
        study_id = studies.create_study(
            session,
            coordinator,
            chosen.study_name,
            cases=study_cases,
            methods=methods_run,
            readers=readers,
            seed=int(files.config.seed),
            practice_cases=practice or None,
        )
        studies.open_study(session, coordinator, study_id)
        return DemoResult(
            study_id=study_id,
            study_name=chosen.study_name,
            readers=readers,
            new_passwords=new_passwords,
            cases=study_cases,
            methods=methods_run,
            runs=len(run_ids),
            practice_cases=practice,
        )

    return write_transaction(session, work)


def _exists_message(existing: str | None) -> str:
    return (
        f"{existing or 'A demo is already set up.'} Another demo is made beside it (new files, "
        "new cases, a new study; the existing demo and its study stay as they are) only when "
        "you confirm it."
    )


def create_demo(
    session: Session,
    coordinator,
    config=None,
    progress: Callable[[float, str], None] | None = None,
    *,
    another: bool = False,
) -> tuple[object, DemoResult]:
    """Prepare the demo files (``livseg.demo.prepare_demo``) then :func:`register_demo`.

    Refuses (``DemoExists``) before writing any file when a demo is set up and not
    ``another``. Returns (the DemoFiles, the DemoResult). The files step holds no
    database transaction.
    """
    from livseg.demo import DemoConfig, prepare_demo

    if progress is not None:
        progress(0.0, "Checking the workspace")
    require_coordinator(session, coordinator)
    plan = plan_demo(session)
    if plan.number > 1 and not another:
        raise DemoExists(_exists_message(existing_demo(session)))
    session.commit()  # no transaction held while the files are made (minutes)
    files = prepare_demo(config or DemoConfig.from_env(), out_dir=plan.folder, progress=progress)
    if progress is not None:
        progress(1.0, "Recording the runs, readers and study")
    return files, register_demo(session, coordinator, files, plan=plan, another=another)


def register_cli(subparsers) -> None:
    """Add ``demo`` to ``python -m db`` (files + readers + open study, like the app's button)."""
    from livseg.demo import add_demo_arguments

    parser = subparsers.add_parser(
        "demo",
        help="the whole demo: phantom cases, every method, metrics, 3 readers, an open study",
    )
    add_demo_arguments(parser)
    parser.add_argument(
        "--another",
        action="store_true",
        help="set up another demo beside an existing one (new files, cases and study)",
    )
    parser.set_defaults(func=cmd_demo)


def coordinator_hint(url: str | None) -> str:
    """The exact command that creates the first coordinator (printed after the demo)."""
    command = "python -m db"
    if url:
        from sqlalchemy.engine import make_url

        shown = make_url(url).render_as_string(hide_password=True)
        command += f" --url '{shown}'"
    return f"{command} create-coordinator --username <name>"


def cmd_demo(args) -> int:
    """Run the demo as the command line's SYSTEM actor; print the readers' passwords once
    and, when no coordinator exists yet, the command that creates one."""
    import sys

    from db.access import SYSTEM
    from db.engine import get_engine, init_db, session_scope
    from livseg.demo import DemoError, config_from_args, terminal_progress

    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with terminal_progress("Opening the database") as progress:
        engine = get_engine(args.url)
        init_db(engine)
        try:
            with session_scope(engine) as session:
                files, result = create_demo(
                    session, SYSTEM, config, progress=progress, another=args.another
                )
        except DemoExists as exc:
            print(f"error: {exc} Add --another to confirm.", file=sys.stderr)
            return 1
        except (DemoError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(f"demo ready in {files.seconds:.0f} s: study '{result.study_name}' is open")
    print(
        f"  {len(result.cases)} cases x {len(result.methods)} methods ({', '.join(result.methods)})"
    )
    if result.practice_cases:
        print(
            f"  {len(result.practice_cases)} practice case, read first by each reader "
            "(not analysed)"
        )
    for name, reason in files.skipped.items():
        print(f"  skipped method {name}: {reason}")
    if result.new_passwords:
        print("reader accounts (initial passwords, shown only once; changed at first sign-in):")
        for username, password in result.new_passwords:
            print(f"  {username}  {password}")
    else:
        print(f"readers (existing accounts kept): {', '.join(result.readers)}")
    with session_scope(engine) as session:
        has_coordinator = auth.has_coordinator(session)
    if not has_coordinator:
        print("no coordinator account exists yet: create one (it asks for a password) with")
        print(f"  {coordinator_hint(args.url)}")
        print("then start the app (streamlit run app.py) and sign in as that coordinator.")
    return 0
