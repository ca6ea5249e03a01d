"""Applying what providers tell us: inbound messages and status updates.

Called by the webhook applier with events parsed from stored payloads,
inside one transaction per batch. Everything here is idempotent: an inbound
message is keyed by its provider id, and a status only moves forward
(rule 9), so a duplicate or out-of-order callback changes nothing.

Rule 1: the first incoming message from a number on a sender creates the
conversation; if that number got a campaign message from this sender, the
conversation belongs to the campaign's author and the campaign message
joins its thread; otherwise it is kept as *unsolicited*.

Rule 2: STOP-family keywords opt the contact out everywhere, with one
confirmation; START/UNSTOP/YES opt back in; HELP/INFO get the help reply;
wording that looks like an opt-out request is flagged for an agent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core import clock, events, settings, versions
from core.actions.outbound import touch_conversation
from core.compliance import keywords
from core.db import Transaction
from core.providers.base import InboundEvent, StatusEvent, status_moves_forward

SYSTEM_AUTHOR = None  # automatic replies (opt-out confirmation, HELP) have no human author


@dataclass(frozen=True)
class StoredMedia:
    sha256: str
    content_type: str
    filename: str
    size: int


@dataclass
class ApplyResult:
    inbound_new: int = 0
    inbound_duplicate: int = 0
    statuses_applied: int = 0
    statuses_ignored: int = 0
    unknown_message_ids: list[str] | None = None


def default_owner(tx: Transaction) -> int | None:
    """Who gets unsolicited conversations, and replies whose owner may not answer: the configured
    owner while they are active and may answer (not a supervisor), else the first active admin."""
    configured = tx.scalar("SELECT value FROM settings WHERE key = 'default_owner_id'")
    if configured:
        owner = tx.scalar(
            "SELECT id FROM users WHERE id = ? AND active AND role IN ('standard', 'admin')",
            [int(configured.strip('"'))],
        )
        if owner:
            return owner
    return tx.scalar("SELECT min(id) FROM users WHERE role = 'admin' AND active")


def apply_inbound(
    tx: Transaction,
    event: InboundEvent,
    sender: dict[str, Any],
    media: list[StoredMedia],
    media_errors: list[str] | None = None,
) -> int | None:
    """Store one inbound message; None if it was already stored (duplicate).

    The applier stores whole sets (``inbound_batch.apply_inbound_batch``); this is a set of one.
    """
    from core.actions.inbound_batch import InboundItem, apply_inbound_batch

    return apply_inbound_batch(tx, [InboundItem(event, sender, media, media_errors)])[0]


def _apply_keywords(
    tx: Transaction,
    body: str,
    contact_id: int,
    was_opted_out: bool,
    conversation_id: int,
    message_id: int,
    sender: dict[str, Any],
    owner_id: int | None,
    written_at: dt.datetime | None = None,
) -> bool:
    """Rule 2 for one incoming message (written by the customer at ``written_at``); True when it
    queued an automatic reply."""
    result = keywords.classify(body)
    if result.kind is None:
        return False
    now = clock.utcnow()

    def history(kind: str) -> None:
        tx.execute(
            "INSERT INTO optout_history (contact_id, kind, keyword, channel, sender_id, message_id, "
            "occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [contact_id, kind, result.keyword, sender["channel"], sender["id"], message_id, now],
        )

    if (
        result.kind in _LATER_WORD
        and written_at is not None
        and _answered_later(tx, contact_id, result.kind, written_at)
    ):
        history(result.kind + "_superseded")  # kept, so the contact's history shows every word
        return False
    if result.kind == "opt_out":
        if was_opted_out:
            history("opt_out_repeat")  # one confirmation only: already confirmed before
            return False
        history("opt_out")
        opt_out_contact(tx, contact_id, conversation_id, owner_id, keyword=result.keyword)
        return True
    if result.kind == "opt_in":
        if not was_opted_out:
            history("opt_in_repeat")  # nothing to do, but an earlier STOP arriving after it must not apply
            return False
        tx.execute(
            "UPDATE contacts SET opted_out = FALSE, opted_out_at = NULL, updated_at = ? WHERE id = ?", [now, contact_id]
        )
        history("opt_in")
        tx.publish(events.CONTACT_OPTED_IN, contact_id=contact_id, conversation_id=conversation_id, user_id=owner_id)
        queue_system_reply(tx, conversation_id, settings.get_tx(tx, "optin_confirmation"), owner_id)
        return True
    if result.kind == "help":
        if was_opted_out:
            return False
        queue_system_reply(tx, conversation_id, settings.get_tx(tx, "help_reply"), owner_id)
        return True
    if result.kind == "possible_opt_out":
        tx.execute("UPDATE conversations SET optout_flag = ? WHERE id = ?", [body[:200], conversation_id])
        history("flagged")
        tx.publish(events.CONVERSATION_OPTOUT_FLAGGED, conversation_id=conversation_id, user_id=owner_id)
    return False


# The words that undo a keyword's kind, as recorded in ``optout_history`` (a repeat is still the word).
_LATER_WORD = {"opt_out": ("opt_in", "opt_in_repeat"), "opt_in": ("opt_out", "opt_out_repeat")}


def _answered_later(tx: Transaction, contact_id: int, kind: str, written_at: dt.datetime) -> bool:
    """Whether the customer wrote the opposite word after this one, and it was applied already.

    Within one set the applier applies keywords in the customer's order; across sets it cannot, and
    Meta does not deliver in order: a STOP that comes after a later START is not the last word."""
    return bool(
        tx.scalar(
            "SELECT count(*) FROM optout_history h JOIN messages m ON m.id = h.message_id "
            "WHERE h.contact_id = ? AND h.kind IN (?, ?) AND m.created_at > ?",
            [contact_id, *_LATER_WORD[kind], written_at],
        )
    )


def opt_out_contact(
    tx: Transaction,
    contact_id: int,
    conversation_id: int | None,
    owner_id: int | None,
    *,
    keyword: str | None,
    by_user_id: int | None = None,
    source: str = "keyword",
    confirm: bool = True,
) -> None:
    """Rule 2, the one opt-out write: opt the contact out of every sender and channel, stop
    everything still waiting to go to them, and confirm once.

    Every path goes through here: a STOP keyword (``source='keyword'``), an agent confirming a
    flagged request (``'agent'``), the provider refusing a send because the person opted out at
    its end (``'provider'``, Twilio 21610: no confirmation, the provider would refuse it too).
    """
    opt_out_everywhere(tx, [contact_id])
    tx.publish(
        events.CONTACT_OPTED_OUT,
        contact_id=contact_id,
        conversation_id=conversation_id,
        user_id=owner_id,
        keyword=keyword,
        by_user_id=by_user_id,
        source=source,
    )
    if confirm and conversation_id is not None:
        queue_system_reply(tx, conversation_id, settings.get_tx(tx, "optout_confirmation"), owner_id)


def opt_out_everywhere(tx: Transaction, contact_ids: list[int]) -> None:
    """The opt-out itself, shared by every path (STOP, an agent's confirmation, the provider's 21610
    through ``opt_out_contact``; the manual list through ``suppression.suppress``): the contacts are
    opted out on every sender and channel, their flagged requests are answered, and everything
    still waiting to go to them stops here, recorded as *not sent*: held for business hours,
    queued again while a provider is down, or held in a paused campaign (a paused row left
    behind would go out after all on resume, its message moving from not sent to sent)."""
    now = clock.utcnow()
    ids = [int(c) for c in contact_ids]
    tx.execute(
        "UPDATE contacts SET opted_out = TRUE, opted_out_at = ?, updated_at = ? "
        "WHERE id IN (SELECT unnest(?::INTEGER[]))",
        [now, now, ids],
    )
    tx.execute("UPDATE conversations SET optout_flag = NULL WHERE contact_id IN (SELECT unnest(?::INTEGER[]))", [ids])
    tx.execute(
        """UPDATE outbox SET state = 'cancelled' WHERE state IN ('pending', 'paused') AND message_id IN
               (SELECT id FROM messages WHERE contact_id IN (SELECT unnest(?::INTEGER[]))
                AND direction = 'out' AND status = 'queued')""",
        [ids],
    )
    stopped = tx.fetchall(
        """UPDATE messages SET status = 'not_sent', error_reason = 'Contact opted out', status_at = ?, release_at = NULL
           WHERE contact_id IN (SELECT unnest(?::INTEGER[])) AND direction = 'out' AND status = 'queued' RETURNING id""",
        [now, ids],
    )
    if stopped:  # now "Not sent" in their authors' Sent Messages, whoever owns the conversation
        versions.touch(tx, messages=[r[0] for r in stopped])
    for (message_id,) in stopped:  # a failure in Stats, as the rebuild from stored rows counts it
        tx.publish(events.MESSAGE_NOT_SENT, message_id=message_id, reason="Contact opted out")


def queue_system_reply(tx: Transaction, conversation_id: int, text: str, owner_id: int | None) -> int:
    """An automatic reply (opt-out confirmation, HELP): due at once.

    It answers the customer's own message, so it neither waits for business
    hours nor counts as marketing; it is the one message an opted-out contact
    may receive (the confirmation).
    """
    row = tx.fetchone("SELECT contact_id, sender_id, channel FROM conversations WHERE id = ?", [conversation_id])
    now = clock.utcnow()
    message_id = tx.next_id("seq_messages")
    tx.execute(
        """INSERT INTO messages (id, conversation_id, contact_id, sender_id, direction, author_id, body, status,
               created_at, status_at) VALUES (?, ?, ?, ?, 'out', NULL, ?, 'queued', ?, ?)""",
        [message_id, conversation_id, row[0], row[1], text, now, now],
    )
    tx.execute(
        "INSERT INTO outbox (message_id, sender_id, due_at, created_at, state) VALUES (?, ?, ?, ?, 'pending')",
        [message_id, row[1], now, now],
    )
    touch_conversation(tx, conversation_id, now, text, "out", message_id)
    tx.publish(
        events.MESSAGE_QUEUED,
        conversation_id=conversation_id,
        message_id=message_id,
        user_id=owner_id,
        automatic=True,
        channel=row[2],
        sender_id=row[1],
    )
    return message_id


def apply_statuses(tx: Transaction, callbacks: list[StatusEvent]) -> ApplyResult:
    """Apply status callbacks in bulk, only ever moving a status forward."""
    result = ApplyResult(unknown_message_ids=[])
    if not callbacks:
        return result
    ids = sorted({e.provider_message_id for e in callbacks})
    current = {
        pid: (mid, status, conv, owner)
        for pid, mid, status, conv, owner, direction in tx.fetchall(
            # The direction is checked here, not in the WHERE, so DuckDB can use the index on
            # provider ids (3 ms rather than 20 at 1M messages for a few callbacks).
            """SELECT m.provider_message_id, m.id, m.status, m.conversation_id, c.owner_id, m.direction
               FROM messages m LEFT JOIN conversations c ON c.id = m.conversation_id
               WHERE m.provider_message_id = ANY(?::VARCHAR[])""",
            [ids],
        )
        if direction == "out"
    }
    current.update(_settle_by_client_ref(tx, [e for e in callbacks if e.provider_message_id not in current]))
    updates: dict[int, StatusEvent] = {}
    state = {pid: v[1] for pid, v in current.items()}
    for event in sorted(callbacks, key=lambda e: e.at):
        if event.provider_message_id not in current:
            result.unknown_message_ids.append(event.provider_message_id)
            continue
        if status_moves_forward(state[event.provider_message_id], event.status):
            state[event.provider_message_id] = event.status
            updates[current[event.provider_message_id][0]] = event
            result.statuses_applied += 1
        else:
            result.statuses_ignored += 1
    if not updates:
        return result
    frame = pd.DataFrame(
        {
            "id": list(updates),
            "status": [e.status for e in updates.values()],
            "status_at": [e.at for e in updates.values()],
            "error_code": [e.error_code for e in updates.values()],
            "error_reason": [_reason(e) for e in updates.values()],
        }
    )
    tx.cursor.register("_status_updates", frame)
    try:
        tx.execute("""UPDATE messages SET status = u.status, status_at = u.status_at,
                          error_code = coalesce(u.error_code, messages.error_code),
                          error_reason = coalesce(u.error_reason, messages.error_reason)
                      FROM _status_updates u WHERE messages.id = u.id""")
    finally:
        tx.cursor.unregister("_status_updates")
    by_message = {v[0]: v for v in current.values()}
    for message_id, event in updates.items():
        _, previous, conversation_id, owner_id = by_message[message_id]
        tx.publish(
            events.MESSAGE_STATUS,
            message_id=message_id,
            conversation_id=conversation_id,
            user_id=owner_id,
            status=event.status,
            previous=previous,  # reporting: a read that skipped 'delivered' was delivered too
            error_code=event.error_code,
        )
    return result


def _settle_by_client_ref(tx: Transaction, callbacks: list[StatusEvent]) -> dict[str, tuple]:
    """Status callbacks naming a send whose answer never came (Parley's id echoed in a StatusCallback
    token or ``biz_opaque_callback_data``): that send went out, with this provider id. The message
    gets the id and its outbox row is done, so it is neither looked up nor sent again."""
    refs: dict[int, str] = {}
    for event in callbacks:
        if event.client_ref and event.client_ref.isascii() and event.client_ref.isdigit():  # not "²": int() fails
            refs.setdefault(int(event.client_ref), event.provider_message_id)
    if not refs:
        return {}
    rows = tx.fetchall(
        """SELECT m.id, m.status, m.conversation_id, c.owner_id FROM messages m
           LEFT JOIN conversations c ON c.id = m.conversation_id
           WHERE m.id IN (SELECT unnest(?::BIGINT[])) AND m.direction = 'out' AND m.provider_message_id IS NULL
             AND EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = m.id
                         AND o.state IN ('unknown', 'checking', 'interrupted'))""",
        [list(refs)],
    )
    settled = {}
    for message_id, status, conversation_id, owner_id in rows:
        pid = refs[message_id]
        tx.execute("UPDATE messages SET provider_message_id = ?, error_reason = NULL WHERE id = ?", [pid, message_id])
        tx.execute(
            "UPDATE outbox SET state = 'done' WHERE message_id = ? AND state IN ('unknown', 'checking', 'interrupted')",
            [message_id],
        )
        settled[pid] = (message_id, status, conversation_id, owner_id)
    return settled


def _reason(event: StatusEvent) -> str | None:
    if event.status not in ("failed", "undelivered"):
        return None
    from core.provider_errors import describe

    return describe(event.error_code, event.error_message)
