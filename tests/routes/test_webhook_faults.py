"""Issue 18, receiving: webhooks as a careless or hostile sender would post them.

Real routes over a runtime with its workers; Twilio and WhatsApp configured against loopback
fakes (their media hosts), signatures computed as the providers do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import io
import json
import threading
import time
from urllib.parse import urlencode

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.testclient import TestClient

from core import clock, ingest, ingest_apply, runtime
from core.providers.twilio_webhooks import compute_signature
from tests import factories as f
from tests.fakes.graph_server import FakeGraph
from tests.fakes.loopback import LoopbackFake
from tests.fakes.twilio_server import FakeTwilio

APP_SECRET = "route-app-secret"
PNID = "106540352242922"
SMS, WA = "+14155550100", "+14155550199"
BASE = "http://testserver"


class Bystander(LoopbackFake):
    """A host that is not a provider's: it records whatever reaches it."""

    def _dispatch(self, h) -> None:
        with self._lock:
            self.requests.append(h.path)
        self._reply(h, 200, b'{"ok": true}', "application/json")


@pytest.fixture
def fakes():
    with FakeTwilio() as twilio, FakeGraph() as graph, Bystander() as bystander:
        yield twilio, graph, bystander


@pytest.fixture
def server(test_config, fakes, monkeypatch):
    twilio, graph, _ = fakes
    for key, value in {
        "PARLEY_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "PARLEY_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "PARLEY_TWILIO_BASE_URL": twilio.url,
        "PARLEY_WHATSAPP_TOKEN": graph.access_token,
        "PARLEY_WHATSAPP_APP_SECRET": APP_SECRET,
        "PARLEY_WHATSAPP_VERIFY_TOKEN": "verify",
        "PARLEY_WHATSAPP_BASE_URL": graph.url,
    }.items():
        monkeypatch.setenv(key, value)
    from routes import ROUTES

    rt = runtime.start(test_config, workers=True)
    f.add_sender(rt.db, phone=SMS, provider="twilio")
    f.add_sender(rt.db, phone=WA, channel="whatsapp", provider="whatsapp_cloud", provider_ref=PNID)
    from core.actions.users import do_create_user

    do_create_user(rt.db, None, "ada", "Ada", "admin", "long-enough-pw")
    with TestClient(Starlette(routes=ROUTES)) as client:
        yield rt, client
    runtime.stop()


def wait_for(predicate, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def post_twilio(client, token, params: list[tuple[str, str]], *, signature=None):
    url = f"{BASE}/webhooks/twilio"
    body = urlencode(params)
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": signature or compute_signature(token, url, params),
    }
    return client.post("/webhooks/twilio", content=body, headers=headers)


def post_whatsapp(client, payload: bytes):
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), payload, hashlib.sha256).hexdigest()
    return client.post(
        "/webhooks/whatsapp",
        content=payload,
        headers={"content-type": "application/json", "x-hub-signature-256": signature},
    )


def inbound_form(sid: str, body: str, *, media: list[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    params = [("MessageSid", sid), ("AccountSid", "AC1"), ("From", "+14158675309"), ("To", SMS), ("Body", body)]
    params.append(("NumMedia", str(len(media))))
    for n, (url, ctype) in enumerate(media):
        params += [(f"MediaUrl{n}", url), (f"MediaContentType{n}", ctype)]
    return params


def change(phone_number_id: str, messages=(), statuses=(), display: str = WA) -> dict:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display.lstrip("+"), "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Sheena"}, "wa_id": "14158675309"}],
    }
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"field": "messages", "value": value}


def text(wamid: str, body: str, sender: str = "14158675309") -> dict:
    return {"from": sender, "id": wamid, "timestamp": str(int(time.time())), "type": "text", "text": {"body": body}}


# ---- 18.5: a WhatsApp payload with bad items keeps the good ones ----------------------------


def test_a_whatsapp_payload_with_bad_items_applies_every_good_one_and_answers_200(server):
    rt, client = server
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    change(
                        PNID,
                        messages=[
                            text("wamid.good1", "Is Tuesday ok?"),
                            {
                                "from": "14158675309",
                                "id": "wamid.img",
                                "timestamp": "1749416383",
                                "type": "image",
                                "image": {"mime_type": "image/jpeg"},
                            },  # fmt: skip
                            text("wamid.badfrom", "who am I", sender="12"),
                        ],
                        statuses=[{"id": "wamid.nostatus", "timestamp": "1749416383"}],
                    ),
                    change("999999999999", messages=[text("wamid.elsewhere", "Not for you")], display="+14155550177"),
                    change(PNID, messages=[text("wamid.good2", "And Wednesday?")]),
                ],
            }
        ],
    }
    response = post_whatsapp(client, json.dumps(payload).encode())
    assert response.status_code == 200
    assert wait_for(lambda: rt.db.scalar("SELECT count(*) FROM webhook_inbox WHERE state = 'applied'") == 1)
    assert sorted(r[0] for r in rt.db.fetchall("SELECT provider_message_id FROM messages WHERE direction = 'in'")) == [
        "wamid.good1",
        "wamid.good2",
    ]
    rejects = rt.db.fetchall("SELECT reason FROM webhook_rejects ORDER BY id")
    assert [r[0] for r in rejects] == [
        "WhatsApp image message without a media id.",
        "WhatsApp message without id or a readable 'from' number.",
        "WhatsApp status without id or status.",
        "No sender for phone number id 999999999999",
    ]
    assert rt.db.scalar("SELECT error FROM webhook_inbox") == (
        "4 items kept for review: WhatsApp image message without a media id."
    )
    assert rt.health()["webhooks"]["backlog"]["items_rejected"] == 4


# ---- 18.6: messages carry the time Parley received them --------------------------------------


def test_a_twilio_message_is_stamped_when_received_not_when_applied(server):
    rt, client = server
    received = clock.utcnow().replace(microsecond=0)
    clock.freeze(received)
    rt.workers[1].stop()  # the applier is behind: nothing is applied for now
    assert post_twilio(client, rt_token(rt), inbound_form("SMlate1", "Hello")).status_code == 200
    clock.freeze(received + dt.timedelta(minutes=20))
    rt.services["applier"].step()
    assert rt.db.fetchone("SELECT created_at, status_at FROM messages WHERE provider_message_id = 'SMlate1'") == (
        received,
        received,
    )


def rt_token(rt) -> str:
    return rt.services["providers"].provider("twilio").auth_token


# ---- 18.8: bodies are limited while read, form fields capped before any work ------------------


def test_a_streamed_oversize_body_is_refused_without_reading_it_all(server):
    rt, client = server

    def chunks():
        for _ in range(64):  # 64 MiB, no Content-Length
            yield b"x" * (1 << 20)

    response = client.post(
        "/webhooks/twilio", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413  # (TestClient buffers the body itself: the reader's own test is next)
    assert rt.db.scalar("SELECT count(*) FROM webhook_inbox") == 0


def test_the_body_reader_stops_at_the_limit():
    """What the route does with a body that keeps coming: it stops reading one chunk past the limit."""
    from routes import BodyTooLarge, _limited_body

    pulled = []

    async def receive():
        pulled.append(1)
        return {"type": "http.request", "body": b"x" * (256 * 1024), "more_body": True}

    scope = {"type": "http", "method": "POST", "headers": [], "path": "/webhooks/twilio", "query_string": b""}
    with pytest.raises(BodyTooLarge):
        asyncio.run(_limited_body(Request(scope, receive), ingest.MAX_BODY_BYTES))
    assert len(pulled) == ingest.MAX_BODY_BYTES // (256 * 1024) + 1

    declared = {**scope, "headers": [(b"content-length", str(256 << 20).encode())]}
    pulled.clear()
    with pytest.raises(BodyTooLarge):
        asyncio.run(_limited_body(Request(declared, receive), ingest.MAX_BODY_BYTES))
    assert pulled == []  # Content-Length said enough: not a byte read


def test_a_parameter_bomb_is_refused_before_the_signature_is_checked(server, monkeypatch):
    rt, client = server
    provider = rt.services["providers"].provider("twilio")
    checked = []
    monkeypatch.setattr(provider, "verify_webhook", lambda req: checked.append(1) or False)
    body = "&".join(f"p{i}=v" for i in range(60_000))
    started = time.perf_counter()
    response = client.post(
        "/webhooks/twilio",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": "bogus"},
    )
    assert response.status_code == 413 and checked == []
    assert time.perf_counter() - started < 5
    assert rt.db.scalar("SELECT count(*) FROM webhook_inbox") == 0


def test_a_large_body_is_checked_and_parsed_off_the_event_loop(server, monkeypatch):
    rt, client = server
    ingest_service = rt.services["ingest"]
    where = []
    real = ingest_service.check

    def check(name, req):
        where.append((len(req.body) > ingest.INLINE_BYTES, threading.current_thread().name))
        return real(name, req)

    monkeypatch.setattr(ingest_service, "check", check)
    token = rt_token(rt)
    assert post_twilio(client, token, inbound_form("SMsmall", "hi")).status_code == 200
    assert post_twilio(client, token, inbound_form("SMlarge", "x" * 40_000)).status_code == 200
    [(small, small_thread), (large, large_thread)] = where
    assert (small, large) == (False, True)
    assert large_thread.startswith("parley-verify") and not small_thread.startswith("parley-verify")


# ---- 18.9: nested JSON is a 400, recorded ---------------------------------------------------


def test_deeply_nested_signed_json_is_400_and_recorded(server):
    rt, client = server
    raw = b'{"entry": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    response = post_whatsapp(client, raw)
    assert response.status_code == 400
    state, error, size = rt.db.fetchone("SELECT state, error, octet_length(body) FROM webhook_inbox")
    assert (state, size) == ("malformed", len(raw)) and "nested too deeply" in error


# ---- 18.10: media only from the provider's hosts, the truth about its type --------------------


def test_a_foreign_media_url_is_never_fetched(server, fakes):
    rt, client = server
    _, _, bystander = fakes
    params = inbound_form("SMfetch", "see attached", media=[(f"{bystander.url}/healthz", "image/png")])
    assert post_twilio(client, rt_token(rt), params).status_code == 200
    assert wait_for(lambda: rt.db.scalar("SELECT count(*) FROM messages WHERE provider_message_id = 'SMfetch'") == 1)
    reason = rt.db.scalar("SELECT error_reason FROM messages WHERE provider_message_id = 'SMfetch'")
    assert reason.startswith("Attachment 1 could not be downloaded: The attachment is not on Twilio's media servers")
    assert bystander.requests == [] and rt.db.scalar("SELECT count(*) FROM media") == 0


def test_an_attachment_that_lies_about_its_type_is_stored_as_what_it_is(server, fakes):
    rt, client = server
    twilio, _, _ = fakes
    from PIL import Image

    picture = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(picture, format="PNG")
    png = picture.getvalue()
    media = [
        (twilio.add_media(b"<html><body>not a picture</body></html>", "image/png"), "image/png"),
        (twilio.add_media(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 10, "image/png"), "image/png"),
        (twilio.add_media(png, "image/jpeg"), "image/jpeg"),
    ]
    assert post_twilio(client, rt_token(rt), inbound_form("SMlies", "three files", media=media)).status_code == 200
    assert wait_for(lambda: rt.db.scalar("SELECT count(*) FROM media") == 3)
    types = [r[0] for r in rt.db.fetchall("SELECT content_type FROM media ORDER BY id")]
    assert types == ["text/html", "application/octet-stream", "image/png"]


# ---- backlog in /healthz -----------------------------------------------------------------------


def test_the_backlog_and_its_age_are_reported(server):
    rt, client = server
    rt.workers[1].stop()  # the applier is stopped: what arrives waits
    start = clock.utcnow()
    clock.freeze(start)
    token = rt_token(rt)
    for n in range(3):
        assert post_twilio(client, token, inbound_form(f"SMwait{n}", "hi")).status_code == 200
    clock.freeze(start + dt.timedelta(seconds=42))
    expected = {"pending": 3, "oldest_age_seconds": 42.0, "kept_for_review": 0, "items_rejected": 0}
    assert ingest_apply.backlog(rt.db) == expected  # for the admin page
    assert rt.health()["webhooks"]["backlog"] == expected  # for /healthz (admins)
    # Sends are counted beside them (nothing waits here; tests/core/test_delivery_faults.py counts some).
    assert rt.health()["delivery"]["outbox"] == {
        "due": 0,
        "retrying": 0,
        "oldest_retry_seconds": 0.0,
        "in_flight": 0,
        "checking": 0,
        "interrupted": 0,
        "held_business_hours": 0,
        "oldest_business_hours_seconds": 0.0,
        "held_quiet_hours": 0,
        "oldest_quiet_hours_seconds": 0.0,
        "held_later": 0,
        "waiting_turn": 0,
        "oldest_turn_seconds": 0.0,
        "failed_24h": 0,
    }
