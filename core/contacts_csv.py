"""Contacts in and out as CSV: import with a column mapping, export of a filter.

Import: ``read_csv`` (``core.csv_files``: 50 MB at most, checked before
reading; UTF-8 with or without BOM, UTF-16, else Windows-1252/Latin-1;
comma, semicolon or tab) gives text cells; ``guess_mapping`` proposes which
column is the phone, name, email... (``core.contacts_csv_mapping``) and
the caller may override it;
``import_contacts`` validates every row with the same cleaners as the
contact form and writes in one transaction: one INSERT of a DataFrame for
new numbers and one ``UPDATE ... FROM`` the registered frame for known
ones. A number already saved is updated with the non-empty cells of its
row (empty cells keep what is stored; opt-out state never changes by
import). The report says, per row, created / updated / unchanged /
rejected and why. Row numbers are as a spreadsheet shows them (the header
is row 1; blank lines count but are skipped).

Export: the contacts of the current filter, UTF-8 with BOM. Every cell a
spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, tab or carriage return) gets a leading single quote. Phone numbers
start with ``+``, so they are exported as ``'+14155550123``: spreadsheets
show them as text, and this import takes the quote off again, so an export
imports back unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import phonenumbers as pn

from core import audit, clock, contact_search, contacts, events, permissions, phones, versions
from core.auth import User
from core.contact_fields import CLEANERS
from core.contacts_csv_mapping import check_mapping
from core.csv_files import MAX_BYTES, CsvFile, decode, read_csv, to_csv_bytes, unquote
from core.db import Database, Transaction
from core.errors import PermissionDenied, ValidationError

__all__ = [
    "MAX_BYTES",
    "CsvFile",
    "ImportReport",
    "decode",
    "export_contacts",
    "export_file_name",
    "import_contacts",
    "read_csv",
    "to_csv_bytes",
]

Progress = Callable[[float], None]


# ---- importing ----------------------------------------------------------------------------


@dataclass
class ImportReport:
    rows: pd.DataFrame  # Row, Phone, Name, Result, Reason, Contact id
    created: int
    updated: int
    unchanged: int
    rejected: int

    @property
    def summary(self) -> str:
        parts = [f"{self.created:,} created", f"{self.updated:,} updated"]
        if self.unchanged:
            parts.append(f"{self.unchanged:,} unchanged")
        parts.append(f"{self.rejected:,} rejected")
        return ", ".join(parts) + "."

    def to_csv(self) -> bytes:
        return to_csv_bytes(self.rows)


def _cells(csv_file: CsvFile, column: str | None) -> pd.Series | None:
    """A column's cells, trimmed, without the quote our export puts before formula-like cells."""
    if not column:
        return None
    return unquote(csv_file.frame[column].astype(object)).str.strip()


def _clean_column(cells: pd.Series, clean: Callable[[Any], Any]) -> tuple[pd.Series, pd.Series]:
    """(stored values, error sentences) for a column, cleaning each distinct value once."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for raw in pd.unique(cells):
        try:
            values[raw] = clean(raw)
        except ValidationError as exc:
            values[raw] = None
            errors[raw] = str(exc)
    return cells.map(values).astype(object), cells.map(errors).astype(object)


def _to_e164(text: str, region: str) -> str | None:
    """``phones.to_e164`` for one cell, skipping its slowest step when it can.

    ``phones.to_e164`` parses then asks ``is_valid_number``, which tries each
    region sharing the country code (25 for +1). A number valid for the
    country's main region (the first one tried) gives the same answer, so
    that is checked first; anything else takes the general path.
    """
    if not text or text[:9].lower() == "whatsapp:" or (text.isascii() and text.isdigit() and len(text) > 10):
        return phones.to_e164(text, region)
    try:
        number = pn.parse(text, region)
    except pn.NumberParseException:
        return None
    if pn.region_code_for_country_code(number.country_code) == region and pn.is_valid_number_for_region(number, region):
        return pn.format_number(number, pn.PhoneNumberFormat.E164)
    return phones.to_e164(text, region)


def _parse_phones(db: Database, cells: pd.Series, region: str, say: Progress) -> tuple[pd.Series, pd.Series]:
    """(E.164 or None, error sentence or None) per cell.

    Numbers already saved need no parsing: a cell that is plainly a known
    number (``+14155550123``, ``(415) 555-0123``, ``1-415-555-0123`` at home
    in North America) maps straight to it. The rest go through
    ``phonenumbers``, once per distinct cell.
    """
    bare = cells.str.replace(r"[\s().\-]", "", regex=True)
    candidate = bare.where(bare.str.match(r"^\+\d{6,15}$"), None)
    if pn.country_code_for_region(region) == 1:
        national = bare.str.match(r"^1?\d{10}$")
        candidate = candidate.where(~national, "+1" + bare.str.slice(-10))
    wanted = [c for c in pd.unique(candidate) if c is not None and c == c]
    known = (
        {r[0] for r in db.fetchall("SELECT phone FROM contacts WHERE phone IN (SELECT unnest(?::VARCHAR[]))", [wanted])}
        if wanted
        else set()
    )
    values = candidate.where(candidate.isin(known), None).astype(object)
    todo = pd.unique(cells[values.isna()])
    parsed: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    step = max(1, len(todo) // 25)
    for i, raw in enumerate(todo):
        if i % step == 0:
            say(0.05 + 0.55 * i / len(todo))
        parsed[raw] = e164 = _to_e164(raw, region)
        if e164 is None:
            errors[raw] = "No phone number." if not raw else f"“{raw[:40]}” is not a valid phone number."
    values = values.where(values.notna(), cells.map(parsed)).astype(object)
    return values, cells.map(errors).astype(object)


def _extension_notes(cells: pd.Series, region: str) -> pd.Series:
    """Per cell, what became of an extension written after the number (None: there was none)."""
    text = cells.fillna("").astype(str)
    hinted = pd.unique(text[text.str.contains(phones.EXTENSION_HINT)])
    found = {raw: phones.extension_of(raw, region) for raw in hinted}
    notes = {
        raw: f"Imported without its extension x{ext}: a text goes to the number itself."
        for raw, ext in found.items()
        if ext
    }
    return text.map(notes).astype(object)


def parse_phone_cells(
    db: Database, cells: pd.Series, region: str = phones.DEFAULT_REGION
) -> tuple[pd.Series, pd.Series]:
    """The import's number parsing for any list of cells (a campaign's CSV audience, too)."""
    return _parse_phones(db, cells, region, lambda _fraction: None)


def _names(csv_file: CsvFile, chosen: dict[str, str]) -> pd.Series | None:
    """The name column, or first + last name where the name is empty."""
    name = _cells(csv_file, chosen.get("name"))
    first, last = _cells(csv_file, chosen.get("first_name")), _cells(csv_file, chosen.get("last_name"))
    if first is None and last is None:
        return name
    joined = ((first if first is not None else "") + " " + (last if last is not None else "")).str.strip()
    return joined if name is None else name.where(name != "", joined)


def import_contacts(
    db: Database,
    actor: User,
    csv_file: CsvFile,
    mapping: dict[str, str | None],
    *,
    progress: Progress | None = None,
    region: str = phones.DEFAULT_REGION,
) -> ImportReport:
    """Create or update a contact per row; returns the per-row report. Calls ``progress(fraction)``."""
    contacts.require_editor(actor)
    chosen = check_mapping(csv_file, mapping)
    say = progress or (lambda fraction: None)
    say(0.0)
    index = csv_file.frame.index
    raw_phone = _cells(csv_file, chosen["phone"])
    phone, error = _parse_phones(db, raw_phone, region, say)
    say(0.6)
    fields: dict[str, pd.Series] = {}
    for target in ("name", "email", "tags", "notes", "timezone"):
        cells = _names(csv_file, chosen) if target == "name" else _cells(csv_file, chosen.get(target))
        if cells is None:
            fields[target] = pd.Series(None, index=index, dtype=object)
            continue
        fields[target], problems = _clean_column(cells, CLEANERS[target])
        error = error.where(error.notna(), problems)
    say(0.65)
    row_numbers = pd.Series(index + 2, index=index)
    ok = error.isna()
    repeat = ok & phone.duplicated(keep=False) & phone.notna()
    if repeat.any():  # only the first valid row of a number is imported
        firsts = row_numbers[repeat].groupby(phone[repeat]).transform("min")
        later = firsts != row_numbers[repeat]
        error[later[later].index] = "Same number as row " + firsts[later].astype(str) + ", which is imported instead."
        ok = error.isna()
    good = pd.DataFrame(
        {
            "row": row_numbers[ok].astype("int64"),
            "phone": phone[ok],
            **{f: fields[f][ok] for f in ("name", "email", "tags", "notes", "timezone")},
        }
    )
    folded = {n: phones.normalize_name(n) for n in pd.unique(good["name"].dropna())}
    good["search_name"] = good["name"].map(folded).astype(object)
    good["phone_digits"] = good["phone"].str.slice(1)
    say(0.7)
    outcome = db.write(_write_import, good, actor, len(csv_file))
    contact_search.maybe_compact(db)  # many contacts changed: fold them into the sorted index, in the background
    say(0.95)
    result = pd.Series("rejected", index=index, dtype=object)
    contact_id = pd.Series(pd.NA, index=index, dtype="Int64")
    by_row = pd.Series(index, index=row_numbers)
    for kind, (rows, ids) in outcome.items():
        where = by_row.loc[rows].to_numpy()
        result.loc[where] = kind
        contact_id.loc[where] = ids
    report = pd.DataFrame(
        {
            "Row": row_numbers,
            "Phone": raw_phone,
            "Name": fields["name"],
            "Result": result,
            "Reason": error.fillna(_extension_notes(raw_phone, region)).fillna(""),
            "Contact id": contact_id,
        }
    )
    say(1.0)
    counts = result.value_counts()
    return ImportReport(
        rows=report.reset_index(drop=True),
        created=int(counts.get("created", 0)),
        updated=int(counts.get("updated", 0)),
        unchanged=int(counts.get("unchanged", 0)),
        rejected=int(counts.get("rejected", 0)),
    )


_CHANGED = " OR ".join(
    f"(i.{f} IS NOT NULL AND i.{f} IS DISTINCT FROM c.{f})" for f in ("name", "email", "tags", "notes", "timezone")
)


def _write_import(tx: Transaction, good: pd.DataFrame, actor: User, total_rows: int) -> dict[str, tuple]:
    # The role again, in the write: reading and checking a big file takes seconds, and an admin may
    # have disabled the importer or changed their role meanwhile.
    permissions.recheck_actor(tx, actor, ("standard", "admin"), "create or change contacts")
    actor_id = actor.id
    now = clock.utcnow()
    name = f"_import_{id(good)}"
    tx.cursor.register(name, good)
    try:
        known = tx.execute(
            f"SELECT i.row, c.id, {_CHANGED} AS changed FROM {name} i JOIN contacts c ON c.phone = i.phone"
        ).fetchnumpy()
        tx.execute(
            f"""UPDATE contacts c SET name = coalesce(i.name, c.name), email = coalesce(i.email, c.email),
                    tags = coalesce(i.tags, c.tags), notes = coalesce(i.notes, c.notes),
                    timezone = coalesce(i.timezone, c.timezone), search_name = coalesce(i.search_name, c.search_name),
                    updated_at = ?
                FROM {name} i WHERE c.phone = i.phone AND ({_CHANGED})""",
            [now],
        )
    finally:
        tx.cursor.unregister(name)
    changed = np.asarray(known["changed"], dtype=bool)
    fresh = good[~good["row"].isin(known["row"])]
    ids = np.asarray(tx.next_ids("seq_contacts", len(fresh)), dtype=np.int64)
    if len(fresh):
        new = fresh.drop(columns="row").assign(id=ids, archived=False, opted_out=False, created_at=now, updated_at=now)
        for column in ("name", "email", "tags", "notes", "timezone"):
            new[column] = new[column].astype(object).where(new[column].notna(), None)
        new["search_name"] = new["search_name"].fillna("").astype(object)
        tx.insert_df("contacts", new)
    renamed = np.asarray(known["id"])[changed].tolist()
    contact_search.refresh(tx, [*ids.tolist(), *renamed])
    versions.touch(tx, contacts=renamed)  # their conversations show the new names
    counts = {"created": len(fresh), "updated": int(changed.sum()), "unchanged": int((~changed).sum())}
    audit.record(tx, actor_id, "contacts.imported", "contact", None, rows=total_rows, **counts)
    tx.publish(events.CONTACTS_IMPORTED, actor_id=actor_id, rows=total_rows, **counts)
    rows, cids = np.asarray(known["row"]), np.asarray(known["id"])
    return {
        "created": (fresh["row"].to_numpy(), ids),
        "updated": (rows[changed], cids[changed]),
        "unchanged": (rows[~changed], cids[~changed]),
    }


# ---- exporting ----------------------------------------------------------------------------


EXPORT_SQL = """
    SELECT name, phone, email, tags, notes, timezone, archived, opted_out,
           strftime(opted_out_at, '%Y-%m-%d %H:%M:%S') AS "opted_out_at (UTC)",
           strftime(created_at, '%Y-%m-%d %H:%M:%S') AS "created_at (UTC)",
           strftime(updated_at, '%Y-%m-%d %H:%M:%S') AS "updated_at (UTC)"
    FROM contacts ct WHERE {where}
    ORDER BY ct.search_name = '', ct.search_name, ct.phone
"""


EXPORT_REFUSAL = (
    "Exporting contacts is for agents and admins: supervisors can look contacts up here, "
    "but the address book does not leave Parley with them."
)


def can_export(user: User) -> bool:
    """Who may take the address book out as a file: the people who keep it (agents and admins).

    A supervisor's work is reading inboxes and figures; a CSV of every customer's name,
    number, email and notes is personal data they do not need, so it stays with the editors.
    """
    return contacts.can_edit(user)


def export_contacts(db: Database, viewer: User, *, search: str | None = None, archived: str = "active") -> bytes:
    """The contacts of the current filter as CSV bytes, safe to open in a spreadsheet."""
    if not can_export(viewer):
        raise PermissionDenied(EXPORT_REFUSAL)
    where, params = contacts.contact_filter(search, archived)
    frame = db.df(EXPORT_SQL.format(where=where), params)
    for column in ("name", "phone", "email", "tags", "notes", "timezone"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    db.write(
        lambda tx: audit.record(
            tx, viewer.id, "contacts.exported", "contact", None, rows=len(frame), search=search, archived=archived
        )
    )
    return to_csv_bytes(frame)


def export_file_name(search: str | None, archived: str) -> str:
    stamp = clock.utcnow().strftime("%Y%m%d-%H%M")
    return f"contacts-{archived}-{stamp}.csv"
