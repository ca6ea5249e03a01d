"""One transaction's reporting facts, for the fact writer (``core.reporting_writer``).

``FactBatch`` holds what the writer needs for a transaction's events and what
it builds from them: it loads the messages, conversations, their reporting
state and campaign recipients by primary key, builds fact rows (the durations
get their business seconds at the end), and writes the facts, the recipients
and the conversation states in a few statements.

Separate from the writer, which says what each event records: this is how the
rows are read and written, the same whatever the events mean.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from core import events
from core.db import Event, Transaction
from core.db_events import columns_of, rows_sql
from core.reporting import FACT_COLUMNS, HUMAN_REPLY_SQL, business_seconds, recipient_key, workspace_hours

_STATE_TYPES = (
    ("conversation_id", "INTEGER"),
    ("status", "VARCHAR"),
    ("opened_at", "TIMESTAMP"),
    ("waiting_since", "TIMESTAMP"),
    ("first_response_at", "TIMESTAMP"),
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
# A campaign cancelled: its messages not sent are written as failures in one statement, not one event each
# (100k recipients' events cost 12 s in one transaction).
_CAMPAIGN_EVENTS = {events.CAMPAIGN_CANCELLED}
HANDLED = frozenset(_MESSAGE_EVENTS | _CONVERSATION_EVENTS | _CONTACT_EVENTS | _CAMPAIGN_EVENTS)


@dataclass
class ConvState:
    status: str
    opened_at: dt.datetime
    waiting_since: dt.datetime | None
    first_response_at: dt.datetime | None


def _may_be_reply(payload: dict[str, Any]) -> bool:
    """A queued message worth reading: written by someone in a conversation (a campaign queueing 100k
    messages, or an automatic reply, costs the writer nothing)."""
    return (
        payload.get("conversation_id") is not None
        and not payload.get("automatic")
        and payload.get("author_id", True) is not None
    )


class FactBatch:
    """A transaction's events, the rows loaded for them and the facts built from them
    (``core.reporting_writer._FactWriter`` adds what each event records)."""

    def __init__(self, tx: Transaction, relevant: list[Event]) -> None:
        self.tx = tx
        self.events = relevant
        self.rows: list[dict[str, Any]] = []
        self.durations: list[dict[str, Any]] = []  # rows whose business seconds are filled at the end
        self.teams: dict[int, int | None] = {}
        self.channels: dict[int, str] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self.conversations: dict[int, dict[str, Any]] = {}
        self.states: dict[int, ConvState] = {}
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
                self.states[key] = ConvState(status, created, waiting, first)
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

    def _state(self, cid: int) -> ConvState:
        state = self.states.get(cid)
        if state is None:  # rows written behind the writer's back (an import): read their thread once
            state = self._derive_state(cid)
            self.states[cid] = state
        self.dirty.add(cid)
        return state

    def _derive_state(self, cid: int) -> ConvState:
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
        return ConvState(status, c["created_at"], None if status == "closed" else waiting, first_reply)

    def _duration(self, kind: str, at: dt.datetime, started: dt.datetime, **values: Any) -> None:
        row = self._fact(kind, at, started_at=started, seconds=max(0.0, (at - started).total_seconds()), **values)
        self.durations.append(row)

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
            # One list per column, as for the facts: a VALUES row per conversation binds five
            # expressions each. For the applier's set of 200 replies (100k workspace) that took
            # 9.6-9.8 ms of a 60-64 ms set; as lists 2.7-3.9 ms, the set 52-53 ms.
            tx.execute(
                "INSERT INTO report_conversation_state (conversation_id, status, opened_at, waiting_since, "
                f"first_response_at) {rows_sql(_STATE_TYPES)} ON CONFLICT (conversation_id) DO UPDATE SET "
                "status = excluded.status, opened_at = excluded.opened_at, waiting_since = excluded.waiting_since, "
                "first_response_at = excluded.first_response_at",
                columns_of(
                    [(cid, s.status, s.opened_at, s.waiting_since, s.first_response_at) for cid, s in changed], 5
                ),
            )
