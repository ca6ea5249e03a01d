"""Storing webhooks before the answer: grouped commits, each row's id, urgent writes."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from core.ingest import _INBOX_COLUMNS, GroupCommitter, _insert_rows


def row(n: int) -> dict:
    return {
        "received_at": dt.datetime(2026, 11, 25, 12, 0),
        "provider": "twilio",
        "state": "pending",
        "url": f"http://127.0.0.1/webhooks/twilio?n={n}",
        "content_type": "application/x-www-form-urlencoded",
        "body": f"MessageSid=SM{n}".encode(),
        "error": None,
    }


@pytest.mark.parametrize("size", [1, 7, 300, 512])
def test_each_row_gets_its_own_id_in_order(db, size):
    rows = [row(n) for n in range(size)]
    rows[0] = {**rows[0], "error": "a reason", "state": "malformed", "content_type": None, "body": b"\x00\xff"}
    ids = db.write(_insert_rows, rows)
    assert len(set(ids)) == size
    stored = {r[0]: r[1:] for r in db.fetchall(f"SELECT id, {', '.join(_INBOX_COLUMNS)} FROM webhook_inbox")}
    assert [stored[i] for i in ids] == [tuple(r[c] for c in _INBOX_COLUMNS) for r in rows]
    assert stored[ids[0]] == (
        dt.datetime(2026, 11, 25, 12, 0),
        "twilio",
        "malformed",
        row(0)["url"],
        None,
        b"\x00\xff",
        "a reason",
    )


def test_concurrent_submissions_are_stored_once_each_in_few_commits(db):
    committer = GroupCommitter(db)
    ids: dict[int, int] = {}
    start = threading.Barrier(40)

    def submit(n: int) -> None:
        start.wait()
        ids[n] = committer.submit_blocking(row(n))

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    committer.stop()
    stored = dict(db.fetchall("SELECT id, url FROM webhook_inbox"))
    assert len(stored) == 40 and all(stored[ids[n]] == row(n)["url"] for n in range(40))
    assert committer.committed == 40 and committer.commits < 40  # grouped


def test_a_commit_wakes_the_event_loop_once_for_all_its_webhooks(db):
    """The answers of one commit reach the event loop in one call, not one call per webhook."""
    import asyncio

    wakeups: list[int] = []

    class CountingLoop(asyncio.SelectorEventLoop):
        def call_soon_threadsafe(self, callback, *args, **kwargs):
            wakeups.append(len(args[0]) if args else 0)
            return super().call_soon_threadsafe(callback, *args, **kwargs)

    committer = GroupCommitter(db)

    async def burst() -> list[int]:
        futures = [committer.submit(row(n)) for n in range(30)]  # queued before any answer is awaited
        return await asyncio.wait_for(asyncio.gather(*futures), 10)

    loop = CountingLoop()
    try:
        ids = loop.run_until_complete(burst())
    finally:
        loop.close()
        committer.stop()
    stored = dict(db.fetchall("SELECT id, url FROM webhook_inbox"))
    assert [stored[i] for i in ids] == [row(n)["url"] for n in range(30)]
    assert sum(wakeups) == 30  # every answer went through a wake-up…
    assert len(wakeups) == committer.commits < 30  # …one per commit


def test_a_closed_event_loop_does_not_stop_the_committer(db):
    """Answers for a loop that has gone are dropped with a warning; the next webhooks are stored."""
    import asyncio

    committer = GroupCommitter(db)
    gone = asyncio.new_event_loop()
    future = gone.create_future()
    gone.close()
    stored: list[int] = []
    try:
        committer._queue.put((row(1), gone, future))  # as submit() queues it, from a loop now closed
        later = threading.Thread(target=lambda: stored.append(committer.submit_blocking(row(2))), daemon=True)
        later.start()
        later.join(10)
        assert stored, "the webhook after it was never stored: the committer had stopped"
    finally:
        committer.stop()
    assert db.scalar("SELECT count(*) FROM webhook_inbox") == 2
