"""Webhooks kept for review: listed with their reason, and retried (admins)."""

from __future__ import annotations

import json

import pytest

from core import clock
from core.actions import webhook_review
from core.actions.senders import SenderForm, do_create_sender
from core.engine import ProviderBook
from core.errors import PermissionDenied, ValidationError
from core.ingest_apply import WebhookApplier
from core.media_store import MediaStore
from tests import factories as f

OURS = "+14155550100"
NEW_NUMBER = "+14155550177"


@pytest.fixture
def ws(db, tmp_path, make_user):
    f.always_open(db)
    admin, maria = make_user("ada", "admin"), make_user("maria")
    f.add_sender(db, phone=OURS)
    book = ProviderBook(db, simulator_url="http://127.0.0.1:9/webhooks/simulator", simulator_secret=b"s", demo=False)
    return dict(admin=admin, maria=maria, applier=WebhookApplier(db, book, MediaStore(tmp_path / "media")))


def inbound(to: str, body: str = "Hello") -> bytes:
    return json.dumps(
        {
            "type": "inbound",
            "id": f"SIMin-{to}-{body}",
            "channel": "sms",
            "from": "+14158675309",
            "to": to,
            "body": body,
            "at": clock.utcnow().isoformat(),
        }
    ).encode()


def store(db, body: bytes, state: str = "pending", error: str | None = None) -> int:
    return db.write(
        lambda tx: tx.scalar(
            "INSERT INTO webhook_inbox (received_at, provider, state, url, content_type, body, error) "
            "VALUES (?, 'simulator', ?, '/webhooks/simulator', 'application/json', ?, ?) RETURNING id",
            [clock.utcnow(), state, body, error],
        )
    )


def test_kept_webhooks_are_listed_with_their_reason(db, ws):
    store(db, inbound(NEW_NUMBER), "unknown_sender", f"No sender for {NEW_NUMBER}")
    store(db, b"{not json", "malformed", "Simulator webhook is not JSON")
    store(db, inbound(OURS, "boom"), "error", "Could not be applied: KeyError: 'x'")
    store(db, inbound(OURS), "applied")
    rows, total, counts = webhook_review.kept(db, ws["admin"])
    assert total == 3 and counts == {"error": 1, "malformed": 1, "unknown_sender": 1}
    assert [(r["state"], r["error"]) for r in rows] == [
        ("error", "Could not be applied: KeyError: 'x'"),
        ("malformed", "Simulator webhook is not JSON"),
        ("unknown_sender", f"No sender for {NEW_NUMBER}"),
    ]
    assert rows[1]["preview"] == "{not json"
    assert [r["state"] for r in webhook_review.kept(db, ws["admin"], state="malformed")[0]] == ["malformed"]


def test_retry_after_the_missing_sender_is_added_applies_the_message(db, ws):
    kept = store(db, inbound(NEW_NUMBER, "Is this the new line?"), "unknown_sender", f"No sender for {NEW_NUMBER}")
    do_create_sender(
        db,
        ws["admin"],
        SenderForm(
            phone=NEW_NUMBER,
            channel="sms",
            provider="simulator",
            label="New line",
            brand_status="approved",
            campaign_status="approved",
        ),
    )
    assert webhook_review.do_retry(db, ws["admin"], [kept]) == 1
    assert db.fetchone("SELECT state, retries FROM webhook_inbox WHERE id = ?", [kept]) == ("pending", 1)
    ws["applier"].step()
    assert db.fetchone("SELECT state, error FROM webhook_inbox WHERE id = ?", [kept]) == ("applied", None)
    assert db.scalar("SELECT body FROM messages WHERE direction = 'in'") == "Is this the new line?"
    assert db.fetchall("SELECT action FROM audit_log WHERE action = 'webhook.retried'") == [("webhook.retried",)]


def test_a_malformed_one_retried_is_kept_again_with_its_reason(db, ws):
    kept = store(db, b"{not json", "malformed", "old reason")
    webhook_review.do_retry(db, ws["admin"], [kept])
    ws["applier"].step()
    state, error = db.fetchone("SELECT state, error FROM webhook_inbox WHERE id = ?", [kept])
    assert state == "malformed" and error and error != "old reason"
    assert db.scalar("SELECT count(*) FROM messages") == 0


def test_retry_refusals(db, ws):
    applied = store(db, inbound(OURS), "applied")
    with pytest.raises(ValidationError, match="not kept for review any more"):
        webhook_review.do_retry(db, ws["admin"], [applied])
    with pytest.raises(ValidationError, match="Choose at least one webhook"):
        webhook_review.do_retry(db, ws["admin"], [])
    with pytest.raises(PermissionDenied, match="Only an admin can retry webhooks."):
        webhook_review.do_retry(db, ws["maria"], [applied])
    with pytest.raises(PermissionDenied, match="Only an admin can review webhooks."):
        webhook_review.kept(db, ws["maria"])
