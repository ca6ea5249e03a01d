"""Read-only finders: inbox pages, threads, sent messages, counts.

Every finder takes the acting user and refuses what that user may not see
(``core.permissions``). Inbox listing reads the summary columns kept on
``conversations`` and only joins contacts, owners and read markers for the
rows of the page, so the first page stays fast at 100k conversations.

Read state is the owner's (rule 6): ``unread`` below always means "unread
for the conversation's owner", whoever is looking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core import permissions
from core.auth import User
from core.db import Database
from core.search import SearchFilter, parse_search

PAGE_SIZE = 50
THREAD_PAGE = 200
STATUS_FILTERS = ("open", "closed", "all")

# Unread for the owner: explicitly marked unread, or an incoming message
# arrived after the owner last read the conversation.
UNREAD_SQL = (
    "(coalesce(rm.unread, FALSE) OR (c.last_inbound_at IS NOT NULL AND "
    "(rm.read_at IS NULL OR rm.read_at < c.last_inbound_at)))"
)


@dataclass
class Page:
    rows: list[dict[str, Any]]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass
class Thread:
    conversation: dict[str, Any]
    messages: list[dict[str, Any]]  # oldest first
    has_older: bool
    media: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # by message id


def _status_clause(status: str) -> tuple[str, list[Any]]:
    if status not in STATUS_FILTERS:
        status = "open"
    if status == "all":
        return "TRUE", []
    return "c.status = ?", [status]


def _search_clause(search: SearchFilter | None) -> tuple[str, list[Any]]:
    if search is None:
        return "TRUE", []
    sql, params = search.contact_predicate("ct")
    return f"c.contact_id IN (SELECT ct.id FROM contacts ct WHERE {sql})", params


def inbox_page(
    db: Database,
    viewer: User,
    *,
    scope: str = "mine",
    owner_id: int | None = None,
    status: str = "open",
    search: str | None = None,
    page: int = 0,
    page_size: int = PAGE_SIZE,
) -> Page:
    """Conversations, most recent activity first.

    ``scope='mine'``: the viewer's own conversations (My Inbox).
    ``scope='team'``: admins and supervisors; ``owner_id`` narrows to one agent,
    ``None`` means everyone's.
    """
    where, params = [], []
    if scope == "mine":
        where.append("c.owner_id = ?")
        params.append(viewer.id)
    elif scope == "team":
        permissions.require_team_view(viewer)
        if owner_id is not None:
            where.append("c.owner_id = ?")
            params.append(owner_id)
    else:
        raise ValueError(f"unknown scope {scope!r}")
    clause, p = _status_clause(status)
    where.append(clause)
    params += p
    clause, p = _search_clause(parse_search(search))
    where.append(clause)
    params += p
    where_sql = " AND ".join(where)
    page = max(0, int(page))
    total = db.scalar(f"SELECT count(*) FROM conversations c WHERE {where_sql}", params)
    rows = db.dicts(
        f"""
        WITH pg AS (
            SELECT * FROM conversations c WHERE {where_sql}
            ORDER BY c.last_message_at DESC, c.id DESC LIMIT ? OFFSET ?
        )
        SELECT c.id AS conversation_id, c.contact_id, ct.name AS contact_name, ct.phone AS contact_phone,
               c.channel, c.last_message_preview AS preview, c.last_message_at, c.last_message_direction,
               {UNREAD_SQL} AS unread, c.status, c.owner_id, u.display_name AS owner_name,
               c.unsolicited, c.optout_flag, ct.opted_out, c.message_count, s.label AS sender_label,
               c.last_inbound_at, lo.last_out_status
        FROM pg c
        JOIN contacts ct ON ct.id = c.contact_id
        JOIN senders s ON s.id = c.sender_id
        LEFT JOIN users u ON u.id = c.owner_id
        LEFT JOIN read_markers rm ON rm.user_id = c.owner_id AND rm.conversation_id = c.id
        -- The status of each row's latest outgoing message (the list's ✓ / ✓✓ / ⚠ / 🕓).
        LEFT JOIN (
            SELECT m.conversation_id, arg_max(m.status, m.id) AS last_out_status FROM messages m
            WHERE m.direction = 'out' AND m.conversation_id IN (SELECT id FROM pg)
            GROUP BY m.conversation_id
        ) lo ON lo.conversation_id = c.id
        ORDER BY c.last_message_at DESC, c.id DESC
        """,
        [*params, page_size, page * page_size],
    )
    return Page(rows=rows, total=total, page=page, page_size=page_size)


def unread_count(db: Database, user_id: int) -> int:
    """Open conversations unread for their owner ``user_id`` (My Inbox badge, tab title)."""
    return db.scalar(
        f"""
        SELECT count(*) FROM conversations c
        LEFT JOIN read_markers rm ON rm.user_id = c.owner_id AND rm.conversation_id = c.id
        WHERE c.owner_id = ? AND c.status = 'open' AND {UNREAD_SQL}
        """,
        [user_id],
    )


def conversation_detail(db: Database, viewer: User, conversation_id: Any) -> dict[str, Any]:
    """One conversation with its contact, sender and owner, if the viewer may see it."""
    conversation_id = permissions.parse_conversation_id(conversation_id)
    rows = db.dicts(
        f"""
        SELECT c.id AS conversation_id, c.*, ct.name AS contact_name, ct.phone AS contact_phone,
               ct.opted_out, ct.archived AS contact_archived, ct.timezone AS contact_timezone,
               ct.email AS contact_email, ct.tags AS contact_tags, ct.notes AS contact_notes,
               s.label AS sender_label, s.phone AS sender_phone, s.provider AS sender_provider,
               s.enabled AS sender_enabled, s.registration_kind, s.registration_status,
               u.display_name AS owner_name, {UNREAD_SQL} AS unread
        FROM conversations c
        JOIN contacts ct ON ct.id = c.contact_id
        JOIN senders s ON s.id = c.sender_id
        LEFT JOIN users u ON u.id = c.owner_id
        LEFT JOIN read_markers rm ON rm.user_id = c.owner_id AND rm.conversation_id = c.id
        WHERE c.id = ?
        """,
        [conversation_id],
    )
    permissions.require_conversation_view(viewer, conversation_id, rows[0] if rows else None)
    return rows[0]


MESSAGE_COLUMNS = """
    m.id, m.conversation_id, m.direction, m.author_id, a.display_name AS author_name, m.body,
    m.status, m.error_code, m.error_reason, m.created_at, m.status_at, m.release_at,
    m.has_media, m.campaign_id, m.provider_message_id
"""


def thread(
    db: Database, viewer: User, conversation_id: Any, *, limit: int = THREAD_PAGE, before_id: int | None = None
) -> Thread:
    """The latest ``limit`` messages (oldest first), and whether older ones exist."""
    detail = conversation_detail(db, viewer, conversation_id)
    cid = detail["conversation_id"]
    params: list[Any] = [cid]
    before = ""
    if before_id is not None:
        before = "AND m.id < ?"
        params.append(int(before_id))
    rows = db.dicts(
        f"""
        SELECT {MESSAGE_COLUMNS} FROM messages m LEFT JOIN users a ON a.id = m.author_id
        WHERE m.conversation_id = ? {before}
        ORDER BY m.id DESC LIMIT ?
        """,
        [*params, limit + 1],
    )
    has_older = len(rows) > limit
    rows = rows[:limit][::-1]
    media_ids = [r["id"] for r in rows if r["has_media"]]
    media: dict[int, list[dict[str, Any]]] = {}
    if media_ids:
        for item in db.dicts(
            "SELECT id, message_id, sha256, content_type, filename, size, token FROM media "
            "WHERE message_id IN (SELECT unnest(?::BIGINT[])) ORDER BY id",
            [media_ids],
        ):
            media.setdefault(item["message_id"], []).append(item)
    return Thread(conversation=detail, messages=rows, has_older=has_older, media=media)


def thread_version(db: Database, conversation_id: int) -> tuple:
    """A cheap fingerprint that changes whenever the thread shows something new."""
    return db.fetchone(
        "SELECT message_count, last_message_at, status, owner_id, optout_flag FROM conversations WHERE id = ?",
        [conversation_id],
    ) + (
        db.scalar(
            "SELECT max(status_at) FROM messages WHERE conversation_id = ? AND direction = 'out'",
            [conversation_id],
        ),
    )


def sent_messages(
    db: Database, viewer: User, *, search: str | None = None, page: int = 0, page_size: int = PAGE_SIZE
) -> Page:
    """The viewer's outbound messages: campaign sends and replies they wrote."""
    where = ["m.author_id = ?", "m.direction = 'out'"]
    params: list[Any] = [viewer.id]
    filt = parse_search(search)
    if filt is not None:
        sql, p = filt.contact_predicate("ct")
        where.append(f"m.contact_id IN (SELECT ct.id FROM contacts ct WHERE {sql})")
        params += p
    where_sql = " AND ".join(where)
    total = db.scalar(f"SELECT count(*) FROM messages m WHERE {where_sql}", params)
    rows = db.dicts(
        f"""
        WITH pg AS (
            SELECT * FROM messages m WHERE {where_sql} ORDER BY m.created_at DESC, m.id DESC LIMIT ? OFFSET ?
        )
        SELECT m.id, m.conversation_id, m.contact_id, ct.name AS contact_name, ct.phone AS contact_phone,
               s.channel, m.body, m.status, m.error_code, m.error_reason, m.created_at, m.release_at,
               m.campaign_id, cp.name AS campaign_name, m.has_media,
               CASE WHEN c.id IS NULL THEN NULL ELSE {UNREAD_SQL} END AS unread
        FROM pg m
        JOIN contacts ct ON ct.id = m.contact_id
        JOIN senders s ON s.id = m.sender_id
        LEFT JOIN campaigns cp ON cp.id = m.campaign_id
        LEFT JOIN conversations c ON c.id = m.conversation_id
        LEFT JOIN read_markers rm ON rm.user_id = c.owner_id AND rm.conversation_id = c.id
        ORDER BY m.created_at DESC, m.id DESC
        """,
        [*params, page_size, max(0, page) * page_size],
    )
    return Page(rows=rows, total=total, page=max(0, page), page_size=page_size)


def team_members(db: Database, viewer: User, *, include_disabled: bool = False) -> list[dict[str, Any]]:
    """Users whose inboxes the viewer may browse (Team Inbox picker, assignment dropdown)."""
    permissions.require_team_view(viewer)
    active = "" if include_disabled else "AND active"
    return db.dicts(
        f"""
        SELECT id, username, display_name, role, active, team_id FROM users
        WHERE role IN ('standard', 'admin') {active} ORDER BY role = 'admin', display_name
        """
    )


def workspace(db: Database) -> dict[str, Any]:
    rows = db.dicts("SELECT * FROM workspace WHERE id = 1")
    return rows[0] if rows else {}


def user_count(db: Database) -> int:
    return db.scalar("SELECT count(*) FROM users")


def media_item(db: Database, viewer: User, media_id: int) -> dict[str, Any]:
    """A media row, if the viewer may see its conversation."""
    rows = db.dicts(
        "SELECT md.*, m.conversation_id FROM media md JOIN messages m ON m.id = md.message_id WHERE md.id = ?",
        [media_id],
    )
    if not rows:
        from core.errors import NotFound

        raise NotFound("That file does not exist.")
    conversation_detail(db, viewer, rows[0]["conversation_id"])
    return rows[0]
