"""Writes a page asked for but need not wait for, made on one thread of their own.

Marking a conversation read when its owner opens it is a write, and a write waits for the one
write path: while webhooks pour in, up to a few hundred milliseconds behind the acknowledgements
and the applier. The page has already drawn the conversation as read and watches the version that
write will make (``core.conversation_view.finish_open_later``), so the agent has nothing to wait
for: the page's run ends, the spinner stops, and the write is made here.

Writes made here keep a page's place on the write path (``core.db_write_lock``: after a
webhook's acknowledgement, before the background workers), one at a time in the order they came.
A write that fails is logged and dropped: what it would have written is read again by the next
run of the page (a conversation still unread is marked read again).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from core.db_write_lock import PAGE_WRITER_THREAD_NAME
from core.errors import ParleyError

log = logging.getLogger(__name__)


class PageWrites:
    """A queue of page writes and the thread that makes them (started with the first one)."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Condition()
        self._pending = 0  # submitted and not finished yet
        self._thread: threading.Thread | None = None
        self._closed = False
        self.done = 0  # writes made (observability, tests)
        self.failed = 0

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Make ``fn(*args, **kwargs)`` on the page writer's thread, after those submitted before it.
        Once closed (Parley is stopping), it is made here and now instead: nothing asked for is lost."""
        with self._lock:
            if self._closed:
                run_now = True
            else:
                run_now = False
                self._pending += 1
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=PAGE_WRITER_THREAD_NAME, daemon=True)
                    self._thread.start()
        if run_now:
            self._make(fn, args, kwargs)
            return
        self._queue.put((fn, args, kwargs))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every write submitted so far is made; False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Make what is queued, then stop the thread (before the database closes)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self.flush(timeout)
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, args, kwargs = item
            try:
                self._make(fn, args, kwargs)
            finally:
                with self._lock:
                    self._pending -= 1
                    self._lock.notify_all()

    def _make(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        try:
            fn(*args, **kwargs)
            self.done += 1
        except ParleyError as exc:  # e.g. reassigned meanwhile: the page's next run shows why
            self.failed += 1
            log.info("a page write was not made: %s", exc)
        except Exception:
            self.failed += 1
            log.exception("a page write failed")
