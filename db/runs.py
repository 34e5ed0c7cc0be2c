"""The run-and-evaluate service: run methods on registered cases, write the runs, evaluate
them against the cases' references and record each run with its metrics and lesions.

``run_and_record`` is the one way the database gets runs of methods: the Models page (as a
background job, ``db.jobs``) and the demo (``db.demo``, through ``record_evaluated``) use
it. The science is ``livseg.pipeline.run_and_evaluate_cases`` (each CT loaded once, metrics
computed in memory); each run is then ONE unit of work (``db.catalog.record_run``: the run,
its method if new, its metrics and lesions, or nothing), so a failure half way leaves no
run without metrics and a retry does not duplicate it. No database transaction is held
while a method runs (seconds to minutes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import catalog
from db.access import require_coordinator
from db.errors import InvalidInput, NotFound
from db.models import Case

#: progress callback: (fraction done in [0, 1], what is being done now)
Progress = Callable[[float, str], None]


@dataclass
class RunsOutcome:
    """What ``run_and_record`` did: the recorded run ids by (case, method), and each failed
    (case, method) with its reason."""

    run_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    failed: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.run_ids) + len(self.failed)

    def summary(self) -> str:
        """``"3 of 4 runs done."``"""
        return f"{len(self.run_ids)} of {self.total} runs done."


def record_evaluated(session: Session, actor, case_name: str, evaluated) -> int:
    """Record one ``livseg.pipeline.EvaluatedRun`` of the case named ``case_name`` (run,
    metrics, lesions) as one unit of work; returns the run id."""
    return catalog.record_run(session, actor, case_name, evaluated.run, evaluated.evaluation)


def run_and_record(
    session: Session,
    actor,
    case_names: Sequence[str],
    methods: Sequence[str],
    runs_dir: Path | str | None = None,
    *,
    progress: Progress | None = None,
) -> RunsOutcome:
    """Run ``methods`` on the cases named ``case_names`` (coordinator only) and record each
    run with its metrics (when the case has reference labels).

    The runs are written to ``runs_dir`` (default ``livseg.workspace.runs_dir()``) as
    ``<method>/<case name>.nii.gz`` + ``.json``. One failed case or method does not stop the
    others: it is in ``RunsOutcome.failed`` with its reason. ``progress(fraction, text)``
    reports the phase from the start.
    """
    from livseg.methods import METHODS
    from livseg.pipeline import CaseInput, run_and_evaluate_cases

    if progress is not None:
        progress(0.0, "Reading the cases")
    methods = list(dict.fromkeys(methods))
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise InvalidInput(
            f"Unknown method(s) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(METHODS)}."
        )
    require_coordinator(session, actor)
    inputs = []
    for name in dict.fromkeys(case_names):
        case = session.scalar(select(Case).where(Case.name == name))
        if case is None:
            raise NotFound(f"No case named '{name}'.")
        inputs.append(CaseInput(case.name, case.image_path, case.label_path))
    session.commit()  # no transaction is held while the methods run
    if runs_dir is None:
        from livseg.workspace import runs_dir as default_runs_dir

        runs_dir = default_runs_dir()

    outcome = RunsOutcome()

    def on_run(evaluated) -> None:
        outcome.run_ids[(evaluated.case, evaluated.method)] = record_evaluated(
            session, actor, evaluated.case, evaluated
        )

    def pair_progress(done: int, total: int, text: str) -> None:
        if progress is not None:
            progress(done / total if total else 1.0, text)

    result = run_and_evaluate_cases(
        inputs, methods, runs_dir, progress=pair_progress, on_run=on_run
    )
    outcome.failed.update(result.failed)
    return outcome
