"""Background workers started by the app's lifespan.

Each worker is a thread running ``step()`` in a loop until stopped; a step
that raises is logged and retried after a pause, never killing the loop.
``/healthz`` reports each worker's state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("parley.workers")


class LoopWorker:
    """Runs ``step()`` repeatedly; ``step`` returns True when it did work
    (loop again at once), False (sleep ``idle`` seconds or until woken), or a
    number of seconds to sleep at most (e.g. until a rate limit frees up)."""

    def __init__(
        self,
        name: str,
        step: Callable[[], bool | float],
        *,
        idle: float = 0.5,
        on_stop: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._step = step
        self._idle = idle
        self._on_stop = on_stop
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.steps = 0
        self.errors = 0
        self.last_error: str | None = None
        self.last_step_at: float | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"parley-{self.name}", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._on_stop is not None:
            self._on_stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self._step()
                self.steps += 1
                self.last_step_at = time.time()
            except Exception as exc:  # keep the worker alive; report in /healthz
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("worker %s step failed", self.name)
                busy = False
                self._stop.wait(1.0)
            if busy is not True:
                pause = self._idle if busy is False or busy is None else min(self._idle, max(0.0, float(busy)))
                self._wake.wait(pause)
                self._wake.clear()

    def status(self) -> dict[str, Any]:
        return {
            "alive": bool(self._thread and self._thread.is_alive()),
            "steps": self.steps,
            "errors": self.errors,
            "last_error": self.last_error,
        }
