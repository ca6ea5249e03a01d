"""The dispatcher: claims due outbox rows, sends them, records the result.

One claim transaction marks a batch *claimed* (message → sending) before
any provider is called; a pool of threads sends; one transaction records
all outcomes. A row still *claimed* when Parley starts was in flight when
the process died: we cannot know whether the provider got it, so it is
never resent silently nor dropped — it becomes *interrupted* and the agent
gets a one-click retry.

Retryable failures (429, 5xx, timeouts, connection errors) go back to the
queue with exponential backoff and jitter, up to MAX_ATTEMPTS; 4xx
failures are final with the provider's code. Per-sender rate limits
(messages per second, set on the sender) are held by a sliding log of
claim times (``RateLimiter``).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core import clock, events
from core.db import Database, Transaction
from core.errors import ParleyError
from core.provider_errors import OPT_OUT_CODES, describe
from core.providers.base import (
    OutboundMedia,
    OutboundMessage,
    ProviderError,
    SendResult,
    TemplateRef,
    status_moves_forward,
)

log = logging.getLogger("parley.delivery")

MAX_ATTEMPTS = 6
BACKOFF_BASE = 2.0  # seconds; doubled per attempt, with jitter
BACKOFF_CAP = 300.0
INTERRUPTED_REASON = (
    "Interrupted: Parley stopped while this message was being handed to the provider, "
    "so it may or may not have gone out. Retry to send it again."
)


class RateLimiter:
    """At most ``rate`` claims per sender in any one-second window (below 1/s: one per 1/rate seconds).

    A sliding log of claim times rather than a token bucket: a bucket that is
    full at the start of a second lets through its burst *and* a second's
    refill, twice the limit within one second, which is what a carrier's
    per-number limit refuses.
    """

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._claimed: dict[int, deque[float]] = {}  # sender -> claim times within the window

    def take(self, sender_id: int, rate: float, wanted: int) -> int:
        rate = max(rate, 0.01)
        window, allowed = (1.0, int(rate)) if rate >= 1 else (1.0 / rate, 1)
        now = self._now()
        claimed = self._claimed.setdefault(sender_id, deque())
        while claimed and claimed[0] <= now - window:
            claimed.popleft()
        granted = max(0, min(wanted, allowed - len(claimed)))
        claimed.extend([now] * granted)
        return granted

    def settle(self, sender_id: int, count: int) -> None:
        """The last ``count`` claims of ``sender_id`` have now gone out: their second counts from
        now, so sends of the next second's worth never start within a second of these."""
        claimed = self._claimed.get(sender_id)
        if not claimed or count <= 0:
            return
        count = min(count, len(claimed))
        for _ in range(count):
            claimed.pop()
        claimed.extend([self._now()] * count)

    def seconds_until_free(self, sender_id: int, rate: float) -> float:
        """How long until ``sender_id`` may send again (0 if it may now)."""
        rate = max(rate, 0.01)
        window, allowed = (1.0, int(rate)) if rate >= 1 else (1.0 / rate, 1)
        claimed = self._claimed.get(sender_id)
        if not claimed or len(claimed) < allowed:
            return 0.0
        return max(0.0, claimed[-allowed] + window - self._now())


@dataclass
class Claim:
    outbox_id: int
    message_id: int
    attempts: int
    sender: dict[str, Any]
    message: OutboundMessage


@dataclass
class SendOutcome:
    claim: Claim
    result: SendResult | None = None
    error: ProviderError | None = None


def backoff_seconds(attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
    if retry_after is not None and retry_after > 0:
        return min(BACKOFF_CAP, retry_after)
    base = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempt - 1))
    return base * (0.5 + (rng or random).random())  # full jitter around the base


class Dispatcher:
    # bench/bench_dispatch.py: batch 64 / 8 threads gave ~450-530 sends/s to a loopback Twilio on 2 cores
    # (per-statement costs dominate small batches); 128 / 32 gives ~600-730. 32 threads = http.POOL_SIZE,
    # so each sending thread keeps a pooled connection, and a real provider's ~100 ms round trip still
    # allows ~300 sends/s.
    def __init__(
        self,
        db: Database,
        provider_for: Callable[[dict[str, Any]], Any],
        *,
        media_url: Callable[[str], str | None],
        status_callback_url: Callable[[str], str | None],
        batch: int = 128,
        threads: int = 32,
    ) -> None:
        self.db = db
        self.provider_for = provider_for
        self.media_url = media_url
        self.status_callback_url = status_callback_url
        self.batch = batch
        self.limiter = RateLimiter()
        self._limited: dict[int, float] = {}  # senders held back by their rate limit in the last claim
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="parley-send")
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0

    # ---- restart recovery ----------------------------------------------------------------

    def recover(self) -> int:
        """Turn sends that were in flight at the last stop into *interrupted*."""
        return self.db.write(_mark_interrupted)

    # ---- the loop --------------------------------------------------------------------------

    def step(self) -> bool | float:
        """One claim/send/record round. True if anything was claimed; else False, or the
        seconds until a rate-limited sender may send again (the worker sleeps that long)."""
        with self._lock:
            self._limited = {}
            claims = self.db.write(self._claim)
            if not claims:
                waits = [self.limiter.seconds_until_free(s, r) for s, r in self._limited.items()]
                return min(waits) if waits else False
            outcomes = list(self._pool.map(self._send_one, claims))
            for sender_id, count in Counter(c.sender["id"] for c in claims).items():
                self.limiter.settle(sender_id, count)
            self.db.write(self._record, outcomes)
            return True

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _send_one(self, claim: Claim) -> SendOutcome:
        try:
            provider = self.provider_for(claim.sender)
            return SendOutcome(claim, result=provider.send(claim.message))
        except ProviderError as exc:
            return SendOutcome(claim, error=exc)
        except ParleyError as exc:  # e.g. the provider is not configured: final, with the sentence
            return SendOutcome(claim, error=ProviderError(str(exc), retryable=False))
        except Exception as exc:  # a bug or an unexpected library error: retry, then fail
            log.exception("send of message %s failed unexpectedly", claim.message_id)
            return SendOutcome(claim, error=ProviderError(f"Unexpected error: {exc}", retryable=True))

    # ---- claim -------------------------------------------------------------------------------

    def _claim(self, tx: Transaction) -> list[Claim]:
        now = clock.utcnow()
        rows = tx.fetchall(
            """SELECT o.id, o.message_id, o.sender_id, o.attempts, s.rate_per_second, s.enabled,
                      ct.opted_out AND (m.author_id IS NOT NULL OR m.campaign_id IS NOT NULL) AS blocked_optout,
                      -- rule 5: free text held for business hours may find the window closed
                      s.channel = 'whatsapp' AND NOT coalesce(t.registered, FALSE)
                        AND (c.last_inbound_at IS NULL OR c.last_inbound_at + INTERVAL 24 HOUR <= ?) AS window_closed
               FROM outbox o JOIN senders s ON s.id = o.sender_id
               JOIN messages m ON m.id = o.message_id JOIN contacts ct ON ct.id = m.contact_id
               LEFT JOIN conversations c ON c.id = m.conversation_id
               LEFT JOIN templates t ON t.id = m.template_id
               WHERE o.state = 'pending' AND o.due_at <= ?
               QUALIFY row_number() OVER (PARTITION BY o.sender_id ORDER BY o.due_at, o.id) <= ?
               ORDER BY o.due_at, o.id""",
            [now, now, self.batch],
        )  # the oldest due rows of EVERY sender: one sender's backlog never hides the others'
        if not rows:
            return []
        chosen, blocked, wanted = [], [], {}
        for outbox_id, message_id, sender_id, attempts, rate, enabled, blocked_optout, window_closed in rows:
            if blocked_optout or not enabled or window_closed:
                reason = (
                    "Contact opted out"
                    if blocked_optout
                    else "Sender disabled"
                    if not enabled
                    else "WhatsApp window closed before it could go: send a registered template"
                )
                blocked.append((outbox_id, message_id, reason))
                continue
            wanted.setdefault(sender_id, []).append((outbox_id, message_id, attempts, rate))
        # The batch is shared fairly among the senders with due rows (a backlog on one does not hold
        # up the others): smallest possible claim first (rows due, at most a bucket of tokens), each
        # taking at most an even share of the room left, so what a rate-limited sender cannot use
        # goes to the next. Tokens are taken only for rows actually claimed.
        room, order = self.batch, sorted(wanted, key=lambda s: min(len(wanted[s]), max(1.0, wanted[s][0][3])))
        for n, sender_id in enumerate(order):
            items = wanted[sender_id]
            granted = self.limiter.take(sender_id, items[0][3], min(len(items), -(-room // (len(order) - n))))
            chosen += [(o, m, a, sender_id) for o, m, a, _ in items[:granted]]
            room -= granted
            if granted < len(items):
                self._limited[sender_id] = items[0][3]
        for outbox_id, message_id, reason in blocked:  # rule 2: never reaches a provider
            tx.execute("UPDATE outbox SET state = 'cancelled' WHERE id = ?", [outbox_id])
            tx.execute(
                "UPDATE messages SET status = 'not_sent', error_reason = ?, status_at = ? WHERE id = ?",
                [reason, now, message_id],
            )
            tx.publish(events.MESSAGE_NOT_SENT, message_id=message_id, reason=reason)
        if not chosen:
            return []
        outbox_ids = [c[0] for c in chosen]
        tx.execute(
            "UPDATE outbox SET state = 'claimed', claimed_at = ?, attempts = attempts + 1 "
            "WHERE id IN (SELECT unnest(?::BIGINT[]))",
            [now, outbox_ids],
        )
        message_ids = [c[1] for c in chosen]
        tx.execute(
            "UPDATE messages SET status = 'sending', status_at = ?, release_at = NULL "
            "WHERE id IN (SELECT unnest(?::BIGINT[]))",
            [now, message_ids],
        )
        return self._build_claims(tx, chosen)

    def _build_claims(self, tx: Transaction, chosen: list[tuple]) -> list[Claim]:
        message_ids = [c[1] for c in chosen]
        details = {
            r["id"]: r
            for r in _dicts(
                tx,
                """
                SELECT m.id, m.body, m.template_id, ct.phone AS to_number, ct.name AS contact_name,
                       s.id AS sender_id, s.phone AS from_number, s.channel, s.provider, s.provider_ref, s.label,
                       t.provider_name AS template_name, t.language AS template_language, t.registered
                FROM messages m JOIN contacts ct ON ct.id = m.contact_id JOIN senders s ON s.id = m.sender_id
                LEFT JOIN templates t ON t.id = m.template_id
                WHERE m.id IN (SELECT unnest(?::BIGINT[]))""",
                [message_ids],
            )
        }
        media: dict[int, list[dict]] = {}
        for item in _dicts(
            tx,
            "SELECT message_id, sha256, content_type, filename, token FROM media "
            "WHERE message_id IN (SELECT unnest(?::BIGINT[])) ORDER BY id",
            [message_ids],
        ):
            media.setdefault(item["message_id"], []).append(item)
        claims = []
        for outbox_id, message_id, attempts, _sender_id in chosen:
            d = details[message_id]
            template = None
            if d["template_id"] is not None and d["registered"] and d["template_name"]:
                template = TemplateRef(name=d["template_name"], language=d["template_language"] or "en_US")
            outbound = OutboundMessage(
                message_id=message_id,
                channel=d["channel"],
                from_number=d["from_number"],
                to_number=d["to_number"],
                body=d["body"] or None,
                media=tuple(
                    OutboundMedia(
                        url=self.media_url(m["token"]) or "",
                        content_type=m["content_type"],
                        filename=m["filename"],
                        sha256=m["sha256"],
                    )
                    for m in media.get(message_id, [])
                ),
                template=template,
                sender_ref=d["provider_ref"],
                status_callback_url=self.status_callback_url(d["provider"]),
            )
            sender = {"id": d["sender_id"], "provider": d["provider"], "channel": d["channel"], "label": d["label"]}
            claims.append(Claim(outbox_id, message_id, attempts + 1, sender, outbound))
        return claims

    # ---- record ------------------------------------------------------------------------------

    def _record(self, tx: Transaction, outcomes: list[SendOutcome]) -> None:
        now = clock.utcnow()
        msg_rows, outbox_rows, opt_outs = [], [], []
        current = dict(
            tx.fetchall(
                "SELECT id, status FROM messages WHERE id IN (SELECT unnest(?::BIGINT[]))",
                [[o.claim.message_id for o in outcomes]],
            )
        )
        for o in outcomes:
            c = o.claim
            if o.result is not None:
                status = (
                    o.result.status
                    if status_moves_forward(current.get(c.message_id), o.result.status)
                    else current.get(c.message_id)
                )
                msg_rows.append((c.message_id, status, o.result.provider_message_id, None, None, None, None))
                outbox_rows.append((c.outbox_id, "done", None, None))
                tx.publish(
                    events.MESSAGE_SENT,
                    message_id=c.message_id,
                    channel=c.sender["channel"],
                    sender_id=c.sender["id"],
                    status=status,
                )
                self.sent += 1
                continue
            err = o.error
            if err.retryable and c.attempts < MAX_ATTEMPTS:
                due = now + dt.timedelta(seconds=backoff_seconds(c.attempts, err.retry_after))
                msg_rows.append((c.message_id, "queued", None, None, None, due, "retry"))  # why it waits
                outbox_rows.append((c.outbox_id, "pending", due, err.message[:500]))
                tx.publish(
                    events.MESSAGE_RETRY_SCHEDULED, message_id=c.message_id, attempt=c.attempts, error=err.message[:200]
                )
            else:
                reason = describe(err.code, err.message)
                if err.retryable:
                    reason = f"{reason} — gave up after {c.attempts} attempts"
                msg_rows.append((c.message_id, "failed", None, err.code, reason, None, None))
                outbox_rows.append((c.outbox_id, "failed", None, err.message[:500]))
                tx.publish(
                    events.MESSAGE_FAILED,
                    message_id=c.message_id,
                    channel=c.sender["channel"],
                    sender_id=c.sender["id"],
                    error_code=err.code,
                )
                self.failed += 1
                if err.code in OPT_OUT_CODES:
                    opt_outs.append(c.message_id)
        _bulk_update(
            tx,
            "messages",
            pd.DataFrame(
                msg_rows,
                columns=["id", "status", "provider_message_id", "error_code", "error_reason", "release_at", "why"],
            ),
            """
            status = u.status, status_at = ?, provider_message_id = coalesce(u.provider_message_id,
            messages.provider_message_id), error_code = u.error_code, error_reason = u.error_reason,
            release_at = u.release_at, queued_reason = u.why""",
            [now],
        )
        _bulk_update(
            tx,
            "outbox",
            pd.DataFrame(outbox_rows, columns=["id", "state", "due_at", "last_error"]),
            """
            state = u.state, due_at = coalesce(u.due_at, outbox.due_at), last_error = u.last_error""",
            [],
        )
        for message_id in opt_outs:
            _provider_opt_out(tx, message_id, now)
        # Owners' live pages: one event per conversation touched.
        for conversation_id, owner_id in tx.fetchall(
            "SELECT DISTINCT c.id, c.owner_id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "WHERE m.id IN (SELECT unnest(?::BIGINT[]))",
            [[o.claim.message_id for o in outcomes]],
        ):
            tx.publish(events.CONVERSATION_DELIVERY, conversation_id=conversation_id, user_id=owner_id)


def _bulk_update(tx: Transaction, table: str, frame: pd.DataFrame, set_sql: str, params: list) -> None:
    if frame.empty:
        return
    for column in frame.columns:
        if frame[column].isna().all():
            frame[column] = frame[column].astype("object")
    name = f"_u_{table}"
    tx.cursor.register(name, frame)
    try:
        tx.execute(f"UPDATE {table} SET {set_sql} FROM {name} u WHERE {table}.id = u.id", params)
    finally:
        tx.cursor.unregister(name)


def _provider_opt_out(tx: Transaction, message_id: int, now: dt.datetime) -> None:
    """The provider says the person replied STOP: suppress them on every sender (rule 2)."""
    row = tx.fetchone("SELECT contact_id, sender_id FROM messages WHERE id = ?", [message_id])
    if row is None or tx.scalar("SELECT opted_out FROM contacts WHERE id = ?", [row[0]]):
        return
    tx.execute(
        "UPDATE contacts SET opted_out = TRUE, opted_out_at = ?, updated_at = ? WHERE id = ?", [now, now, row[0]]
    )
    tx.execute(
        "INSERT INTO optout_history (contact_id, kind, keyword, sender_id, message_id, occurred_at) "
        "VALUES (?, 'opt_out', 'provider error 21610', ?, ?, ?)",
        [row[0], row[1], message_id, now],
    )
    tx.publish(events.CONTACT_OPTED_OUT, contact_id=row[0], source="provider")


def _mark_interrupted(tx: Transaction) -> int:
    rows = tx.fetchall("""SELECT o.id, o.message_id, c.id, c.owner_id FROM outbox o JOIN messages m ON m.id = o.message_id
                          LEFT JOIN conversations c ON c.id = m.conversation_id WHERE o.state = 'claimed'""")
    if not rows:
        return 0
    now = clock.utcnow()
    tx.execute("UPDATE outbox SET state = 'interrupted' WHERE state = 'claimed'")
    tx.execute(
        "UPDATE messages SET status = 'interrupted', status_at = ?, error_reason = ? "
        "WHERE id IN (SELECT unnest(?::BIGINT[]))",
        [now, INTERRUPTED_REASON, [r[1] for r in rows]],
    )
    for _, message_id, conversation_id, owner_id in rows:
        tx.publish(events.MESSAGE_INTERRUPTED, message_id=message_id, conversation_id=conversation_id, user_id=owner_id)
    return len(rows)


def _dicts(tx: Transaction, sql: str, params: list) -> list[dict[str, Any]]:
    cur = tx.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]
