"""The contacts search index: every name fragment and number fragment, kept in the database.

What a search must find: any part of a contact's name (any case, accents
ignored: ``contacts.search_name``) and any run of 3 or more digits of the
number however it was typed (``contacts.phone_digits``). A substring of a
string is a prefix of one of its suffixes, so the index stores, for each
contact, every suffix of its folded name (the first ``KEY_LENGTH``
characters) and every suffix of at least 3 digits of its number (after a
``\\x01`` byte so that digits in names and numbers never mix), plus one
empty key that lists every contact. A search is then one range of keys:
``key >= fragment AND key < fragment-with-its-last-character-raised``.

Why this shape, for DuckDB: DuckDB's ART indexes answer only equality, and
fetch each matching row on its own (about 1.5 µs a row, so a fragment with
10k matches would cost 15 ms); range filters are answered by zone maps,
the min/max DuckDB keeps per row group. So the index is a plain table kept
physically sorted by key (``contact_search``): a range of keys lies in one
or two row groups, which is all a search reads, and rows of one key are
sorted by the contacts' sort order, so the first page of a large match is
found without sorting it. Measured at 1M contacts (20M keys): a name
fragment with 19k matches, first page and exact count, 4 ms; 7 digits, 2 ms;
a full scan with ``contains`` took 15-70 ms (see ``bench/bench_contacts.py``).

Why a ``code`` column beside the key: the key column is a compressed string column,
and a range filter on it evaluates every row of the segment it falls in (about 25k
rows, 3 ms at 1M contacts even for a 7-digit fragment with one match). ``code`` is
the key's first 8 bytes (UTF-8) as an unsigned integer, so it sorts as the key does:
a range of ``code`` is checked on a bit-packed integer column in a fraction of that
(0.8 ms) and, for a fragment of up to 8 bytes (every name fragment people type, and
a number fragment of up to 7 digits), it is exactly the fragment's range of keys. A
longer fragment narrows by ``code`` and then checks the key.

A sorted table cannot take inserts without losing its order, so changes go
to ``contact_search_recent`` (unsorted, up to ``COMPACT_AFTER`` rows, read
whole, filtered by ``code`` as well): a contact with rows there is answered
from there only. ``compact`` folds the recent rows
into a freshly sorted main table, built outside the write path (a snapshot
read) and swapped in with one short write; ``maybe_compact`` starts it in
the background once the recent table passes ``COMPACT_AFTER`` rows.

Every write that changes a contact's name, number or archived state calls
``refresh`` in its own transaction, so a contact created, edited or
imported is found by the very next search (``tests/core/test_contact_search.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.db import Database, Transaction
from core.errors import ValidationError
from core.phones import normalize_name, search_digits
from core.unicode_text import require_valid

log = logging.getLogger(__name__)

KEY_LENGTH = 32  # longer fragments are found by their first 32 characters, then checked whole
DIGITS = "\x01"  # number keys start with this byte, which no folded name contains
MAX_QUERY = 100
MIN_DIGITS = 3
COMPACT_AFTER = 400_000  # recent rows (about 20k changed contacts) before the main table is rebuilt
ARCHIVE_FILTERS = ("active", "archived", "all")

# The keys of the contacts chosen by ``{where}`` (an alias ``c`` on contacts). The sort key
# orders contacts as the list does: named first, by folded name, then by number.
KEYS_SQL = """
    WITH c AS (SELECT id, search_name, phone_digits, phone, archived FROM contacts c WHERE {where}),
    k AS (
        SELECT id AS contact_id, '' AS key FROM c
        UNION ALL
        SELECT c.id, substr(c.search_name, i::INTEGER, {length}) FROM c, range(1, length(c.search_name) + 1) r(i)
        WHERE substr(c.search_name, i::INTEGER, 1) <> ' '
        UNION ALL
        SELECT c.id, '\x01' || substr(c.phone_digits, i::INTEGER)
        FROM c, range(1, length(c.phone_digits) - {min_digits} + 2) r(i)
    )
    SELECT k.key, k.contact_id,
           CASE WHEN c.search_name = '' THEN '1' ELSE '0' END || c.search_name || '\x01' || c.phone AS sort_key,
           c.archived{code}
    FROM k JOIN c ON c.id = k.contact_id
"""


# The key's first CODE_BYTES bytes of UTF-8, zero-padded, as an unsigned integer (``code_of``).
CODE_BYTES = 8
CODE_SQL = f"('0x' || rpad(left(hex(k.key), {2 * CODE_BYTES}), {2 * CODE_BYTES}, '0'))::UBIGINT"


def _keys_sql(where: str, *, code: bool = False) -> str:
    """The keys of the contacts chosen by ``where``; with ``code`` (the main table) their codes too."""
    return KEYS_SQL.format(
        where=where, length=KEY_LENGTH, min_digits=MIN_DIGITS, code=f", {CODE_SQL} AS code" if code else ""
    )


def code_of(key: str) -> int:
    """What ``CODE_SQL`` makes of ``key``: its first 8 bytes as a big-endian number (keys never hold NUL)."""
    return int.from_bytes(key.encode()[:CODE_BYTES].ljust(CODE_BYTES, b"\0"), "big")


def code_range(prefix: str) -> tuple[int, int, bool]:
    """(lowest, highest code) of the keys starting with ``prefix``, and whether that range is
    exact (True: a prefix of at most 8 bytes) or the keys must be checked too."""
    data = prefix.encode()
    if len(data) >= CODE_BYTES:
        code = code_of(prefix)
        return code, code, len(data) == CODE_BYTES
    low = code_of(prefix)
    return low, low + 256 ** (CODE_BYTES - len(data)) - 1, True


# ---- what a person typed --------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A parsed search: key prefixes to look up, and text to check whole when it is longer than a key."""

    text: str  # the folded name fragment ('' for a number search)
    digits: str | None  # the digits of a number search

    @property
    def prefixes(self) -> list[str]:
        found = []
        if self.digits is not None:
            found.append(DIGITS + self.digits)
        if self.text:
            found.append(self.text[:KEY_LENGTH])
        return found

    @property
    def check_name(self) -> str | None:
        """A name fragment longer than a key, which the candidates must contain whole."""
        return self.text if len(self.text) > KEY_LENGTH else None


def parse(query: str | None) -> Query | None:
    """None when there is nothing to search for; ``ValidationError`` for a search that cannot mean anything.

    A query with a letter searches names; one of digits (and spaces, dashes, brackets,
    a plus) searches numbers and needs at least 3 digits; anything else (``%``, ``'``,
    ``.*``) is looked up as the literal characters of a name.
    """
    if query is None:
        return None
    query = require_valid(query).strip()[:MAX_QUERY]  # a lone surrogate: one sentence, as a statement gives
    if not query:
        return None
    digits = search_digits(query)
    text = normalize_name(query)
    letters = any(ch.isalpha() for ch in query)
    if digits is not None:
        # Digits and punctuation are a number; keep the text too in case a name has digits ("Suite 55").
        return Query(text=text if letters else "", digits=digits)
    if not letters and any(ch.isdecimal() for ch in query):
        raise ValidationError(f"Type at least {MIN_DIGITS} digits to search by number.")
    if letters and len(text) < 2 and not _is_ideograph(text):
        raise ValidationError("Type at least two letters of the name to search.")
    return Query(text=text, digits=None)


def _is_ideograph(text: str) -> bool:
    # One Chinese or Japanese character is a name fragment people look for (王, 佐).
    return len(text) == 1 and ord(text) >= 0x2E80


def _upper(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


# ---- searching -------------------------------------------------------------------------------


# A row of the sorted table still current: its contact has no rows in the recent table. Every
# contact there has exactly one row of code 0 (its empty key) or, deleted, one without a key
# (code NULL), so the anti-join is built on those (one per changed contact, found on the integer
# column) instead of on every recent row: with 400k recent rows (20k changed contacts) a 7-digit
# search cost 10.5 ms of CPU that way and 4.3 ms this way; with none, 3.4 and 2.8.
CURRENT = "{alias}.contact_id NOT IN (SELECT contact_id FROM contact_search_recent WHERE code = 0 OR code IS NULL)"


def _range(prefix: str) -> tuple[str, list[Any]]:
    """The filter for keys starting with ``prefix``, by code (and by key past 8 bytes)."""
    low, high, exact = code_range(prefix)
    if exact:
        return "code BETWEEN ?::UBIGINT AND ?::UBIGINT", [low, high]
    return "code BETWEEN ?::UBIGINT AND ?::UBIGINT AND key >= ? AND key < ?", [low, high, prefix, _upper(prefix)]


def matches_sql(query: Query | None, archived: str = "active") -> tuple[str, list[Any]]:
    """SQL for (contact_id, sort_key) of every contact matching ``query`` (all contacts for None).

    Each key range is its own scan of the sorted table and of the recent table, by ``code``
    (see the module's note), so zone maps serve each one; a contact with rows in the recent
    table is answered from there only.
    """
    if archived not in ARCHIVE_FILTERS:
        archived = "active"
    keep = {"active": "NOT archived", "archived": "archived", "all": "TRUE"}[archived]
    if query is None:  # every contact has one empty key (code 0), and those rows are sorted by sort key
        sql = f"""
            SELECT contact_id, sort_key FROM contact_search s WHERE code = 0 AND {keep} AND {CURRENT.format(alias="s")}
            UNION ALL
            SELECT contact_id, sort_key FROM contact_search_recent WHERE code = 0 AND {keep}"""
        return sql, []
    main, recent, params, recent_params = [], [], [], []
    for prefix in query.prefixes:
        where, values = _range(prefix)
        main.append(f"SELECT contact_id, sort_key, archived FROM contact_search WHERE {where}")
        recent.append(f"SELECT contact_id, sort_key, archived FROM contact_search_recent WHERE {where}")
        params += values
        recent_params += values
    sql = f"""
        SELECT contact_id, any_value(sort_key) AS sort_key FROM (
            SELECT contact_id, sort_key, archived FROM ({" UNION ALL ".join(main)}) s WHERE {CURRENT.format(alias="s")}
            UNION ALL {" UNION ALL ".join(recent)}
        ) WHERE {keep} GROUP BY contact_id"""
    params += recent_params
    if query.check_name:
        sql = f"""SELECT h.contact_id, h.sort_key FROM ({sql}) h JOIN contacts ct ON ct.id = h.contact_id
                  WHERE contains(ct.search_name, ?)"""
        params.append(query.check_name)
    return sql, params


def first_rows_sql(archived: str) -> str:
    """(contact_id, sort_key) of the first contacts in list order, without a search: one
    parameter, how many are wanted (the page's end).

    The main table's empty-key rows are stored in sort order (it is built ``ORDER BY key,
    sort_key``) and DuckDB keeps the order of a table in a scan with a ``LIMIT`` (insertion order
    is preserved), so the first rows are read and nothing is sorted: a million contacts cost
    what fifty do. As many more rows are read as there are contacts in the recent table (one
    empty key each, or one row without a key for a deleted one), whose rows replace theirs and
    come in sorted with them.
    """
    keep = {"archived": "archived", "all": "TRUE"}.get(archived, "NOT archived")
    return f"""
        WITH head AS (
            SELECT contact_id, sort_key FROM contact_search WHERE code = 0 AND {keep}
            LIMIT ? + (SELECT count(*) FROM contact_search_recent WHERE code = 0 OR code IS NULL)
        )
        SELECT contact_id, sort_key FROM head h WHERE {CURRENT.format(alias="h")}
        UNION ALL
        SELECT contact_id, sort_key FROM contact_search_recent WHERE code = 0 AND {keep}"""


def contact_ids_sql(query: Query) -> tuple[str, list[Any]]:
    """SQL for the ids of every contact (archived ones too) matching ``query``, for other searches."""
    sql, params = matches_sql(query, "all")
    return f"SELECT contact_id FROM ({sql})", params


LITERAL_IDS = 100


def contact_filter(db: Database, query: Query, column: str) -> tuple[str, list[Any]]:
    """A filter on ``column`` (a contact id) for the contacts matching ``query``, for other lists.

    A number fragment usually names a few contacts: they are read first (one statement through
    the index, as one list) and, up to ``LITERAL_IDS`` of them, written into the filter as
    literals, which DuckDB answers through the ``conversations_contact`` index (a 7-digit
    search: one conversation, nothing scanned).

    A name fragment, or a number fragment with more matches, is a semi-join with the matches
    unnested from one list, in the same statement as the list it filters. Measured (CPU, 40
    name fragments): at 100k conversations 4.7 ms where the literals of ~800 matches took 11;
    at 1M (10-20k matches) 12 ms. Written as ``IN (SELECT contact_id FROM <matches>)``
    DuckDB estimated the index's range as millions of rows and built its hash table on the
    conversations instead: 60 ms at 1M.
    """
    sql, params = contact_ids_sql(query)
    if query.digits is not None:
        ids = db.scalar(f"SELECT list(contact_id) FROM ({sql} LIMIT {LITERAL_IDS + 1})", params) or []
        if not ids:
            return "FALSE", []
        if len(ids) <= LITERAL_IDS:
            return f"{column} IN ({', '.join(str(int(i)) for i in ids)})", []
    return f"{column} IN (SELECT unnest((SELECT list(contact_id) FROM ({sql}))))", params


# ---- keeping it current -------------------------------------------------------------------------


def refresh(tx: Transaction, contact_ids: Iterable[int], *, new: bool = False) -> None:
    """Re-index these contacts (created, renamed, renumbered, archived, deleted) in this transaction.

    ``new``: they were all created in this transaction, so they have no rows to replace.
    """
    ids = sorted({int(i) for i in contact_ids})
    if not ids:
        return
    if not new:
        tx.execute("DELETE FROM contact_search_recent WHERE contact_id IN (SELECT unnest(?::INTEGER[]))", [ids])
    if len(ids) <= FEW:
        _refresh_few(tx, ids, new)
        return
    seq = tx.scalar("SELECT nextval('seq_contact_search')")
    tx.execute(
        f"""INSERT INTO contact_search_recent (key, contact_id, sort_key, archived, seq, code)
            SELECT key, contact_id, sort_key, archived, ?, code
            FROM ({_keys_sql("c.id IN (SELECT unnest(?::INTEGER[]))", code=True)})""",
        [seq, ids],
    )
    if not new:
        # A contact that no longer exists keeps one row without a key: it hides its old keys in the main table.
        tx.execute(
            """INSERT INTO contact_search_recent (key, contact_id, sort_key, archived, seq)
               SELECT NULL, i, NULL, TRUE, ? FROM (SELECT unnest(?::INTEGER[]) AS i)
               WHERE i NOT IN (SELECT id FROM contacts)""",
            [seq, ids],
        )


FEW = 20  # up to this many contacts, their keys are made here rather than in SQL (cheaper for a few)


def keys_of(search_name: str, phone_digits: str) -> list[str]:
    """The keys of one contact, as ``KEYS_SQL`` makes them (the empty key, name suffixes, number suffixes)."""
    name_keys = [search_name[i : i + KEY_LENGTH] for i in range(len(search_name)) if search_name[i] != " "]
    digit_keys = [DIGITS + phone_digits[i:] for i in range(len(phone_digits) - MIN_DIGITS + 1)]
    return ["", *name_keys, *digit_keys]


def sort_key(search_name: str, phone: str) -> str:
    """Named contacts first, by folded name, then by number (E.164), as ``KEYS_SQL`` makes it."""
    return ("1" if search_name == "" else "0") + search_name + "\x01" + phone


def phone_of(key_sort: str) -> str:
    """The number (E.164) at the end of a sort key, after the last separating byte (a number has none)."""
    return key_sort.rsplit("\x01", 1)[1]


def _refresh_few(tx: Transaction, ids: list[int], new: bool) -> None:
    found = {
        r[0]: r[1:]
        for r in tx.fetchall(
            "SELECT id, search_name, phone_digits, phone, archived FROM contacts WHERE id IN ({})".format(
                ", ".join(str(i) for i in ids)
            )
        )
    }
    rows: list[Any] = []
    for contact_id in ids:
        if contact_id in found:
            name, digits, phone, archived = found[contact_id]
            key_sort = sort_key(name or "", phone)
            rows += [(key, contact_id, key_sort, archived, code_of(key)) for key in keys_of(name or "", digits or "")]
        elif not new:
            rows.append((None, contact_id, None, True, None))  # gone: hides its old keys in the main table
    if rows:
        values = ", ".join(["(?, ?, ?, ?, nextval('seq_contact_search'), ?::UBIGINT)"] * len(rows))
        tx.execute(
            f"INSERT INTO contact_search_recent (key, contact_id, sort_key, archived, seq, code) VALUES {values}",
            [v for row in rows for v in row],
        )


def rebuild(tx: Transaction) -> int:
    """Index every contact afresh, sorted; the recent table empties. Returns the number of keys.

    The recent table gets its ``code`` column here when it has none (made by migration 4, which
    rebuilds the index; migration 23 rebuilds it too), so the column exists whatever order the
    two were applied in.
    """
    tx.execute("ALTER TABLE contact_search_recent ADD COLUMN IF NOT EXISTS code UBIGINT")
    tx.execute(f"CREATE OR REPLACE TABLE contact_search AS {_keys_sql('TRUE', code=True)} ORDER BY key, sort_key")
    tx.execute("DELETE FROM contact_search_recent")
    return tx.scalar("SELECT count(*) FROM contact_search")


def recent_rows(db: Database) -> int:
    return db.scalar("SELECT count(*) FROM contact_search_recent")


_compacting: dict[int, threading.Thread] = {}
_compacting_lock = threading.Lock()


def compact(db: Database) -> int:
    """Fold the recent rows into a newly sorted main table. Returns the number of keys.

    The new table is built from a snapshot on a cursor of its own, outside the write
    path, so writers wait only for the swap; changes made while it was built stay in
    the recent table (their ``seq`` is newer than the snapshot) and keep overriding.
    """
    cursor = db.cursor()
    cursor.execute("BEGIN TRANSACTION")
    try:
        seen = cursor.execute("SELECT coalesce(max(seq), 0) FROM contact_search_recent").fetchone()[0]
        cursor.execute(
            f"CREATE OR REPLACE TABLE contact_search_next AS {_keys_sql('TRUE', code=True)} ORDER BY key, sort_key"
        )
        cursor.execute("COMMIT")
    except BaseException:
        try:
            cursor.execute("ROLLBACK")
        except Exception:  # the commit itself failed (e.g. the database was closed meanwhile)
            pass
        raise

    def swap(tx: Transaction) -> int:
        tx.execute("DROP TABLE contact_search")
        tx.execute("ALTER TABLE contact_search_next RENAME TO contact_search")
        tx.execute("DELETE FROM contact_search_recent WHERE seq <= ?", [seen])
        return tx.scalar("SELECT count(*) FROM contact_search")

    return db.write(swap)


def maybe_compact(db: Database, *, threshold: int = COMPACT_AFTER) -> threading.Thread | None:
    """Start ``compact`` in the background when the recent table has grown past ``threshold`` rows."""
    if recent_rows(db) < threshold:
        return None
    with _compacting_lock:
        running = _compacting.get(id(db))
        if running is not None and running.is_alive():
            return running

        def run() -> None:
            try:
                compact(db)
            except Exception:  # the index stays correct without it, only slower
                if getattr(db, "_closed", False):  # Parley is stopping: the next start compacts again
                    log.info("compacting the contacts search index stopped with the database")
                    return
                log.exception("compacting the contacts search index failed")

        thread = db.run_in_background("parley-contact-search", run)
        _compacting[id(db)] = thread
        return thread
