"""Storing webhooks before the answer: grouped commits, each row's id, urgent writes."""

from __future__ import annotations

import datetime as dt
import threading

from core.ingest import GroupCommitter, _insert_rows


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


def test_each_row_gets_its_own_id_in_order(db):
    rows = [row(n) for n in range(300)]
    ids = db.write(_insert_rows, rows)
    stored = dict(db.fetchall("SELECT id, url FROM webhook_inbox"))
    assert [stored[i] for i in ids] == [r["url"] for r in rows]


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
