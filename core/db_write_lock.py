"""The order writers take ``Database.write``'s one path: urgent, then a page run, then the background.

Separate from ``core.db`` because it knows nothing of DuckDB or transactions: it only decides
who goes next when the path frees up. ``Database`` owns one and holds it around every write.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Streamlit runs every page script and its callbacks in threads of this name: a write from one is
# someone waiting at a screen (marking a conversation read, sending a reply).
PAGE_THREAD_NAME = "ScriptRunner.scriptThread"


class WriteLock:
    """The one write path: one writer at a time. When it frees up, urgent writers go first (a webhook
    waiting for its acknowledgement), then writes from a page run (a person waiting), then the
    background workers (applier, dispatcher, rollups), which otherwise, looping, kept taking the path
    back while an agent's Send waited seconds behind them under a webhook burst."""

    URGENT, PAGE, BACKGROUND = 2, 1, 0

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._waiting_at = [0, 0, 0]  # by level
        self.waiting = 0  # writers queued for the path right now (observability, tests)

    @property
    def _urgent_waiting(self) -> int:
        return self._waiting_at[self.URGENT]

    def _level(self, urgent: bool) -> int:
        if urgent:
            return self.URGENT
        return self.PAGE if threading.current_thread().name == PAGE_THREAD_NAME else self.BACKGROUND

    @contextmanager
    def hold(self, urgent: bool = False) -> Iterator[None]:
        level = self._level(urgent)
        with self._cond:
            self._waiting_at[level] += 1
            self.waiting += 1
            try:
                while self._held or any(self._waiting_at[above] for above in range(level + 1, 3)):
                    self._cond.wait()
            finally:
                self._waiting_at[level] -= 1
                self.waiting -= 1
            self._held = True
        try:
            yield
        finally:
            with self._cond:
                self._held = False
                self._cond.notify_all()
