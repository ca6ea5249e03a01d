"""Everything the Conversation page shows, in one call: ``conversation_view``.

The page used to ask core for the conversation three times (page,
``composer_state``, ``write_refusal``), then the thread, then a fingerprint
that rescanned the thread on every live rerun, and re-decided on its own
the WhatsApp window, which templates to offer, when to warn that the window
closes before a queued message could go, what blocks the composer, upload
limits, who may work the conversation, which statuses can be retried, and
that the owner opening it marks it read. All of that is decided here now,
from two statements for the conversation (itself, then its contact, sender,
owner, read state, templates and the workspace's hours, all by primary key)
and one or two for the page of messages (``core.threads``); the page only
lays it out.

Permissions are core's (``core.permissions``): an id that is not a number,
does not exist or belongs to another agent ends in one sentence
(``NotFound`` / ``PermissionDenied``) before anything else is read.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from core import clock, labels, media_rules, permissions, queries, settings, threads
from core import templates as templates_rules
from core.actions import composing, messaging
from core.actions import conversations as conv_actions
from core.auth import User
from core.compliance import hours as hours_rules
from core.compliance import window as wa_window
from core.compliance.window import WindowState
from core.db import Database
from core.errors import ParleyError

THREAD_PAGE = threads.PAGE
REOPEN_NOTICE = "This conversation is closed: sending reopens it."  # messaging.do_send reopens it

# Two statements, each answered through an index: the conversation with its read markers (by
# the markers' index on the conversation: a handful of rows, one per user who read it), then its
# contact. Joining them cost more: DuckDB answered the joins by scanning a row group of each; and
# the conversation's list columns (the last message's preview and times) are left out, since
# reading them costs a decompression each. The small tables (senders, templates, hours, users'
# names) are kept in memory until a write changes them (``Database.small_table_cache``): reading
# them was half the time of opening a conversation (3.2 ms of 6 at 100k conversations).
CONVERSATION_SQL = """
    SELECT c.id AS conversation_id, c.id, c.contact_id, c.sender_id, c.channel, c.owner_id, c.unsolicited,
           c.campaign_id, c.status, c.last_inbound_at, c.last_inbound_id, c.message_count, c.optout_flag, c.version,
           (SELECT list(struct_pack(user_id := rm.user_id, unread := rm.unread, read_upto := rm.read_upto))
            FROM read_markers rm WHERE rm.conversation_id = ?) AS markers
    FROM conversations c WHERE c.id = ?
"""
CONTACT_SQL = """
    SELECT ct.name AS contact_name, ct.phone AS contact_phone, ct.opted_out, ct.archived AS contact_archived,
           ct.timezone AS contact_timezone
    FROM contacts ct WHERE ct.id = ?
"""
SENDER_COLUMNS = """s.label AS sender_label, s.phone AS sender_phone, s.provider AS sender_provider,
    s.enabled AS sender_enabled, s.registration_kind, s.registration_status, s.send_blocked AS sender_send_blocked"""


@dataclass(frozen=True)
class Workspace:
    """The few rows of the small tables that every conversation view needs."""

    senders: dict[int, dict[str, Any]]  # by id: the sender_* columns of the view
    templates: list[dict[str, Any]]  # active conversation templates
    hours: tuple[hours_rules.BusinessHours, hours_rules.QuietHours]  # the workspace's, parsed
    people: dict[int, str]  # users' display names by id


def _load_workspace(db: Database) -> Workspace:
    senders = {row.pop("id"): row for row in db.dicts(f"SELECT s.id, {SENDER_COLUMNS} FROM senders s")}
    templates = db.dicts(
        "SELECT id, name, body, registered, channel, language, approval_status FROM templates "
        "WHERE active AND kind = 'conversation'"
    )
    stored = dict(db.fetchall("SELECT key, value FROM settings WHERE key IN ('business_hours', 'quiet_hours')"))
    hours = (
        settings.business_hours_from_json(_json(stored.get("business_hours"), "business_hours")),
        settings.quiet_hours_from_json(_json(stored.get("quiet_hours"), "quiet_hours")),
    )
    people = dict(db.fetchall("SELECT id, display_name FROM users"))
    return Workspace(senders=senders, templates=templates, hours=hours, people=people)


def workspace(db: Database) -> Workspace:
    return db.small_table_cache("conversation_view.workspace", _load_workspace)


def read_detail(db: Database, viewer: User, conversation_id: Any) -> dict[str, Any]:
    """The conversation with its contact, sender, owner's name, read state (rule 6) and what the
    composer needs, if the viewer may see it (one sentence otherwise)."""
    cid = permissions.parse_conversation_id(conversation_id)
    rows = db.dicts(CONVERSATION_SQL, [cid, cid])
    permissions.require_conversation_view(viewer, cid, rows[0] if rows else None)
    detail = rows[0]
    marker = next((m for m in detail.pop("markers") or [] if m["user_id"] == detail["owner_id"]), None)
    detail.update(db.dicts(CONTACT_SQL, [detail["contact_id"]])[0])
    shared = workspace(db)
    detail.update(shared.senders.get(detail["sender_id"]) or dict.fromkeys(_SENDER_KEYS))
    detail["templates"] = [dict(t) for t in shared.templates]
    detail["hours"] = shared.hours
    detail["people"] = shared.people
    detail["owner_name"] = shared.people.get(detail["owner_id"])
    detail["unread"] = queries.is_unread(detail["last_inbound_id"], marker)
    return detail


_SENDER_KEYS = (
    "sender_label",
    "sender_phone",
    "sender_provider",
    "sender_enabled",
    "registration_kind",
    "registration_status",
    "sender_send_blocked",
)


@dataclass(frozen=True)
class Permissions:
    is_owner: bool
    can_work: bool  # reply, close/reopen, confirm an opt-out, edit the contact, retry
    can_mark_unread: bool  # the owner's own read state
    back_to: str  # "inbox" (My Inbox) or "team" (Team Inbox)


@dataclass(frozen=True)
class UploadLimits:
    max_mb: int  # the largest file the channel takes at all; each file is checked exactly
    help: str


@dataclass
class Composer:
    """What the compose box may offer, and why not (rules 2, 3, 5, 10)."""

    channel: str
    can_write: bool
    refusal: str | None  # why this viewer cannot write here at all
    blocked_reason: str | None  # why free text cannot go now
    templates_only: bool  # WhatsApp window closed: only registered templates
    hard_block: bool  # nothing at all can go (opted out, sender disabled)
    window: WindowState | None
    window_notice: tuple[str, str] | None  # ("success" | "warning", sentence), shown unless templates_only
    release_at: dt.datetime | None
    release_notice: str | None  # "Outside business hours: this will be queued until Thu 9:00 AM."
    window_warning: str | None  # the window closes before a queued message could go
    hours_notice: str | None  # beside a release for business hours: the hours and whether open now
    reopen_notice: str | None  # a closed conversation: sending reopens it
    sender_warning: str | None  # admins: an unregistered US sender
    templates: list[dict[str, Any]]  # the templates offered (registered ones only when the window is closed)
    upload: UploadLimits

    def template(self, template_id: Any) -> dict[str, Any] | None:
        return next((t for t in self.templates if t["id"] == template_id), None)

    def needs_template(self, template_id: Any) -> bool:
        """Free text cannot go (window closed) and no registered template is chosen yet."""
        return self.templates_only and self.template(template_id) is None


@dataclass
class ConversationView:
    conversation_id: int
    detail: dict[str, Any]
    contact_label: str
    permissions: Permissions
    composer: Composer
    messages: list[dict[str, Any]]  # oldest first; each with "status_text" and "retryable"
    has_older: bool
    media: dict[int, list[dict[str, Any]]]
    version: int  # compare with ``versions.conversation_version`` to know when to reload
    refresh_at: dt.datetime | None  # a time-bound notice (window, release) changes then: reload
    marked_read: bool = False
    mark_pending: bool = False  # the owner opened it unread; ``finish_open`` marks it read
    header: tuple = field(default=())  # what the header and composer depend on; a change reruns the page


def conversation_view(
    db: Database,
    viewer: User,
    conversation_id: Any,
    *,
    limit: int = THREAD_PAGE,
    mark_read: bool = True,
    defer_mark: bool = False,
) -> ConversationView:
    """The Conversation page's data for ``viewer``; as its owner, opening it marks it read (rule 6).

    ``defer_mark``: the view already shows it read, and the write waits for ``finish_open``,
    which the page calls once the thread is drawn. Marking read is a write (about 5 ms, more
    while webhooks arrive); the agent need not wait for it to see the conversation."""
    detail = read_detail(db, viewer, conversation_id)
    cid = detail["conversation_id"]
    marked = pending = False
    if mark_read and detail["owner_id"] == viewer.id and detail["unread"]:
        if defer_mark:
            pending = True
            detail["unread"] = False
        else:
            marked, before = conv_actions.mark_opened(db, viewer, cid)
            if marked:
                detail["unread"] = False
                detail["version"] = _version_after_mark(detail["version"], before)
    names = detail.pop("people")
    page = threads.read_page(db, cid, detail["message_count"], limit=limit, names=names)
    now = clock.utcnow()
    perms = permissions_for(viewer, detail)
    composer = composer_for(viewer, detail, now)
    for message in page.messages:
        message["status_text"] = labels.status_text(message, now)
        message["retryable"] = (
            perms.can_work and message["direction"] == "out" and message["status"] in labels.RETRYABLE_STATUSES
        )
    return ConversationView(
        conversation_id=cid,
        detail=detail,
        contact_label=labels.contact_label(detail["contact_name"], detail["contact_phone"]),
        permissions=perms,
        composer=composer,
        messages=page.messages,
        has_older=page.has_older,
        media=page.media,
        version=detail["version"] or 0,
        refresh_at=_refresh_at(composer, now),
        marked_read=marked,
        mark_pending=pending,
        header=header_key(detail, composer),
    )


def finish_open(db: Database, viewer: User, view: ConversationView) -> int:
    """Mark read what ``view`` deferred (``conversation_view(defer_mark=True)``), once; returns
    the version a live page watches from now on. The view is updated in place."""
    if view.mark_pending:
        view.mark_pending = False
        marked, before = conv_actions.mark_opened(db, viewer, view.conversation_id)
        if marked:
            view.marked_read = True
            view.version = _version_after_mark(view.version, before)
    return view.version


def finish_open_later(db: Database, viewer: User, view: ConversationView, submit) -> int:
    """``finish_open``, handed to ``submit`` (``core.page_writes.PageWrites.submit``) instead of made
    now, so that the page's run ends without waiting for the write path. Returns the version the
    live page watches: the one that write will make. If the conversation changes before the write
    is made, nothing is marked (``mark_opened``'s ``expected_version``), the version moves to
    another number, and the live page reloads and marks what it then shows."""
    if view.mark_pending:
        view.mark_pending = False
        shown = view.version
        view.version = shown + 1
        submit(conv_actions.mark_opened, db, viewer, view.conversation_id, expected_version=shown)
    return view.version


def version_to_watch(view: ConversationView) -> int:
    """The version a live page watches while ``finish_open`` is still to come: the one the pending
    mark-read will make (one more than shown), so that write reruns nothing. Anything else that
    moves the version meanwhile leaves it at another number, and the live page reloads."""
    return view.version + 1 if view.mark_pending else view.version


def _version_after_mark(shown: int | None, before: int | None) -> int:
    """The version to watch after marking read: one more than before the write when nothing else
    changed since the view was read; otherwise the version shown, so the live page reloads and
    shows what changed meanwhile."""
    shown = shown or 0
    return before + 1 if before is not None and before == shown else shown


def permissions_for(viewer: User, detail: dict[str, Any]) -> Permissions:
    is_owner = detail["owner_id"] == viewer.id
    return Permissions(
        is_owner=is_owner,
        can_work=composing.write_refusal(viewer, detail) is None,
        can_mark_unread=is_owner,
        back_to=back_to(viewer, detail["owner_id"]),
    )


def back_to(viewer: User, owner_id: int | None) -> str:
    """Where "back" goes: My Inbox ("inbox") for one's own conversations (and when there is
    none), Team Inbox ("team") for someone else's, and always for supervisors."""
    mine = owner_id is None or owner_id == viewer.id
    return "team" if viewer.sees_team and (viewer.is_supervisor or not mine) else "inbox"


def composer_for(viewer: User, detail: dict[str, Any], now: dt.datetime) -> Composer:
    channel = detail["channel"]
    window = wa_window.window_state(detail["last_inbound_at"], now) if channel == "whatsapp" else None
    blocked, templates_only = composing.sending_block(detail, window)
    business, quiet = detail["hours"]
    release_at, release_reason = composing.release_time_within(detail, now, business, quiet)
    release_at = release_at if release_reason else None
    refusal = composing.write_refusal(viewer, detail)
    templates = sorted(
        (dict(t) for t in detail.get("templates") or [] if t["channel"] in (None, channel)),
        key=lambda t: (not t["registered"], t["name"].lower(), t["language"] or ""),
    )
    if templates_only:  # the window is closed: only what WhatsApp approved may open it (core.templates)
        templates = [t for t in templates if templates_rules.sendable_row(t)]
    release_notice = window_warning = hours_notice = None
    if release_at is not None and not blocked:
        when = hours_rules.format_local(release_at, viewer.timezone, now)
        if composing.QUEUED_REASONS.get(release_reason) == "business_hours":
            # The hours line below is in the workspace's zone; when the viewer's differs, this line
            # names theirs, so "until 4:00 AM" beside "opens 9:00 AM" reads as one moment, not two.
            hours_notice = hours_rules.describe_hours(now, business)
            if viewer.timezone and viewer.timezone != business.timezone:
                when = f"{when} ({viewer.timezone})"
        release_notice = f"{release_reason[0].upper()}{release_reason[1:]}: this will be queued until {when}."
        if window is not None and window.open and window.closes_at and release_at >= window.closes_at:
            closes = hours_rules.format_local(window.closes_at, viewer.timezone, now)
            window_warning = (
                f"The WhatsApp window closes at {closes}, before this could go: free text will not be sent "
                "then, only a registered template."
            )
    return Composer(
        channel=channel,
        can_write=refusal is None,
        refusal=refusal,
        blocked_reason=blocked,
        templates_only=templates_only,
        hard_block=bool(blocked) and not templates_only,
        window=window,
        window_notice=None if window is None or templates_only else window_notice(window),
        release_at=release_at,
        release_notice=release_notice,
        window_warning=window_warning,
        hours_notice=hours_notice,
        reopen_notice=REOPEN_NOTICE if refusal is None and detail["status"] == "closed" else None,
        sender_warning=composing.sender_warning(detail) if viewer.is_admin else None,
        templates=templates,
        upload=upload_limits(channel),
    )


def window_notice(window: WindowState) -> tuple[str, str]:
    """The line above the WhatsApp composer: how long the window stays open, or that it is closed."""
    if window.open:
        hours, rest = divmod(int(window.remaining.total_seconds()), 3600)
        left = f"{hours} h {rest // 60} min" if hours else f"{max(1, rest // 60)} min"
        return "success", f"Customer care window open — {left} left"
    return "warning", "Window closed: only registered templates can be sent"


def upload_limits(channel: str) -> UploadLimits:
    """What the file picker accepts on ``channel`` (``media_rules`` checks each file exactly)."""
    if channel == "whatsapp":
        return UploadLimits(
            max_mb=max(limit for _, limit, _ in media_rules.WHATSAPP_TYPES.values()) // media_rules.MB,
            help="WhatsApp: one file per message — images up to 5 MB, audio and video up to 16 MB, "
            "PDF and Office documents up to 100 MB.",
        )
    return UploadLimits(
        max_mb=media_rules.MMS_MAX_TOTAL // media_rules.MB,
        help="MMS: images, audio, video, PDF, vCard and calendar files, up to 5 MB in all.",
    )


def check_files(channel: str, files: list[tuple[str | None, str | None, int]]) -> list[str]:
    """One sentence per problem with files about to be attached: (name, content type, size) each."""
    problems = []
    for name, content_type, size in files:
        try:
            media_rules.check_attachment(channel, name, content_type, size)
        except ParleyError as exc:  # its sentence is the answer
            problems.append(str(exc))
    if files and not problems:
        try:
            media_rules.check_attachments_total(channel, [size for _, _, size in files])
        except ParleyError as exc:
            problems.append(str(exc))
    return problems


def missing_variables(text: str) -> list[str]:
    """Template variables still in the text (``{{date}}``), which must be filled before sending."""
    return sorted(set(messaging.VARIABLE_RE.findall(text or "")))


def header_key(detail: dict[str, Any], composer: Composer) -> tuple:
    """What the header and the composer show: when it changes, the whole page reruns."""
    return (
        detail["status"],
        detail["owner_id"],
        detail["opted_out"],
        detail["optout_flag"],
        detail["contact_name"],
        detail["sender_enabled"],
        detail["unread"],
        composer.templates_only,
        composer.release_at is None,
    )


def _refresh_at(composer: Composer, now: dt.datetime) -> dt.datetime | None:
    times = [t for t in (composer.release_at, composer.window.closes_at if composer.window else None) if t and t > now]
    return min(times) if times else None


def _json(raw: str | None, key: str) -> dict[str, Any]:
    return json.loads(raw) if raw else settings.DEFAULTS[key]
