"""Read-only finders: inbox pages, threads, sent messages, counts.

Every finder takes the acting user and refuses what that user may not see
(``core.permissions``). Inbox listing reads the summary columns kept on
``conversations`` and only joins contacts, owners and read markers for the
rows of the page, so the first page stays fast at 1M conversations.

One view per list page (``inbox_view`` for My Inbox and Team Inbox,
``sent_view`` for Sent Messages): the rows of the page, their total, the
unread badge and the version a live page compares (``core.versions``),
all from one statement. Names and numbers are searched through the
contacts search index (``core.contact_search``). The Conversation page's
view is ``core.conversation_view``.

Read state is the owner's (rule 6): ``unread`` below always means "unread
for the conversation's owner", whoever is looking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core import contact_search, permissions, threads
from core.auth import User
from core.db import Database

PAGE_SIZE = 50
THREAD_PAGE = threads.PAGE
STATUS_FILTERS = ("open", "closed", "all")

# Unread for the owner: marked unread (by the owner, an admin, an assignment), or an incoming
# message reached Parley after the owner last read the conversation; with no marker, any incoming
# message. "After" is by message id, not by time: ``conversations.last_inbound_id`` is the newest
# incoming message applied (ids are handed out in the order messages are stored, one write at a
# time) and ``read_markers.read_upto`` the one that was newest when the owner read it. A message's
# time is the provider's or the moment Parley stored the webhook: either can be earlier than a read
# that came before the message reached the inbox (a WhatsApp webhook Meta delivered late or
# retried, a backlog the applier had not reached yet), and such a message never showed as unread.
UNREAD_SQL = "coalesce(rm.unread OR c.last_inbound_id > coalesce(rm.read_upto, 0), c.last_inbound_id IS NOT NULL)"


def is_unread(last_inbound_id: Any, marker: dict[str, Any] | None) -> bool:
    """``UNREAD_SQL`` for one conversation, given its owner's marker (``unread``, ``read_upto``) read by key."""
    if marker is None:
        return last_inbound_id is not None
    if marker.get("unread"):
        return True
    return last_inbound_id is not None and last_inbound_id > (marker.get("read_upto") or 0)


@dataclass
class Page:
    rows: list[dict[str, Any]]
    total: int
    page: int
    page_size: int
    capped: bool = False  # ``total`` is a lower bound: there are more, not counted (see ``sent_view``)

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


def _search_clause(db: Database, search: str | None, column: str) -> tuple[str, list[Any]]:
    query = contact_search.parse(search)
    if query is None:
        return "TRUE", []
    return contact_search.contact_filter(db, query, column)


@dataclass
class InboxView:
    """A list page: its rows, the unread badge (None when not asked for) and its version."""

    page: Page
    unread: int | None
    version: int
    members: list[dict[str, Any]] | None = None  # Team Inbox: whose inboxes the viewer may browse


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
    """Conversations, most recent activity first (see ``inbox_view``)."""
    return inbox_view(
        db, viewer, scope=scope, owner_id=owner_id, status=status, search=search, page=page, page_size=page_size
    ).page


def inbox_view(
    db: Database,
    viewer: User,
    *,
    scope: str = "mine",
    owner_id: int | None = None,
    status: str = "open",
    search: str | None = None,
    page: int = 0,
    page_size: int = PAGE_SIZE,
    unread_for: int | None = None,
) -> InboxView:
    """My Inbox and Team Inbox: conversations, most recent activity first, in two statements
    (which conversations, with the counts and the version; then those rows).

    ``scope='mine'``: the viewer's own conversations (My Inbox).
    ``scope='team'``: admins and supervisors; ``owner_id`` narrows to one agent,
    ``None`` means everyone's. ``unread_for``: also count that user's open unread
    conversations (the badge). The version is the owner's inbox version (everyone's
    for the whole team): the list is read again only when it moves.
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
    clause, p = _search_clause(db, search, "c.contact_id")
    where.append(clause)
    params += p
    where_sql = " AND ".join(where)
    page = max(0, int(page))
    version_of = viewer.id if scope == "mine" else owner_id
    version_sql, version_params = (
        ("SELECT coalesce(sum(inbox_version), 0) FROM users", [])
        if version_of is None
        else ("SELECT inbox_version FROM users WHERE id = ?", [version_of])
    )
    unread_sql = (
        f"""SELECT count(*) FROM conversations c
            LEFT JOIN read_markers rm ON rm.user_id = c.owner_id AND rm.conversation_id = c.id
            WHERE c.owner_id = ? AND c.status = 'open' AND {UNREAD_SQL}"""
        if unread_for is not None
        else "SELECT NULL"
    )
    head = db.dicts(
        f"""
        WITH f AS MATERIALIZED (
            SELECT c.id, c.contact_id, c.last_out_id, c.last_message_at FROM conversations c WHERE {where_sql}
        )
        SELECT (SELECT count(*) FROM f) AS total, ({unread_sql}) AS unread, ({version_sql}) AS version,
               {MEMBERS_SQL if scope == "team" else "NULL"} AS members,
               (SELECT list(struct_pack(id := id, contact_id := contact_id, last_out_id := last_out_id))
                FROM (SELECT id, contact_id, last_out_id FROM f ORDER BY last_message_at DESC, id DESC LIMIT ? OFFSET ?))
               AS ids
        """,
        [*params, *([unread_for] if unread_for is not None else []), *version_params, page_size, page * page_size],
    )[0]
    return InboxView(
        page=Page(rows=_inbox_rows(db, head["ids"] or []), total=head["total"], page=page, page_size=page_size),
        unread=head["unread"],
        version=head["version"] or 0,
        members=[dict(m) for m in head["members"]] if head["members"] is not None else None,
    )


# The rows of a page, by their ids written into the statement (only integers read from the
# database). DuckDB answers a literal id list by filtering each big table's scan; a join with
# the page's ids instead read a whole column of every big table (at 1M conversations a page took
# 60 ms that way, a few ms this way).
INBOX_ROWS_SQL = """
    WITH c AS MATERIALIZED (
        SELECT id, contact_id, sender_id, owner_id, channel, last_message_preview, last_message_at,
               last_message_direction, last_inbound_at, last_inbound_id, status, unsolicited, optout_flag,
               message_count, last_out_id
        FROM conversations WHERE id IN ({ids})
    ),
    ct AS MATERIALIZED (SELECT id, name, phone, opted_out FROM contacts WHERE id IN ({contacts})),
    rm AS MATERIALIZED (SELECT * FROM read_markers WHERE conversation_id IN ({ids})),
    -- The status of each row's latest outgoing message (the list's ✓ / ✓✓ / ⚠ / 🕓), by the id the
    -- conversation keeps (``conversations.last_out_id``, set where messages are recorded).
    lo AS MATERIALIZED (SELECT id, status FROM messages WHERE id IN ({last_out}))
    SELECT c.id AS conversation_id, c.contact_id, ct.name AS contact_name, ct.phone AS contact_phone,
           c.channel, c.last_message_preview AS preview, c.last_message_at, c.last_message_direction,
           {unread} AS unread, c.status, c.owner_id, u.display_name AS owner_name,
           c.unsolicited, c.optout_flag, ct.opted_out, c.message_count, s.label AS sender_label,
           c.last_inbound_at, lo.status AS last_out_status
    FROM c
    JOIN ct ON ct.id = c.contact_id
    JOIN senders s ON s.id = c.sender_id
    LEFT JOIN users u ON u.id = c.owner_id
    LEFT JOIN rm ON rm.user_id = c.owner_id AND rm.conversation_id = c.id
    LEFT JOIN lo ON lo.id = c.last_out_id
    ORDER BY c.last_message_at DESC, c.id DESC
"""


def _inbox_rows(db: Database, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not found:
        return []
    return db.dicts(
        INBOX_ROWS_SQL.format(
            ids=threads.id_list([f["id"] for f in found]),
            contacts=threads.id_list({f["contact_id"] for f in found}),
            last_out=threads.id_list({f["last_out_id"] for f in found if f["last_out_id"] is not None}) or "NULL",
            unread=UNREAD_SQL,
        )
    )


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


def thread(
    db: Database, viewer: User, conversation_id: Any, *, limit: int = THREAD_PAGE, before_id: int | None = None
) -> Thread:
    """The latest ``limit`` messages (older than ``before_id`` if given; oldest first), and whether older ones exist."""
    detail = conversation_detail(db, viewer, conversation_id)
    page = threads.read_page(db, detail["conversation_id"], detail["message_count"], limit=limit, before_id=before_id)
    return Thread(conversation=detail, messages=page.messages, has_older=page.has_older, media=page.media)


def sent_messages(
    db: Database, viewer: User, *, search: str | None = None, page: int = 0, page_size: int = PAGE_SIZE
) -> Page:
    """The viewer's outbound messages: campaign sends and replies they wrote (see ``sent_view``)."""
    return sent_view(db, viewer, search=search, page=page, page_size=page_size).page


SENT_COUNT_CAP = 1_000


def sent_view(
    db: Database, viewer: User, *, search: str | None = None, page: int = 0, page_size: int = PAGE_SIZE
) -> InboxView:
    """Sent Messages: the page, its total and the viewer's inbox version, in two statements.

    Newest first: messages are stored in the order they were written, so DuckDB reads the newest
    row groups first and stops once the page is full, instead of sorting everything the viewer
    ever sent. The total is
    counted the same way up to ``SENT_COUNT_CAP`` (or a page past the current one), which is
    all the pager needs: "1–50 of 1,000+" for an agent with years of messages, where an exact
    count read 10M rows (53 ms at 1M conversations).
    """
    where = ["m.author_id = ?", "m.direction = 'out'"]
    params: list[Any] = [viewer.id]
    clause, p = _search_clause(db, search, "m.contact_id")
    where.append(clause)
    params += p
    where_sql = " AND ".join(where)
    page = max(0, int(page))
    cap = max(SENT_COUNT_CAP, (page + 2) * page_size)
    head = db.dicts(
        f"""
        SELECT (SELECT count(*) FROM (SELECT m.id FROM messages m WHERE {where_sql}
                                      ORDER BY m.created_at DESC, m.id DESC LIMIT ?)) AS total,
               (SELECT inbox_version FROM users WHERE id = ?) AS version,
               (SELECT list(struct_pack(id := id, contact_id := contact_id, conversation_id := conversation_id))
                FROM (SELECT m.id, m.contact_id, m.conversation_id FROM messages m WHERE {where_sql}
                      ORDER BY m.created_at DESC, m.id DESC LIMIT ? OFFSET ?)) AS page
        """,
        [*params, cap + 1, viewer.id, *params, page_size, page * page_size],
    )[0]
    found = head["page"] or []
    rows = _sent_rows(db, found) if found else []
    total = head["total"]
    return InboxView(
        page=Page(rows=rows, total=min(total, cap), page=page, page_size=page_size, capped=total > cap),
        unread=None,
        version=head["version"] or 0,
    )


SENT_ROWS_SQL = """
    WITH m AS MATERIALIZED (
        SELECT id, conversation_id, contact_id, sender_id, campaign_id, body, status, error_code, error_reason,
               created_at, release_at, has_media
        FROM messages WHERE id IN ({ids})
    ),
    ct AS MATERIALIZED (SELECT id, name, phone FROM contacts WHERE id IN ({contacts})),
    c AS MATERIALIZED (SELECT id, owner_id, last_inbound_id FROM conversations WHERE id IN ({conversations})),
    rm AS MATERIALIZED (SELECT * FROM read_markers WHERE conversation_id IN ({conversations}))
    SELECT m.id, m.conversation_id, m.contact_id, ct.name AS contact_name, ct.phone AS contact_phone,
           s.channel, m.body, m.status, m.error_code, m.error_reason, m.created_at, m.release_at,
           m.campaign_id, cp.name AS campaign_name, m.has_media,
           CASE WHEN c.id IS NULL THEN NULL ELSE {unread} END AS unread
    FROM m
    JOIN ct ON ct.id = m.contact_id
    JOIN senders s ON s.id = m.sender_id
    LEFT JOIN campaigns cp ON cp.id = m.campaign_id
    LEFT JOIN c ON c.id = m.conversation_id
    LEFT JOIN rm ON rm.user_id = c.owner_id AND rm.conversation_id = c.id
    ORDER BY m.created_at DESC, m.id DESC
"""


def _sent_rows(db: Database, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page's messages with their contact and conversation, by literal id lists (see INBOX_ROWS_SQL)."""
    conversations = [f["conversation_id"] for f in found if f["conversation_id"] is not None]
    return db.dicts(
        SENT_ROWS_SQL.format(
            ids=threads.id_list([f["id"] for f in found]),
            contacts=threads.id_list({f["contact_id"] for f in found}),
            conversations=threads.id_list(conversations) if conversations else "NULL",
            unread=UNREAD_SQL,
        )
    )


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


MEMBERS_SQL = """(SELECT list(struct_pack(id := id, username := username, display_name := display_name,
                                         role := role, active := active, team_id := team_id)
                              ORDER BY role = 'admin', display_name)
                  FROM users WHERE role IN ('standard', 'admin') AND active)"""


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
