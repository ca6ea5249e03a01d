"""Reporting facts: what happened, appended once, so Stats never re-derive history from mutable rows.

State changes publish events (``core.events``). The fact writer
(``core.reporting_writer``) turns them into rows of ``report_facts`` (the
way established inboxes keep a reporting-events table): conversation
opened, first response, reply, closed, reopened, assigned; message
received, sent, delivered, read, failed (with code and reason); contact
opted out / in. Facts are never updated or deleted; Stats (``core.stats``)
read only them (and, for *workload now*, the current state).

This module holds what the facts are (their kinds and columns) and how a
duration's business seconds are counted, for the writer, the backfill and
Stats alike.

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

import numpy as np
import pandas as pd

from core import settings
from core.compliance.hours import BusinessHours, open_intervals_between
from core.db import Transaction

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


def recipient_key(contact_id: int, sender_id: int) -> int:
    """One BIGINT for (contact, sender): DuckDB looks a list of single-column keys up in its index."""
    return contact_id * 1_000_000 + sender_id
