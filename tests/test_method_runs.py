"""Shared method instances and run records (issue 10 finding 3).

``get_method`` gives every caller (Streamlit sessions, threads) the same instance; each call
must record its own parameters. Before the fix ``_segment`` wrote ``self.params`` and
``run_method`` read it back afterwards, so a concurrent run could record another's."""

from __future__ import annotations

import dataclasses
import threading
import time
import types

import numpy as np
import pytest

from livseg import inference
from livseg.methods import MethodRun, get_method
from livseg.methods.base import Method
from livseg.phantom import case_seed, generate_case
from livseg.volume import Volume


def _own(params) -> dict:
    return {k: v for k, v in params.items() if k != "seconds_inside"}


class _SlowClock:
    """``time`` for livseg.inference whose clock takes 0.6 s to read: it widens the gap
    between a run's end and what gets recorded, so two runs interleave for certain."""

    def __init__(self):
        self.sleep = time.sleep

    def perf_counter(self) -> float:
        time.sleep(0.6)
        return time.perf_counter()


def test_two_threads_on_one_shared_method_record_their_own_parameters(monkeypatch):
    vols = [generate_case(case_seed(0, i), "small").volume for i in (0, 1)]
    expected = [_own(inference.run_method("classical", v).params) for v in vols]
    assert expected[0] != expected[1]  # image-derived thresholds differ between the cases
    monkeypatch.setattr(inference, "time", _SlowClock())
    got: dict[int, list[dict]] = {0: [], 1: []}
    start = threading.Barrier(2)

    def work(i: int) -> None:
        start.wait()
        for _ in range(2):
            got[i].append(_own(inference.run_method("classical", vols[i]).params))

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got[0] == [expected[0]] * 2
    assert got[1] == [expected[1]] * 2


class _Echo(Method):
    """Labels = 1 where HU > the run's threshold (the volume's mean); both runs wait for each
    other inside ``_segment``, so they overlap on the one instance."""

    name = "echo"
    barrier = threading.Barrier(2)

    @property
    def version(self) -> str:
        return "000000000000"

    def _segment(self, volume: Volume) -> tuple[np.ndarray, dict]:
        threshold = float(volume.array.mean())
        self.barrier.wait(timeout=10)
        return (volume.array > threshold).astype(np.uint8), {"threshold": threshold, "threads": 1}


def test_run_records_are_per_call_and_immutable():
    method = _Echo()
    vols = [
        Volume(np.full((4, 4, 3), hu, np.float32) + np.arange(3), (1.0, 1.0, 1.0), np.eye(4))
        for hu in (10.0, 90.0)
    ]
    records: dict[int, MethodRun] = {}

    def work(i: int) -> None:
        records[i] = method.run(vols[i])[1]

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert records[0].params["threshold"] == pytest.approx(11.0)  # mean of 10 + (0, 1, 2)
    assert records[1].params["threshold"] == pytest.approx(91.0)
    assert records[0].name == "echo" and records[0].threads == 1 and records[0].seconds > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        records[0].seconds = 0.0
    with pytest.raises(TypeError):
        records[0].params["threshold"] = 0.0
    assert not hasattr(method, "params")  # nothing about a run is kept on the instance


def test_get_method_instances_hold_no_run_state():
    vol = generate_case(case_seed(0, 0), "small").volume
    method = get_method("classical")
    before = dict(vars(method))
    method.run(vol)
    assert vars(method) == before
    assert isinstance(inference.run_method("classical", vol), inference.RunResult)
    assert types.MappingProxyType  # records expose read-only params (checked above)
