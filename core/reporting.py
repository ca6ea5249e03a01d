"""Reporting facts: what happened, appended once, so Stats never re-derive history from mutable rows.

State changes publish events (``core.events``). The fact writer below turns
them into rows of ``report_facts`` (the way established inboxes keep a
reporting-events table): conversation opened, first response, reply,
closed, reopened, assigned; message received, sent, delivered, read,
failed (with code and reason); contact opted out / in. Facts are never
updated or deleted; Stats (``core.stats``) read only them (and, for
*workload now*, the current state).

**Exactly once.** The writer runs *inside* the transaction that published
the events, registered with ``core.db.before_commit``: the facts commit
with the change that caused them or not at all. A transaction retried after
a conflict starts over with a fresh event list, and a crash between COMMIT
and the in-process listeners loses nothing, because nothing here waits for
the listeners. (The alternative, a listener after commit that rebuilds
idempotently, would leave a window in which Stats miss committed work and
need a watermark to repair it.)

**Durations** (first response, reply, time to close) need to know since when
a customer has been waiting; ``report_conversation_state`` keeps that per
conversation (one primary-key row, read and written in the same
transaction), so the writer never scans a thread:

- a customer's message starts a wait, unless one is already running; an
  incoming message on a closed conversation reopens it (``reopened`` fact);
- a message a person writes in the conversation (not an automatic reply, not
  a campaign message, not refused as *not sent*) ends the wait: a ``reply``
  fact with the waiting time, attributed to the agent who wrote it, and the
  conversation's first one is also its ``first_response``;
- closing ends a wait without a reply and records ``closed`` with the time
  since the conversation was opened or last reopened.

Each duration is stored twice: wall-clock seconds and seconds inside the
workspace's business hours at the time (weekly schedule, time zone,
holidays), so the *business hours only* switch of Stats costs nothing.

**Campaigns.** ``report_campaign_recipients`` remembers, per contact and
sender, the last campaign that reached them; their next message on that
sender is that campaign's ``campaign_reply``, their opt-out its
``campaign_optout`` (once each). A read that skipped *delivered* also gets
its ``message_delivered`` fact: each message that reached a handset has
exactly one, so the funnel counts facts.

Counting charts read ``core.reporting_rollup`` (quarter-hour counts of these
facts plus the newest facts themselves).

**Backfill.** ``core.reporting_backfill.rebuild(tx)`` derives the same facts
from the stored rows, for a workspace that existed before this module
(migration 8) or was generated (``generator``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core import events, settings
from core.compliance.hours import BusinessHours, open_intervals_between
from core.db import Event, Transaction, before_commit, rows_sql

# ---- fact kinds ---------------------------------------------------------------------------
CONVERSATION_OPENED = "conversation_opened"
CONVERSATION_REOPENED = "conversation_reopened"
CONVERSATION_CLOSED = "conversation_closed"
CONVERSATION_ASSIGNED = "conversation_assigned"
FIRST_RESPONSE = "first_response"
REPLY = "reply"
MESSAGE_RECEIVED = "message_received"
MESSAGE_SENT = "message_sent"
MESSAGE_DELIVERED = "message_delivered"
MESSAGE_READ = "message_read"
MESSAGE_FAILED = "message_failed"
OPTED_OUT = "opted_out"
OPTED_IN = "opted_in"
CAMPAIGN_REPLY = "campaign_reply"  # a campaign's recipient wrote back before another campaign reached them there
CAMPAIGN_OPTOUT = "campaign_optout"  # ... or opted out after it
KINDS = (
    CONVERSATION_OPENED,
    CONVERSATION_REOPENED,
    CONVERSATION_CLOSED,
    CONVERSATION_ASSIGNED,
    FIRST_RESPONSE,
    REPLY,
    MESSAGE_RECEIVED,
    MESSAGE_SENT,
    MESSAGE_DELIVERED,
    MESSAGE_READ,
    MESSAGE_FAILED,
    OPTED_OUT,
    OPTED_IN,
    CAMPAIGN_REPLY,
    CAMPAIGN_OPTOUT,
)

FACT_COLUMNS = (
    "occurred_at",
    "kind",
    "conversation_id",
    "message_id",
    "contact_id",
    "sender_id",
    "channel",
    "campaign_id",
    "agent_id",
    "team_id",
    "other_agent_id",
    "status",
    "error_code",
    "error_reason",
    "started_at",
    "seconds",
    "business_seconds",
    "source",
)

_FACT_TYPES = tuple(
    (c, "TIMESTAMP" if c in ("occurred_at", "started_at") else "DOUBLE" if c.endswith("seconds") else "BIGINT"
     if c.endswith("_id") else "VARCHAR")
    for c in FACT_COLUMNS
)  # fmt: skip

# The events the writer reads; any other transaction costs it one set lookup per event.
_MESSAGE_EVENTS = {
    events.MESSAGE_RECEIVED,
    events.MESSAGE_QUEUED,
    events.MESSAGE_NOT_SENT,
    events.MESSAGE_SENT,
    events.MESSAGE_FAILED,
    events.MESSAGE_STATUS,
}
_CONVERSATION_EVENTS = {
    events.CONVERSATION_CREATED,
    events.CONVERSATION_ASSIGNED,
    events.CONVERSATIONS_REASSIGNED,  # a disabled user's conversations, handed over in one go
    events.CONVERSATION_CLOSED,
    events.CONVERSATION_REOPENED,
}
_CONTACT_EVENTS = {events.CONTACT_OPTED_OUT, events.CONTACT_OPTED_IN}
_DELIVERY_EVENTS = {events.MESSAGE_SENT, events.MESSAGE_FAILED, events.MESSAGE_STATUS, events.MESSAGE_NOT_SENT}
_WAIT_EVENTS = {events.MESSAGE_RECEIVED, events.MESSAGE_QUEUED}
HANDLED = frozenset(_MESSAGE_EVENTS | _CONVERSATION_EVENTS | _CONTACT_EVENTS)
FAILED_STATUSES = ("failed", "undelivered", "not_sent")
# A message a person wrote in the conversation: what ends a customer's wait.
HUMAN_REPLY_SQL = "direction = 'out' AND author_id IS NOT NULL AND campaign_id IS NULL AND status <> 'not_sent'"


# ---- business hours -----------------------------------------------------------------------


def business_seconds(
    starts: Iterable[dt.datetime] | np.ndarray, ends: Iterable[dt.datetime] | np.ndarray, hours: BusinessHours | None
) -> np.ndarray:
    """Seconds of each ``[start, end)`` (naive UTC) that fall inside business hours.

    Vectorised: the open intervals of the whole span are listed once, and each
    bound is placed among them with a binary search on their running total.
    """
    s, e = _datetimes(starts), _datetimes(ends)
    out = np.zeros(len(s), dtype=float)
    if hours is None or len(s) == 0:
        return out
    valid = ~(np.isnat(s) | np.isnat(e)) & (e > s)
    if not valid.any():
        return out
    lo = pd.Timestamp(s[valid].min()).to_pydatetime()
    hi = pd.Timestamp(e[valid].max()).to_pydatetime()
    intervals = open_intervals_between(hours, lo, hi)
    if not intervals:
        return out
    opens = np.array([a for a, _ in intervals], dtype="datetime64[us]").astype(np.int64)
    closes = np.array([b for _, b in intervals], dtype="datetime64[us]").astype(np.int64)
    lengths = closes - opens
    before = np.concatenate([[0], np.cumsum(lengths)])  # open time before interval i

    def open_time_until(t: np.ndarray) -> np.ndarray:
        i = np.searchsorted(opens, t, side="right") - 1  # the last interval opening at or before t
        inside = np.where(i >= 0, np.clip(t - opens[np.maximum(i, 0)], 0, lengths[np.maximum(i, 0)]), 0)
        return np.where(i >= 0, before[np.maximum(i, 0)] + inside, 0)

    si, ei = s[valid].astype(np.int64), e[valid].astype(np.int64)
    out[valid] = (open_time_until(ei) - open_time_until(si)) / 1_000_000
    return out


def _datetimes(values: Iterable[dt.datetime] | np.ndarray) -> np.ndarray:
    if isinstance(values, np.ndarray | pd.Series):
        return np.asarray(values).astype("datetime64[us]")
    return np.array(list(values), dtype="datetime64[us]")  # None becomes NaT


def workspace_hours(tx: Transaction) -> BusinessHours | None:
    try:
        return settings.business_hours_from_json(settings.get_tx(tx, "business_hours"))
    except Exception:  # unreadable settings must not stop a commit: durations then count wall-clock only
        return None


# ---- the live writer ------------------------------------------------------------------------


@dataclass
class _ConvState:
    status: str
    opened_at: dt.datetime
    waiting_since: dt.datetime | None
    first_response_at: dt.datetime | None


_table_known: dict[int, bool] = {}


def _has_tables(tx: Transaction) -> bool:
    key = id(tx.cursor)
    if not _table_known.get(key):
        if not tx.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'report_facts'"):
            return False
        _table_known[key] = True
    return True


def recipient_key(contact_id: int, sender_id: int) -> int:
    """One BIGINT for (contact, sender): DuckDB looks a list of single-column keys up in its index."""
    return contact_id * 1_000_000 + sender_id


def _may_be_reply(payload: dict[str, Any]) -> bool:
    """A queued message worth reading: written by someone in a conversation (a campaign queueing 100k
    messages, or an automatic reply, costs the writer nothing)."""
    return (
        payload.get("conversation_id") is not None
        and not payload.get("automatic")
        and payload.get("author_id", True) is not None
    )


@before_commit
def write_facts(tx: Transaction) -> None:
    """Turn this transaction's events into facts, in the same transaction (see the module doc)."""
    relevant = [e for e in tx.events if e.name in HANDLED]
    if not relevant or not _has_tables(tx):
        return
    _FactWriter(tx, relevant).run()


class _FactWriter:
    def __init__(self, tx: Transaction, relevant: list[Event]) -> None:
        self.tx = tx
        self.events = relevant
        self.rows: list[dict[str, Any]] = []
        self.durations: list[dict[str, Any]] = []  # rows whose business seconds are filled at the end
        self.teams: dict[int, int | None] = {}
        self.channels: dict[int, str] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self.conversations: dict[int, dict[str, Any]] = {}
        self.states: dict[int, _ConvState] = {}
        self.dirty: set[int] = set()
        # (contact, sender) -> [campaign, sent_at, replied_at, opted_out_at]: the last campaign that reached
        # a contact on a sender, so a reply or an opt-out is credited to it without scanning anything.
        self.campaign_recipients: dict[tuple[int, int], list[Any]] = {}
        self.campaign_dirty: set[tuple[int, int]] = set()

    # ---- loading (primary-key lookups only: ``= ANY`` keeps DuckDB on the index) ----

    def _load(self) -> None:
        tx = self.tx
        message_ids = sorted(
            {
                e.payload.get("message_id")
                for e in self.events
                if e.name in _MESSAGE_EVENTS and (e.name != events.MESSAGE_QUEUED or _may_be_reply(e.payload))
            }
            - {None}  # an event without the id it should carry records nothing rather than failing the write
        )
        if message_ids:
            cur = tx.execute(
                """SELECT id, conversation_id, contact_id, sender_id, campaign_id, author_id, direction, status,
                          error_code, error_reason, created_at, status_at FROM messages WHERE id = ANY(?::BIGINT[])""",
                [message_ids],
            )
            names = [d[0] for d in cur.description]
            self.messages = {r[0]: dict(zip(names, r)) for r in cur.fetchall()}
        # Conversations matter to conversation and opt-out events and to the messages that start or
        # end a wait; delivery outcomes (most events, in large batches) need none.
        conversation_ids = {e.payload.get("conversation_id") for e in self.events if e.name not in _DELIVERY_EVENTS}
        for e in self.events:
            if e.name == events.CONVERSATIONS_REASSIGNED:
                conversation_ids.update(e.payload.get("conversation_ids") or ())
        conversation_ids |= {
            self.messages[e.payload.get("message_id")]["conversation_id"]
            for e in self.events
            if e.name in _WAIT_EVENTS and e.payload.get("message_id") in self.messages
        }
        conversation_ids.discard(None)
        ids = sorted(int(c) for c in conversation_ids)
        # One statement for the conversations, their reporting state and the two small tables (senders'
        # channels, users' teams): each branch keeps its index lookup, and the writer runs on every write.
        for t, key, contact, sender, channel, campaign, owner, created, status, waiting, first in tx.fetchall(
            """SELECT 'c', id, contact_id, sender_id, channel, campaign_id, owner_id, created_at, status,
                      NULL::TIMESTAMP, NULL::TIMESTAMP FROM conversations WHERE id = ANY(?::INTEGER[])
               UNION ALL
               SELECT 's', conversation_id, NULL, NULL, NULL, NULL, NULL, opened_at, status, waiting_since,
                      first_response_at FROM report_conversation_state WHERE conversation_id = ANY(?::INTEGER[])
               UNION ALL SELECT 'n', id, NULL, NULL, channel, NULL, NULL, NULL, NULL, NULL, NULL FROM senders
               UNION ALL SELECT 'u', id, NULL, NULL, NULL, NULL, team_id, NULL, NULL, NULL, NULL FROM users""",
            [ids, ids],
        ):
            if t == "c":
                self.conversations[key] = {
                    "id": key,
                    "contact_id": contact,
                    "sender_id": sender,
                    "channel": channel,
                    "campaign_id": campaign,
                    "owner_id": owner,
                    "created_at": created,
                    "status": status,
                }
            elif t == "s":
                self.states[key] = _ConvState(status, created, waiting, first)
            elif t == "n":
                self.channels[key] = channel
            else:
                self.teams[key] = owner
        self._load_campaign_recipients()

    def _load_campaign_recipients(self) -> None:
        keys = {
            (m["contact_id"], m["sender_id"])
            for e in self.events
            if e.name == events.MESSAGE_RECEIVED and (m := self.messages.get(e.payload.get("message_id")))
        }
        keys |= {
            (c["contact_id"], c["sender_id"])
            for e in self.events
            if e.name == events.CONTACT_OPTED_OUT and (c := self.conversations.get(e.payload.get("conversation_id")))
        }
        rows = (
            self.tx.fetchall(
                "SELECT contact_id, sender_id, campaign_id, sent_at, replied_at, opted_out_at "
                "FROM report_campaign_recipients WHERE recipient_key = ANY(?::BIGINT[])",
                [sorted(recipient_key(c, s) for c, s in keys)],
            )
            if keys
            else []
        )
        for contact, sender, campaign, sent_at, replied, opted in rows:
            self.campaign_recipients[(contact, sender)] = [campaign, sent_at, replied, opted]

    # ---- building facts ----

    def _fact(self, kind: str, at: dt.datetime, **values: Any) -> dict[str, Any]:
        row = dict.fromkeys(FACT_COLUMNS)
        row.update(occurred_at=at, kind=kind, source="live", **values)
        if row["agent_id"] is not None:
            row["team_id"] = self.teams.get(row["agent_id"])
        if row["sender_id"] is not None and row["channel"] is None:
            row["channel"] = self.channels.get(row["sender_id"])
        self.rows.append(row)
        return row

    def _conv_values(self, cid: int | None) -> dict[str, Any]:
        c = self.conversations.get(cid) if cid is not None else None
        if c is None:
            return {"conversation_id": cid}
        return {
            "conversation_id": cid,
            "contact_id": c["contact_id"],
            "sender_id": c["sender_id"],
            "channel": c["channel"],
            "campaign_id": c["campaign_id"],
        }

    def _msg_values(self, m: dict[str, Any]) -> dict[str, Any]:
        return {
            "started_at": m["created_at"],  # when it was written: the delivery funnel's cohort
            "conversation_id": m["conversation_id"],
            "message_id": m["id"],
            "contact_id": m["contact_id"],
            "sender_id": m["sender_id"],
            "campaign_id": m["campaign_id"],
        }

    def _owner(self, cid: int | None) -> int | None:
        c = self.conversations.get(cid) if cid is not None else None
        return c["owner_id"] if c else None

    def _state(self, cid: int) -> _ConvState:
        state = self.states.get(cid)
        if state is None:  # rows written behind the writer's back (an import): read their thread once
            state = self._derive_state(cid)
            self.states[cid] = state
        self.dirty.add(cid)
        return state

    def _derive_state(self, cid: int) -> _ConvState:
        c = self.conversations[cid]
        last_reply, first_reply = self.tx.fetchone(
            f"SELECT max(created_at), min(created_at) FROM messages WHERE conversation_id = ? AND {HUMAN_REPLY_SQL}",
            [cid],
        )
        waiting = self.tx.scalar(
            "SELECT min(created_at) FROM messages WHERE conversation_id = ? AND direction = 'in' AND created_at > ?",
            [cid, last_reply or dt.datetime.min],
        )
        status = "closed" if c["status"] == "closed" else "open"
        return _ConvState(status, c["created_at"], None if status == "closed" else waiting, first_reply)

    def _duration(self, kind: str, at: dt.datetime, started: dt.datetime, **values: Any) -> None:
        row = self._fact(kind, at, started_at=started, seconds=max(0.0, (at - started).total_seconds()), **values)
        self.durations.append(row)

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
        self.states[cid] = _ConvState("open", c["created_at"], None, None)
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
        self._fact(CAMPAIGN_OPTOUT, event.at, contact_id=key[0], sender_id=key[1], campaign_id=recipient[0])

    def _on_contact_opted_in(self, event: Event, p: dict) -> None:
        self._optout(OPTED_IN, event, p)

    # ---- writing ----

    def _write(self) -> None:
        tx = self.tx
        if self.durations:
            hours = workspace_hours(tx)
            seconds = business_seconds(
                [r["started_at"] for r in self.durations], [r["occurred_at"] for r in self.durations], hours
            )
            for row, value in zip(self.durations, seconds):
                row["business_seconds"] = float(value)
        if len(self.rows) > 16:
            # A batch (the dispatcher's outcomes, status callbacks): one list per column beats a VALUES
            # statement with thousands of parameters, and building a DataFrame.
            cols = ", ".join(FACT_COLUMNS)
            tx.execute(
                f"INSERT INTO report_facts (id, {cols}) SELECT nextval('seq_report_facts'), * "
                f"FROM ({rows_sql(_FACT_TYPES)})",
                [[row[c] for row in self.rows] for c in FACT_COLUMNS],
            )
        elif self.rows:
            placeholders = "(nextval('seq_report_facts'), " + ", ".join("?" * len(FACT_COLUMNS)) + ")"
            tx.execute(
                f"INSERT INTO report_facts (id, {', '.join(FACT_COLUMNS)}) VALUES "
                + ", ".join([placeholders] * len(self.rows)),
                [row[c] for row in self.rows for c in FACT_COLUMNS],
            )
        recipients = [(k, self.campaign_recipients[k]) for k in sorted(self.campaign_dirty)]
        if recipients:
            tx.execute(
                "INSERT INTO report_campaign_recipients VALUES "
                + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(recipients))
                + " ON CONFLICT (recipient_key) DO UPDATE SET campaign_id = excluded.campaign_id, "
                "sent_at = excluded.sent_at, replied_at = excluded.replied_at, opted_out_at = excluded.opted_out_at",
                [v for (c, snd), r in recipients for v in (recipient_key(c, snd), c, snd, *r)],
            )
        changed = [(cid, self.states[cid]) for cid in sorted(self.dirty)]
        if changed:
            tx.execute(
                "INSERT INTO report_conversation_state (conversation_id, status, opened_at, waiting_since, "
                "first_response_at) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?)"] * len(changed))
                + " ON CONFLICT (conversation_id) DO UPDATE SET status = excluded.status, "
                "opened_at = excluded.opened_at, waiting_since = excluded.waiting_since, "
                "first_response_at = excluded.first_response_at",
                [v for cid, s in changed for v in (cid, s.status, s.opened_at, s.waiting_since, s.first_response_at)],
            )
