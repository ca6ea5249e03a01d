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

Which due rows a round claims, and the ``Claim`` each sending thread gets,
is ``core.delivery_claims`` (``Dispatcher`` inherits its ``Claiming``).
"""

from __future__ import annotations

import datetime as dt
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

from core import clock, events, versions
from core.db import Database, Transaction
from core.delivery_claims import Claim, Claiming
from core.delivery_pacing import RateLimiter, RetryPolicy, StartGate
from core.errors import ParleyError
from core.providers.base import ProviderError, SendResult, SentCandidate

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
class SendOutcome:
    claim: Claim
    result: SendResult | None = None
    error: ProviderError | None = None
    candidates: list[SentCandidate] | None = None  # a lookup's answer (None: the provider cannot be asked)


class Dispatcher(Claiming):
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
        self._handed: dict[int, Claim] = {}  # outbox id -> claims started and without an outcome yet
        self._calling: set[int] = set()  # outbox ids whose provider call has begun (past the start gate)
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
        """Stop without waiting for sends still in flight: a call under way keeps its row *claimed*,
        and the next start looks it up (``recover``) rather than trusting an answer nobody recorded.

        A claim whose call never began (waiting in its sender's lane, in its pool's queue or at the
        start gate; none can begin once this runs) goes back to the queue, and outcomes already back
        are recorded: else the next start would call them all interrupted, and WhatsApp, which
        cannot be asked, would leave each to the agent with "it may arrive twice"."""
        with self._lanes_lock:
            self._closed = True
            self._lanes.clear()
            never_started = [c for outbox_id, c in self._handed.items() if outbox_id not in self._calling]
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        if not self._lock.acquire(timeout=CLOSE_WAIT):  # a round is stuck: the next start sorts it out
            log.warning("the dispatcher stopped mid-round; %d claims are left for the next start", len(never_started))
            return
        try:
            outcomes = self._take_finished()
            if outcomes or never_started:
                self.db.write(self._record_and_release, outcomes, never_started)
        except Exception:  # the database is gone already: the next start looks them all up
            log.exception("could not record the dispatcher's last outcomes; the next start looks them up")
        finally:
            self._lock.release()

    def _record_and_release(self, tx: Transaction, outcomes: list[SendOutcome], never_started: list[Claim]) -> None:
        from core.delivery_outcomes import record

        if outcomes:
            record(tx, outcomes, self.policy)
        _release_claims(tx, never_started)

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

    def _take_finished(self) -> list[SendOutcome]:
        """Outcomes a failed write left unrecorded, then every one back since: each taken once."""
        outcomes, self._unrecorded = self._unrecorded, []
        while True:
            try:
                outcomes.append(self._finished.get_nowait())
            except queue.Empty:
                return outcomes

    def _round(self, claim: bool = True) -> tuple[int, list[Future]]:
        """One transaction: record every outcome back so far, then claim what is due."""
        from core.delivery_outcomes import bring_forward

        outcomes = self._take_finished()
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
                self._handed[claim.outbox_id] = claim
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
        outcome: SendOutcome | None = None
        try:
            if claim.kind == "send":  # the carrier counts starts: never more than the rate in any second
                self.gate.wait_turn(claim.sender["id"], claim.sender.get("rate", 0.0))
            with self._lanes_lock:  # from here the call is under way (``close`` leaves its row claimed)
                began = not self._closed
                if began:
                    self._calling.add(claim.outbox_id)
            if began:
                outcome = self._call_provider(claim)
        except BaseException as exc:  # never leave a claim without an outcome (its round waits for it)
            log.exception("sending thread failed for message %s", claim.message_id)
            outcome = SendOutcome(claim, error=ProviderError(f"Unexpected error: {exc}", retryable=True))
        finally:
            with self._lanes_lock:
                self._running[claim.sender["id"]] -= 1
                if outcome is not None:  # (None: Parley stopped before the call began; ``close`` put it back)
                    self._finished.put(outcome)
                    self._handed.pop(claim.outbox_id, None)
                self._calling.discard(claim.outbox_id)
                self._feed_lane(claim.sender["id"])
        future.set_result(outcome)
        if outcome is not None and self.on_done is not None:
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


CLOSE_WAIT = 5.0  # seconds ``close`` waits for a round in progress before leaving its claims to the next start


def _release_claims(tx: Transaction, claims: list[Claim]) -> None:
    """Claims whose call never began, at a clean stop: a send goes back to the queue as it was (the
    attempt it was claimed for is not counted), a lookup is asked again at the next start."""
    if not claims:
        return
    now = clock.utcnow()
    sends = [c for c in claims if c.kind == "send"]
    lookups = [c.outbox_id for c in claims if c.kind == "lookup"]
    if sends:
        tx.execute(
            "UPDATE outbox SET state = 'pending', attempts = greatest(attempts - 1, 0), due_at = ?, claimed_at = NULL "
            "WHERE id IN (SELECT unnest(?::BIGINT[])) AND state = 'claimed'",
            [now, [c.outbox_id for c in sends]],
        )
        tx.execute(
            "UPDATE messages SET status = 'queued', status_at = ? "
            "WHERE id IN (SELECT unnest(?::BIGINT[])) AND status = 'sending'",
            [now, [c.message_id for c in sends]],
        )
        versions.touch(tx, messages=[c.message_id for c in sends])
    if lookups:
        tx.execute(
            "UPDATE outbox SET state = 'unknown', due_at = ? WHERE id IN (SELECT unnest(?::BIGINT[])) "
            "AND state = 'checking'",
            [now, lookups],
        )


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
