"""Search and list reads: the contacts search index gets ``code``; read markers get an index
by conversation.

- ``contact_search.code``: each key's first 8 bytes as a number, so a range of
  keys is found on a bit-packed integer column instead of by checking a
  compressed string column row by row (``core.contact_search`` explains the
  measurement); the recent table gets the column too (it holds up to 400k
  rows before a compaction). The index is rebuilt, sorted, for the contacts
  the database has.
- ``read_markers_conversation``: the rows of an inbox page (``queries.INBOX_ROWS_SQL``)
  find their owners' read markers by conversation id; the primary key starts
  with the user, so each page read every marker (800k at 1M conversations,
  about 4 ms of CPU of the page's 18).
"""

from __future__ import annotations

from core import contact_search

VERSION = 23
NAME = "contact_search_code"
SQL = "CREATE INDEX read_markers_conversation ON read_markers (conversation_id)"


def apply(tx) -> None:
    # Without the index's tables (migration 4 not applied yet, merged later) there is nothing
    # to rebuild: migration 4 builds the index as ``contact_search.rebuild`` makes it now.
    if tx.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'contact_search_recent'"):
        contact_search.rebuild(tx)
