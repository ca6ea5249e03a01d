"""The status icon of each list row: the latest outgoing message of the conversation, read by the
id the conversation keeps (``conversations.last_out_id``, migration 10). Every write that records
an outgoing message or moves its status shows in the next list read; a conversation that starts
with a reply to a campaign shows the campaign message's status; a database made before
migration 10 gets the ids filled in."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock, queries, schema
from core.actions import inbound, messaging
from core.db import Database
from core.providers.base import InboundEvent, StatusEvent
from tests import factories as f


@pytest.fixture
def ws(db, make_user):
    f.always_open(db)
    maria = make_user("maria")
    sms = f.add_sender(db)
    zoe = f.add_contact(db, name="Zoë Ávila")
    conv = f.add_conversation(db, contact_id=zoe, sender_id=sms, owner_id=maria.id)
    return dict(maria=maria, sms=sms, zoe=zoe, conv=conv)


def row_status(db, user, conversation_id):
    rows = queries.inbox_view(db, user, status="all").page.rows
    return next(r["last_out_status"] for r in rows if r["conversation_id"] == conversation_id)


def deliver(db, message_id, provider_id, status):
    db.write(
        lambda tx: tx.execute("UPDATE messages SET provider_message_id = ? WHERE id = ?", [provider_id, message_id])
    )
    db.write(lambda tx: inbound.apply_statuses(tx, [StatusEvent(provider_id, status, clock.utcnow())]))


def test_a_conversation_with_no_reply_yet_has_no_status(db, ws):
    assert row_status(db, ws["maria"], ws["conv"]) is None


def test_a_reply_sent_then_its_statuses_show_in_the_next_read(db, ws):
    first = messaging.do_send(db, ws["maria"], ws["conv"], "See you Thursday")
    assert row_status(db, ws["maria"], ws["conv"]) == "queued"
    deliver(db, first, "SMst1", "delivered")
    assert row_status(db, ws["maria"], ws["conv"]) == "delivered"
    second = messaging.do_send(db, ws["maria"], ws["conv"], "Bring your card")
    assert row_status(db, ws["maria"], ws["conv"]) == "queued"  # the latest reply, not the delivered one
    deliver(db, second, "SMst2", "undelivered")
    assert row_status(db, ws["maria"], ws["conv"]) == "undelivered"


def test_an_incoming_message_keeps_the_latest_reply_status(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "See you Thursday")
    deliver(db, mid, "SMst3", "delivered")
    sender = db.dicts("SELECT * FROM senders WHERE id = ?", [ws["sms"]])[0]
    phone = db.scalar("SELECT phone FROM contacts WHERE id = ?", [ws["zoe"]])
    event = InboundEvent("SMin3", "sms", phone, sender["phone"], None, "Thanks!", clock.utcnow())
    db.write(lambda tx: inbound.apply_inbound(tx, event, sender, []))
    assert row_status(db, ws["maria"], ws["conv"]) == "delivered"


def test_a_conversation_started_by_a_reply_shows_its_campaign_message(db, ws):
    ana = f.add_contact(db, name="Ana")
    campaign = f.add_campaign(db, name="Spring visits", sender_id=ws["sms"])
    f.add_message(
        db,
        contact_id=ana,
        sender_id=ws["sms"],
        body="Book your spring visit!",
        campaign_id=campaign,
        author_id=ws["maria"].id,
        status="delivered",
        at=clock.utcnow() - dt.timedelta(hours=1),
    )
    sender = db.dicts("SELECT * FROM senders WHERE id = ?", [ws["sms"]])[0]
    phone = db.scalar("SELECT phone FROM contacts WHERE id = ?", [ana])
    event = InboundEvent("SMin4", "sms", phone, sender["phone"], None, "Yes please", clock.utcnow())
    db.write(lambda tx: inbound.apply_inbound(tx, event, sender, []))
    cid = db.scalar("SELECT id FROM conversations WHERE contact_id = ?", [ana])
    assert row_status(db, ws["maria"], cid) == "delivered"


def test_migration_10_fills_the_ids_of_an_older_database(tmp_path):
    db = Database(tmp_path / "old.duckdb")
    schema.migrate(db, target=8)  # a database from before migration 10
    at = dt.datetime(2026, 3, 2, 15, 0)

    def older_rows(tx):
        tx.execute(
            "INSERT INTO senders (id, phone, channel, provider, label, registration_kind, registration_status, "
            "rate_per_second, enabled, created_at) VALUES (1, '+14155550100', 'sms', 'simulator', 'SMS 0100', "
            "'10dlc', 'registered', 10, true, ?)",
            [at],
        )
        tx.execute(
            "INSERT INTO contacts (id, phone, created_at, updated_at) VALUES "
            "(1, '+14158670001', ?, ?), (2, '+14158670002', ?, ?)",
            [at, at, at, at],
        )
        tx.execute(
            "INSERT INTO conversations (id, contact_id, sender_id, channel, status, created_at, last_message_at, "
            "message_count) VALUES (1, 1, 1, 'sms', 'open', ?, ?, 3), (2, 2, 1, 'sms', 'open', ?, ?, 1)",
            [at, at, at, at],
        )
        tx.execute(
            "INSERT INTO messages (id, conversation_id, contact_id, sender_id, direction, body, status, created_at) "
            "VALUES (10, 1, 1, 1, 'out', 'Hello', 'delivered', ?), (11, 1, 1, 1, 'out', 'Again', 'failed', ?), "
            "(12, 1, 1, 1, 'in', 'Hi', 'received', ?), (13, 2, 2, 1, 'in', 'Who is this?', 'received', ?)",
            [at, at, at, at],
        )

    db.write(older_rows)
    assert 10 in schema.migrate(db)
    assert db.fetchall("SELECT id, last_out_id FROM conversations ORDER BY id") == [(1, 11), (2, None)]
    db.close()
