"""Webhooks lose nothing: stored before the 2xx, 403 on a bad signature
(nothing stored), 400 malformed and 404 unknown sender (both recorded),
idempotent application."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from core import clock
from tests import factories as f


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def post(rt, client, payload, *, secret=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {
        "content-type": "application/json",
        "x-parley-simulator-signature": sign(secret or rt.config.simulator_secret, body),
    }
    return client.post("/webhooks/simulator", content=body, headers=headers)


def inbound(pid, sender_phone, from_phone, body, channel="sms"):
    return {
        "type": "inbound",
        "id": pid,
        "channel": channel,
        "from": from_phone,
        "to": sender_phone,
        "body": body,
        "at": clock.utcnow().isoformat(),
    }


def wait_for(predicate, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def ws(server):
    rt, client = server
    f.add_sender(rt.db, phone="+14155550100")
    from core.actions.users import do_create_user

    do_create_user(rt.db, None, "ada", "Ada", "admin", "long-enough-pw")
    return rt, client


def test_inbound_is_stored_acknowledged_and_applied(ws):
    rt, client = ws
    response = post(rt, client, inbound("SIMin1", "+14155550100", "+14158675310", "Hi, can I book Tuesday?"))
    assert response.status_code == 200
    assert rt.db.scalar("SELECT count(*) FROM webhook_inbox WHERE state IN ('pending', 'applied')") == 1
    assert wait_for(lambda: rt.db.scalar("SELECT count(*) FROM messages WHERE provider_message_id = 'SIMin1'") == 1)
    assert rt.db.scalar("SELECT count(*) FROM conversations") == 1


def test_the_same_webhook_twice_changes_nothing(ws):
    rt, client = ws
    payload = inbound("SIMdup", "+14155550100", "+14158675311", "hello")
    assert post(rt, client, payload).status_code == 200
    assert post(rt, client, payload).status_code == 200
    assert wait_for(lambda: rt.db.scalar("SELECT count(*) FROM webhook_inbox WHERE state = 'applied'") == 2)
    assert rt.db.scalar("SELECT count(*) FROM messages") == 1


def test_bad_signature_is_403_and_nothing_is_stored(ws):
    rt, client = ws
    response = post(rt, client, inbound("SIMx", "+14155550100", "+14158675312", "hi"), secret=b"wrong")
    assert response.status_code == 403
    unsigned = client.post("/webhooks/simulator", content=b"{}", headers={"content-type": "application/json"})
    assert unsigned.status_code == 403
    assert rt.db.scalar("SELECT count(*) FROM webhook_inbox") == 0


def test_malformed_body_is_400_and_recorded_for_review(ws):
    rt, client = ws
    response = post(rt, client, None, raw=b"{not json")
    assert response.status_code == 400
    row = rt.db.fetchone("SELECT state, body FROM webhook_inbox")
    assert row[0] == "malformed" and bytes(row[1]) == b"{not json"


def test_unknown_sender_number_is_404_and_recorded(ws):
    rt, client = ws
    response = post(rt, client, inbound("SIMy", "+14155550999", "+14158675313", "hi"))
    assert response.status_code == 404
    assert rt.db.scalar("SELECT state FROM webhook_inbox") == "unknown_sender"
    assert rt.db.scalar("SELECT count(*) FROM messages") == 0


def test_oversized_body_is_refused_without_storing(ws):
    rt, client = ws
    big = inbound("SIMbig", "+14155550100", "+14158675314", "x" * 2_000_000)
    assert post(rt, client, big).status_code == 413
    assert rt.db.scalar("SELECT count(*) FROM webhook_inbox") == 0


def test_status_for_a_message_never_sent_is_kept_and_marked(ws, monkeypatch):
    rt, client = ws
    from core import ingest_apply

    monkeypatch.setattr(ingest_apply, "UNKNOWN_ID_GRACE", __import__("datetime").timedelta(0))
    payload = {"type": "status", "id": "SIMnever", "status": "delivered", "at": clock.utcnow().isoformat()}
    assert post(rt, client, payload).status_code == 200
    assert wait_for(lambda: rt.db.scalar("SELECT state FROM webhook_inbox") == "applied")
    assert "never sent" in rt.db.scalar("SELECT error FROM webhook_inbox")
