"""Where and how wide the networks run: device (cpu / cuda) and CPU thread count.

Threads: 2 threads are 1.55-1.8x faster than 1 on a quiet 2-core machine but much slower
when another process holds a core, so by default the count is the number of cores that are
actually free (``os.cpu_count() - os.getloadavg()[0]``, at least 1). ``LIVSEG_THREADS``
(or an explicit argument) overrides it.
"""

from __future__ import annotations

import os

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def choose_device(requested: str | None = "auto") -> torch.device:
    """Resolve ``"auto" | "cpu" | "cuda"`` (or ``"cuda:N"``) into a torch device.

    ``auto`` picks CUDA when a GPU is present, else the CPU. Asking for CUDA without a GPU
    is an error (never a silent fall-back).
    """
    requested = (requested or os.environ.get("LIVSEG_DEVICE") or "auto").strip().lower()
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cpu":
        return torch.device("cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {requested!r} was requested but no CUDA GPU is available "
                "(use --device cpu or auto)"
            )
        return torch.device(requested)
    raise ValueError(f"unknown device {requested!r}; choose one of {', '.join(DEVICE_CHOICES)}")


def free_cores() -> int:
    """Cores not busy with other processes right now (1-minute load average), >= 1."""
    n = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform
        return n
    return max(1, min(n, int(round(n - load))))


def choose_threads(requested: int | None = None) -> int:
    """Thread count for torch on the CPU: argument, else ``LIVSEG_THREADS``, else free cores."""
    if requested is None:
        env = os.environ.get("LIVSEG_THREADS", "").strip()
        if env:
            try:
                requested = int(env)
            except ValueError as exc:
                raise ValueError(f"LIVSEG_THREADS must be a whole number, got {env!r}") from exc
    if requested is None:
        return free_cores()
    if requested < 1:
        raise ValueError(f"thread count must be >= 1, got {requested}")
    return int(requested)


def apply_threads(requested: int | None = None) -> int:
    """Choose the thread count and set it in torch; returns the count used."""
    n = choose_threads(requested)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
