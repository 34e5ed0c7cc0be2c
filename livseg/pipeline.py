"""The run-and-evaluate step: run a method on a case, write the run, evaluate it.

One function does it for everybody: ``run_and_evaluate_cases`` loads each case's CT and
reference once, runs every method on it (``livseg.inference.run_method``), writes the run
in the runs layout (``livseg.inference.write_run``: ``<runs>/<method>/<case>.nii.gz`` +
``.json``) and evaluates the labels in memory against the reference
(``livseg.metrics.evaluate_case``; no re-reading of the file just written). The demo
(``livseg.demo.prepare_demo``) and the database's service (``db.runs``: the Models page,
``python -m db demo``) call it; ``python -m livseg segment`` (no reference, no database)
uses ``livseg.inference.run_cases``. No database and no streamlit here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from livseg.inference import RunRecord, run_method, write_run

#: progress callback: (pairs done, pairs in all, what is being done now)
PipelineProgress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class CaseInput:
    """One case to run: its id in the runs layout, its CT file and optional reference."""

    case: str
    image: Path | str
    labels: Path | str | None = None


@dataclass(frozen=True)
class EvaluatedRun:
    """A written run and, when the case has a reference, its ``evaluate_case`` result
    (liver and tumour metrics, the tumour's lesion summary and lesion table)."""

    case: str
    method: str
    run: RunRecord
    evaluation: dict | None


@dataclass
class PipelineResult:
    """What ``run_and_evaluate_cases`` made: the runs, and each failed (case, method) with
    its reason (``"<ErrorType>: <message>"``; a case whose files do not load fails for
    every method)."""

    runs: list[EvaluatedRun] = field(default_factory=list)
    failed: dict[tuple[str, str], str] = field(default_factory=dict)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def run_and_evaluate_cases(
    cases: Sequence[CaseInput],
    methods: Sequence[str],
    runs_dir: Path | str,
    *,
    progress: PipelineProgress | None = None,
    on_run: Callable[[EvaluatedRun], None] | None = None,
    device: str = "auto",
    threads: int | None = None,
) -> PipelineResult:
    """Run ``methods`` on ``cases``, write each run under ``runs_dir`` and evaluate it.

    Each case's CT and reference are loaded once for all methods. A failure (a file that
    does not load, a method that raises, ``on_run`` raising) is recorded in
    ``PipelineResult.failed`` and the other pairs go on. ``on_run(evaluated)`` is called
    after each successful pair (the database service records it there, one transaction a
    run). ``progress(done, total, text)`` is called before each pair and at the end.
    """
    from livseg.io import load_labels, load_volume

    result = PipelineResult()
    total, done = len(cases) * len(methods), 0
    for case in cases:
        if progress is not None:
            progress(done, total, f"Loading case {case.case}")
        try:
            volume = load_volume(case.image)
            reference = None if case.labels is None else load_labels(case.labels, like=volume)
        except Exception as exc:  # noqa: BLE001 - a bad case must not stop the others
            for method in methods:
                result.failed[(case.case, method)] = _reason(exc)
            done += len(methods)
            continue
        for method in methods:
            if progress is not None:
                progress(done, total, f"{method} on {case.case} ({done + 1} of {total})")
            try:
                ran = run_method(method, volume, device=device, threads=threads)
                record = write_run(ran, method, case.case, volume, runs_dir, image=case.image)
                evaluation = None
                if reference is not None:
                    from livseg.metrics import evaluate_case

                    evaluation = evaluate_case(ran.labels, reference, volume.spacing)
                evaluated = EvaluatedRun(case.case, method, record, evaluation)
                if on_run is not None:
                    on_run(evaluated)
            except Exception as exc:  # noqa: BLE001 - one failed run must not stop the rest
                result.failed[(case.case, method)] = _reason(exc)
            else:
                result.runs.append(evaluated)
            done += 1
    if progress is not None:
        progress(done, total, f"{len(result.runs)} of {total} runs done")
    return result
