"""How often and how fast the dispatcher may try: retry policy, backoff, per-sender rate limits.

``RetryPolicy`` holds the timings (the retry horizon, the backoff cap, when to look up a send
whose answer never came); ``RateLimiter`` paces a sender's claims to its rate; ``StartGate``
holds the sends' actual starts to it, as the carrier counts them.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

START_MARGIN = 0.01  # seconds added to a rate window: the carrier sees our starts a little jittered


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often the dispatcher tries (PARLEY_SEND_RETRY_MINUTES sets the horizon)."""

    horizon: dt.timedelta = dt.timedelta(hours=1)  # 5xx, 429, refused connections: fail only after this
    backoff_base: float = 2.0  # seconds; doubled per attempt, with jitter
    backoff_cap: float = 180.0  # never wait longer than this between tries
    lookup_delay: float = 30.0  # after an unknown outcome, before asking the provider (it may still be working)
    lookup_tries: int = 2  # lookups finding nothing before the message is sent again
    callback_wait: float = 900.0  # a provider that cannot be asked: how long a status callback may settle it


def backoff_seconds(
    attempt: int,
    retry_after: float | None = None,
    rng: random.Random | None = None,
    *,
    base: float = RetryPolicy.backoff_base,
    cap: float = RetryPolicy.backoff_cap,
) -> float:
    """Exponential backoff with jitter around the base, never above ``cap`` (``Retry-After`` wins)."""
    if retry_after is not None and retry_after > 0:
        return min(cap, retry_after)
    step = min(cap, base * 2 ** max(0, attempt - 1))
    return min(cap, step * (0.5 + (rng or random).random()))


class RateLimiter:
    """At most ``rate`` claims per sender in any one-second window (below 1/s: one per 1/rate seconds).

    It paces claims; ``StartGate`` holds the sends' actual starts to the same rate (a claimed
    send may start late on a busy machine, next to the following second's).

    A sliding log of claim times rather than a token bucket: a bucket that is
    full at the start of a second lets through its burst *and* a second's
    refill, twice the limit within one second, which is what a carrier's
    per-number limit refuses.
    """

    def __init__(self, now: Callable[[], float] = time.monotonic, *, ahead: float = 0.0) -> None:
        self._now = now
        # A slot that frees within ``ahead`` seconds may be claimed now, for then (the StartGate holds
        # its start): the dispatcher claims once a round, and without it each freed slot waited for
        # the next round, half a round on average (~8 % of a limited sender's pace with rounds of
        # 150 ms on a busy machine: bench/bench_campaign.py). Never more than ``rate`` slots fall in
        # any window either way; at most a rate's worth of ``ahead`` seconds is claimed early.
        self.ahead = ahead
        self._claimed: dict[int, deque[float]] = {}  # sender -> the slots taken (times) within the window

    @staticmethod
    def _shape(rate: float) -> tuple[float, int]:
        rate = max(rate, 0.01)
        return (1.0, int(rate)) if rate >= 1 else (1.0 / rate, 1)

    def take(self, sender_id: int, rate: float, wanted: int) -> int:
        window, allowed = self._shape(rate)
        now = self._now()
        claimed = self._claimed.setdefault(sender_id, deque())
        while claimed and claimed[0] <= now - window:
            claimed.popleft()
        granted = 0
        while granted < wanted:
            # The next slot: now if the window has room, else when the slot ``allowed`` back leaves it.
            at = now if len(claimed) < allowed else max(now, claimed[-allowed] + window)
            if claimed:
                at = max(at, claimed[-1])
            if at > now + self.ahead:
                break
            claimed.append(at)
            granted += 1
        return granted

    def seconds_until_free(self, sender_id: int, rate: float) -> float:
        """How long until ``sender_id`` may claim again (0 if it may now)."""
        window, allowed = self._shape(rate)
        claimed = self._claimed.get(sender_id)
        if not claimed or len(claimed) < allowed:
            return 0.0
        return max(0.0, claimed[-allowed] + window - self.ahead - self._now())


class StartGate:
    """The carrier-facing half of a sender's rate limit: no more sends *start* in any window than
    the rate allows. Claims are limited already (``RateLimiter``); on a busy machine a thread can
    still start a claimed send late, next to the following second's, and this holds them apart."""

    def __init__(self, now: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._now, self._sleep = now, sleep
        self._lock = threading.Lock()
        self._started: dict[int, deque[float]] = {}

    def wait_turn(self, sender_id: int, rate: float) -> None:
        if not rate or rate <= 0:
            return
        window, allowed = (1.0, max(1, int(rate))) if rate >= 1 else (1.0 / rate, 1)
        window += START_MARGIN
        while True:
            with self._lock:
                now = self._now()
                started = self._started.setdefault(sender_id, deque())
                while started and started[0] <= now - window:
                    started.popleft()
                if len(started) < allowed:
                    started.append(now)
                    return
                wait = started[0] + window - now
            self._sleep(max(wait, 0.001))
