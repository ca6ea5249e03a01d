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
  column only, and the rows of those ids are read after, as a literal id
  list that DuckDB pushes into the scan (``id_list``); the ids of one page
  lie in a few adjacent row groups, which zone maps on the ordered id
  column find without reading the others. Authors' names come from the
  caller rather than a join (a join with users cost more than the rows).
- **A long thread is read from its newest end.** Past ``INDEX_LIMIT``
  messages, fetching every id through the index costs more than reading
  backwards: ``ORDER BY id DESC LIMIT n`` over the conversation's rows lets
  DuckDB scan row groups newest first and stop once the page is full, so
  the latest 200 of a 10k-message thread, or the 200 before a given id,
  cost a few row groups of one integer column.
- **A page's rows are read as the range of ids they span** when it is
  narrow (``RANGE_SPAN``): zone maps again, instead of 200 rows fetched
  one by one through the primary key.

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
# A page whose ids lie within this many ids of each other is read as that range of the table with
# the conversation's filter; a wider one by its ids. Fetching 200 rows one by one through the
# primary key costs about 7 ms of CPU (each row decodes its text alone), whatever their spread;
# the range costs about 3.5 ms per 100k ids it spans (measured on the generated workspaces: the
# latest 200 of a 10k-message thread at 100k conversations span 40k ids, 2.9 ms against 7.4;
# the latest 200 of a 300-message thread, 2 ms against 6-8).
RANGE_SPAN = 100_000

# What a bubble shows, and no more: every column costs a decompression per message read, and the
# provider's id (a unique string per message, shown nowhere) cost as much as all the others
# together (200 messages of a long thread: 13 ms of CPU with it and status_at, 8 without).
# Authors' names are not joined here (a join costs more than the rows it adds): the caller
# passes the users' names, which the Conversation page reads with the conversation.
COLUMNS = """m.id, m.direction, m.author_id, m.body, m.status, m.error_code, m.error_reason, m.created_at,
    m.release_at, m.queued_reason, m.has_media, m.campaign_id"""


@dataclass
class Page:
    messages: list[dict[str, Any]]  # oldest first
    has_older: bool
    media: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # by message id


def read_page(
    db: Database,
    conversation_id: int,
    message_count: int,
    *,
    limit: int = PAGE,
    before_id: int | None = None,
    names: dict[int, str] | None = None,
) -> Page:
    """The newest ``limit`` messages (older than ``before_id`` if given), oldest first, each with
    its author's name (from ``names``, users by id; read here when not given)."""
    page = _read(db, conversation_id, message_count, limit=limit, before_id=before_id)
    if names is None and any(m["author_id"] is not None for m in page.messages):
        names = dict(db.fetchall("SELECT id, display_name FROM users"))
    for message in page.messages:
        message["conversation_id"] = conversation_id
        message["author_name"] = (names or {}).get(message["author_id"])
    return page


def _read(db: Database, conversation_id: int, message_count: int, *, limit: int, before_id: int | None) -> Page:
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
        ids = ids[:limit]
    if not ids:
        return Page([], has_older)
    low, high = min(ids), max(ids)
    if high - low <= RANGE_SPAN:
        # Every message of the conversation between the page's oldest and newest id: a range of
        # the id column, which zone maps narrow to the row group or two it lies in, scanned with
        # the conversation's filter. A message committed meanwhile with an id inside the range is
        # shown too: it is the conversation's.
        sql = f"SELECT {COLUMNS} FROM messages m WHERE m.conversation_id = ? AND m.id BETWEEN ? AND ? ORDER BY m.id"
        rows = db.dicts(sql, [conversation_id, low, high])
    else:
        rows = db.dicts(f"SELECT {COLUMNS} FROM messages m WHERE m.id IN ({id_list(ids)}) ORDER BY m.id")
    return _with_media(db, Page(rows, has_older))


def id_list(ids: list[int]) -> str:
    """Ids as a literal IN list. A literal list is pushed into the scan as a filter, so only the
    page's rows are read; a list parameter is joined, which for more than 50 ids reads every
    column of every row group in their range (measured: 200 rows of a 10k thread, 9 ms vs 23 ms).
    Only integers from the database are written into the statement."""
    return ", ".join(str(int(i)) for i in ids)


def _with_media(db: Database, page: Page) -> Page:
    ids = [r["id"] for r in page.messages if r["has_media"]]
    if ids:
        for item in db.dicts(
            "SELECT id, message_id, sha256, content_type, filename, size, token, created_at FROM media "
            "WHERE message_id IN (SELECT unnest(?::BIGINT[])) ORDER BY id",
            [ids],
        ):
            page.media.setdefault(item["message_id"], []).append(item)
    return page
