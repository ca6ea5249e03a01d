"""The worker loop: busy steps loop at once, idle ones sleep, a step may say how long.

The worker's wake-up event is replaced by one that records how long each pause was asked to
last and holds the loop there until the test wakes it, so every assertion is about what the
loop decided, not about how long a loaded machine took.
"""

from __future__ import annotations

import threading
import time

from core.workers import LoopWorker

DEADLINE = 30.0


class RecordingWake:
    """Stands in for the worker's wake event: records each pause and blocks until set."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._cond = threading.Condition()
        self._set = False

    def wait(self, timeout: float | None = None) -> bool:
        with self._cond:
            self.pauses.append(timeout)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._set)
            return True

    def set(self) -> None:
        with self._cond:
            self._set = True
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._set = False

    def until(self, count: int) -> list[float]:
        """Wait until the loop has asked for ``count`` pauses; returns them."""
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.pauses) >= count, timeout=DEADLINE), self.pauses
            return list(self.pauses)


def worker_with(step, idle: float) -> tuple[LoopWorker, RecordingWake]:
    worker = LoopWorker("test", step, idle=idle)
    wake = worker._wake = RecordingWake()  # the loop's only way to pause
    return worker, wake


def test_an_idle_step_sleeps_the_idle_time_until_woken():
    worker, wake = worker_with(lambda: False, idle=10)
    worker.start()
    assert wake.until(1) == [10]
    assert worker.steps == 1, "it sleeps instead of stepping again"
    worker.wake()
    assert wake.until(2) == [10, 10] and worker.steps == 2
    worker.stop()
    assert worker.status()["alive"] is False


def test_a_busy_step_loops_at_once_and_a_named_pause_is_kept_short():
    answers = iter([True, True, True, 0.02, 30, False])  # busy thrice, then "again in 20 ms", then 30 s (> idle)
    worker, wake = worker_with(lambda: next(answers), idle=10)
    worker.start()
    assert wake.until(1) == [0.02], "three busy steps went straight on"
    assert worker.steps == 4
    worker.wake()
    assert wake.until(2) == [0.02, 10], "a pause longer than idle is cut to idle"
    worker.wake()
    assert wake.until(3) == [0.02, 10, 10]
    worker.stop()


def test_a_failing_step_is_counted_and_the_loop_survives():
    calls = []

    def boom():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("nope")
        return False

    worker = LoopWorker("test", boom, idle=0.01)
    worker.start()
    deadline = time.monotonic() + DEADLINE
    while len(calls) < 2:  # the loop stepped again after the failure (after its one-second pause)
        assert time.monotonic() < deadline, "the loop died with its step"
        time.sleep(0.01)
    assert worker.status()["alive"] is True
    assert worker.errors == 1 and worker.last_error == "RuntimeError: nope"
    worker.stop()
