"""The built-in simulator: a carrier that lives inside Parley.

send() accepts at once ('sending', id ``SIM<hex>``) and schedules what a
real carrier would report: 'sent', then 'delivered' (or, now and then, a
failure with a real Twilio error code), then 'read' on WhatsApp, and in the
demo workspace an occasional customer reply. Each is posted as signed JSON
over real loopback HTTP to Parley's own webhook route, so it exercises the
same code path as a real provider.

One scheduler thread keeps a heap of due callbacks and hands them to a few
poster threads. Failed posts are retried a few times, then logged.

Wire format (JSON, header ``X-Parley-Simulator-Signature: sha256=<hex HMAC-SHA256(secret, body)>``)::

    {"type": "status", "id": "SIM...", "status": "sent|delivered|read|failed|undelivered",
     "error_code": "30003", "error_message": "...", "at": "2025-01-01T12:00:00"}
    {"type": "inbound", "id": "SIM...", "channel": "sms|whatsapp", "from": "+1...", "to": "+1...",
     "body": "...", "at": "...", "reply_to": "SIM...", "media": [{"url": "data:...", "content_type": "..."}]}
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import queue
import random
import threading
import time
import uuid
from typing import Any
from urllib.parse import unquote_to_bytes

import requests

from core.providers import http
from core.providers.base import (
    DELIVERED,
    FAILED,
    READ,
    SENDING,
    SENT,
    UNDELIVERED,
    InboundEvent,
    InboundMedia,
    MalformedWebhook,
    OutboundMessage,
    ProviderError,
    SendResult,
    SentCandidate,
    StatusEvent,
    WebhookBatch,
    WebhookRequest,
    inbound_media,
)
from core.unicode_text import loads_json

log = logging.getLogger("parley.providers.simulator")

SIGNATURE_HEADER = "X-Parley-Simulator-Signature"
STATUSES = {
    "sending": SENDING,
    "sent": SENT,
    "delivered": DELIVERED,
    "read": READ,
    "failed": FAILED,
    "undelivered": UNDELIVERED,
}
FAILURES = [  # (Parley status, Twilio code, message)
    (UNDELIVERED, "30003", "Unreachable destination handset"),
    (UNDELIVERED, "30005", "Unknown destination handset"),
    (FAILED, "30006", "Landline or unreachable carrier"),
]
REPLIES = [
    "Thanks, got it!",
    "Perfect, see you then 👍",
    "Can we move it to 3pm instead?",
    "Who is this?",
    "Yes please",
    "Sounds good.",
    "I'll call you tomorrow morning.",
    "Ok 👌",
    "¡Gracias! Nos vemos el martes.",
    "¿Puedo cambiar la cita?",
    "Obrigado, até amanhã!",
    "Merci, c'est parfait.",
    "Danke, passt mir gut.",
    "Grazie mille!",
    "ありがとうございます！",
    "Спасибо, буду вовремя.",
    "Dank je, tot dan!",
]
POST_ATTEMPTS = 4
REMEMBERED_SENDS = 50_000  # for lookups of sends whose outcome Parley did not see


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class SimulatorProvider:
    name = "simulator"

    def __init__(
        self,
        webhook_url: str,
        secret: bytes | str,
        demo_replies: bool = False,
        rng_seed=None,
        delays: tuple[float, float, float] = (0.3, 1.2, 3.0),
        failure_rate: float = 0.03,
        reply_rate: float = 0.15,
        *,
        read_rate: float = 0.85,
        reply_delay: tuple[float, float] = (3.0, 9.0),
        posters: int = 4,
        timeout=(2.0, 10.0),
        retry_delay: float = 0.5,
        media_hosts: tuple[str, ...] = (),
    ) -> None:
        if not webhook_url:
            raise ValueError("webhook_url is required")
        self.webhook_url = webhook_url
        self.secret = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        self.demo_replies = demo_replies
        self.delays = delays
        self.failure_rate = failure_rate
        self.reply_rate = reply_rate
        self.read_rate = read_rate
        self.reply_delay = reply_delay
        self.timeout = timeout
        self.retry_delay = retry_delay
        self.posted = 0
        self.dropped = 0
        self.media_hosts = tuple(media_hosts)  # http(s) media only from these origins (data: URLs always)
        self._sent: dict[int, SentCandidate] = {}  # Parley message id -> what this carrier accepted
        self._in_flight = 0  # callbacks a poster has taken and not yet finished
        self._rng = random.Random(rng_seed)
        self._rng_lock = threading.Lock()
        self._session = http.make_session(max(4, posters * 2), trust_env=False)
        self._heap: list[tuple[float, int, dict[str, Any], int]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._outbox: queue.Queue = queue.Queue()
        self._closed = False
        self._scheduler = threading.Thread(target=self._schedule_loop, name="parley-sim-scheduler", daemon=True)
        self._posters = [
            threading.Thread(target=self._post_loop, name=f"parley-sim-post-{i}", daemon=True) for i in range(posters)
        ]
        self._scheduler.start()
        for t in self._posters:
            t.start()

    # ---- sending ------------------------------------------------------------------------------

    def send(self, msg: OutboundMessage) -> SendResult:
        if self._closed:
            raise ProviderError("The simulator is stopped.", retryable=True)
        if not msg.body and not msg.media and msg.template is None:
            raise ProviderError("The message had no text, media or template.", retryable=False, code="21619")
        if http.e164(msg.to_number) is None:
            raise ProviderError(f"'{msg.to_number}' is not a valid phone number.", retryable=False, code="21211")
        sid = "SIM" + uuid.uuid4().hex
        for delay, payload in self.plan(sid, msg):
            self._at(delay, payload)
        with self._rng_lock:
            self._sent[msg.message_id] = SentCandidate(sid, SENDING, msg.to_number, msg.body, http.utcnow())
            while len(self._sent) > REMEMBERED_SENDS:  # the oldest first (dicts keep insertion order)
                del self._sent[next(iter(self._sent))]
        return SendResult(provider_message_id=sid, status=SENDING)

    def lookup_sent(self, msg: OutboundMessage, since) -> list[SentCandidate]:
        """What this carrier accepted for ``msg`` (it lives in this process: a restart forgets)."""
        with self._rng_lock:
            found = self._sent.get(msg.message_id)
        return [found] if found is not None and (found.created_at is None or found.created_at >= since) else []

    def plan(self, sid: str, msg: OutboundMessage) -> list[tuple[float, dict[str, Any]]]:
        """What the carrier will report for this message: (seconds from now, payload)."""
        sent_after, delivered_after, read_after = self.delays
        with self._rng_lock:
            fails = self._rng.random() < self.failure_rate
            failure = self._rng.choice(FAILURES)
            reads = msg.channel == "whatsapp" and self._rng.random() < self.read_rate
            replies = self.demo_replies and not fails and self._rng.random() < self.reply_rate
            reply_after = read_after + self._rng.uniform(*self.reply_delay)
            reply_text = self._rng.choice(REPLIES)
        events = [(sent_after, _status(sid, SENT))]
        if fails:
            status, code, text = failure
            events.append((delivered_after, _status(sid, status, code, text)))
            return events
        events.append((delivered_after, _status(sid, DELIVERED)))
        if reads:
            events.append((read_after, _status(sid, READ)))
        if replies:
            events.append(
                (
                    reply_after,
                    {
                        "type": "inbound",
                        "id": "SIM" + uuid.uuid4().hex,
                        "channel": msg.channel,
                        "from": msg.to_number,
                        "to": msg.from_number,
                        "body": reply_text,
                        "reply_to": sid,
                    },
                )
            )
        return events

    # ---- the scheduler and posters ------------------------------------------------------------

    def _at(self, delay: float, payload: dict[str, Any], attempt: int = 0) -> None:
        with self._cond:
            if self._closed:
                return
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), next(self._seq), payload, attempt))
            self._cond.notify()

    def _schedule_loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cond.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                if self._closed:
                    return
                _, _, payload, attempt = heapq.heappop(self._heap)
                self._in_flight += 1  # counted until a poster is done with it
            self._outbox.put((payload, attempt))

    def _post_loop(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None:
                return
            payload, attempt = item
            try:
                self._post(payload, attempt)
            except Exception:  # never let a poster thread die
                log.exception("simulator callback failed unexpectedly")
            finally:
                with self._cond:
                    self._in_flight -= 1

    def _post(self, payload: dict[str, Any], attempt: int) -> None:
        payload = dict(payload)
        payload.setdefault("at", http.utcnow().isoformat())
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, body)}
        try:
            response = self._session.post(self.webhook_url, data=body, headers=headers, timeout=self.timeout)
            status, problem = response.status_code, f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            status, problem = None, str(exc)
        if status is not None and status < 400:
            with self._rng_lock:
                self.posted += 1
            return
        if (status is None or status == 429 or status >= 500) and attempt + 1 < POST_ATTEMPTS and not self._closed:
            self._at(self.retry_delay * 2**attempt, payload, attempt + 1)
            return
        with self._rng_lock:
            self.dropped += 1
        log.warning(
            "simulator could not deliver %s %s to %s: %s",
            payload.get("type"),
            payload.get("id"),
            self.webhook_url,
            problem,
        )

    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + self._outbox.qsize()

    def idle(self) -> bool:
        """Nothing scheduled, queued or being posted: every callback so far has been answered or given up."""
        with self._cond:
            return not self._heap and self._in_flight == 0

    def close(self, timeout: float = 5.0) -> None:
        """Stop the scheduler and posters; callbacks not yet due are dropped."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._heap.clear()
            self._cond.notify_all()
        while True:  # callbacks waiting for a poster are dropped too
            try:
                self._outbox.get_nowait()
            except queue.Empty:
                break
        for _ in self._posters:
            self._outbox.put(None)
        deadline = time.monotonic() + timeout
        for t in (self._scheduler, *self._posters):
            t.join(max(0.0, deadline - time.monotonic()))
        self._session.close()

    @property
    def alive(self) -> bool:
        return self._scheduler.is_alive()

    # ---- webhooks -----------------------------------------------------------------------------

    def verify_webhook(self, req: WebhookRequest) -> bool:
        header = req.headers.get(SIGNATURE_HEADER.lower(), "").strip()
        if not header.lower().startswith("sha256="):
            return False
        return http.same_secret_text(sign(self.secret, req.body), "sha256=" + header[7:].strip().lower())

    def parse_webhook(self, req: WebhookRequest) -> WebhookBatch:
        try:
            data = loads_json(req.body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
            raise MalformedWebhook(f"Simulator webhook is not readable JSON: {reason}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
            raise MalformedWebhook("Simulator webhook has no id.")
        at = http.from_iso(data.get("at")) or req.received_at or http.utcnow()
        kind = data.get("type")
        if kind == "status":
            status = STATUSES.get(str(data.get("status")))
            if status is None:
                raise MalformedWebhook(f"Simulator webhook has an unknown status {data.get('status')!r}.")
            return WebhookBatch(
                statuses=[
                    StatusEvent(data["id"], status, at, _text(data.get("error_code")), _text(data.get("error_message")))
                ]
            )
        if kind == "inbound":
            return WebhookBatch(inbound=[self._inbound(data, at)])
        raise MalformedWebhook(f"Simulator webhook has an unknown type {kind!r}.")

    def _inbound(self, data: dict[str, Any], at) -> InboundEvent:
        channel = data.get("channel") or "sms"
        sender, ours = http.e164(data.get("from")), http.e164(data.get("to"))
        if channel not in ("sms", "whatsapp") or sender is None or ours is None:
            raise MalformedWebhook("Simulator inbound needs a channel and valid 'from' and 'to' numbers.")
        body = data.get("body") or ""
        media_list = data.get("media") or []
        if not isinstance(body, str) or not isinstance(media_list, list):
            raise MalformedWebhook("Simulator inbound has a non-text body or bad media list.")
        media = []
        for item in media_list:
            if not isinstance(item, dict) or not item.get("url"):
                raise MalformedWebhook("Simulator media needs a url.")
            media.append(
                inbound_media(
                    item.get("content_type"),
                    url=str(item["url"]),
                    filename=item.get("filename"),
                    sha256=item.get("sha256"),
                )
            )
        return InboundEvent(
            provider_message_id=data["id"],
            channel=channel,
            from_number=sender,
            to_number=ours,
            to_ref=None,
            body=body,
            received_at=at,
            media=tuple(media),
            profile_name=_text(data.get("profile_name")),
            reply_to=_text(data.get("reply_to")),
        )

    def fetch_media(self, media: InboundMedia) -> bytes:
        url = media.url or ""
        if url.startswith("data:"):
            header, _, payload = url[5:].partition(",")
            try:
                data = (
                    base64.b64decode(payload, validate=True)
                    if header.endswith(";base64")
                    else unquote_to_bytes(payload)
                )
            except ValueError as exc:
                raise ProviderError("The simulator's attachment could not be decoded.", retryable=False) from exc
        elif url.startswith(("http://", "https://")):
            data = http.fetch_allowed(
                self._session, url, provider="the simulator", allowed=self.media_hosts, timeout=self.timeout
            )
        else:
            raise ProviderError("The simulator's attachment has no usable URL.", retryable=False)
        if media.sha256 and hashlib.sha256(data).hexdigest() != media.sha256.lower():
            raise ProviderError("Media checksum did not match", retryable=False)
        return data


def _status(sid: str, status: str, code: str | None = None, message: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"type": "status", "id": sid, "status": status}
    if code:
        payload.update(error_code=code, error_message=message)
    return payload


def _text(value) -> str | None:
    return str(value) if value not in (None, "") else None
