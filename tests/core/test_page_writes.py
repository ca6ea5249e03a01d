"""The page writer: writes a page run handed over are made after it, in order, once each."""

from __future__ import annotations

import threading

from core.db_write_lock import PAGE_WRITER_THREAD_NAME
from core.errors import Conflict
from core.page_writes import PageWrites


def test_writes_are_made_on_the_page_writers_thread_in_the_order_they_came():
    writes = PageWrites()
    made = []
    release = threading.Event()
    writes.submit(lambda: (release.wait(30), made.append(("first", threading.current_thread().name))))
    writes.submit(lambda: made.append(("second", threading.current_thread().name)))
    assert made == []  # handed over: the caller did not wait
    release.set()
    assert writes.flush(30)
    assert made == [("first", PAGE_WRITER_THREAD_NAME), ("second", PAGE_WRITER_THREAD_NAME)]
    assert (writes.done, writes.failed) == (2, 0)
    writes.close()


def test_a_write_that_fails_is_counted_and_the_ones_after_it_are_still_made():
    writes = PageWrites()
    made = []

    def refused():
        raise Conflict("Conversation 7 was assigned to someone else a moment ago; nothing was changed.")

    def broken():
        raise RuntimeError("boom")

    writes.submit(refused)
    writes.submit(broken)
    writes.submit(made.append, "after")
    assert writes.flush(30)
    assert made == ["after"]
    assert (writes.done, writes.failed) == (1, 2)
    writes.close()


def test_closing_makes_what_was_queued_and_a_write_asked_for_afterwards_is_made_at_once():
    writes = PageWrites()
    made = []
    release = threading.Event()
    writes.submit(lambda: (release.wait(30), made.append("queued")))
    threading.Timer(0.05, release.set).start()
    writes.close(timeout=30)
    assert made == ["queued"]
    writes.submit(made.append, "late")  # Parley is stopping: made here, not lost
    assert made == ["queued", "late"]
    assert writes.flush(1)


def test_flush_says_when_the_writes_are_not_made_in_time():
    writes = PageWrites()
    release = threading.Event()
    writes.submit(release.wait, 30)
    assert writes.flush(0.05) is False
    release.set()
    assert writes.flush(30) is True
    writes.close()
