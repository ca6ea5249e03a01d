"""Reading a page of a conversation's messages fast, however long the conversation.

Messages are stored in the order Parley writes them, which is id order, so
a conversation's messages are scattered through the whole table (a thread
of two years touches every row group). Three things make a page cheap,
each measured on the generated 100k and 1M workspaces (``bench/bench_inbox.py``):

- **An index on the conversation** (``messages_conversation``, migration 4).
  DuckDB's ART index answers an equality filter by fetching each matching
  row (about 1.5 µs a row), so it is the fastest way to a short thread:
  a thread of 10 messages, every column, in about 1 ms where a scan of
  every row group took 15-20 ms. It costs about 15 MB per million messages.
- **Ids first, then rows.** Fetching whole rows (every text column
  decompressed) for a whole thread only to keep its last 200 is what made
  a 10k-message conversation slow: ``queries.thread`` joined users before
  the ``LIMIT``. Here the ids of the page are chosen first, reading the id
  column only, and the rows of those ids are read after; the ids of one
  page lie in a few adjacent row groups, which DuckDB's zone maps on the
  ordered id column find without reading the others.
- **A long thread is read from its newest end.** Past ``INDEX_LIMIT``
  messages, fetching every id through the index costs more than reading
  backwards: ``ORDER BY id DESC LIMIT n`` over the conversation's rows lets
  DuckDB scan row groups newest first and stop once the page is full, so
  the latest 200 of a 10k-message thread, or the 200 before a given id,
  cost a few row groups of one integer column.

Other designs were measured and left: physically clustering messages by
conversation (fast reads, but every new message lands outside its cluster
and the table would need rewriting to stay ordered), a composite key
``(conversation, position)`` with range scans (DuckDB's ART does not serve
ranges: measured 19-35 ms, a full scan), and process-memory caches (not
shared by the several Parley processes a later step lets share a database).

Everything is read in the caller's statement snapshot, so a message
committed before the call is in the page and a status changed before the
call shows (``tests/core/test_threads.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.db import Database

PAGE = 200
SMALL = 200  # up to this many messages, one statement through the index fetches every row
INDEX_LIMIT = 2000  # up to this many, the index gives the ids; beyond, the newest end is read

COLUMNS = """m.id, m.conversation_id, m.direction, m.author_id,
    (SELECT display_name FROM users WHERE id = m.author_id) AS author_name, m.body, m.status, m.error_code,
    m.error_reason, m.created_at, m.status_at, m.release_at, m.has_media, m.campaign_id, m.provider_message_id"""


@dataclass
class Page:
    messages: list[dict[str, Any]]  # oldest first
    has_older: bool
    media: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # by message id


def read_page(
    db: Database, conversation_id: int, message_count: int, *, limit: int = PAGE, before_id: int | None = None
) -> Page:
    """The newest ``limit`` messages (older than ``before_id`` if given), oldest first."""
    limit = max(1, int(limit))
    if message_count <= INDEX_LIMIT:
        before = "" if before_id is None else "AND m.id < ?"
        params: list[Any] = [conversation_id] + ([] if before_id is None else [int(before_id)])
        if message_count <= SMALL and limit >= message_count:
            rows = db.dicts(f"SELECT {COLUMNS} FROM messages m WHERE m.conversation_id = ? {before}", params)
            rows.sort(key=lambda r: r["id"])
            has_older = len(rows) > limit
            return _with_media(db, Page(rows[-limit:], has_older))
        ids = sorted(
            r[0] for r in db.fetchall(f"SELECT m.id FROM messages m WHERE m.conversation_id = ? {before}", params)
        )
        has_older = len(ids) > limit
        ids = ids[-limit:]
    else:
        before = "" if before_id is None else "AND id < ?"
        params = [conversation_id] + ([] if before_id is None else [int(before_id)])
        ids = [
            r[0]
            for r in db.fetchall(
                f"SELECT id FROM messages WHERE conversation_id = ? {before} ORDER BY id DESC LIMIT ?",
                [*params, limit + 1],
            )
        ]
        has_older = len(ids) > limit
        ids = sorted(ids[:limit])
    if not ids:
        return Page([], has_older)
    rows = db.dicts(f"SELECT {COLUMNS} FROM messages m WHERE m.id IN (SELECT unnest(?::BIGINT[])) ORDER BY m.id", [ids])
    return _with_media(db, Page(rows, has_older))


def _with_media(db: Database, page: Page) -> Page:
    ids = [r["id"] for r in page.messages if r["has_media"]]
    if ids:
        for item in db.dicts(
            "SELECT id, message_id, sha256, content_type, filename, size, token FROM media "
            "WHERE message_id IN (SELECT unnest(?::BIGINT[])) ORDER BY id",
            [ids],
        ):
            page.media.setdefault(item["message_id"], []).append(item)
    return page
