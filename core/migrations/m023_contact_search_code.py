"""The contacts search index gets ``code``: each key's first 8 bytes as a number.

A range of keys is then found on a bit-packed integer column instead of by
checking a compressed string column row by row (``core.contact_search``
explains the measurement). The index is rebuilt, sorted, for the contacts
the database has; the recent table needs no code (it is small and read whole).
"""

from __future__ import annotations

from core import contact_search

VERSION = 23
NAME = "contact_search_code"


def apply(tx) -> None:
    # Without the index's tables (migration 4 not applied yet, merged later) there is nothing
    # to rebuild: migration 4 builds the index as ``contact_search.rebuild`` makes it now.
    if tx.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'contact_search_recent'"):
        contact_search.rebuild(tx)
