"""What the composer may offer (rules 2, 3, 5): who may write in a conversation, what stops a
message going now and until when it waits under business and quiet hours, and the templates it offers.

Separate from sending (``core.actions.messaging``) because these are read-only answers the
Conversation page asks on every run (``core.conversation_view``) and drafts ask before saving
(``core.drafts``); a send asks them again inside its checks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from core import clock, labels, queries, release, senders, settings, template_finders, templates
from core.auth import User
from core.compliance import hours as hours_rules
from core.compliance import window as wa_window
from core.db import Database


@dataclass
class ComposerState:
    conversation_id: int
    channel: str
    can_write: bool
    blocked_reason: str | None
    templates_only: bool
    window: Any  # core.compliance.window.WindowState | None
    release_at: dt.datetime | None
    release_reason: str | None
    sender_warning: str | None
    write_refusal: str | None = None  # why this viewer cannot write here at all


# Why a message written now waits (``messages.queued_reason``), from ``release_time``'s words.
QUEUED_REASONS = {"outside business hours": "business_hours", "the recipient's quiet hours": "quiet_hours"}

# ---- what the composer offers --------------------------------------------------------------


def write_refusal(viewer: User, detail: dict[str, Any]) -> str | None:
    """Why this viewer may not send in this conversation at all (None = may)."""
    if not viewer.can_send:
        return "Supervisors can read conversations but cannot send messages."
    if not viewer.is_admin and detail["owner_id"] != viewer.id:
        return f"This conversation belongs to {detail['owner_name']}; only they or an admin can reply."
    return None


def recipient_timezone(detail: dict[str, Any]) -> str | None:
    """The zones quiet hours hold in, as for a campaign (``release.recipient_zone``): the contact's own,
    else every zone the number may be in."""
    return release.recipient_zone(detail["contact_phone"], detail.get("contact_timezone"))


def release_time(db: Database, detail: dict[str, Any], now: dt.datetime) -> tuple[dt.datetime, str | None]:
    """When a message written now may go, and why it waits (None = now)."""
    return release_time_within(detail, now, settings.business_hours(db), settings.quiet_hours(db))


def release_time_within(
    detail: dict[str, Any], now: dt.datetime, business: hours_rules.BusinessHours, quiet: hours_rules.QuietHours
) -> tuple[dt.datetime, str | None]:
    """``release_time`` with the workspace's hours already read."""
    when = hours_rules.next_send_time(now, business, recipient_timezone(detail), quiet)
    if when <= now:
        return now, None
    if not hours_rules.is_open(now, business, None, None):
        return when, "outside business hours"
    return when, "the recipient's quiet hours"


def sending_block(detail: dict[str, Any], window: Any) -> tuple[str | None, bool]:
    """(reason free text cannot go now, whether only registered templates can)."""
    who = labels.contact_label(detail["contact_name"], detail["contact_phone"])
    if detail["opted_out"]:
        return (f"{who} has opted out (replied STOP): nothing can be sent until they reply START.", False)
    if not detail["sender_enabled"]:
        return (f"The sender {detail['sender_label']} is disabled; an admin can enable it.", False)
    if detail.get("sender_send_blocked"):
        return (
            f"The sender {detail['sender_label']} cannot send until its US carrier registration is complete "
            "(the workspace does not send from unregistered numbers).",
            False,
        )
    if window is not None and not window.open:
        return (
            "The WhatsApp customer care window is closed (24 hours after the customer's last "
            "message): only registered templates can be sent.",
            True,
        )
    return None, False


def composer_detail(db: Database, viewer: User, conversation_id: Any) -> dict[str, Any]:
    """The conversation's detail as the viewer may see it, with whether its sender may send."""
    detail = queries.conversation_detail(db, viewer, conversation_id)
    detail["sender_send_blocked"] = senders.block_reason(db, detail["sender_id"])
    return detail


def composer_state(db: Database, viewer: User, conversation_id: Any) -> ComposerState:
    detail = composer_detail(db, viewer, conversation_id)
    now = clock.utcnow()
    window = wa_window.window_state(detail["last_inbound_at"], now) if detail["channel"] == "whatsapp" else None
    blocked, templates_only = sending_block(detail, window)
    release_at, release_reason = release_time(db, detail, now)
    refusal = write_refusal(viewer, detail)
    return ComposerState(
        conversation_id=detail["conversation_id"],
        channel=detail["channel"],
        can_write=refusal is None,
        blocked_reason=blocked,
        templates_only=templates_only,
        window=window,
        release_at=release_at if release_reason else None,
        release_reason=release_reason,
        sender_warning=sender_warning(detail) if viewer.is_admin else None,
        write_refusal=refusal,
    )


def sender_warning(sender: dict[str, Any]) -> str | None:
    """Rule 10: an unregistered US sender is flagged to admins wherever it matters."""
    return senders.registration_warning(sender)


# ---- templates (the store and its rules: core.templates) ---------------------------------


def list_templates(
    db: Database, viewer: User, conversation_id: Any, search: str | None = None, *, templates_only: bool = False
) -> list[templates.Template]:
    """The composer's picker: Conversation templates for this conversation's channel (only approved
    registered ones when the WhatsApp window is closed)."""
    detail = queries.conversation_detail(db, viewer, conversation_id)
    return template_finders.composer_templates(db, detail["channel"], templates_only=templates_only, search=search)


def template_values(detail: dict[str, Any]) -> dict[str, str]:
    """What the conversation's contact fills in by itself."""
    return templates.contact_values(detail.get("contact_name"), detail.get("contact_phone"), detail.get("sender_label"))


def render_template(
    db: Database,
    template_id: Any,
    conversation_id: Any,
    viewer: User,
    values: dict[str, Any] | None = None,
) -> templates.Rendered:
    """The template's text for this conversation: the contact's fields, then ``values`` typed in."""
    template = template_finders.get_template(db, template_id)
    detail = queries.conversation_detail(db, viewer, conversation_id)
    return templates.render(template, filled_values(detail, values))


def filled_values(detail: dict[str, Any], typed: dict[str, Any] | None) -> dict[str, str]:
    """A template's variables for this conversation: the contact's fields, overridden by what was typed."""
    values = template_values(detail)
    values.update({str(k): str(v).strip() for k, v in (typed or {}).items() if v is not None and str(v).strip()})
    return values
