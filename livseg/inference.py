"""Running methods on volumes and on folders of cases (the RUNS LAYOUT).

RUNS LAYOUT (read by ``python -m livseg evaluate --runs-dir``)::

    OUT/<method>/<case_id>.nii.gz   label map on the image file's own grid (livseg.io.save_labels)
    OUT/<method>/<case_id>.json     {"method", "case", "seconds", "device", "version",
                                     "params", "threads"}

``case_id`` is ``livseg.naming.case_id`` of the image: the N of ``volume-N`` in a LiTS folder
(the file stem for MSD images), the one id ``scan_folder`` and the database use too. Method
and case names become paths only through ``livseg.naming.run_files`` (names that would
leave the runs folder are refused).
``seconds`` is the wall time of ``Method.segment`` alone (loading the image and the
weights and writing the result are excluded; weight loading is reported apart as
``load_seconds`` by ``run_cases``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livseg.methods import METHODS, get_method
from livseg.naming import run_files
from livseg.volume import Volume


@dataclass(frozen=True)
class RunResult:
    """One method applied to one volume: labels (uint8, volume grid) and how it ran (from the
    call's own ``livseg.methods.MethodRun``: seconds, device, version, params, threads)."""

    labels: np.ndarray
    seconds: float
    device: str
    version: str
    params: dict
    threads: int | None = None


@dataclass
class RunRecord:
    """One written run of the runs layout."""

    method: str
    case: str
    labels_path: Path
    info_path: Path
    seconds: float
    device: str
    version: str
    threads: int | None


def resolve_methods(methods: str | list[str]) -> list[str]:
    """``"all"`` / a comma list / a list of names -> validated ordered method names."""
    if isinstance(methods, str):
        methods = METHODS if methods.strip() == "all" else [m.strip() for m in methods.split(",")]
    names = [m for m in methods if m]
    unknown = [m for m in names if m not in METHODS]
    if unknown or not names:
        raise ValueError(
            f"unknown method(s) {unknown or methods}; available: {', '.join(METHODS)} or 'all'"
        )
    return list(dict.fromkeys(names))


def run_method(
    method_name: str, volume: Volume, device: str = "auto", threads: int | None = None
) -> RunResult:
    """Segment ``volume`` with the (cached, shared) method; ``seconds`` = wall time of its
    ``run``. Everything recorded comes from this call's own run record, so concurrent calls
    (Streamlit sessions, threads) never see each other's parameters."""
    labels, ran = get_method(method_name, device=device, threads=threads).run(volume)
    return RunResult(
        labels=labels,
        seconds=ran.seconds,
        device=ran.device,
        version=ran.version,
        params=ran.params_dict(),
        threads=ran.threads,
    )


@dataclass(frozen=True)
class CaseFailure:
    """A case of a folder run that could not be segmented: its id, image and the problem."""

    case_id: str
    image: Path
    problem: str


def run_cases(
    cases_dir: Path | str,
    out_dir: Path | str,
    methods: str | list[str],
    progress: Callable[[int, int], None] | None = None,
    device: str = "auto",
    threads: int | None = None,
    failures: list[CaseFailure] | None = None,
) -> list[RunRecord]:
    """Run ``methods`` on every case of a LiTS / MSD folder, writing the runs layout.

    Each image is loaded once for all methods. ``progress(done, total)`` is called after
    each (case, method) pair. Returns one RunRecord per pair. A case whose image cannot be
    loaded (``LivSegInputError``, an OS error) stops the run, unless a ``failures`` list is
    given: then the case is appended to it as a ``CaseFailure`` and the run goes on.
    """
    from livseg.io import LivSegInputError, load_volume, scan_folder

    names = resolve_methods(methods)
    cases = scan_folder(cases_dir)
    out = Path(out_dir)
    load_seconds = {}
    for name in names:  # weights are loaded once, timed apart
        t0 = time.perf_counter()
        get_method(name, device=device, threads=threads)
        load_seconds[name] = time.perf_counter() - t0
    records: list[RunRecord] = []
    total, done = len(cases) * len(names), 0
    for cf in cases:
        try:
            volume = load_volume(cf.image)
        except (LivSegInputError, OSError) as exc:
            if failures is None:
                raise
            failures.append(CaseFailure(cf.case_id, Path(cf.image), str(exc)))
            done += len(names)
            if progress is not None:
                progress(done, total)
            continue
        case = cf.case_id
        for name in names:
            res = run_method(name, volume, device=device, threads=threads)
            records.append(
                write_run(
                    res, name, case, volume, out, load_seconds=load_seconds[name], image=cf.image
                )
            )
            done += 1
            if progress is not None:
                progress(done, total)
    return records


def write_run(
    result: RunResult,
    method: str,
    case: str,
    volume: Volume,
    out_dir: Path | str,
    load_seconds: float | None = None,
    image: Path | str | None = None,
) -> RunRecord:
    """Write one run in the runs layout: ``out_dir/<method>/<case>.nii.gz`` (labels on the
    image file's own grid) and ``<case>.json`` (method, case, seconds, device, version,
    params, threads, weights load seconds, image path).

    Raises ``livseg.naming.UnsafeNameError`` (a ValueError), writing nothing, when ``method``
    or ``case`` is not a plain file name inside ``out_dir`` (``"../x"``, ``"a/b"``, NUL, ...).
    """
    from livseg.io import save_labels

    labels_file, info_path = run_files(out_dir, method, case)
    labels_file.parent.mkdir(parents=True, exist_ok=True)
    labels_path = save_labels(result.labels, volume, labels_file)
    threads = result.threads if result.threads is not None else result.params.get("threads")
    info = {
        "method": method,
        "case": case,
        "seconds": round(result.seconds, 4),
        "device": result.device,
        "version": result.version,
        "params": result.params,
        "threads": threads,
        "load_seconds": None if load_seconds is None else round(load_seconds, 4),
        "image": None if image is None else str(image),
    }
    info_path.write_text(json.dumps(info, indent=1, default=_json_default))
    return RunRecord(
        method,
        case,
        Path(labels_path),
        info_path,
        result.seconds,
        result.device,
        result.version,
        threads,
    )


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
