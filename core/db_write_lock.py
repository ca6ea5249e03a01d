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
# The thread that makes the writes a page run asked for and did not wait for (``core.page_writes``):
# someone at a screen is waiting for those too.
PAGE_WRITER_THREAD_NAME = "parley-page-writes"
PAGE_THREADS = (PAGE_THREAD_NAME, PAGE_WRITER_THREAD_NAME)


class WriteLock:
    """The one write path: one writer at a time. When it frees up, urgent writers go first (a webhook
    waiting for its acknowledgement), then writes from a page run (a person waiting), then the
    background workers (applier, dispatcher, rollups), which otherwise, looping, kept taking the path
    back while an agent's Send waited seconds behind them under a webhook burst.

    Strict order starved page writes: the webhook committer, looping through a steady burst, is
    queued again before a woken page writer gets to run, so with 25 agents and 200 webhooks a second
    an agent's mark-read waited up to 1 s, and up to 29 s on a machine loaded by two CPU burners.
    So a page write has a patience: how many turns others may take while it waits. Past the write
    holding the path it waits through at most one other turn, so under a burst page writes and
    webhook commits take turns. Background writes keep no patience: given a turn
    between webhook commits, the applier's long transactions cut the acknowledgement rate by two
    thirds (807 to 272 a second in bench_webhooks); they go when nobody else waits.
    """

    URGENT, PAGE, BACKGROUND = 2, 1, 0
    PATIENCE = {PAGE: 1}

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._waiting_at = [0, 0, 0]  # by level
        self._passed_over = [0, 0, 0]  # by level: turns others took while it waited
        self.waiting = 0  # writers queued for the path right now (observability, tests)

    @property
    def _urgent_waiting(self) -> int:
        return self._waiting_at[self.URGENT]

    def _level(self, urgent: bool) -> int:
        if urgent:
            return self.URGENT
        return self.PAGE if threading.current_thread().name in PAGE_THREADS else self.BACKGROUND

    def _next_level(self) -> int | None:  # under _cond
        """Whose turn it is when the path is free: a level out of patience, the higher first; else the highest."""
        waiting = [level for level in (self.URGENT, self.PAGE, self.BACKGROUND) if self._waiting_at[level]]
        for level in waiting:
            if level in self.PATIENCE and self._passed_over[level] >= self.PATIENCE[level]:
                return level
        return waiting[0] if waiting else None

    @contextmanager
    def hold(self, urgent: bool = False) -> Iterator[None]:
        level = self._level(urgent)
        with self._cond:
            self._waiting_at[level] += 1
            self.waiting += 1
            taken = False
            try:
                while self._held or self._next_level() != level:
                    self._cond.wait()
                taken = True
            finally:
                self._waiting_at[level] -= 1
                self.waiting -= 1
                if not taken:  # gone without its turn (interrupted): the turn may be someone else's now
                    self._cond.notify_all()
            self._held = True
            for other in (self.URGENT, self.PAGE, self.BACKGROUND):
                if other != level and self._waiting_at[other]:
                    self._passed_over[other] += 1
            self._passed_over[level] = 0  # the level's next writer waits its patience again
        try:
            yield
        finally:
            with self._cond:
                self._held = False
                self._cond.notify_all()
