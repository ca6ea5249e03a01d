"""Writing contacts: validate, save, edit, archive, unarchive, delete (issue 4).

Separate from ``core.contacts`` (the list, search and detail every role reads) because only
agents and admins change contacts. Every write keeps ``search_name``
(``normalize_name``) and ``phone_digits`` current and publishes an event, which keeps the
search index (``core.contact_search``) current in the same transaction: a contact is found by
the very next search. Contacts with conversations or message history are archived, never
deleted (rule 4); an opted-out contact is kept too, so the opt-out is never forgotten.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from core import audit, clock, events, permissions, phones
from core.auth import User
from core.contact_fields import CLEANERS, clean_phone
from core.contacts import COLUMN_NAMES, COLUMNS, FIELDS, DuplicateContact, get_contact, label, require_editor
from core.db import Database, Transaction
from core.errors import Conflict, NotFound, ValidationError


def _recheck_editor(tx: Transaction, actor: User) -> None:
    """Inside a write: the editor is still active and still an agent or admin."""
    permissions.recheck_actor(tx, actor, ("standard", "admin"), "create or change contacts")


# ---- validation -------------------------------------------------------------------------


def clean_fields(values: dict[str, Any], *, require_phone: bool) -> dict[str, Any]:
    """Cleaned stored values for the given fields; one sentence for the first bad one."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown contact fields: {sorted(unknown)}")
    cleaned: dict[str, Any] = {}
    if "phone" in values or require_phone:
        cleaned["phone"] = clean_phone(values.get("phone"))
    for name in ("name", "email", "tags", "notes", "timezone"):
        if name in values:
            cleaned[name] = CLEANERS[name](values[name])
    return cleaned


def _duplicate(row: tuple) -> DuplicateContact:
    contact_id, name, phone, archived = row
    who = label(name, phone)
    number = phones.format_phone_display(phone)
    if not (name or "").strip():
        text = f"{number} is already a contact (no name yet)"
    else:
        text = f"{number} already belongs to {who}"
    text += ", which is archived; open it to unarchive or edit it." if archived else "; open that contact to edit it."
    return DuplicateContact(text, contact_id, who)


def _check_free(tx_or_db: Any, phone: str, own_id: int | None = None) -> None:
    row = tx_or_db.fetchone(
        "SELECT id, name, phone, archived FROM contacts WHERE phone = ? AND id IS DISTINCT FROM ?", [phone, own_id]
    )
    if row is not None:
        raise _duplicate(row)


def _has_messages(tx_or_db: Any, contact_id: int) -> bool:
    return bool(tx_or_db.scalar("SELECT EXISTS (SELECT 1 FROM messages WHERE contact_id = ?)", [contact_id]))


def _has_optout_record(tx_or_db: Any, contact_id: int) -> bool:
    """Opted out now, or ever: the opt-out (and any opt-in after it) belongs to this number."""
    return bool(
        tx_or_db.scalar(
            "SELECT (SELECT opted_out FROM contacts WHERE id = ?) "
            "OR EXISTS (SELECT 1 FROM optout_history WHERE contact_id = ?)",
            [contact_id, contact_id],
        )
    )


def phone_locked(db: Database, contact_id: int) -> bool:
    """True when the contact's number has message history or an opt-out on record and so cannot change."""
    return _has_messages(db, contact_id) or _has_optout_record(db, contact_id)


# ---- create and edit ----------------------------------------------------------------------


def check_create_contact(db: Database, actor: User, **values: Any) -> dict[str, Any]:
    require_editor(actor)
    cleaned = clean_fields(values, require_phone=True)
    _check_free(db, cleaned["phone"])
    return cleaned


def do_create_contact(db: Database, actor: User, **values: Any) -> int:
    """Save a new contact (``phone`` required; name, email, tags, notes, timezone optional). Returns its id."""
    cleaned = check_create_contact(db, actor, **values)
    return db.write(_write_create, cleaned, actor)


def _write_create(tx: Transaction, cleaned: dict[str, Any], actor: User) -> int:
    _recheck_editor(tx, actor)
    _check_free(tx, cleaned["phone"])  # again inside the write: the number may have arrived meanwhile
    actor_id = actor.id
    now = clock.utcnow()
    contact_id = tx.next_id("seq_contacts")
    row = {f: cleaned.get(f) for f in FIELDS}
    tx.execute(
        "INSERT INTO contacts (id, phone, name, email, tags, notes, timezone, created_at, updated_at, search_name, "
        "phone_digits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            contact_id,
            row["phone"],
            row["name"],
            row["email"],
            row["tags"],
            row["notes"],
            row["timezone"],
            now,
            now,
            phones.normalize_name(row["name"]),
            row["phone"].lstrip("+"),
        ],
    )
    tx.publish(events.CONTACT_CREATED, contact_id=contact_id, actor_id=actor_id, source="manual")
    return contact_id


def check_update_contact(db: Database, actor: User, contact_id: Any, **changes: Any) -> tuple[dict, dict]:
    """(the contact as stored, the cleaned changes)."""
    require_editor(actor)
    current = get_contact(db, actor, contact_id)
    cleaned = clean_fields(changes, require_phone=False)
    if cleaned.get("phone", current["phone"]) != current["phone"]:
        _check_phone_change(db, current, cleaned["phone"])
    return current, cleaned


def _check_phone_change(tx_or_db: Any, current: dict[str, Any], new_phone: str) -> None:
    if _has_messages(tx_or_db, current["id"]):
        raise ValidationError(
            f"{label(current['name'], current['phone'])} has message history on "
            f"{phones.format_phone_display(current['phone'])}, so that number stays; "
            "save the new number as a new contact."
        )
    if _has_optout_record(tx_or_db, current["id"]):
        # The opt-out is the number's, not the person's: moved, it would unsuppress the number that
        # asked and suppress one that never did (rule 2).
        raise ValidationError(
            f"{label(current['name'], current['phone'])} has an opt-out on record for "
            f"{phones.format_phone_display(current['phone'])}, so that number stays; "
            "save the new number as a new contact."
        )
    _check_free(tx_or_db, new_phone, current["id"])


def do_update_contact(
    db: Database, actor: User, contact_id: Any, *, expected_updated_at: dt.datetime | None = None, **changes: Any
) -> list[str]:
    """Change some fields of a contact. Returns the names of the fields that changed.

    ``expected_updated_at`` (the version the form was filled from) refuses
    to overwrite someone else's newer save without them knowing.
    """
    current, cleaned = check_update_contact(db, actor, contact_id, **changes)
    return db.write(_write_update, current["id"], cleaned, expected_updated_at, actor)


def _write_update(tx: Transaction, contact_id: int, cleaned: dict[str, Any], expected: Any, actor: User) -> list[str]:
    _recheck_editor(tx, actor)
    actor_id = actor.id
    row = tx.fetchone(f"SELECT {COLUMNS} FROM contacts WHERE id = ?", [contact_id])
    if row is None:
        raise NotFound(f"There is no contact {contact_id}.")
    current = dict(zip(COLUMN_NAMES, row))
    if expected is not None and clock.to_naive_utc(_py(expected)) != current["updated_at"]:
        raise Conflict(
            f"Someone else saved {label(current['name'], current['phone'])} while you were editing; "
            "nothing was changed. Check their version and save again."
        )
    changed = [f for f in FIELDS if f in cleaned and cleaned[f] != current[f]]
    if not changed:
        return []
    if "phone" in changed:
        _check_phone_change(tx, current, cleaned["phone"])
    new = {**current, **{f: cleaned[f] for f in changed}}
    tx.execute(
        "UPDATE contacts SET phone = ?, name = ?, email = ?, tags = ?, notes = ?, timezone = ?, updated_at = ?, "
        "search_name = ?, phone_digits = ? WHERE id = ?",
        [
            new["phone"],
            new["name"],
            new["email"],
            new["tags"],
            new["notes"],
            new["timezone"],
            clock.utcnow(),
            phones.normalize_name(new["name"]),
            new["phone"].lstrip("+"),
            contact_id,
        ],
    )
    tx.publish(events.CONTACT_UPDATED, contact_id=contact_id, actor_id=actor_id, fields=changed)
    return changed


def _py(value: Any) -> Any:
    return value.to_pydatetime() if hasattr(value, "to_pydatetime") else value


# ---- archive and delete ---------------------------------------------------------------------


def do_archive_contact(db: Database, actor: User, contact_id: Any) -> bool:
    """Hide a contact from the list (its conversations stay). False if it already was archived."""
    return _set_archived(db, actor, contact_id, True)


def do_unarchive_contact(db: Database, actor: User, contact_id: Any) -> bool:
    return _set_archived(db, actor, contact_id, False)


do_unarchive = do_unarchive_contact


def _set_archived(db: Database, actor: User, contact_id: Any, archived: bool) -> bool:
    require_editor(actor)
    contact = get_contact(db, actor, contact_id)
    if contact["archived"] == archived:
        return False

    def write(tx: Transaction) -> bool:
        _recheck_editor(tx, actor)
        done = tx.fetchone(
            "UPDATE contacts SET archived = ?, updated_at = ? WHERE id = ? AND archived = ? RETURNING id",
            [archived, clock.utcnow(), contact["id"], not archived],
        )
        if done is None:
            return False
        name = events.CONTACT_ARCHIVED if archived else events.CONTACT_UNARCHIVED
        audit.record(tx, actor.id, name, "contact", contact["id"], phone=contact["phone"])
        tx.publish(name, contact_id=contact["id"], actor_id=actor.id)
        return True

    return db.write(write)


def _delete_refusal(tx_or_db: Any, contact: dict[str, Any]) -> str | None:
    who = label(contact["name"], contact["phone"])
    cid = contact["id"]
    if tx_or_db.scalar("SELECT EXISTS (SELECT 1 FROM conversations WHERE contact_id = ?)", [cid]):
        return f"{who} has conversations, and conversations are never deleted; archive the contact instead."
    if _has_messages(tx_or_db, cid):
        return f"{who} has message history, which is never deleted; archive the contact instead."
    if contact["opted_out"] or tx_or_db.scalar(
        "SELECT EXISTS (SELECT 1 FROM optout_history WHERE contact_id = ?)", [cid]
    ):
        return f"{who} has an opt-out on record, which must be kept; archive the contact instead."
    return None


def check_delete_contact(db: Database, actor: User, contact_id: Any) -> dict[str, Any]:
    permissions.require_admin(actor, "delete contacts")
    contact = get_contact(db, actor, contact_id)
    refusal = _delete_refusal(db, contact)
    if refusal:
        raise ValidationError(refusal)
    return contact


def do_delete_contact(db: Database, actor: User, contact_id: Any) -> None:
    """Erase a contact that never had a conversation or message (admins only)."""
    contact = check_delete_contact(db, actor, contact_id)

    def write(tx: Transaction) -> None:
        permissions.recheck_actor(tx, actor, ("admin",), "delete contacts")
        row = tx.fetchone(f"SELECT {COLUMNS} FROM contacts WHERE id = ?", [contact["id"]])
        if row is None:
            return
        refusal = _delete_refusal(tx, dict(zip(COLUMN_NAMES, row)))
        if refusal:
            raise ValidationError(refusal)
        tx.execute("DELETE FROM contacts WHERE id = ?", [contact["id"]])
        audit.record(
            tx, actor.id, "contact.deleted", "contact", contact["id"], phone=contact["phone"], name=contact["name"]
        )
        tx.publish(events.CONTACT_DELETED, contact_id=contact["id"], actor_id=actor.id)

    db.write(write)
