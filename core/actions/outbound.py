"""Writing one outgoing message inside a transaction: its row, its media, its outbox row, and the
conversation's summary columns (and reopening a closed conversation an agent writes in).

Separate from the checks before a send (``core.actions.messaging``) because other writers record
outgoing messages the same way: the automatic texts (``core.actions.inbound``) and test messages
(``core.provider_setup``) keep the conversation's summary with ``touch_conversation``.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import TYPE_CHECKING

from core import clock, drafts, events
from core.db import Transaction
from core.providers.base import QUEUED

if TYPE_CHECKING:
    from core.actions.messaging import SendPlan


def reopen_answered(tx: Transaction, conversation_id: int, actor_id: int, owner_id: int | None) -> None:
    """An agent who writes in a closed conversation is working it again: it reopens in the same
    write as the message, as *Reopen* would (the composer says so before: "sending reopens it")."""
    reopened = tx.fetchall(
        "UPDATE conversations SET status = 'open', closed_at = NULL WHERE id = ? AND status = 'closed' RETURNING id",
        [conversation_id],
    )
    if reopened:
        tx.publish(events.CONVERSATION_REOPENED, conversation_id=conversation_id, actor_id=actor_id, owner_id=owner_id)


def write_outbound(tx: Transaction, plan: SendPlan, author_id: int | None, stored_media: list[tuple]) -> int:
    detail = plan.conversation
    now = clock.utcnow()
    message_id = tx.next_id("seq_messages")
    tx.execute(
        """INSERT INTO messages (id, conversation_id, contact_id, sender_id, direction, author_id, body, status,
               error_reason, created_at, status_at, has_media, release_at, template_id, template_values,
               queued_reason)
           VALUES (?, ?, ?, ?, 'out', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            message_id,
            detail["conversation_id"],
            detail["contact_id"],
            detail["sender_id"],
            author_id,
            plan.body,
            plan.status,
            plan.error_reason,
            now,
            now,
            bool(stored_media),
            plan.release_at if plan.release_at and plan.release_at > now else None,
            plan.template_id,
            json.dumps(plan.template_values, ensure_ascii=False) if plan.template_values else None,
            plan.queued_reason if plan.release_at and plan.release_at > now else None,
        ],
    )
    if author_id is not None:
        drafts.clear_draft(tx, author_id, detail["conversation_id"])  # the draft became this message
    for sha, content_type, filename, size in stored_media:
        tx.execute(
            "INSERT INTO media (message_id, sha256, content_type, filename, size, token, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [message_id, sha, content_type, filename, size, secrets.token_urlsafe(24), now],
        )
    if plan.status == QUEUED:
        tx.execute(
            "INSERT INTO outbox (message_id, sender_id, due_at, created_at) VALUES (?, ?, ?, ?)",
            [message_id, detail["sender_id"], max(plan.release_at or now, now), now],
        )
    preview = plan.body or (f"📎 {stored_media[0][2]}" if stored_media else "")
    touch_conversation(tx, detail["conversation_id"], now, preview, "out", message_id)
    tx.publish(
        events.MESSAGE_QUEUED if plan.status == QUEUED else events.MESSAGE_NOT_SENT,
        conversation_id=detail["conversation_id"],
        message_id=message_id,
        user_id=detail["owner_id"],
        author_id=author_id,
        channel=detail["channel"],
        sender_id=detail["sender_id"],
        reason=plan.error_reason,
    )
    return message_id


def touch_conversation(
    tx: Transaction,
    conversation_id: int,
    at: dt.datetime,
    preview: str,
    direction: str,
    message_id: int | None = None,
) -> None:
    """Keep the inbox summary columns current (the inbox never aggregates messages): the latest
    message, for an outgoing one its id (``last_out_id``, whose status the lists show), for an
    incoming one its id (``last_inbound_id``: unread after it, ``queries.UNREAD_SQL``); and raise
    the conversation's version for live pages in the same statement (``core.versions``)."""
    preview = " ".join((preview or "").split())[:120]
    inbound = direction == "in"
    tx.execute(
        """UPDATE conversations SET last_message_at = greatest(last_message_at, ?), last_message_preview = ?,
               last_message_direction = ?, message_count = message_count + 1,
               last_inbound_at = CASE WHEN ? THEN greatest(coalesce(last_inbound_at, ?), ?) ELSE last_inbound_at END,
               last_inbound_id = CASE WHEN ? THEN greatest(coalesce(last_inbound_id, 0), ?) ELSE last_inbound_id END,
               status = CASE WHEN ? THEN 'open' ELSE status END,
               closed_at = CASE WHEN ? THEN NULL ELSE closed_at END,
               last_out_id = CASE WHEN ? THEN greatest(coalesce(last_out_id, 0), ?) ELSE last_out_id END,
               version = version + 1
           WHERE id = ?""",
        [
            at,
            preview,
            direction,
            inbound,
            at,
            at,
            inbound and message_id is not None,
            message_id,
            inbound,
            inbound,
            not inbound and message_id is not None,
            message_id,
            conversation_id,
        ],
    )
    tx.versioned.add(conversation_id)
