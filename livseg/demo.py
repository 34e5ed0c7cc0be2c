"""The demo set-up's science part: phantom cases, every available method run on them, metrics.

Everything is written into one folder (by default ``<workspace>/demo``)::

    demo/cases/      LiTS layout from ``livseg.phantom.write_dataset`` (+ manifest.json)
    demo/runs/       runs layout (``livseg.pipeline``): <method>/<case_id>.nii.gz + .json
    demo/metrics.csv one row per case x method x structure (as ``livseg.evaluation.evaluate_runs``)
    demo/lesions.csv one row per reference lesion x case x method (detected or missed)

The runs and their metrics are computed once (``livseg.pipeline.run_and_evaluate_cases``)
and handed over in memory (``DemoFiles.runs``); the CSV files are for people and other
tools, the database never parses them.
    demo/demo.json   what was made: configuration, case ids, methods run, methods skipped and why

The database part (accounts, study) lives in ``db.demo``; this module imports neither the
database nor streamlit. The size of the demo comes from :class:`DemoConfig`, whose defaults
can be overridden by the environment (``LIVSEG_DEMO_CASES``, ``LIVSEG_DEMO_SIZE``,
``LIVSEG_DEMO_SEED``, ``LIVSEG_DEMO_METHODS``) so a test can ask for a small demo.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from livseg.naming import case_id, safe_child
from livseg.workspace import workspace_dir

if TYPE_CHECKING:
    from livseg.pipeline import EvaluatedRun

#: progress callback: (fraction done in [0, 1], short message for a progress bar)
DemoProgress = Callable[[float, str], None]

DEFAULT_CASES = 4
DEFAULT_SIZE = "full"
DEFAULT_SEED = 20261124
MAX_CASES = 50
SIZES = ("small", "full")


# share of the progress bar per stage (phantoms, segmentation + metrics, tables)
_STAGE_SHARE = (0.15, 0.83, 0.02)


class DemoError(RuntimeError):
    """The demo could not be prepared; the message says which step failed and why."""


@dataclass(frozen=True)
class DemoConfig:
    """How big the demo is: ``n_cases`` phantom cases of ``size`` ("small" or "full"),
    generated from ``seed``; ``methods`` None = every registered method; ``practice_cases``
    more phantoms (0 or 1, default 1) for the study's practice items (read first by every
    reader, never analysed), run with the first method only."""

    n_cases: int = DEFAULT_CASES
    size: str = DEFAULT_SIZE
    seed: int = DEFAULT_SEED
    methods: tuple[str, ...] | None = None
    practice_cases: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.n_cases, int) or not 1 <= self.n_cases <= MAX_CASES:
            raise ValueError(
                f"demo: number of cases must be an integer 1-{MAX_CASES}, got {self.n_cases!r}"
            )
        if self.size not in SIZES:
            raise ValueError(f"demo: size must be one of {SIZES}, got {self.size!r}")
        if self.practice_cases not in (0, 1) or isinstance(self.practice_cases, bool):
            raise ValueError(f"demo: practice cases must be 0 or 1, got {self.practice_cases!r}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> DemoConfig:
        """Defaults overridden by LIVSEG_DEMO_CASES / _SIZE / _SEED / _METHODS (comma list)."""
        env = os.environ if environ is None else environ
        try:
            n_cases = int(env.get("LIVSEG_DEMO_CASES", DEFAULT_CASES))
            seed = int(env.get("LIVSEG_DEMO_SEED", DEFAULT_SEED))
        except ValueError as exc:
            raise ValueError(
                f"demo: LIVSEG_DEMO_CASES and LIVSEG_DEMO_SEED must be integers ({exc})"
            ) from None
        methods = parse_methods(env.get("LIVSEG_DEMO_METHODS", ""))
        return cls(
            n_cases=n_cases,
            size=env.get("LIVSEG_DEMO_SIZE", DEFAULT_SIZE),
            seed=seed,
            methods=methods,
        )


def parse_methods(text: str | None) -> tuple[str, ...] | None:
    """A demo's method choice from text: a comma list of names, or ``""`` / ``"all"`` for
    every registered method (None). The one parser of ``LIVSEG_DEMO_METHODS`` and of the
    ``--methods`` option of both command lines."""
    text = (text or "").strip()
    if text in ("", "all"):
        return None
    return tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip())) or None


def add_demo_arguments(parser) -> None:
    """Add --cases, --size, --seed and --methods to an argparse parser, with the defaults
    of :meth:`DemoConfig.from_env` (``python -m livseg demo`` and ``python -m db demo``)."""
    env = DemoConfig.from_env()
    parser.add_argument(
        "--cases", type=int, default=env.n_cases, help=f"number of phantom cases ({env.n_cases})"
    )
    parser.add_argument(
        "--size", choices=SIZES, default=env.size, help=f"phantom size ({env.size})"
    )
    parser.add_argument("--seed", type=int, default=env.seed, help=f"phantom seed ({env.seed})")
    parser.add_argument(
        "--methods",
        default=",".join(env.methods) if env.methods else "all",
        help="comma-separated method names, or 'all' (default: LIVSEG_DEMO_METHODS or all)",
    )


def config_from_args(args) -> DemoConfig:
    """The DemoConfig of parsed :func:`add_demo_arguments` options (ValueError if bad)."""
    return DemoConfig(
        n_cases=args.cases, size=args.size, seed=args.seed, methods=parse_methods(args.methods)
    )


@dataclass
class DemoFiles:
    """What :func:`prepare_demo` wrote (paths) and what it could not do (``skipped``)."""

    root: Path
    cases_dir: Path
    runs_dir: Path
    metrics_csv: Path
    lesions_csv: Path
    case_ids: list[str]
    methods: list[str]
    skipped: dict[str, str] = field(default_factory=dict)  # method -> reason
    # phantom cases for practice items (not in case_ids), run with methods[0] only
    practice_case_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0
    config: DemoConfig = field(default_factory=DemoConfig)
    # the evaluated runs themselves (livseg.pipeline.EvaluatedRun), in memory
    runs: list[EvaluatedRun] = field(default_factory=list, repr=False)

    def to_json(self) -> dict:
        return {
            "root": str(self.root),
            "cases_dir": str(self.cases_dir),
            "runs_dir": str(self.runs_dir),
            "metrics_csv": str(self.metrics_csv),
            "lesions_csv": str(self.lesions_csv),
            "case_ids": self.case_ids,
            "practice_case_ids": self.practice_case_ids,
            "methods": self.methods,
            "skipped": self.skipped,
            "seconds": self.seconds,
            "config": asdict(self.config),
        }


@contextmanager
def terminal_progress(desc: str = "demo") -> Iterator[DemoProgress]:
    """A ``DemoProgress`` callback drawing a tqdm bar on stderr (closed on exit)."""
    from tqdm import tqdm

    bar = tqdm(total=1000, desc=desc, file=sys.stderr, bar_format="{l_bar}{bar}| {elapsed}")

    def progress(fraction: float, text: str) -> None:
        bar.n = int(fraction * 1000)
        bar.set_description(text)
        bar.refresh()

    try:
        yield progress
    finally:
        bar.close()


def demo_dir() -> Path:
    """The default demo folder inside the workspace."""
    return workspace_dir() / "demo"


def _stage(progress: DemoProgress | None, stage: int, done: int, total: int, text: str) -> None:
    if progress is None:
        return
    start = sum(_STAGE_SHARE[:stage])
    fraction = start + _STAGE_SHARE[stage] * (done / total if total else 1.0)
    progress(min(1.0, max(0.0, fraction)), text)


def available_methods(wanted: tuple[str, ...] | None = None) -> tuple[list[str], dict[str, str]]:
    """The registered methods that load here (in registry order) and, for the others, why not.

    ``wanted`` restricts the list; an unknown name raises ValueError naming the known ones.
    """
    from livseg.methods import METHODS, get_method

    names = list(METHODS)
    if wanted is not None:
        unknown = [m for m in wanted if m not in names]
        if unknown:
            raise ValueError(f"demo: unknown method(s) {unknown}; known: {names}")
        names = [m for m in names if m in wanted]
    usable: list[str] = []
    skipped: dict[str, str] = {}
    for name in names:
        try:
            get_method(name)
        except Exception as exc:  # a method that cannot load is skipped, not fatal
            skipped[name] = f"{type(exc).__name__}: {exc}"
        else:
            usable.append(name)
    return usable, skipped


def write_rows_csv(rows: list[dict], path: Path) -> Path:
    """Write rows (dicts) to a CSV with the union of their keys as columns."""
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_demo_tables(runs: list[EvaluatedRun], root: Path) -> tuple[Path, Path]:
    """Write ``metrics.csv`` (one row per case x method x structure, as
    ``livseg.evaluation.evaluate_runs``) and ``lesions.csv`` (one row per reference lesion x
    case x method) under ``root``, for people and other tools; the database is given the
    runs themselves, never these files."""
    from livseg.metrics import flatten_evaluation

    rows: list[dict] = []
    lesion_rows: list[dict] = []
    for item in runs:
        if item.evaluation is None:
            continue
        run = {"seconds": item.run.seconds, "device": item.run.device, "version": item.run.version}
        for row in flatten_evaluation(item.evaluation):
            rows.append({"case_id": item.case, "method": item.method, **row, **run})
        lesion_rows += [
            {"case_id": item.case, "method": item.method, **lesion}
            for lesion in item.evaluation["tumour"]["lesion_table"]
        ]
    return (
        write_rows_csv(rows, root / "metrics.csv"),
        write_rows_csv(lesion_rows, root / "lesions.csv"),
    )


def prepare_demo(
    config: DemoConfig | None = None,
    out_dir: Path | str | None = None,
    progress: DemoProgress | None = None,
    *,
    replace: bool = True,
) -> DemoFiles:
    """Generate the demo's phantom cases, run every available method, compute the metrics.

    Returns the paths written and the evaluated runs (``DemoFiles.runs``, in memory). A
    method that fails to load or to run on any case is skipped (reason in
    ``DemoFiles.skipped``, its files removed); if no method at all can run, raises
    :class:`DemoError`. An earlier demo in the folder is replaced when ``replace`` (the
    default), else refused with :class:`DemoError` before anything is written.
    """
    from livseg.io import scan_folder
    from livseg.phantom import write_dataset
    from livseg.pipeline import CaseInput, run_and_evaluate_cases

    config = config or DemoConfig.from_env()
    root = Path(out_dir) if out_dir is not None else demo_dir()
    cases_dir, runs_dir = root / "cases", root / "runs"
    if root.exists() and any(root.iterdir()) and not replace:
        raise DemoError(
            f"demo: {root} already holds a demo; choose another folder or replace it explicitly"
        )
    t0 = time.perf_counter()
    if progress is not None:  # loading the methods (torch, weights) takes seconds
        progress(0.0, "Loading the segmentation methods")
    methods, skipped = available_methods(config.methods)
    if not methods:
        raise DemoError(f"demo: no segmentation method can be loaded here: {skipped}")

    if root.exists():
        shutil.rmtree(root)
    cases_dir.mkdir(parents=True)
    runs_dir.mkdir(parents=True)

    _stage(progress, 0, 0, 1, f"Generating {config.n_cases} phantom CT cases")

    def phantom_progress(done: int, total: int) -> None:
        _stage(progress, 0, done, total, f"Phantom case {done} of {total}")

    n_all = config.n_cases + config.practice_cases
    write_dataset(cases_dir, n_all, config.seed, size=config.size, progress=phantom_progress)
    found = scan_folder(cases_dir)
    if not found:
        raise DemoError(f"demo: the phantom generator wrote no volume-*.nii.gz into {cases_dir}")
    practice_ids = {str(i) for i in range(config.n_cases, n_all)}  # the last phantoms
    every = [CaseInput(case_id(entry.image), entry.image, entry.labels) for entry in found]
    cases = [c for c in every if c.case not in practice_ids]
    practice = [c for c in every if c.case in practice_ids]

    def pair_progress(done: int, total: int, text: str) -> None:
        _stage(progress, 1, done, total, f"Segmentation and metrics: {text}")

    outcome = run_and_evaluate_cases(cases, methods, runs_dir, progress=pair_progress)
    for (_, method), reason in outcome.failed.items():
        skipped.setdefault(method, reason)
    ran = [m for m in methods if m not in skipped]
    for method in methods:
        if method not in ran:
            shutil.rmtree(safe_child(runs_dir, method), ignore_errors=True)
    if not ran:
        raise DemoError(f"demo: every method failed on the phantom cases: {skipped}")
    runs = [r for r in outcome.runs if r.method in ran]
    if practice:  # the practice item shows the study's first method (db.practice)
        extra = run_and_evaluate_cases(practice, ran[:1], runs_dir)
        runs += extra.runs
        practice = [c for c in practice if (c.case, ran[0]) not in extra.failed]

    _stage(progress, 2, 0, 1, "Writing the metrics tables")
    # the tables hold the analysed cases only (a practice case is read, never analysed)
    analysed = {c.case for c in cases}
    metrics_csv, lesions_csv = write_demo_tables([r for r in runs if r.case in analysed], root)
    files = DemoFiles(
        root=root,
        cases_dir=cases_dir,
        runs_dir=runs_dir,
        metrics_csv=metrics_csv,
        lesions_csv=lesions_csv,
        case_ids=[c.case for c in cases],
        methods=ran,
        skipped=skipped,
        practice_case_ids=[c.case for c in practice],
        seconds=time.perf_counter() - t0,
        config=config,
        runs=runs,
    )
    (root / "demo.json").write_text(json.dumps(files.to_json(), indent=2))
    if progress is not None:
        progress(1.0, "Demo files ready")
    return files
