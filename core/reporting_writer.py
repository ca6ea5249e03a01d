"""The fact writer: turns a transaction's events into reporting facts, before it commits.

``write_facts`` is registered with ``core.db.before_commit`` (``core.schema``
imports this module so that every write path has it); ``_FactWriter`` says what
each event records, the rules in ``core.reporting``'s docstring. How the rows it
needs are loaded and how its facts are written is ``core.reporting_batch``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.campaigns import CANCELLED_REASON
from core.db import Event, Transaction, before_commit
from core.reporting import (
    CAMPAIGN_OPTOUT,
    CAMPAIGN_REPLY,
    CONVERSATION_ASSIGNED,
    CONVERSATION_CLOSED,
    CONVERSATION_OPENED,
    CONVERSATION_REOPENED,
    FIRST_RESPONSE,
    MESSAGE_DELIVERED,
    MESSAGE_FAILED,
    MESSAGE_READ,
    MESSAGE_RECEIVED,
    MESSAGE_SENT,
    OPTED_IN,
    OPTED_OUT,
    REPLY,
)
from core.reporting_batch import HANDLED, ConvState, FactBatch

# ---- the live writer ------------------------------------------------------------------------


_table_known: dict[int, bool] = {}


def _has_tables(tx: Transaction) -> bool:
    key = id(tx.cursor)
    if not _table_known.get(key):
        if not tx.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'report_facts'"):
            return False
        _table_known[key] = True
    return True


@before_commit
def write_facts(tx: Transaction) -> None:
    """Turn this transaction's events into facts, in the same transaction (see the module doc)."""
    relevant = [e for e in tx.events if e.name in HANDLED]
    if not relevant or not _has_tables(tx):
        return
    _FactWriter(tx, relevant).run()


class _FactWriter(FactBatch):
    def run(self) -> None:
        self._load()
        for event in self.events:
            handler = getattr(self, "_on_" + event.name.replace(".", "_"), None)
            if handler is not None:
                handler(event, event.payload)
        self._write()

    # ---- conversations ----

    def _on_conversation_created(self, event: Event, p: dict) -> None:
        cid = p.get("conversation_id")
        c = self.conversations.get(cid)
        if c is None:
            return
        self.states[cid] = ConvState("open", c["created_at"], None, None)
        self.dirty.add(cid)
        self._fact(CONVERSATION_OPENED, c["created_at"], agent_id=c["owner_id"], **self._conv_values(cid))

    def _on_conversation_assigned(self, event: Event, p: dict) -> None:
        cid = p.get("conversation_id")
        self._fact(
            CONVERSATION_ASSIGNED,
            event.at,
            agent_id=p.get("user_id"),
            other_agent_id=p.get("from_user_id"),
            **self._conv_values(cid),
        )

    def _on_conversations_reassigned(self, event: Event, p: dict) -> None:
        for cid in p.get("conversation_ids") or ():
            self._on_conversation_assigned(event, {**p, "conversation_id": cid})

    def _on_conversation_closed(self, event: Event, p: dict) -> None:
        cid = p.get("conversation_id")
        if cid not in self.conversations:
            return
        state = self._state(cid)
        if state.status == "closed":
            return
        self._duration(
            CONVERSATION_CLOSED, event.at, state.opened_at, agent_id=self._owner(cid), **self._conv_values(cid)
        )
        state.status, state.waiting_since = "closed", None

    def _reopen(self, cid: int, at: dt.datetime) -> None:
        state = self._state(cid)
        if state.status != "closed":
            return
        state.status, state.opened_at = "open", at
        self._fact(CONVERSATION_REOPENED, at, agent_id=self._owner(cid), **self._conv_values(cid))

    def _on_conversation_reopened(self, event: Event, p: dict) -> None:
        if p.get("conversation_id") in self.conversations:
            self._reopen(p.get("conversation_id"), event.at)

    # ---- messages ----

    def _on_message_received(self, event: Event, p: dict) -> None:
        m = self.messages.get(p.get("message_id"))
        if m is None:
            return
        cid = m["conversation_id"]
        if cid in self.conversations:
            self._reopen(cid, m["created_at"])  # a customer writing to a closed conversation reopens it
            state = self._state(cid)
            if state.waiting_since is None:
                state.waiting_since = m["created_at"]
        self._fact(MESSAGE_RECEIVED, m["created_at"], agent_id=self._owner(cid), **self._msg_values(m))
        key = (m["contact_id"], m["sender_id"])
        recipient = self.campaign_recipients.get(key)
        if recipient is not None and recipient[2] is None and recipient[1] <= m["created_at"]:
            recipient[2] = m["created_at"]
            self.campaign_dirty.add(key)
            self._fact(
                CAMPAIGN_REPLY,
                m["created_at"],
                contact_id=m["contact_id"],
                sender_id=m["sender_id"],
                campaign_id=recipient[0],
                conversation_id=cid,
                message_id=m["id"],
                started_at=recipient[1],  # the send it answers: Stats count it with that send's range
            )

    def _on_message_queued(self, event: Event, p: dict) -> None:
        """A message someone wrote: a reply if a customer was waiting (never automatic or campaign ones)."""
        m = self.messages.get(p.get("message_id"))
        if m is None or p.get("automatic") or m["author_id"] is None or m["campaign_id"] is not None:
            return
        cid = m["conversation_id"]
        if cid not in self.conversations or m["status"] == "not_sent":
            return
        state = self._state(cid)
        if state.waiting_since is None:
            return
        values = {**self._msg_values(m), "agent_id": m["author_id"]}
        del values["started_at"]  # a duration starts when the customer began waiting
        if state.first_response_at is None:
            self._duration(FIRST_RESPONSE, m["created_at"], state.waiting_since, **values)
            state.first_response_at = m["created_at"]
        self._duration(REPLY, m["created_at"], state.waiting_since, **values)
        state.waiting_since = None

    def _on_message_sent(self, event: Event, p: dict) -> None:
        m = self.messages.get(p.get("message_id"))
        if m is None:
            return
        self._fact(MESSAGE_SENT, event.at, agent_id=m["author_id"], **self._msg_values(m))
        if m["campaign_id"] is not None:
            key = (m["contact_id"], m["sender_id"])
            self.campaign_recipients[key] = [m["campaign_id"], event.at, None, None]
            self.campaign_dirty.add(key)

    def _failed(self, m: dict, at: dt.datetime, status: str, code: Any) -> None:
        self._fact(
            MESSAGE_FAILED,
            at,
            agent_id=m["author_id"],
            status=status,
            error_code=None if code is None else str(code),
            error_reason=m["error_reason"],
            **self._msg_values(m),
        )

    def _on_message_not_sent(self, event: Event, p: dict) -> None:
        m = self.messages.get(p.get("message_id"))
        if m is not None:
            self._failed(m, event.at, "not_sent", None)

    def _on_campaign_cancelled(self, event: Event, p: dict) -> None:
        """What the cancel recorded as not sent (it sends no event per message: see ``HANDLED``)."""
        from core.reporting_backfill import insert_failed_facts

        insert_failed_facts(
            self.tx,
            "m.campaign_id = ? AND m.status = 'not_sent' AND m.error_reason = ?",
            [p["campaign_id"], CANCELLED_REASON],
            "live",
        )

    def _on_message_failed(self, event: Event, p: dict) -> None:
        m = self.messages.get(p.get("message_id"))
        if m is not None:
            self._failed(m, event.at, "failed", p.get("error_code") or m["error_code"])

    def _on_message_status(self, event: Event, p: dict) -> None:
        """A provider callback moved a status forward (never twice to the same status: rule 9)."""
        m = self.messages.get(p.get("message_id"))
        if m is None:
            return
        status = p.get("status")
        at = m["status_at"] or event.at
        if status == "delivered" or (status == "read" and p.get("previous") not in ("delivered", "read")):
            # Read implies delivered: one 'delivered' fact per message that reached the handset, even when
            # the provider reported only the read (so the funnel counts facts, never distinct messages).
            self._fact(MESSAGE_DELIVERED, at, agent_id=m["author_id"], **self._msg_values(m))
        if status == "read":
            self._fact(MESSAGE_READ, at, agent_id=m["author_id"], **self._msg_values(m))
        elif status in ("failed", "undelivered"):
            self._failed(m, at, status, p.get("error_code") or m["error_code"])
        # 'sent' by callback: the dispatcher's message.sent already recorded the provider accepting it.

    # ---- contacts ----

    def _optout(self, kind: str, event: Event, p: dict) -> None:
        if p.get("contact_id") is None:
            return
        cid = p.get("conversation_id")
        values = self._conv_values(cid) if cid is not None else {}
        values["contact_id"] = p["contact_id"]
        self._fact(kind, event.at, agent_id=p.get("by_user_id"), **values)

    def _on_contact_opted_out(self, event: Event, p: dict) -> None:
        self._optout(OPTED_OUT, event, p)
        if p.get("contact_id") is None:
            return
        c = self.conversations.get(p.get("conversation_id"))
        if c is not None:
            key = (p["contact_id"], c["sender_id"])
        else:  # the carrier reported it (no conversation): the contact's latest campaign on any sender
            rows = self.tx.fetchall(
                "SELECT contact_id, sender_id, campaign_id, sent_at, replied_at, opted_out_at "
                "FROM report_campaign_recipients WHERE contact_id = ? ORDER BY sent_at DESC LIMIT 1",
                [p["contact_id"]],
            )
            if not rows:
                return
            key = (rows[0][0], rows[0][1])
            self.campaign_recipients.setdefault(key, list(rows[0][2:]))
        recipient = self.campaign_recipients.get(key)
        if recipient is None or recipient[3] is not None:
            return
        recipient[3] = event.at
        self.campaign_dirty.add(key)
        self._fact(
            CAMPAIGN_OPTOUT,
            event.at,
            contact_id=key[0],
            sender_id=key[1],
            campaign_id=recipient[0],
            started_at=recipient[1],
        )

    def _on_contact_opted_in(self, event: Event, p: dict) -> None:
        self._optout(OPTED_IN, event, p)
