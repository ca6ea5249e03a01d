"""Signed Twilio inbound webhooks for the many-users load, posted and sent again as a provider does.

``post_webhooks`` posts them at a steady rate from new numbers and the agents' customers;
``post_one`` notes each as acknowledged, failed (to send again) or refused (``Webhooks``);
``resend_failed`` sends the failed ones again until each gets an answer. Used by
``bench.many_users.run_sessions`` and, on its own, ``tests/e2e/test_crash_whole_burst.py``.
"""

from __future__ import annotations

import http.client
import itertools
import os
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode


@dataclass
class Webhooks:
    acked: dict[str, int] = field(default_factory=dict)  # MessageSid -> 2xx answers
    failed: list[tuple[str, list, str]] = field(default_factory=list)  # (sid, form, why): no answer or 5xx/429
    refused: list[tuple[str, str]] = field(default_factory=list)  # (sid, why): a 4xx, which no provider sends again
    retried: list[str] = field(default_factory=list)  # why each webhook sent again had failed
    lock: threading.Lock = field(default_factory=threading.Lock)


# MessageSids are unique in a process: a later phase's webhooks are new messages, not replays.
_SIDS = itertools.count()
_SIDS_LOCK = threading.Lock()


def next_sid() -> str:
    with _SIDS_LOCK:
        return f"SMmany{os.getpid():07d}{next(_SIDS):08d}"


def post_one(conn, host: str, port: int, base: str, token: str, sid: str, params: list, hooks: Webhooks):
    """Post one signed webhook; note it as acknowledged, as failed (to send again, as Twilio does after
    a timeout or a 5xx/429) or as refused (a 4xx). Returns the connection to use next."""
    from core.providers.twilio_webhooks import compute_signature

    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Twilio-Signature": compute_signature(token, base + "/webhooks/twilio", params)}  # fmt: skip
    status = None
    try:
        conn.request("POST", "/webhooks/twilio", body=urlencode(params), headers=headers)
        response = conn.getresponse()
        answer = response.read()
        status = response.status
        why = None if 200 <= status < 300 else f"HTTP {status}: {answer[:200]!r}"
    except (OSError, http.client.HTTPException) as exc:
        # A timeout (the answer may still come; the provider sends it again anyway), or an answer
        # cut short (IncompleteRead: the server killed mid-reply). Either way, not acknowledged.
        conn.close()
        conn = http.client.HTTPConnection(host, port, timeout=30)
        why = f"{type(exc).__name__}: {exc}"
    with hooks.lock:
        if why is None:
            hooks.acked[sid] = hooks.acked.get(sid, 0) + 1
        elif status is not None and 400 <= status < 500 and status not in (408, 429):
            hooks.refused.append((sid, why))
        else:
            hooks.failed.append((sid, params, why))
    return conn


def resend_failed(base: str, token: str, hooks: Webhooks, deadline: float) -> list[str]:
    """As a provider does: send each webhook that got no answer (or a 5xx/429) again until it gets a 2xx
    or is refused. Returns why each first failed."""
    host, port = base.split("://", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    reasons = [why for _, _, why in hooks.failed]
    while hooks.failed and time.monotonic() < deadline:
        with hooks.lock:
            pending, hooks.failed = hooks.failed, []
            hooks.retried += [why for _, _, why in pending]
        for sid, params, _ in pending:
            conn = post_one(conn, host, int(port), base, token, sid, params, hooks)
        if hooks.failed:
            time.sleep(1)  # a provider backs off between attempts
    conn.close()
    return reasons


def inbound_form(i: int, sid: str, sender_phone: str, customers: list[str]) -> list[tuple[str, str]]:
    """The ``i``-th inbound SMS: every third from one of the agents' customers, the rest from new numbers."""
    if customers and i % 3 == 0:
        sender = customers[(i // 3) % len(customers)]
    else:
        sender = f"+1646{200 + (i // 10_000) % 700:03d}{i % 10_000:04d}"  # valid NANP numbers Parley never saw
    return [("MessageSid", sid), ("AccountSid", "AC1"), ("From", sender), ("To", sender_phone),
            ("Body", f"Message {i} ({sid[-6:]}): is {['9', '10', '11'][i % 3]} am free?"), ("NumMedia", "0")]  # fmt: skip


def post_webhooks(base: str, token: str, sender_phone: str, rate: float, until: float, hooks: Webhooks,
                  clients: int = 8, customers: list[str] | None = None, start: float | None = None) -> None:  # fmt: skip
    """Signed Twilio inbound webhooks at ``rate`` per second (new numbers and customers') from ``start``
    (default: now) until ``until``: ``rate × (until − start)`` of them, however late the last ones go."""
    host, port = base.split("://", 1)[1].split(":")
    counter = iter(range(10**9))
    counter_lock = threading.Lock()
    start = time.monotonic() if start is None else start

    def client(k: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        while True:
            with counter_lock:
                i = next(counter)
            due = start + i / rate
            now = time.monotonic()
            if due >= until:
                conn.close()
                return
            if due > now:
                time.sleep(due - now)
            sid = next_sid()
            params = inbound_form(i, sid, sender_phone, customers or [])
            conn = post_one(conn, host, int(port), base, token, sid, params, hooks)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
