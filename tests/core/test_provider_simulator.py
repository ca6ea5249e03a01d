"""The simulator: signed callbacks over real loopback HTTP, its wire format, and a clean stop."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.providers.base import (
    DELIVERED,
    READ,
    SENDING,
    SENT,
    InboundMedia,
    MalformedWebhook,
    OutboundMessage,
    ProviderError,
    WebhookRequest,
)
from core.providers.simulator import SimulatorProvider

SECRET = b"simulator-test-secret"
OURS, CUSTOMER = "+14155550100", "+14158675309"
FAST = (0.05, 0.15, 0.25)


class Receiver:
    """A loopback webhook endpoint that records signed posts; can answer 503 a few times first."""

    def __init__(self, fail_first: int = 0) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.attempts = 0
        self.fail_first = fail_first
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.attempts += 1
                    failing = receiver.attempts <= receiver.fail_first
                    if not failing:
                        receiver.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/simulator"

    def payloads(self) -> list[dict]:
        with self.lock:
            return [json.loads(body) for _, body in self.posts]

    def wait_for(self, predicate, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.payloads()):
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def settle(sim, timeout: float = 30.0) -> None:
    """Wait until the simulator has posted (or given up) every callback it scheduled."""
    deadline = time.monotonic() + timeout
    while not sim.idle():
        assert time.monotonic() < deadline, "the simulator never settled"
        time.sleep(0.01)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def make_sim(receiver):
    made = []

    def make(**kw):
        options = dict(
            webhook_url=receiver.url,
            secret=SECRET,
            rng_seed=1,
            delays=FAST,
            failure_rate=0.0,
            reply_rate=0.0,
            read_rate=1.0,
        )
        options.update(kw)
        sim = SimulatorProvider(**options)
        made.append(sim)
        return sim

    yield make
    for sim in made:
        sim.close()


def message(channel="sms", **kw) -> OutboundMessage:
    return OutboundMessage(
        message_id=1, channel=channel, from_number=OURS, to_number=CUSTOMER, body=kw.pop("body", "Hello"), **kw
    )


ORDER = {"sent": 0, "delivered": 1, "read": 2, "failed": 3, "undelivered": 3}


def statuses_for(payloads, sid):
    """The statuses posted for ``sid``, in lifecycle order: the simulator posts from several
    threads, so (like a real provider) two that fall due together may arrive either way round."""
    return sorted((p["status"] for p in payloads if p["type"] == "status" and p["id"] == sid), key=ORDER.get)


def test_sms_gets_signed_sent_then_delivered_and_no_read(receiver, make_sim):
    sim = make_sim()
    result = sim.send(message())
    assert result.status == SENDING and result.provider_message_id.startswith("SIM")
    sid = result.provider_message_id
    assert receiver.wait_for(lambda p: statuses_for(p, sid) == ["sent", "delivered"])
    settle(sim)  # everything it planned has been posted: no 'read' for SMS
    assert statuses_for(receiver.payloads(), sid) == ["sent", "delivered"]
    for headers, body in receiver.posts:
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        assert headers["x-parley-simulator-signature"] == expected
        assert headers["content-type"] == "application/json"
    # The same bytes verify and parse with the provider's own webhook side.
    headers, body = receiver.posts[-1]
    req = WebhookRequest("POST", receiver.url, headers, {}, body)
    assert sim.verify_webhook(req)
    [status] = sim.parse_webhook(req).statuses
    assert (status.provider_message_id, status.status) == (sid, DELIVERED)


def test_whatsapp_is_also_read(receiver, make_sim):
    sim = make_sim()
    sid = sim.send(message("whatsapp")).provider_message_id
    assert receiver.wait_for(lambda p: statuses_for(p, sid) == ["sent", "delivered", "read"])


def test_failures_carry_a_real_twilio_code(receiver, make_sim):
    sim = make_sim(failure_rate=1.0)
    sid = sim.send(message("whatsapp")).provider_message_id
    assert receiver.wait_for(lambda p: len(statuses_for(p, sid)) == 2)
    settle(sim)  # nothing more comes after the failure
    sent, failure = [p for p in receiver.payloads() if p["id"] == sid]
    assert sent["status"] == "sent"
    assert failure["status"] in ("failed", "undelivered") and failure["error_code"] in ("30003", "30005", "30006")
    assert failure["error_message"]


def test_demo_replies_come_from_the_recipient(receiver, make_sim):
    sim = make_sim(demo_replies=True, reply_rate=1.0, reply_delay=(0.05, 0.1))
    sid = sim.send(message("whatsapp")).provider_message_id
    assert receiver.wait_for(lambda p: any(x["type"] == "inbound" for x in p))
    reply = next(x for x in receiver.payloads() if x["type"] == "inbound")
    assert (reply["from"], reply["to"], reply["channel"], reply["reply_to"]) == (CUSTOMER, OURS, "whatsapp", sid)
    assert reply["body"] and reply["id"].startswith("SIM")
    body = json.dumps(reply).encode()
    [event] = sim.parse_webhook(WebhookRequest("POST", "", {}, {}, body)).inbound
    assert (event.from_number, event.to_number, event.body) == (CUSTOMER, OURS, reply["body"])


def test_no_replies_without_demo(receiver, make_sim):
    sim = make_sim(demo_replies=False, reply_rate=1.0, reply_delay=(0.0, 0.01))
    sid = sim.send(message()).provider_message_id
    assert receiver.wait_for(lambda p: statuses_for(p, sid) == ["sent", "delivered"])
    settle(sim)
    assert all(p["type"] == "status" for p in receiver.payloads())


def test_posts_are_retried_after_server_errors():
    receiver = Receiver(fail_first=2)
    sim = SimulatorProvider(receiver.url, SECRET, delays=(0.0, 5.0, 5.0), failure_rate=0.0, retry_delay=0.05)
    try:
        sid = sim.send(message()).provider_message_id
        assert receiver.wait_for(lambda p: statuses_for(p, sid) == ["sent"])
        assert receiver.attempts == 3
    finally:
        sim.close()
        receiver.close()


def test_unreachable_webhook_is_logged_not_fatal(caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sim = SimulatorProvider(
        f"http://127.0.0.1:{port}/webhooks/simulator", SECRET, delays=(0.0, 0.0, 0.0), retry_delay=0.01
    )
    try:
        sim.send(message())
        settle(sim)
        assert sim.dropped == 2 and sim.alive  # 'sent' and 'delivered' given up, scheduler still running
        assert "could not deliver" in caplog.text
    finally:
        sim.close()


def test_one_scheduler_not_a_thread_per_message(receiver, make_sim):
    sim = make_sim(delays=(0.5, 0.6, 0.7))
    before = threading.active_count()
    for _ in range(200):
        sim.send(message())
    assert threading.active_count() - before <= 2
    assert sim.pending() >= 400


def test_close_stops_the_thread_and_drops_pending_callbacks(receiver, make_sim):
    sim = make_sim(delays=(0.3, 0.4, 0.5))
    sim.send(message())
    started = time.monotonic()
    sim.close()
    assert time.monotonic() - started < 2.0
    assert not sim.alive and sim.pending() == 0
    # close() joined the scheduler and the posters: nothing can post any more, now or later.
    assert receiver.payloads() == [] and sim.posted == 0
    with pytest.raises(ProviderError) as info:
        sim.send(message())
    assert info.value.retryable


def test_send_refuses_empty_message_and_invalid_number(make_sim):
    sim = make_sim()
    with pytest.raises(ProviderError) as info:
        sim.send(message(body=None))
    assert info.value.code == "21619" and not info.value.retryable
    with pytest.raises(ProviderError) as info:
        sim.send(OutboundMessage(1, "sms", OURS, "12", body="hi"))
    assert info.value.code == "21211"


# ---- webhook side -----------------------------------------------------------------------------


def sim_request(payload, secret=SECRET, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    sig = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return WebhookRequest(
        "POST", "http://127.0.0.1/webhooks/simulator", {"x-parley-simulator-signature": sig}, {}, body
    )


def test_signature_checks(make_sim):
    sim = make_sim()
    payload = {"type": "status", "id": "SIM1", "status": "sent", "at": "2025-01-02T03:04:05"}
    assert sim.verify_webhook(sim_request(payload))
    assert not sim.verify_webhook(sim_request(payload, secret=b"wrong"))
    good = sim_request(payload)
    assert not sim.verify_webhook(WebhookRequest("POST", good.url, good.headers, {}, good.body + b" "))
    assert not sim.verify_webhook(WebhookRequest("POST", good.url, {}, {}, good.body))


def test_parse_status_times_and_codes(make_sim):
    sim = make_sim()
    [s] = sim.parse_webhook(
        sim_request(
            {
                "type": "status",
                "id": "SIM1",
                "status": "undelivered",
                "error_code": "30003",
                "error_message": "Unreachable",
                "at": "2025-01-02T03:04:05+01:00",
            }
        )
    ).statuses
    assert (s.status, s.error_code, s.error_message, s.at.isoformat()) == (
        "undelivered",
        "30003",
        "Unreachable",
        "2025-01-02T02:04:05",
    )
    [r] = sim.parse_webhook(sim_request({"type": "status", "id": "SIM2", "status": "read"})).statuses
    assert r.status == READ and r.error_code is None


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"type": "status", "status": "sent"},
        {"type": "status", "id": "S", "status": "teleported"},
        {"type": "inbound", "id": "S", "channel": "fax", "from": CUSTOMER, "to": OURS, "body": "x"},
        {"type": "inbound", "id": "S", "channel": "sms", "from": "nobody", "to": OURS, "body": "x"},
        {"type": "inbound", "id": "S", "channel": "sms", "from": CUSTOMER, "to": OURS, "body": 5},
        {"type": "mystery", "id": "S"},
    ],
)
def test_malformed_payloads(make_sim, payload):
    sim = make_sim()
    with pytest.raises(MalformedWebhook):
        sim.parse_webhook(sim_request(payload, raw=b"{nope" if payload is None else None))


def test_inbound_media_as_data_url(make_sim):
    sim = make_sim()
    data = b"\x89PNG tiny"
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    [event] = sim.parse_webhook(
        sim_request(
            {
                "type": "inbound",
                "id": "SIMm",
                "channel": "sms",
                "from": CUSTOMER,
                "to": OURS,
                "body": "",
                "media": [{"url": url, "content_type": "image/png"}],
            }
        )
    ).inbound
    [media] = event.media
    assert sim.fetch_media(media) == data
    with pytest.raises(ProviderError):
        sim.fetch_media(InboundMedia("image/png", url=url, sha256="00" * 32))


def test_sent_status_constant_is_what_goes_on_the_wire(receiver, make_sim):
    sim = make_sim()
    sid = sim.send(message()).provider_message_id
    assert receiver.wait_for(lambda p: "sent" in statuses_for(p, sid))
    headers, body = receiver.posts[0]
    [s] = sim.parse_webhook(WebhookRequest("POST", "", headers, {}, body)).statuses
    assert s.status == SENT
