"""Sending (rules 2, 3, 5): the checks before a send, the one transaction that records a message
with its outbox row, and retrying a message that did not go.

A send never talks to a provider: it stores the message as *queued* (with
the time it will be released when business or quiet hours say so) and an
outbox row; the dispatcher does the rest. A send that a rule forbids
(opted-out contact, closed WhatsApp window, disabled sender) is recorded as
*not sent* with the reason and never reaches a provider.

What the composer may offer (who may write, what blocks a send, when it waits, the templates)
is in ``core.actions.composing``; the rows a message writes are in ``core.actions.outbound``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from core import clock, events, labels, media_rules, permissions, settings, template_finders, templates
from core.actions.composing import (
    QUEUED_REASONS,
    composer_detail,
    filled_values,
    release_time,
    release_time_within,
    sending_block,
    write_refusal,
)
from core.actions.outbound import reopen_answered, write_outbound
from core.auth import User
from core.compliance import window as wa_window
from core.db import Database, Transaction
from core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from core.providers.base import NOT_SENT, QUEUED
from core.unicode_text import require_valid

MAX_BODY = {"sms": 1600, "whatsapp": 4096}
VARIABLE_RE = templates.VARIABLE_RE


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class SendPlan:
    conversation: dict[str, Any]
    body: str
    attachments: list[tuple[Attachment, str]] = field(default_factory=list)  # with safe name
    template_id: int | None = None
    template_values: dict[str, str] | None = None  # the variables a registered template goes with
    status: str = QUEUED
    release_at: dt.datetime | None = None
    error_reason: str | None = None
    queued_reason: str | None = None  # QUEUED_REASONS: why it waits until release_at


# ---- sending ---------------------------------------------------------------------------


def prepare_body(text: str | None) -> str:
    """Expand :shortcodes: and check what carriers cannot take."""
    body = templates.expand_shortcodes(require_valid(text or ""))
    if "\x00" in body:
        raise ValidationError("The message contains a NUL character, which cannot be sent; remove it and try again.")
    return body


def check_send(
    db: Database,
    viewer: User,
    conversation_id: Any,
    body: str | None,
    *,
    attachments: Sequence[Attachment] = (),
    template_id: Any = None,
    template_values: dict[str, Any] | None = None,
) -> SendPlan:
    """What a send will record. A template's text is core's to fill (the contact's fields, then
    ``template_values``); text the page sends instead counts as the agent's own words: inside the
    WhatsApp window it goes as ordinary text, outside it is refused like any free text (rule 5)."""
    detail = composer_detail(db, viewer, conversation_id)
    refusal = write_refusal(viewer, detail)
    if refusal:
        raise PermissionDenied(refusal)
    channel = detail["channel"]
    template = None
    values: dict[str, str] = {}
    if template_id not in (None, ""):
        template = template_finders.get_template(db, template_id)
        if template.channel not in (None, channel):
            raise ValidationError(f"The template “{template.name}” is for {template.channel}, not {channel}.")
        if template.kind != "conversation":
            raise ValidationError(f"“{template.name}” is a campaign template; choose a conversation template.")
        values = filled_values(detail, template_values)
        rendered = templates.render(template, values)
        if body is None or not body.strip() or prepare_body(body) == rendered.text:
            if rendered.missing:
                names = ", ".join("{{" + m + "}}" for m in rendered.missing)
                raise ValidationError(f"The template needs a value for {names}; fill it in before sending.")
            body = rendered.text
            values = {name: values[name] for name in templates.variables(template)}
            if template.sendable_as_template:
                templates.check_values(template, values)
                if detail["sender_provider"] == "twilio" and not template.content_sid:
                    raise ValidationError(
                        f"The template “{template.name}” has no Twilio Content SID, and this sender sends "
                        "through Twilio; an admin can add it on the Templates page."
                    )
        else:
            template, values = None, {}  # edited: the agent's own text, no longer the template
    body = prepare_body(body)
    leftover = VARIABLE_RE.findall(body)
    if leftover:
        raise ValidationError(
            "The message still has an unfilled variable {{" + leftover[0] + "}}; replace it before sending."
        )
    limit = MAX_BODY[channel]
    if len(body) > limit:
        raise ValidationError(
            f"This message is {len(body):,} characters; {channel.upper() if channel == 'sms' else 'WhatsApp'} "
            f"messages can be at most {limit:,} characters."
        )
    checked = []
    for item in attachments:
        safe = media_rules.check_attachment(channel, item.filename, item.content_type, len(item.data))
        # Stored (and told to providers) as the type it was checked as, not the browser's raw words,
        # and as what its bytes are where they can say (a PNG called .jpg; a page is refused).
        ctype = media_rules.attachment_type(channel, item.filename, item.content_type)
        actual = media_rules.content_type_of(channel, item.filename, ctype, item.data)
        if actual != ctype:  # the limits and the name's extension of what it really is
            safe = media_rules.check_attachment(channel, os.path.splitext(safe)[0], actual, len(item.data))
            ctype = actual
        checked.append((replace(item, content_type=ctype), safe))
    if checked:
        media_rules.check_attachments_total(channel, [len(a.data) for a, _ in checked])
        if template is not None and template.sendable_as_template:
            raise ValidationError("A registered template goes without attachments; send the file separately.")
    if not body and not checked:
        raise ValidationError("Write a message or attach a file first.")

    plan = SendPlan(
        conversation=detail,
        body=body,
        attachments=checked,
        template_id=template.id if template else None,
        template_values=values or None,
    )
    now = clock.utcnow()
    window = wa_window.window_state(detail["last_inbound_at"], now) if channel == "whatsapp" else None
    blocked, templates_only = sending_block(detail, window)
    if templates_only and template is not None and template.sendable_as_template:
        blocked = None  # an approved registered template, exactly as registered, may open a closed window (rule 5)
    if blocked:
        plan.status, plan.error_reason = NOT_SENT, _short_reason(detail, templates_only)
        return plan
    plan.release_at, why = release_time(db, detail, now)
    plan.queued_reason = QUEUED_REASONS.get(why) if why else None
    return plan


def _short_reason(detail: dict[str, Any], templates_only: bool) -> str:
    if detail["opted_out"]:
        return "Contact opted out"
    if not detail["sender_enabled"]:
        return "Sender disabled"
    if detail.get("sender_send_blocked"):
        return detail["sender_send_blocked"]
    if templates_only:
        return "WhatsApp window closed: only registered templates can be sent"
    return "Not allowed"


def do_send(
    db: Database,
    viewer: User,
    conversation_id: Any,
    body: str | None,
    *,
    attachments: Sequence[Attachment] = (),
    template_id: Any = None,
    template_values: dict[str, Any] | None = None,
    media_store: Any = None,
) -> int:
    """Record an outgoing message (queued or not sent) and its outbox row."""
    plan = check_send(
        db,
        viewer,
        conversation_id,
        body,
        attachments=attachments,
        template_id=template_id,
        template_values=template_values,
    )
    stored = []
    if plan.attachments:
        if media_store is None:
            from core import runtime

            media_store = runtime.current().media
        for item, safe_name in plan.attachments:
            stored.append((media_store.put(item.data), item.content_type, safe_name, len(item.data)))
    return db.write(_recheck_and_write_outbound, plan, viewer, stored)


def _recheck_and_write_outbound(tx: Transaction, plan: SendPlan, viewer: User, stored_media: list[tuple]) -> int:
    """Inside the write, the facts ``check_send`` decided on, read again.

    Between the check and this commit the contact may have replied STOP, the sender been
    disabled, the WhatsApp window closed, or the conversation been reassigned. A message the
    rules now forbid is still recorded, as *not sent* with the reason (rule 2), never queued;
    a conversation that is no longer the author's to answer refuses the send.
    """
    role = permissions.recheck_actor(tx, viewer, ("standard", "admin"), "send messages")
    detail = plan.conversation
    row = tx.fetchone(
        """SELECT c.owner_id, u.display_name, c.last_inbound_at, ct.opted_out, s.enabled
           FROM conversations c JOIN contacts ct ON ct.id = c.contact_id JOIN senders s ON s.id = c.sender_id
           LEFT JOIN users u ON u.id = c.owner_id WHERE c.id = ?""",
        [detail["conversation_id"]],
    )
    owner_id, owner_name, last_inbound_at, opted_out, sender_enabled = row
    if role != "admin" and owner_id != viewer.id:
        raise PermissionDenied(
            f"This conversation was assigned to {owner_name or 'someone else'} a moment ago; your message was not sent."
        )
    now = {**detail, "owner_id": owner_id, "last_inbound_at": last_inbound_at}
    now.update(opted_out=opted_out, sender_enabled=sender_enabled)
    if plan.status == QUEUED:
        window = wa_window.window_state(last_inbound_at, clock.utcnow()) if detail["channel"] == "whatsapp" else None
        blocked, templates_only = sending_block(now, window)
        if templates_only and plan.template_id is not None and _registered(tx, plan.template_id):
            blocked = None  # a registered template may open a closed window (rule 5)
        if blocked:
            plan.status, plan.error_reason, plan.release_at = NOT_SENT, _short_reason(now, templates_only), None
    plan.conversation = now
    message_id = write_outbound(tx, plan, viewer.id, stored_media)
    reopen_answered(tx, detail["conversation_id"], viewer.id, owner_id)
    return message_id


def _registered(tx: Transaction, template_id: int) -> bool:
    return bool(tx.scalar("SELECT registered FROM templates WHERE id = ?", [template_id]))


def _check_template_unchanged(db: Database, template_id: Any, values_json: str | None, body: str | None) -> None:
    """A registered template goes as the provider fills it now: one reworded since this message was
    written would send other words than the thread shows (the dispatcher refuses it too)."""
    if template_id is None:
        return
    try:
        template = template_finders.get_template(db, template_id, active_only=False)
    except NotFound:
        return  # gone: the dispatcher says what becomes of the message
    values = json.loads(values_json) if values_json else {}
    if template.sendable_as_template and not templates.reads_as(template, values, body):
        raise ValidationError(
            f"The template “{template.name}” was changed after this message was written; "
            "choose it again in the composer to send its new words."
        )


def do_retry(db: Database, viewer: User, message_id: Any) -> int:
    """Queue an interrupted or failed message again, on the user's explicit say-so.

    This is the one place a status moves back (to queued): not a provider
    callback but a person deciding to send again, knowing it may arrive twice.
    """
    try:
        message_id = int(message_id)
    except (TypeError, ValueError):
        raise NotFound("That message does not exist.") from None
    row = db.fetchone(
        "SELECT conversation_id, status, direction, author_id IS NULL AND campaign_id IS NULL, template_id, "
        "template_values, body FROM messages WHERE id = ?",
        [message_id],
    )
    if row is None or row[0] is None:
        raise NotFound("That message does not exist.")
    _check_template_unchanged(db, row[4], row[5], row[6])
    detail = composer_detail(db, viewer, row[0])
    refusal = write_refusal(viewer, detail)
    if refusal:
        raise PermissionDenied(refusal)
    if row[2] != "out" or row[1] not in labels.RETRYABLE_STATUSES:
        raise ValidationError("Only interrupted or failed messages can be retried.")
    blocked, _ = sending_block(detail, None)
    if detail["opted_out"] or not detail["sender_enabled"] or detail["sender_send_blocked"]:
        raise ValidationError(blocked)
    permissions.require_sender(viewer)
    automatic = row[3]  # an automatic reply (HELP, opt-out confirmation) answers the customer whatever the hour
    business, quiet = settings.business_hours(db), settings.quiet_hours(db)

    def write(tx: Transaction) -> int:
        # Again inside the write: a second click, the contact's STOP or a reassignment in between.
        role = permissions.recheck_actor(tx, viewer, ("standard", "admin"), "send messages")
        status, owner_id, opted_out, enabled = tx.fetchone(
            """SELECT m.status, c.owner_id, ct.opted_out, s.enabled FROM messages m
               JOIN conversations c ON c.id = m.conversation_id JOIN contacts ct ON ct.id = c.contact_id
               JOIN senders s ON s.id = c.sender_id WHERE m.id = ?""",
            [message_id],
        )
        if status not in labels.RETRYABLE_STATUSES:
            raise Conflict("This message is already queued again; it goes once.")
        if role != "admin" and owner_id != viewer.id:
            raise PermissionDenied("This conversation was assigned to someone else a moment ago; nothing was sent.")
        if opted_out or not enabled:
            raise ValidationError(sending_block({**detail, "opted_out": opted_out, "sender_enabled": enabled}, None)[0])
        now = clock.utcnow()
        # Rule 3: clicked outside hours, it waits for the next opening and says so, as a new message does.
        release_at, why = (now, None) if automatic else release_time_within(detail, now, business, quiet)
        waits = release_at > now
        # The earlier send's provider id goes: the new send's answer (or, when that never comes, its
        # status callback naming this message) gives it its own.
        tx.execute(
            "UPDATE messages SET status = 'queued', status_at = ?, error_code = NULL, error_reason = NULL, "
            "provider_message_id = NULL, release_at = ?, queued_reason = ? WHERE id = ?",
            [now, release_at if waits else None, QUEUED_REASONS.get(why) if waits else None, message_id],
        )
        tx.execute("UPDATE outbox SET state = 'superseded' WHERE message_id = ? AND state <> 'done'", [message_id])
        tx.execute(
            "INSERT INTO outbox (message_id, sender_id, due_at, created_at) VALUES (?, ?, ?, ?)",
            [message_id, detail["sender_id"], release_at, now],
        )
        tx.publish(
            events.MESSAGE_RETRIED,
            conversation_id=detail["conversation_id"],
            message_id=message_id,
            user_id=detail["owner_id"],
            actor_id=viewer.id,
        )
        return message_id

    return db.write(write)
