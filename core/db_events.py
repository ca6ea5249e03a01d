"""Storing a write transaction's events in the ``events`` table, inside that transaction.

``Database.write`` calls ``persist_events`` after the write function and its before-commit
hooks, just before COMMIT, so a change never commits without its events (see ``core.db``).
Separate from ``core.db`` because it is one step of the write path with its own statements and
guards, not the path itself. The batch form it writes with (``rows_sql``, ``columns_of``: one
list per column) lives here too; ``core.delivery_outcomes`` and ``core.reporting`` batch their
rows the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from core import derived

if TYPE_CHECKING:
    from core.db import Transaction

# Up to this many rows, a multi-row VALUES insert beats registering a DataFrame.
SMALL_INSERT = 16


def rows_sql(columns: Iterable[tuple[str, str]]) -> str:
    """``SELECT unnest(?::T[]) AS name, …``: a batch of rows passed as one list per column.

    DuckDB zips the lists (the same length) into rows. For the dispatcher's batches of a few
    hundred rows this costs a fraction of building and registering a DataFrame (pandas took
    about as much CPU as the statements it fed, bench/bench_dispatch.py)."""
    return "SELECT " + ", ".join(f"unnest(?::{kind}[]) AS {name}" for name, kind in columns)


def columns_of(rows: list[tuple], count: int) -> list[list[Any]]:
    """The parameters for ``rows_sql``: one list per column of ``rows`` (each a tuple of ``count``)."""
    return [list(column) for column in zip(*rows)] if rows else [[] for _ in range(count)]


def persist_events(tx: Transaction) -> None:
    """Store ``tx.events`` in the events table, then keep what is derived from them current (``core.derived``)."""
    if not tx.events:
        return
    if not _has_events_table(tx):
        return
    rows = [
        (
            e.at,
            e.name,
            e.payload.get("conversation_id"),
            e.payload.get("message_id"),
            e.payload.get("user_id"),
            json.dumps(e.payload, default=str),
        )
        for e in tx.events
    ]
    if len(rows) <= SMALL_INSERT:
        # Most transactions publish a handful of events: one VALUES statement costs a
        # fraction of registering a DataFrame (this runs on every write).
        placeholders = ", ".join(["(nextval('seq_events'), ?, ?, ?, ?, ?, ?)"] * len(rows))
        tx.execute(
            "INSERT INTO events (id, occurred_at, name, conversation_id, message_id, user_id, payload) "
            f"VALUES {placeholders}",
            [v for row in rows for v in row],
        )
    else:  # a batch (the dispatcher's outcomes, a bulk action): one list per column, ids drawn in order
        tx.execute(
            "INSERT INTO events (id, occurred_at, name, conversation_id, message_id, user_id, payload) "
            f"SELECT nextval('seq_events'), * FROM ({rows_sql(_EVENT_COLUMNS)})",
            columns_of(rows, len(_EVENT_COLUMNS)),
        )
    if _has_version_columns(tx):
        derived.update(tx, tx.events)


_EVENT_COLUMNS = (
    ("occurred_at", "TIMESTAMP"),
    ("name", "VARCHAR"),
    ("conversation_id", "BIGINT"),
    ("message_id", "BIGINT"),
    ("user_id", "BIGINT"),
    ("payload", "VARCHAR"),
)

_events_table_known: dict[int, bool] = {}


def _has_events_table(tx: Transaction) -> bool:
    # Migrations run before the events table exists; they publish nothing,
    # but guard anyway so an early event cannot break a migration.
    key = id(tx.cursor)
    if not _events_table_known.get(key):
        exists = tx.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'events' AND schema_name = 'main'")
        if not exists:
            return False
        _events_table_known[key] = True
    return True


_version_columns_known: dict[int, bool] = {}


def _has_version_columns(tx: Transaction) -> bool:
    # The version columns and the search index come with migration 4; earlier migrations publish nothing.
    key = id(tx.cursor)
    if not _version_columns_known.get(key):
        exists = tx.scalar(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'conversations' AND column_name = 'version'"
        )
        if not exists:
            return False
        _version_columns_known[key] = True
    return True
