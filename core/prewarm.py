"""Reading the tables every page touches once, when the server starts, so no agent pays for it.

DuckDB reads a table's blocks from the file the first time a statement
needs them and keeps them in its buffer pool afterwards. On a workspace of
a million conversations, the first open of a conversation nobody opened
since the server started cost 5-12 ms more than the next one (its blocks of
the messages, conversations and contacts tables were read from the file);
a conversation opened again took about 1 ms. Scanning the columns the
pages read, once, in the background right after start, brings those blocks
in: about 1.5 s of one core for 10 million messages, while the server
already answers (nothing waits for it, and it stops when the server
stops). The ART indexes still load their nodes on first use; they are
small.

``bench/bench_inbox.py`` runs it as the server does before it times
anything, and prints how long it took.
"""

from __future__ import annotations

import logging
import time

import duckdb

from core.db import Database
from core.errors import ParleyError

log = logging.getLogger(__name__)

# What the pages read of each table: a conversation, its contact, the owner's read marker, the
# columns of a message bubble (core.threads.COLUMNS) and the conversation each belongs to.
SCANS = (
    "SELECT max(COLUMNS(*)) FROM conversations",
    "SELECT max(COLUMNS(*)) FROM contacts",
    "SELECT max(COLUMNS(*)) FROM read_markers",
    # The contacts search index (core.contact_search), what a search reads of it: every search
    # lands on other row groups, so each first touch read blocks from the file (1-2 ms of CPU of
    # a 10 ms search at 1M contacts, measured with and without this scan).
    "SELECT max(code), max(contact_id), max(sort_key), bool_or(archived) FROM contact_search",
    """SELECT max(id), max(conversation_id), max(direction), max(author_id), max(body), max(status),
              max(error_code), max(error_reason), max(created_at), max(release_at), max(queued_reason),
              bool_or(has_media), max(campaign_id)
       FROM messages""",
)


def prewarm(db: Database) -> float:
    """Scan what the pages read; returns the seconds it took. A failure only costs speed."""
    start = time.perf_counter()
    try:
        cursor = db.cursor()
        for sql in SCANS:
            cursor.execute(sql).fetchall()
    except (duckdb.Error, ParleyError) as exc:  # e.g. the server stopping meanwhile
        log.info("prewarm stopped: %s", exc)
    return time.perf_counter() - start


def start_prewarm(db: Database) -> None:
    db.run_in_background("parley-prewarm", lambda: log.info("prewarm took %.1f s", prewarm(db)))
