"""Background jobs: long work (running methods, creating the demo) in a server thread, with
progress that pages poll.

A job lives in this process's registry, not in a browser session, so reloading the page
(or opening it in another tab) finds the running job again (``latest``) and does not stop
it; the page's script thread only reads the job's ``fraction`` and ``phase`` and draws
them. One job of a kind runs at a time per key (``start`` refuses a second one with
``JobRunning``). The registry keeps the last ``KEEP_FINISHED`` finished jobs. A server
restart forgets the jobs (their work done so far is in the database: each run is its own
transaction). No streamlit here.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from db.errors import StudyStateError

KEEP_FINISHED = 20

#: progress callback a job's work receives: (fraction done in [0, 1], phase label)
JobProgress = Callable[[float, str], None]


class JobRunning(StudyStateError):
    """A job of this kind is already running (its progress is on the page)."""


@dataclass
class Job:
    """One background job: what it is, how far it is, and how it ended.

    status: "running", "done" or "failed"; fraction in [0, 1]; phase: a short label of the
    current step; result: what the work returned (done); error: the message (failed);
    started / finished: ``time.time()`` seconds; owner: the id of the account that started
    it; claimed: whether its outcome was handed to a page once (``claim``).
    """

    id: str
    kind: str
    key: str
    title: str
    owner: int | None = None
    status: str = "running"
    fraction: float = 0.0
    phase: str = "Starting"
    result: Any = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    claimed: bool = False
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def running(self) -> bool:
        return self.status == "running"

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the job ended (True) or ``timeout_s`` seconds passed (False)."""
        return self._done.wait(timeout_s)


_jobs: dict[str, Job] = {}
_lock = threading.Lock()


def start(
    kind: str,
    key: str,
    title: str,
    work: Callable[[JobProgress], Any],
    *,
    owner: int | None = None,
    first_phase: str = "Starting",
) -> Job:
    """Run ``work(progress)`` in a daemon thread as a job of ``kind`` for ``key`` (e.g. the
    coordinator's id, or "workspace" for work that must not run twice at all).

    Raises ``JobRunning`` while a job of the same kind and key runs. An exception in
    ``work`` ends the job as "failed" with ``"<ErrorType>: <message>"`` (the db's own
    errors with their message only).
    """
    with _lock:
        for job in _jobs.values():
            if job.kind == kind and job.key == key and job.running:
                raise JobRunning(
                    f"'{job.title}' is still running ({job.fraction:.0%}: {job.phase})."
                )
        job = Job(uuid.uuid4().hex, kind, key, title, owner=owner, phase=first_phase)
        _jobs[job.id] = job
        _forget_old()

    def progress(fraction: float, phase: str) -> None:
        job.fraction = min(1.0, max(0.0, float(fraction)))
        job.phase = str(phase)

    def target() -> None:
        try:
            job.result = work(progress)
        except Exception as exc:  # noqa: BLE001 - reported on the page, never lost
            from db.errors import LivsegDBError

            job.error = (
                str(exc) if isinstance(exc, LivsegDBError) else (f"{type(exc).__name__}: {exc}")
            )
            job.status = "failed"
        else:
            job.fraction = 1.0
            job.status = "done"
        finally:
            job.finished = time.time()
            job._done.set()

    threading.Thread(target=target, name=f"livseg-job-{kind}", daemon=True).start()
    return job


def _forget_old() -> None:
    finished = sorted((j for j in _jobs.values() if not j.running), key=lambda j: j.started)
    for job in finished[: max(0, len(finished) - KEEP_FINISHED)]:
        del _jobs[job.id]


def get(job_id: str) -> Job | None:
    """The job with this id, or None (unknown or forgotten)."""
    return _jobs.get(job_id)


def latest(kind: str, key: str) -> Job | None:
    """The newest job of ``kind`` for ``key`` (running or finished), or None."""
    with _lock:
        found = [j for j in _jobs.values() if j.kind == kind and j.key == key]
    return max(found, key=lambda j: j.started) if found else None


def running(kind: str, key: str) -> Job | None:
    """The running job of ``kind`` for ``key``, or None."""
    job = latest(kind, key)
    return job if job is not None and job.running else None


def claim(job: Job, owner: int | None) -> bool:
    """Hand a finished job's outcome to ``owner`` once: True the first time ``owner`` (the
    account that started it) asks, False afterwards, for others and while it runs. For
    outcomes shown only once (generated passwords)."""
    with _lock:
        if job.running or job.claimed or job.owner != owner:
            return False
        job.claimed = True
        return True


def wait_running(timeout_s: float | None = None) -> bool:
    """Wait until every running job has ended (True) or ``timeout_s`` passed (False): for a
    clean shutdown, and for tests that started work through a page."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    with _lock:
        pending = [j for j in _jobs.values() if j.running]
    for job in pending:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not job.wait(left):
            return False
    return True
