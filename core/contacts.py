"""The contacts manager: list, search, detail; who may change contacts (issue 4).

Contacts are the workspace's address book: every role can look them up,
agents and admins save and edit them, supervisors only read (DESIGN.md,
*Who uses it*). What a contact's detail shows of its conversations follows
the conversation rules (``core.permissions``): agents see their own,
admins and supervisors everyone's.

One contact per number: numbers are stored as E.164 and a second contact
with the same number is refused with ``DuplicateContact``, which names the
existing contact and carries its id so the page can open it. Saving,
editing, archiving and deleting are ``core.actions.contacts``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from core import contact_search, labels, permissions, phones
from core.auth import User
from core.contact_fields import split_tags
from core.db import Database
from core.errors import Conflict, NotFound, PermissionDenied
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
    "opt_in_repeat": "Sent a start word while subscribed",
    "opt_out_superseded": "Sent a stop word that arrived after a later start word (not applied)",
    "opt_in_superseded": "Sent a start word that arrived after a later stop word (not applied)",
    "flagged": "Possible opt-out request",
    "flag_dismissed": "Possible opt-out request dismissed by an agent",
    "opt_out_confirmed_by_agent": "Opt-out confirmed by an agent",
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
               h.message_id, h.reason
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
        can_change_phone=can_edit(viewer) and messages == 0 and not detail["opted_out"] and not history,
        can_delete=viewer.is_admin and not conversations and not messages and not detail["opted_out"] and not history,
    )
    detail["effective_timezone"] = detail["timezone"] or detail["number_timezone"]
    return detail
