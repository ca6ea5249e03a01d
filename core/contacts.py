"""The contacts manager: list, search, detail, save, archive (issue 4).

Contacts are the workspace's address book: every role can look them up,
agents and admins save and edit them, supervisors only read (DESIGN.md,
*Who uses it*). What a contact's detail shows of its conversations follows
the conversation rules (``core.permissions``): agents see their own,
admins and supervisors everyone's.

One contact per number: numbers are stored as E.164 and a second contact
with the same number is refused with ``DuplicateContact``, which names the
existing contact and carries its id so the page can open it. Every write
keeps ``search_name`` (``normalize_name``) and ``phone_digits`` current and
publishes an event, which keeps the search index (``core.contact_search``)
current in the same transaction: a contact is found by the very next search. Contacts with conversations or
message history are archived, never deleted (rule 4); an opted-out contact
is kept too, so the opt-out is never forgotten.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from core import audit, clock, contact_search, events, labels, permissions, phones
from core.auth import User
from core.contact_fields import CLEANERS, clean_phone, split_tags
from core.db import Database, Transaction
from core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from core.queries import Page

PAGE_SIZE = 50
ARCHIVE_FILTERS = ("active", "archived", "all")
FIELDS = ("name", "phone", "email", "tags", "notes", "timezone")
COLUMN_NAMES = (
    "id",
    "phone",
    "name",
    "email",
    "tags",
    "notes",
    "timezone",
    "archived",
    "opted_out",
    "opted_out_at",
    "created_at",
    "updated_at",
)
COLUMNS = ", ".join(COLUMN_NAMES)
OPTOUT_KINDS = {
    "opt_out": "Opted out",
    "opt_in": "Opted back in",
    "opt_out_repeat": "Sent a stop word again",
    "flagged": "Possible opt-out request",
    "confirmed": "Opt-out confirmed by an agent",
}


class DuplicateContact(Conflict):
    """The number already belongs to a contact; ``contact_id`` is that contact."""

    def __init__(self, message: str, contact_id: int, label: str) -> None:
        super().__init__(message)
        self.contact_id = contact_id
        self.label = label


label = labels.contact_label


def parse_contact_id(value: Any) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise NotFound(f"“{value}” is not a contact number.") from None
    if number <= 0:
        raise NotFound(f"There is no contact {number}.")
    return number


# ---- permissions ------------------------------------------------------------------------


def can_edit(user: User) -> bool:
    return user.active and user.role in ("standard", "admin")


def require_editor(user: User) -> None:
    if not can_edit(user):
        raise PermissionDenied("Supervisors can look at contacts but cannot create or change them.")


def _recheck_editor(tx: Transaction, actor: User) -> None:
    """Inside a write: the editor is still active and still an agent or admin."""
    permissions.recheck_actor(tx, actor, ("standard", "admin"), "create or change contacts")


# ---- reading ----------------------------------------------------------------------------


def contact_filter(search: str | None, archived: str = "active", alias: str = "ct") -> tuple[str, list[Any]]:
    """The WHERE clause for a list or export: archived state plus name/number search (through the index)."""
    where = {"active": f"NOT {alias}.archived", "archived": f"{alias}.archived"}.get(archived, "TRUE")
    query = contact_search.parse(search)
    if query is None:
        return where, []
    sql, params = contact_search.contact_ids_sql(query)
    return f"{where} AND {alias}.id IN ({sql})", params


def list_contacts(
    db: Database,
    viewer: User,
    *,
    search: str | None = None,
    archived: str = "active",
    page: int = 0,
    page_size: int = PAGE_SIZE,
) -> Page:
    """One page of contacts by name (nameless ones last), with the conversations the viewer may see.

    One statement: the matches come from the search index (every contact, in list order,
    when nothing is searched), only the page's contacts are read and joined to their
    conversations. A search that cannot mean anything (one letter, two digits) is refused
    with a ``ValidationError`` sentence instead of scanning every contact.
    """
    query = contact_search.parse(search)
    page = max(0, int(page))
    rows, total = _page(db, viewer, query, archived, page, page_size)
    if not rows and total and page:  # past the end (contacts archived meanwhile): show the last page
        page = max(0, -(-total // page_size) - 1)
        rows, total = _page(db, viewer, query, archived, page, page_size)
    return Page(rows=rows, total=total, page=page, page_size=page_size)


def _page(
    db: Database, viewer: User, query: contact_search.Query | None, archived: str, page: int, page_size: int
) -> tuple[list[dict[str, Any]], int]:
    """One statement: the matches from the search index (every contact, in list order, when nothing
    is searched), their count, the page's contacts in list order, those contacts' columns and the
    conversations the viewer may see with each.

    The page's ids are handed to the contacts and conversations as one list (``IN (SELECT
    unnest(...))``), which DuckDB answers through their keys (an index scan of 50 rows each); a
    join with the page read whole columns. It used to be two statements, the page from the index
    and then the rows by literal id lists: each statement costs about a millisecond of planning
    and starting here, and one fewer took 15 % off a search at 100k contacts.

    The number is taken from the index's sort key (``contact_search.phone_of``), not fetched:
    DuckDB fetches a row of a unique string column by decoding its segment, which cost 1.4 ms
    of a 5 ms search for 50 rows; the other columns the list shows cost a tenth of that."""
    if query is None:  # every contact: the first rows in list order, counted where that is cheap
        matches, params = contact_search.first_rows_sql(archived), [(page + 1) * page_size]
        count = f"SELECT count(*) FROM contacts WHERE {contact_filter(None, archived, 'contacts')[0]}"
    else:
        matches, params = contact_search.matches_sql(query, archived)
        count = "SELECT count(*) FROM m"
    total, found, rows, seen = db.fetchone(
        f"""
        WITH m AS MATERIALIZED ({matches}),
        p AS MATERIALIZED (SELECT contact_id, sort_key FROM m ORDER BY sort_key LIMIT ? OFFSET ?),
        ids AS (SELECT list(contact_id) AS l FROM p)
        SELECT ({count}) AS total,
               (SELECT list((contact_id, sort_key) ORDER BY sort_key) FROM p) AS found,
               (SELECT list((ct.id, ct.name, ct.email, ct.tags, ct.archived, ct.opted_out)) FROM contacts ct
                WHERE ct.id IN (SELECT unnest(l) FROM ids)) AS rows,
               (SELECT list((cv.contact_id, cv.owner_id)) FROM conversations cv
                WHERE cv.contact_id IN (SELECT unnest(l) FROM ids)) AS seen
        """,
        [*params, page_size, page * page_size],
    )
    if not found:
        return [], total
    by_id = {r[0]: r for r in rows or []}
    # Counted here for an agent (their own conversations only): with the owner in the statement's
    # filter DuckDB scanned every conversation instead of fetching the page's few through the key.
    conversations = Counter(c for c, owner in seen or [] if viewer.sees_team or owner == viewer.id)
    shown = []
    for contact_id, key_sort in found:
        if contact_id not in by_id:  # deleted since the index was read (its keys go with the next refresh)
            continue
        _, name, email, tags, is_archived, opted_out = by_id[contact_id]
        shown.append(
            {
                "id": contact_id,
                "name": name,
                "email": email,
                "tags": tags,
                "archived": is_archived,
                "opted_out": opted_out,
                "conversations": conversations[contact_id],
                "phone": contact_search.phone_of(key_sort),
            }
        )
    return shown, total


def get_contact(db: Database, viewer: User, contact_id: Any) -> dict[str, Any]:
    contact_id = parse_contact_id(contact_id)
    rows = db.dicts(f"SELECT {COLUMNS} FROM contacts WHERE id = ?", [contact_id])
    if not rows:
        raise NotFound(f"There is no contact {contact_id}.")
    return rows[0]


def find_by_phone(db: Database, viewer: User, raw_phone: Any) -> dict[str, Any] | None:
    """The contact with this number (typed any way), or None."""
    e164 = phones.to_e164(None if raw_phone is None else str(raw_phone))
    if e164 is None:
        return None
    rows = db.dicts(f"SELECT {COLUMNS} FROM contacts WHERE phone = ?", [e164])
    return rows[0] if rows else None


def contact_detail(db: Database, viewer: User, contact_id: Any) -> dict[str, Any]:
    """A contact with its channels, opt-out history and the conversations the viewer may open."""
    detail = get_contact(db, viewer, contact_id)
    cid = detail["id"]
    conversations = db.dicts(
        """
        SELECT c.id AS conversation_id, c.channel, c.status, c.owner_id, u.display_name AS owner_name,
               s.label AS sender_label, c.last_message_at, c.last_message_preview AS preview,
               c.last_message_direction, c.message_count, c.unsolicited
        FROM conversations c JOIN senders s ON s.id = c.sender_id LEFT JOIN users u ON u.id = c.owner_id
        WHERE c.contact_id = ? ORDER BY c.last_message_at DESC, c.id DESC
        """,
        [cid],
    )
    visible = [c for c in conversations if permissions.can_view_conversation(viewer, c["owner_id"])]
    history = db.dicts(
        """
        SELECT h.occurred_at, h.kind, h.keyword, h.channel, s.label AS sender_label, u.display_name AS user_name,
               h.message_id
        FROM optout_history h LEFT JOIN senders s ON s.id = h.sender_id LEFT JOIN users u ON u.id = h.user_id
        WHERE h.contact_id = ? ORDER BY h.occurred_at DESC, h.id DESC
        """,
        [cid],
    )
    for row in history:
        row["what"] = OPTOUT_KINDS.get(row["kind"], str(row["kind"]).replace("_", " ").capitalize())
    messages = db.scalar("SELECT count(*) FROM messages WHERE contact_id = ?", [cid])
    detail.update(
        label=label(detail["name"], detail["phone"]),
        channels=sorted({c["channel"] for c in conversations}),
        conversations=visible,
        hidden_conversations=len(conversations) - len(visible),
        optout_history=history,
        message_count=messages,
        tag_list=split_tags(detail["tags"]),
        number_timezone=phones.phone_timezone(detail["phone"]),
        can_edit=can_edit(viewer),
        can_change_phone=can_edit(viewer) and messages == 0,
        can_delete=viewer.is_admin and not conversations and not messages and not detail["opted_out"] and not history,
    )
    detail["effective_timezone"] = detail["timezone"] or detail["number_timezone"]
    return detail


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


def phone_locked(db: Database, contact_id: int) -> bool:
    """True when the contact's number has message history and so cannot change."""
    return _has_messages(db, contact_id)


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
