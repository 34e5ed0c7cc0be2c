"""The demo set-up's science part: phantom cases, every available method run on them, metrics.

Everything is written into one folder (by default ``<workspace>/demo``)::

    demo/cases/      LiTS layout from ``livseg.phantom.write_dataset`` (+ manifest.json)
    demo/runs/       runs layout from ``livseg.inference.run_cases``: <method>/<case_id>.nii.gz + .json
    demo/metrics.csv one row per case x method x structure (as ``livseg.evaluation.evaluate_runs``)
    demo/lesions.csv one row per reference lesion x case x method (detected or missed)
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

from livseg.workspace import workspace_dir

#: progress callback: (fraction done in [0, 1], short message for a progress bar)
DemoProgress = Callable[[float, str], None]

DEFAULT_CASES = 4
DEFAULT_SIZE = "full"
DEFAULT_SEED = 20261124
MAX_CASES = 50
SIZES = ("small", "full")


# share of the progress bar per stage (phantoms, methods, metrics)
_STAGE_SHARE = (0.15, 0.75, 0.10)


class DemoError(RuntimeError):
    """The demo could not be prepared; the message says which step failed and why."""


@dataclass(frozen=True)
class DemoConfig:
    """How big the demo is: ``n_cases`` phantom cases of ``size`` ("small" or "full"),
    generated from ``seed``; ``methods`` None = every registered method."""

    n_cases: int = DEFAULT_CASES
    size: str = DEFAULT_SIZE
    seed: int = DEFAULT_SEED
    methods: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.n_cases, int) or not 1 <= self.n_cases <= MAX_CASES:
            raise ValueError(
                f"demo: number of cases must be an integer 1-{MAX_CASES}, got {self.n_cases!r}"
            )
        if self.size not in SIZES:
            raise ValueError(f"demo: size must be one of {SIZES}, got {self.size!r}")

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
        methods_text = env.get("LIVSEG_DEMO_METHODS", "").strip()
        methods = tuple(m.strip() for m in methods_text.split(",") if m.strip()) or None
        return cls(
            n_cases=n_cases,
            size=env.get("LIVSEG_DEMO_SIZE", DEFAULT_SIZE),
            seed=seed,
            methods=methods,
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
    seconds: float = 0.0
    config: DemoConfig = field(default_factory=DemoConfig)

    def to_json(self) -> dict:
        return {
            "root": str(self.root),
            "cases_dir": str(self.cases_dir),
            "runs_dir": str(self.runs_dir),
            "metrics_csv": str(self.metrics_csv),
            "lesions_csv": str(self.lesions_csv),
            "case_ids": self.case_ids,
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


def _case_ids(cases_dir: Path) -> list[str]:
    ids = []
    for path in sorted(cases_dir.glob("volume-*.nii*")):
        ids.append(path.name.split("volume-", 1)[1].split(".nii", 1)[0])
    return ids


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


def prepare_demo(
    config: DemoConfig | None = None,
    out_dir: Path | str | None = None,
    progress: DemoProgress | None = None,
) -> DemoFiles:
    """Generate the demo's phantom cases, run every available method, compute the metrics.

    Returns the paths written. A method that fails to load or to run is skipped (reason in
    ``DemoFiles.skipped``); if no method at all can run, raises :class:`DemoError`.
    The folder is re-created from scratch (an earlier demo in it is replaced).
    """
    from livseg.evaluation import evaluate_runs_with_lesions
    from livseg.inference import run_cases
    from livseg.phantom import write_dataset

    config = config or DemoConfig.from_env()
    root = Path(out_dir) if out_dir is not None else demo_dir()
    cases_dir, runs_dir = root / "cases", root / "runs"
    t0 = time.perf_counter()

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

    try:
        write_dataset(
            cases_dir, config.n_cases, config.seed, size=config.size, progress=phantom_progress
        )
    except TypeError:  # an older write_dataset without progress
        write_dataset(cases_dir, config.n_cases, config.seed, size=config.size)
    case_ids = _case_ids(cases_dir)
    if not case_ids:
        raise DemoError(f"demo: the phantom generator wrote no volume-*.nii.gz into {cases_dir}")

    def method_progress(done: int, total: int) -> None:
        _stage(progress, 1, done, total, f"Segmentation {done} of {total} (case x method)")

    method_progress(0, len(case_ids) * len(methods))
    ran: list[str] = []
    try:  # all methods in one pass: each CT is read once
        run_cases(cases_dir, runs_dir, list(methods), progress=method_progress)
        ran = list(methods)
    except Exception:  # noqa: BLE001 - find the failing method(s), keep the others
        for name in methods:
            shutil.rmtree(runs_dir / name, ignore_errors=True)
        for i, name in enumerate(methods):

            def one_method(done: int, total: int, _i: int = i) -> None:
                share = (_i + (done / total if total else 1.0)) / len(methods)
                _stage(progress, 1, int(share * 1000), 1000, f"Method {_i + 1} of {len(methods)}")

            try:
                run_cases(cases_dir, runs_dir, [name], progress=one_method)
            except Exception as exc:  # noqa: BLE001 - keep the demo going with the others
                skipped[name] = f"{type(exc).__name__}: {exc}"
                shutil.rmtree(runs_dir / name, ignore_errors=True)
            else:
                ran.append(name)
    if not ran:
        raise DemoError(f"demo: every method failed on the phantom cases: {skipped}")

    _stage(progress, 2, 0, 1, "Computing the metrics")

    def eval_progress(done: int, total: int) -> None:
        _stage(progress, 2, done, total, f"Metrics {done} of {total}")

    rows, lesion_rows = evaluate_runs_with_lesions(runs_dir, cases_dir, ran, eval_progress)
    metrics_csv = write_rows_csv(rows, root / "metrics.csv")
    write_rows_csv(lesion_rows, root / "lesions.csv")

    files = DemoFiles(
        root=root,
        cases_dir=cases_dir,
        runs_dir=runs_dir,
        metrics_csv=metrics_csv,
        lesions_csv=root / "lesions.csv",
        case_ids=case_ids,
        methods=ran,
        skipped=skipped,
        seconds=time.perf_counter() - t0,
        config=config,
    )
    (root / "demo.json").write_text(json.dumps(files.to_json(), indent=2))
    if progress is not None:
        progress(1.0, "Demo files ready")
    return files
