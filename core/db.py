"""The one owner of the DuckDB file.

Like Datasette's ``database.py``: reads use a cursor per thread (DuckDB
cursors are cheap and isolate transactions), writes go through one
serialised path (``Database.write``) that runs a function inside a
transaction, retries it on DuckDB transaction conflicts, and releases the
events the function published only after the commit succeeded.

Events are also persisted in the ``events`` table inside the same
transaction (``core.db_events``), so a crash can never commit a change
without its reporting fact (or the other way round). In-process listeners
(live-page versions, notifications) hear about them after commit. Who takes
the write path next is ``core.db_write_lock``'s.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd

from core import clock
from core.db_events import persist_events
from core.db_write_lock import WriteLock
from core.errors import DatabaseLocked, ParleyError, StorageFailed, ValidationError
from core.unicode_text import NOT_UNICODE

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_WRITE_ATTEMPTS = 8

# A lone surrogate (core.unicode_text) that reached a statement, from whatever input: DuckDB
# cannot store or compare it, so the person gets one sentence instead of a traceback, and
# nothing is written.


# How DuckDB reports a file it could not write (a full disk, a file-size limit, a folder made
# read-only under a running server): at COMMIT as a TransactionException, in a statement as an
# IOException. Neither is a conflict to retry.
_STORAGE_WORDS = ("could not write", "no space left", "file too large", "read-only file system", "permission denied")


def _storage_failure(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(words in text for words in _STORAGE_WORDS)


def storage_failed(path: str) -> StorageFailed:
    folder = Path(path).parent
    return StorageFailed(
        f"Parley could not save to its data folder {folder}: the disk is full or the folder cannot be written. "
        "Nothing was changed; free some space (or make the folder writable) and try again."
    )


def _execute(cursor: duckdb.DuckDBPyConnection, sql: str, params: Iterable[Any] | None) -> duckdb.DuckDBPyConnection:
    try:
        return cursor.execute(sql, list(params) if params is not None else None)
    except duckdb.InvalidInputException as exc:
        if "surrogate" in str(exc):
            raise ValidationError(NOT_UNICODE) from None
        raise


@dataclass(frozen=True)
class Event:
    """A named state change, released to listeners after commit."""

    name: str
    payload: dict[str, Any] = field(default_factory=dict)
    at: Any = None


# The small tables every page reads whole (users' names, templates, settings, senders): reads may
# keep them in memory (``Database.small_table_cache``) until a committed write changes one. Any
# statement of a write transaction that could change one is recognised here, whoever wrote it,
# so no writer has to remember; the version counters raised on nearly every write
# (``users.inbox_version``, core.versions) change no name and are left out.
SMALL_TABLES = ("users", "templates", "settings", "senders")
_SMALL_TABLE_WRITE = re.compile(
    r"\b(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|TRUNCATE|TABLE)\s+(?:main\.)?\"?(?:"
    + "|".join(SMALL_TABLES)
    + r")\b(?!\s+SET\s+inbox_version\s*=\s*inbox_version\s*\+\s*1\s+WHERE)",
    re.IGNORECASE,
)


class Transaction:
    """What a write function receives: a cursor inside an open transaction."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self.cursor = cursor
        self.events: list[Event] = []
        self.small_tables_changed = False  # a statement may have changed one of SMALL_TABLES
        # Conversations whose version a statement of this transaction already raised (the one
        # that records a message does it in passing), so ``core.versions`` skips them.
        self.versioned: set[int] = set()

    def execute(self, sql: str, params: Iterable[Any] | None = None) -> duckdb.DuckDBPyConnection:
        if not self.small_tables_changed and _SMALL_TABLE_WRITE.search(sql):
            self.small_tables_changed = True
        return _execute(self.cursor, sql, params)

    def fetchone(self, sql: str, params: Iterable[Any] | None = None) -> tuple | None:
        # Fetch everything: a half-read result left on the write cursor makes
        # the next register()/insert on it fail with "resource in use".
        rows = self.execute(sql, params).fetchall()
        return rows[0] if rows else None

    def fetchall(self, sql: str, params: Iterable[Any] | None = None) -> list[tuple]:
        return self.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: Iterable[Any] | None = None) -> Any:
        row = self.fetchone(sql, params)
        return row[0] if row else None

    def dicts(self, sql: str, params: Iterable[Any] | None = None) -> list[dict[str, Any]]:
        cur = self.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def next_ids(self, sequence: str, count: int) -> list[int]:
        """Reserve ``count`` ids from a sequence in one statement."""
        if count <= 0:
            return []
        rows = self.fetchall(f"SELECT nextval('{sequence}') FROM range(?)", [count])
        return [r[0] for r in rows]

    def next_id(self, sequence: str) -> int:
        return self.scalar(f"SELECT nextval('{sequence}')")

    def insert_df(self, table: str, frame: pd.DataFrame) -> int:
        """Bulk insert a DataFrame (columns named as the table's) in one statement."""
        if frame.empty:
            return 0
        if table.strip('"').removeprefix("main.") in SMALL_TABLES:
            self.small_tables_changed = True
        name = f"_frame_{id(frame)}"
        self.cursor.register(name, frame)
        try:
            cols = ", ".join(f'"{c}"' for c in frame.columns)
            self.cursor.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name}")
        finally:
            self.cursor.unregister(name)
        return len(frame)

    def publish(self, name: str, **payload: Any) -> None:
        """Queue an event: stored with this transaction, released after commit."""
        self.events.append(Event(name=name, payload=payload, at=clock.utcnow()))


Listener = Callable[[Event], None]

# Run inside every write transaction that published events, after the write function and before
# COMMIT (``core.reporting`` registers its fact writer here). What they write commits with the
# change or not at all, and a retried attempt starts from a fresh Transaction, so each event's
# facts exist exactly once, also when the process dies between COMMIT and the listeners.
BeforeCommit = Callable[[Transaction], None]
_before_commit: list[BeforeCommit] = []


def before_commit(hook: BeforeCommit) -> BeforeCommit:
    """Register ``hook(tx)`` to run before every COMMIT of a transaction with events."""
    if hook not in _before_commit:
        _before_commit.append(hook)
    return hook


class Database:
    """Owns one DuckDB file (or ``:memory:``) for the whole process."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = str(path)
        self.read_only = read_only
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = duckdb.connect(self.path, read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise DatabaseLocked(
                    f"Parley is already running with {self.path}: stop it first, "
                    "or set PARLEY_DB to use another database file."
                ) from exc
            if _storage_failure(exc):
                raise ParleyError(
                    f"Parley cannot open {self.path} for writing: the file or its folder is read-only, or the disk "
                    "is full. Make them writable (or free some space) and start Parley again."
                ) from exc
            raise ParleyError(f"The database file {self.path} cannot be opened: {exc}.") from exc
        self._local = threading.local()
        self._write_lock = WriteLock()
        self._listeners: dict[str, list[Listener]] = defaultdict(list)
        self._closed = False
        self._background: list[threading.Thread] = []
        self.write_conflicts = 0  # retried transaction conflicts, for /healthz
        # What reads keep of SMALL_TABLES, with the count of committed writes that changed one.
        self._small_generation = 0
        self._small_cache: dict[str, tuple[int, Any]] = {}

    # ---- reads -----------------------------------------------------------------

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's read cursor (created on first use)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            if self._closed:
                raise ParleyError("The database is closed.")
            cur = self._conn.cursor()
            self._local.cursor = cur
        return cur

    def fetchall(self, sql: str, params: Iterable[Any] | None = None) -> list[tuple]:
        return _execute(self.cursor(), sql, params).fetchall()

    def fetchone(self, sql: str, params: Iterable[Any] | None = None) -> tuple | None:
        rows = _execute(self.cursor(), sql, params).fetchall()
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Iterable[Any] | None = None) -> Any:
        row = self.fetchone(sql, params)
        return row[0] if row else None

    def dicts(self, sql: str, params: Iterable[Any] | None = None) -> list[dict[str, Any]]:
        cur = _execute(self.cursor(), sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def df(self, sql: str, params: Iterable[Any] | None = None) -> pd.DataFrame:
        return _execute(self.cursor(), sql, params).df()

    def small_table_cache(self, key: str, load: Callable[[Database], T]) -> T:
        """``load(self)``, read from SMALL_TABLES only, kept in memory under ``key`` until a write
        that changes one of them commits. Pages read these few rows on every view; here they cost
        a dictionary lookup instead of a statement. Only this process writes the database (the
        read-only opener of a command-line tool cannot see the server's writes: it loads afresh).

        The generation is read before loading, so a write committing meanwhile leaves the loaded
        value marked old and the next call loads again."""
        if self.read_only:
            return load(self)
        generation = self._small_generation
        cached = self._small_cache.get(key)
        if cached is not None and cached[0] == generation:
            return cached[1]
        value = load(self)
        self._small_cache[key] = (generation, value)
        return value

    # ---- writes ----------------------------------------------------------------

    @property
    def writers_waiting(self) -> int:
        """How many writes are queued behind the one running (0 when the path is free)."""
        return self._write_lock.waiting

    def write(self, fn: Callable[..., T], *args: Any, urgent: bool = False, **kwargs: Any) -> T:
        """Run ``fn(tx, *args, **kwargs)`` in one transaction on the write path.

        The function may run more than once: on a DuckDB transaction conflict
        the transaction is rolled back and retried with backoff, so ``fn``
        must not have side effects outside the transaction. Its events are
        persisted with the transaction and released to listeners after the
        commit, never before and never for a rolled-back attempt.

        ``urgent`` writes (a webhook's raw payload, which its sender waits
        for) go before waiting background writes when the path frees up.
        """
        if self.read_only:
            raise ParleyError("This database is open read-only; Parley's server owns it.")
        with self._write_lock.hold(urgent):
            cur = self._write_cursor()
            for attempt in range(1, MAX_WRITE_ATTEMPTS + 1):
                tx = Transaction(cur)
                cur.execute("BEGIN TRANSACTION")
                try:
                    result = fn(tx, *args, **kwargs)
                    if tx.events:
                        for hook in _before_commit:
                            hook(tx)
                    persist_events(tx)
                    cur.execute("COMMIT")
                    if tx.small_tables_changed:
                        self._small_generation += 1
                except (duckdb.TransactionException, duckdb.IOException) as exc:
                    self._rollback(cur)
                    if _storage_failure(exc):
                        raise storage_failed(self.path) from exc
                    if isinstance(exc, duckdb.IOException):
                        raise
                    if attempt == MAX_WRITE_ATTEMPTS:
                        raise ParleyError("The database stayed busy; nothing was changed. Please try again.") from exc
                    self.write_conflicts += 1
                    time.sleep(min(0.5, 0.005 * 2**attempt) * (0.5 + random.random()))
                    continue
                except BaseException:
                    self._rollback(cur)
                    raise
                break
        self._release(tx.events)
        return result

    def _write_cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self, "_writer", None)
        if cur is None:
            cur = self._writer = self._conn.cursor()
        return cur

    @staticmethod
    def _rollback(cur: duckdb.DuckDBPyConnection) -> None:
        try:
            cur.execute("ROLLBACK")
        except duckdb.Error:  # the transaction may already be aborted
            pass

    # ---- events ----------------------------------------------------------------

    def subscribe(self, name: str, listener: Listener) -> None:
        """Call ``listener(event)`` after each commit publishing ``name`` ('*' = all)."""
        self._listeners[name].append(listener)

    def unsubscribe(self, name: str, listener: Listener) -> None:
        if listener in self._listeners.get(name, []):
            self._listeners[name].remove(listener)

    def _release(self, events: list[Event]) -> None:
        for event in events:
            for listener in [*self._listeners.get(event.name, ()), *self._listeners.get("*", ())]:
                try:
                    listener(event)
                except Exception:  # a listener must never undo or block a commit
                    log.exception("listener for %s failed", event.name)

    # ---- lifecycle ---------------------------------------------------------------

    def checkpoint(self) -> None:
        with self._write_lock.hold():
            self._write_cursor().execute("CHECKPOINT")

    def run_in_background(self, name: str, fn: Callable[[], None]) -> threading.Thread:
        """Run ``fn`` on a thread of its own (long maintenance reads, such as rebuilding an index
        off the write path). ``close`` interrupts what it is doing and waits for it to end, so
        no thread is left inside DuckDB when the process exits."""
        thread = threading.Thread(target=fn, name=name)
        self._background = [t for t in self._background if t.is_alive()] + [thread]
        thread.start()
        return thread

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._conn.close()  # interrupts what background work is doing on its cursors
        except duckdb.Error:
            pass
        for thread in self._background:
            thread.join(timeout=30)
