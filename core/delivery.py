"""The dispatcher: claims due outbox rows, sends them, records the result.

One transaction records the outcomes back so far and claims what is due,
marking rows *claimed* (message → sending) before any provider is called.
Each provider has its own pool of sending threads, and each sender its lane
into that pool: at most ``sender_cap`` of a sender's calls run at once, the
rest of its claims wait in the lane. So a provider or a sender whose calls
hang never holds back the others, and the claim loop goes on for everyone
else meanwhile.

What can happen to a send (``core.delivery_outcomes`` records it):

- the provider took it: *sent* (or *sending*) with its id;
- it certainly did not reach the provider (refused connection, 429, 5xx):
  *queued* again with the reason and the next try (backoff with jitter,
  capped at a few minutes), until the retry horizon (an hour by default) has
  passed: then *failed*. As soon as one of a sender's sends goes through
  again, its other waiting messages go too (not at their backed-off times);
- the request left but no answer came (read timeout, cut connection, a 2xx
  we cannot read), or Parley stopped mid-request: the outcome is unknown, so
  it is never sent again blindly. The row becomes *unknown* (the message
  *interrupted*, "checking with the provider") and is looked up at the
  provider after a delay: found, it is settled as sent; not found after
  ``lookup_tries`` looks, it is sent again; where the provider cannot be
  asked (WhatsApp Cloud), only the echo of Parley's id in a status callback
  can settle it, and after ``callback_wait`` the agent decides (Retry);
- a final refusal (4xx): *failed* with the code and the provider's words.

Per-sender rate limits (messages per second, set on the sender) are held by
a sliding log of claim times (``RateLimiter``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any

from core import clock, events, templates
from core.db import Database, Transaction
from core.delivery_pacing import RateLimiter, RetryPolicy, StartGate
from core.errors import ParleyError
from core.providers.base import (
    OutboundMedia,
    OutboundMessage,
    ProviderError,
    SendResult,
    SentCandidate,
    TemplateRef,
)

log = logging.getLogger("parley.delivery")

CHECKING_REASON = (
    "Interrupted: the provider's answer never came, so Parley is checking with the provider "
    "whether this went out before sending it again."
)
INTERRUPTED_REASON = (
    "Interrupted: the provider's answer never came and the provider cannot be asked whether this "
    "went out. Retry to send it again (if the first try did arrive, it arrives twice)."
)


GATHER_SECONDS = 0.005  # how long a round may wait for sends about to come back, to record them together
CLAIM_AHEAD = 0.15  # a rate-limited sender's slot freeing within this is claimed now (about one busy round)


@dataclass
class Claim:
    outbox_id: int
    message_id: int
    attempts: int
    sender: dict[str, Any]
    message: OutboundMessage | None
    kind: str = "send"  # 'send', or 'lookup': ask the provider whether an earlier send went out
    claimed_at: dt.datetime | None = None  # when the send being looked up was claimed
    retry_since: dt.datetime | None = None  # first retryable failure of this row (the horizon counts from it)
    lookups: int = 0  # lookups already made for this row
    problem: ProviderError | None = None  # why it cannot go at all (recorded as the failure, nothing sent)
    # Read with the claim, so recording the outcome need not read the message again (its events
    # name them: the live pages and versions of its conversation and of its author's sent list).
    conversation_id: int | None = None
    author_id: int | None = None


@dataclass
class SendOutcome:
    claim: Claim
    result: SendResult | None = None
    error: ProviderError | None = None
    candidates: list[SentCandidate] | None = None  # a lookup's answer (None: the provider cannot be asked)


class Dispatcher:
    # bench/bench_dispatch.py: batch 128 and 32 threads per provider keep a loopback Twilio busy on 2 cores
    # (32 = http.POOL_SIZE, so each sending thread keeps a pooled connection; a real provider's ~100 ms
    # round trip still allows ~300 sends/s per provider).
    def __init__(
        self,
        db: Database,
        provider_for: Callable[[dict[str, Any]], Any],
        *,
        media_url: Callable[[str], str | None],
        status_callback_url: Callable[[str], str | None],
        batch: int = 128,
        threads: int = 32,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.db = db
        self.provider_for = provider_for
        self.media_url = media_url
        self.status_callback_url = status_callback_url
        self.batch = batch
        self.threads = threads
        # One sender's calls may fill most of its provider's threads, never all: a sender whose
        # sends hang leaves room for the provider's other senders. Up to two batches of its rows
        # may be claimed at once (waiting in its lane), so that while one batch is out the next is
        # claimed whole: a round then records and claims a batch (with one batch, a busy sender's
        # rounds took half of one, and a round's fixed cost, ~30 ms CPU of statements, was paid
        # twice as often: bench/bench_dispatch.py prints sends per round).
        self.sender_cap = max(1, threads * 3 // 4)
        self.claim_cap = max(2 * batch, self.sender_cap)
        self.policy = policy or RetryPolicy()
        self.limiter = RateLimiter(ahead=CLAIM_AHEAD)
        self.gate = StartGate()
        self.on_done: Callable[[], None] | None = None  # the worker's wake(): an outcome is back
        self._limited: dict[int, float] = {}  # senders held back by their rate limit in the last claim
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._inflight_sender: Counter[int] = Counter()  # claimed, not yet recorded
        self._inflight_provider: Counter[str] = Counter()
        self._lanes: dict[int, deque[tuple[Claim, Future]]] = {}  # sender -> claims waiting for a thread
        self._running: Counter[int] = Counter()  # sender -> calls running in its provider's pool
        self._lanes_lock = threading.Lock()
        self._finished: queue.SimpleQueue[SendOutcome] = queue.SimpleQueue()
        self._unrecorded: list[SendOutcome] = []
        self._retrying: set[int] = set()  # senders with messages waiting out a provider failure
        self._lock = threading.Lock()
        self._closed = False
        self.sent = 0
        self.failed = 0
        self.rounds = 0  # transactions that recorded or claimed something (sends per round: bench_dispatch)

    # ---- restart recovery ----------------------------------------------------------------

    def recover(self) -> int:
        """Sends in flight at the last stop have an unknown outcome: look them up before anything else."""
        return self.db.write(_mark_unknown_after_stop, self.policy)

    # ---- the loop --------------------------------------------------------------------------

    def pump(self) -> bool | float:
        """Record what came back and claim and start what is due, in one transaction; never
        waits for a provider (at most ``GATHER_SECONDS`` for outcomes about to come back, so
        that one transaction records many).

        True if anything happened; else False, or the seconds until a rate-limited sender may
        send again (the worker sleeps that long, or until an outcome wakes it)."""
        with self._lock:
            self._gather()
            recorded, started = self._round()
            if recorded or started:
                return True
            return self._wait_hint()

    def step(self) -> bool | float:
        """One whole round (tests, benches): claim what is due, send it, record every outcome."""
        with self._lock:
            _, started = self._round()
            if not started:
                return self._wait_hint()
            wait_futures(started)
            self._round(claim=False)
            return True

    def idle(self) -> bool:
        """Nothing in flight and nothing waiting to be recorded."""
        return not +self._inflight_provider and self._finished.empty() and not self._unrecorded

    def close(self) -> None:
        """Stop without waiting for sends still in flight: their rows stay *claimed*, and the next
        start looks them up (``recover``) rather than trusting an answer nobody recorded."""
        with self._lanes_lock:
            self._closed = True
            self._lanes.clear()
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)

    def status(self) -> dict[str, Any]:
        return {"in_flight": dict(+self._inflight_provider), "sent": self.sent, "failed": self.failed}

    def _wait_hint(self) -> bool | float:
        waits = [self.limiter.seconds_until_free(s, r) for s, r in self._limited.items()]
        return min(waits) if waits else False

    def _gather(self) -> None:
        """Many sends in flight and few back yet: give the rest a moment, then record them together."""
        inflight = sum(self._inflight_provider.values())
        if inflight < 4 or self._finished.qsize() * 2 >= inflight:
            return
        deadline = time.monotonic() + GATHER_SECONDS
        while self._finished.qsize() * 2 < inflight and time.monotonic() < deadline:
            time.sleep(0.001)

    def _round(self, claim: bool = True) -> tuple[int, list[Future]]:
        """One transaction: record every outcome back so far, then claim what is due."""
        from core.delivery_outcomes import bring_forward

        outcomes = self._unrecorded
        self._unrecorded = []
        while True:
            try:
                outcomes.append(self._finished.get_nowait())
            except queue.Empty:
                break
        # What is being recorded is no longer in flight: its room can be claimed again.
        senders, providers = Counter(self._inflight_sender), Counter(self._inflight_provider)
        for o in outcomes:
            senders[o.claim.sender["id"]] -= 1
            providers[o.claim.sender["provider"]] -= 1
        self._limited = {}
        try:
            counts, claims = self.db.write(self._record_and_claim, outcomes, dict(senders), dict(providers), claim)
        except Exception:
            self._unrecorded = outcomes  # recorded on the next round; the rows stay claimed meanwhile
            raise
        self._inflight_sender, self._inflight_provider = senders, providers
        if outcomes or claims:
            self.rounds += 1
        self.sent += counts.get("sent", 0)
        self.failed += counts.get("failed", 0)
        if outcomes:
            self._retrying |= counts["retrying_senders"]
            recovered = (self._retrying & counts["healthy_senders"]) - counts["retrying_senders"]
            if recovered:  # the provider answers again: what waits out its failure need not wait longer
                self._retrying -= recovered
                self.db.write(bring_forward, sorted(recovered))
        return len(outcomes), self._start(claims)

    def _record_and_claim(self, tx: Transaction, outcomes, busy_senders, busy_providers, claim: bool):
        from core.delivery_outcomes import record

        counts = record(tx, outcomes, self.policy) if outcomes else {}
        return counts, self._claim(tx, busy_senders, busy_providers) if claim else []

    def _start(self, claims: list[Claim]) -> list[Future]:
        """Hand claims to their sender's lane: at most ``sender_cap`` of a sender's calls run at
        once in its provider's pool; the rest wait in the lane, not in the pool, so a sender whose
        calls hang never takes the threads its provider's other senders need."""
        futures = []
        with self._lanes_lock:
            for claim in claims:
                self._inflight_sender[claim.sender["id"]] += 1
                self._inflight_provider[claim.sender["provider"]] += 1
                future: Future = Future()
                self._lanes.setdefault(claim.sender["id"], deque()).append((claim, future))
                futures.append(future)
            for sender_id in {c.sender["id"] for c in claims}:
                self._feed_lane(sender_id)
        return futures

    def _feed_lane(self, sender_id: int) -> None:  # under _lanes_lock
        lane = self._lanes.get(sender_id)
        while lane and self._running[sender_id] < self.sender_cap and not self._closed:
            claim, future = lane.popleft()
            provider_name = claim.sender["provider"]
            pool = self._pools.get(provider_name)
            if pool is None:
                pool = self._pools[provider_name] = ThreadPoolExecutor(
                    max_workers=self.threads, thread_name_prefix=f"parley-send-{provider_name}"
                )
            self._running[sender_id] += 1
            pool.submit(self._run_one, claim, future)

    def _run_one(self, claim: Claim, future: Future) -> None:
        try:
            if claim.kind == "send":  # the carrier counts starts: never more than the rate in any second
                self.gate.wait_turn(claim.sender["id"], claim.sender.get("rate", 0.0))
            outcome = self._call_provider(claim)
        except BaseException as exc:  # never leave a claim without an outcome (its round waits for it)
            log.exception("sending thread failed for message %s", claim.message_id)
            outcome = SendOutcome(claim, error=ProviderError(f"Unexpected error: {exc}", retryable=True))
        finally:
            with self._lanes_lock:
                self._running[claim.sender["id"]] -= 1
                self._feed_lane(claim.sender["id"])
        self._finished.put(outcome)
        future.set_result(outcome)
        if self.on_done is not None:
            self.on_done()

    def _call_provider(self, claim: Claim) -> SendOutcome:
        if claim.problem is not None:
            return SendOutcome(claim, error=claim.problem)
        try:
            provider = self.provider_for(claim.sender)
            if claim.kind == "lookup":
                since = (claim.claimed_at or clock.utcnow()) - dt.timedelta(minutes=1)
                lookup = getattr(provider, "lookup_sent", None)
                return SendOutcome(claim, candidates=lookup(claim.message, since) if lookup else None)
            return SendOutcome(claim, result=provider.send(claim.message))
        except ProviderError as exc:
            return SendOutcome(claim, error=exc)
        except ParleyError as exc:  # e.g. the provider is not configured: final, with the sentence
            return SendOutcome(claim, error=ProviderError(str(exc), retryable=False))
        except Exception as exc:  # a bug or an unexpected library error mid-call: the outcome is unknown
            log.exception("%s of message %s failed unexpectedly", claim.kind, claim.message_id)
            return SendOutcome(
                claim,
                error=ProviderError(
                    f"Unexpected error: {exc}", retryable=claim.kind == "lookup", outcome_unknown=claim.kind == "send"
                ),
            )

    # ---- claim -------------------------------------------------------------------------------

    def _claim(self, tx: Transaction, busy_senders: dict[int, int], busy_providers: dict[str, int]) -> list[Claim]:
        now = clock.utcnow()
        # Each sender's oldest due rows are picked from the outbox alone, before any join: picked
        # after the joins, every due row was joined (a 100k campaign: every round joined 100k rows
        # with messages, contacts and conversations to keep 128; 250-700 ms a round on the 1M
        # workspace, bench/bench_campaign.py). ``min_by(…, n)`` keeps the n smallest per sender
        # without sorting them all (8 ms where a row_number() window took 24, the same rows).
        due = tx.fetchall(
            """SELECT o.id, o.message_id, o.sender_id, o.attempts, s.rate_per_second, s.enabled, s.send_blocked,
                      s.provider, o.retry_since
               FROM outbox o JOIN senders s ON s.id = o.sender_id
               WHERE o.id IN (SELECT unnest(min_by(d.id, (d.due_at, d.id), ?)) FROM outbox d
                              WHERE d.state = 'pending' AND d.due_at <= ? GROUP BY d.sender_id)
               ORDER BY o.due_at, o.id""",
            [self.batch, now],
        )  # the oldest due rows of EVERY sender: one sender's backlog never hides the others'
        # What the rules and the sends need of their messages, by primary key (joined in the query
        # above, DuckDB read every conversation: 1M on the 1M workspace, ~20 ms a round).
        details = self._details(tx, [r[1] for r in due])
        due = [r for r in due if r[1] in details]
        closed = self._window_closed(tx, [details[r[1]] for r in due], now)
        rows = [
            (*r, d["opted_out"] and (d["author_id"] is not None or d["campaign_id"] is not None), r[1] in closed)
            for r in due
            for d in (details[r[1]],)
        ]
        unknown = tx.fetchall(
            """SELECT o.id, o.message_id, o.sender_id, o.attempts, s.provider, o.claimed_at, o.retry_since,
                      coalesce(o.lookups, 0)
               FROM outbox o JOIN senders s ON s.id = o.sender_id
               WHERE o.state = 'unknown' AND o.due_at <= ? ORDER BY o.due_at, o.id LIMIT ?""",
            [now, self.batch],
        )
        provider_cap = 2 * self.claim_cap
        room = {p: provider_cap - n for p, n in busy_providers.items()}

        def provider_room(name: str) -> int:
            return room.setdefault(name, provider_cap)

        # Lookups first: they are few, and they decide whether a message goes again.
        lookups = []
        for outbox_id, message_id, sender_id, attempts, provider, claimed_at, retry_since, looked in unknown:
            if provider_room(provider) <= 0:
                continue
            room[provider] -= 1
            lookups.append((outbox_id, message_id, attempts, sender_id, claimed_at, retry_since, looked))
        chosen, blocked, wanted, provider_of = [], [], {}, {}
        for (outbox_id, message_id, sender_id, attempts, rate, enabled, send_blocked, provider, retry_since,
             blocked_optout, window_closed) in rows:  # fmt: skip
            if blocked_optout or not enabled or send_blocked or window_closed:
                reason = (
                    "Contact opted out"
                    if blocked_optout
                    else "Sender disabled"
                    if not enabled
                    else send_blocked  # rule 10: the workspace does not send from unregistered numbers
                    if send_blocked
                    else "WhatsApp window closed before it could go: send a registered template"
                )
                blocked.append((outbox_id, message_id, reason))
                continue
            wanted.setdefault(sender_id, []).append((outbox_id, message_id, attempts, rate, retry_since))
            provider_of[sender_id] = provider
        # The batch is shared fairly among the senders with due rows (a backlog on one does not hold
        # up the others): smallest possible claim first (rows due, at most a bucket of tokens), each
        # taking at most an even share of the room left, so what a rate-limited sender cannot use
        # goes to the next. A sender never has more than ``claim_cap`` rows claimed, a provider
        # never more than twice that. Tokens are taken only for rows actually claimed.
        left, order = self.batch, sorted(wanted, key=lambda s: min(len(wanted[s]), max(1.0, wanted[s][0][3])))
        for n, sender_id in enumerate(order):
            items = wanted[sender_id]
            provider = provider_of[sender_id]
            capacity = min(self.claim_cap - busy_senders.get(sender_id, 0), provider_room(provider))
            share = min(len(items), -(-left // (len(order) - n)), max(0, capacity))
            granted = self.limiter.take(sender_id, items[0][3], share) if share > 0 else 0
            chosen += [(o, m, a, sender_id, since) for o, m, a, _, since in items[:granted]]
            left -= granted
            room[provider] -= granted
            if granted < share:  # held back by its rate limit (a full sender is woken by its outcomes)
                self._limited[sender_id] = items[0][3]
        for outbox_id, message_id, reason in blocked:  # rule 2: never reaches a provider
            tx.execute("UPDATE outbox SET state = 'cancelled' WHERE id = ?", [outbox_id])
            tx.execute(
                "UPDATE messages SET status = 'not_sent', error_reason = ?, status_at = ?, release_at = NULL "
                "WHERE id = ?",
                [reason, now, message_id],
            )
            tx.publish(events.MESSAGE_NOT_SENT, message_id=message_id, reason=reason)
        claims: list[Claim] = []
        if chosen:
            outbox_ids = [c[0] for c in chosen]
            tx.execute(
                "UPDATE outbox SET state = 'claimed', claimed_at = ?, attempts = attempts + 1 "
                "WHERE id IN (SELECT unnest(?::BIGINT[]))",
                [now, outbox_ids],
            )
            tx.execute(
                "UPDATE messages SET status = 'sending', status_at = ?, release_at = NULL "
                "WHERE id IN (SELECT unnest(?::BIGINT[]))",
                [now, [c[1] for c in chosen]],
            )
            claims += self._build_claims(
                tx,
                [(o, m, a, s) for o, m, a, s, _ in chosen],
                extra={o: {"retry_since": since, "claimed_at": now} for o, _, _, _, since in chosen},
                details=details,
            )
        if lookups:
            tx.execute(
                "UPDATE outbox SET state = 'checking' WHERE id IN (SELECT unnest(?::BIGINT[]))",
                [[r[0] for r in lookups]],
            )
            claims += self._build_claims(
                tx,
                [(o, m, a, s) for o, m, a, s, _, _, _ in lookups],
                kind="lookup",
                extra={
                    o: {"claimed_at": at, "retry_since": since, "lookups": looked}
                    for o, _, _, _, at, since, looked in lookups
                },
            )
        return claims

    def _details(self, tx: Transaction, message_ids: list[int]) -> dict[int, dict[str, Any]]:
        """What claiming and sending need of these messages, their contacts and senders."""
        if not message_ids:
            return {}
        return {
            r["id"]: r
            for r in _dicts(
                tx,
                """
                SELECT m.id, m.conversation_id, m.author_id, m.campaign_id, m.has_media, m.body, m.template_id,
                       m.template_values, ct.phone AS to_number, ct.name AS contact_name, ct.opted_out,
                       s.id AS sender_id, s.phone AS from_number, s.channel, s.provider, s.provider_ref, s.label,
                       s.rate_per_second
                FROM messages m JOIN contacts ct ON ct.id = m.contact_id JOIN senders s ON s.id = m.sender_id
                WHERE m.id IN (SELECT unnest(?::BIGINT[]))
                  -- implied by the join, but said: without it DuckDB hashed every contact (1M on the
                  -- 1M workspace, 200-650 ms a round) to find the batch's 128; with it, ~7 ms
                  AND ct.id IN (SELECT contact_id FROM messages WHERE id IN (SELECT unnest(?::BIGINT[])))""",
                [message_ids, message_ids],
            )
        }

    @staticmethod
    def _window_closed(tx: Transaction, details: list[dict[str, Any]], now: dt.datetime) -> set[int]:
        """Rule 5 at release time: WhatsApp free text held (business hours) may find the window closed.
        The messages (ids) that may not go; SMS never asks."""
        wa = [d for d in details if d["channel"] == "whatsapp"]
        if not wa:
            return set()
        found: dict[str, dict[int, Any]] = {"c": {}, "t": {}}
        for table, key, value in tx.fetchall(
            """SELECT 'c', id, last_inbound_at FROM conversations WHERE id = ANY(?::INTEGER[])
               UNION ALL SELECT 't', id, NULL FROM templates
               WHERE id = ANY(?::INTEGER[]) AND registered AND approval_status = 'approved'""",
            [
                sorted({d["conversation_id"] for d in wa} - {None}),
                sorted({d["template_id"] for d in wa} - {None}),
            ],
        ):
            found[table][key] = value
        window = dt.timedelta(hours=24)
        return {
            d["id"]
            for d in wa
            if d["template_id"] not in found["t"]
            and ((last := found["c"].get(d["conversation_id"])) is None or last + window <= now)
        }

    def _build_claims(
        self,
        tx: Transaction,
        chosen: list[tuple],
        *,
        kind: str = "send",
        extra: dict[int, dict] | None = None,
        details: dict[int, dict[str, Any]] | None = None,
    ) -> list[Claim]:
        message_ids = [c[1] for c in chosen]
        if details is None:
            details = self._details(tx, message_ids)
        template_ids = sorted({d["template_id"] for d in details.values() if d["template_id"] is not None})
        registered = {
            r["id"]: templates.from_row(r)
            for r in (
                _dicts(
                    tx,
                    f"SELECT {templates.COLUMNS} FROM templates WHERE id IN (SELECT unnest(?::INTEGER[]))",
                    [template_ids],
                )
                if template_ids
                else []
            )
        }
        media: dict[int, list[dict]] = {}
        with_media = [m for m in message_ids if details[m]["has_media"]]  # a campaign has none: no statement
        for item in (
            _dicts(
                tx,
                "SELECT message_id, sha256, content_type, filename, token FROM media "
                "WHERE message_id IN (SELECT unnest(?::BIGINT[])) ORDER BY id",
                [with_media],
            )
            if with_media
            else []
        ):
            media.setdefault(item["message_id"], []).append(item)
        claims = []
        for outbox_id, message_id, attempts, _sender_id in chosen:
            d = details[message_id]
            sender = _sender(d)
            known = {"conversation_id": d["conversation_id"], "author_id": d["author_id"]}
            template, problem = _template_ref(registered.get(d["template_id"]), d)
            if problem is not None and kind == "send":  # (a lookup asks by numbers: it needs no template)
                claims.append(
                    Claim(
                        outbox_id,
                        message_id,
                        attempts + (kind == "send"),
                        sender,
                        None,
                        kind=kind,
                        **(extra or {}).get(outbox_id, {}),
                        problem=problem,
                        **known,
                    )
                )
                continue
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
            claims.append(
                Claim(
                    outbox_id,
                    message_id,
                    attempts + (kind == "send"),
                    sender,
                    outbound,
                    kind=kind,
                    **(extra or {}).get(outbox_id, {}),
                    **known,
                )
            )
        return claims


def _sender(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": d["sender_id"],
        "provider": d["provider"],
        "channel": d["channel"],
        "label": d["label"],
        "rate": d["rate_per_second"],
    }


def _template_ref(template: templates.Template | None, d: dict[str, Any]) -> tuple[TemplateRef | None, Any]:
    """The registered template a message goes as, with its values; or why it cannot go."""
    if template is None or not template.sendable_as_template or d["channel"] != "whatsapp":
        return None, None  # saved text (or an SMS template): the body goes as ordinary text
    try:
        values = json.loads(d["template_values"]) if d["template_values"] else {}
        return templates.template_ref(template, values), None
    except (ValueError, ParleyError) as exc:
        return None, ProviderError(f"The template's values could not be sent: {exc}", retryable=False)


def _mark_unknown_after_stop(tx: Transaction, policy: RetryPolicy) -> int:
    """Rows claimed (or being looked up) when Parley stopped: their outcome is unknown."""
    rows = tx.fetchall(
        """SELECT o.id, o.message_id, c.id, c.owner_id, o.state FROM outbox o JOIN messages m ON m.id = o.message_id
           LEFT JOIN conversations c ON c.id = m.conversation_id WHERE o.state IN ('claimed', 'checking')"""
    )
    if not rows:
        return 0
    now = clock.utcnow()
    # A provider may still be finishing a request Parley sent just before it stopped: look it up a
    # little after the claim, never before.
    tx.execute(
        "UPDATE outbox SET state = 'unknown', due_at = greatest(?, coalesce(claimed_at, ?) + to_seconds(?)) "
        "WHERE state IN ('claimed', 'checking')",
        [now, now, policy.lookup_delay],
    )
    tx.execute(
        "UPDATE messages SET status = 'interrupted', status_at = ?, error_reason = ?, release_at = NULL "
        "WHERE id IN (SELECT unnest(?::BIGINT[]))",
        [now, CHECKING_REASON, [r[1] for r in rows]],
    )
    for _, message_id, conversation_id, owner_id, _state in rows:
        tx.publish(
            events.MESSAGE_INTERRUPTED,
            message_id=message_id,
            conversation_id=conversation_id,
            user_id=owner_id,
            cause="stopped",
        )
    return len(rows)


def _dicts(tx: Transaction, sql: str, params: list) -> list[dict[str, Any]]:
    cur = tx.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]
