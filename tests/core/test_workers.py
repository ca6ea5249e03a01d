"""The worker loop: busy steps loop at once, idle ones sleep, a step may say how long."""

from __future__ import annotations

import time

from core.workers import LoopWorker


def run_for(step, seconds: float, idle: float) -> LoopWorker:
    worker = LoopWorker("test", step, idle=idle)
    worker.start()
    time.sleep(seconds)
    worker.stop()
    return worker


def test_an_idle_step_sleeps_the_idle_time_unless_woken():
    worker = run_for(lambda: False, 0.3, idle=10)
    assert worker.steps == 1 and worker.status()["alive"] is False


def test_a_step_that_names_a_pause_sleeps_only_that_long():
    worker = run_for(lambda: 0.02, 0.4, idle=10)  # e.g. until a rate limit frees up
    assert worker.steps >= 5


def test_a_failing_step_is_counted_and_the_loop_survives():
    def boom():
        raise RuntimeError("nope")

    worker = LoopWorker("test", boom, idle=0.01)
    worker.start()
    time.sleep(0.2)
    assert worker.status()["alive"] is True and worker.errors >= 1 and "nope" in worker.last_error
    worker.stop()
