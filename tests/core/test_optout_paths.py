"""Issue 16: one opt-out write, whichever way the opt-out comes (rule 2).

A STOP keyword and a provider refusing a send because the person opted out at its end
(Twilio 21610) both go through ``inbound.opt_out_contact``: the contact is opted out on
every sender, and everything still waiting to go to them (held for business hours,
queued again while a provider is down) is stopped with the reason.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core import clock
from core.actions import inbound, messaging
from core.delivery import Dispatcher
from core.providers.base import InboundEvent, ProviderError
from tests import factories as f


@pytest.fixture
def ws(db, make_user):
    f.always_open(db)
    maria = make_user("maria")
    sms = f.add_sender(db, rate=1000)
    other = f.add_sender(db, phone="+14155550111", rate=1000)
    contact = f.add_contact(db, name="Ana")
    conv = f.add_conversation(db, contact_id=contact, sender_id=sms, owner_id=maria.id)
    conv2 = f.add_conversation(db, contact_id=contact, sender_id=other, owner_id=maria.id)
    # A reminder on the other sender, held until tomorrow, and one waiting out a provider outage.
    held = messaging.do_send(db, maria, conv2, "Reminder: your visit tomorrow")
    retrying = messaging.do_send(db, maria, conv2, "Did you get our last message?")
    db.write(
        lambda tx: (
            tx.execute(
                "UPDATE outbox SET due_at = ? WHERE message_id = ?", [clock.utcnow() + dt.timedelta(days=1), held]
            ),
            tx.execute(
                "UPDATE outbox SET due_at = ?, retry_since = ? WHERE message_id = ?",
                [clock.utcnow() + dt.timedelta(minutes=3), clock.utcnow(), retrying],
            ),
            tx.execute(
                "UPDATE messages SET error_reason = 'provider unavailable (HTTP 503)', release_at = ? WHERE id = ?",
                [clock.utcnow() + dt.timedelta(minutes=3), retrying],
            ),
        )
    )
    return dict(maria=maria, sms=sms, contact=contact, conv=conv, waiting=[held, retrying])


def waiting_states(db, ws):
    return db.fetchall(
        "SELECT m.status, m.error_reason, o.state FROM messages m JOIN outbox o ON o.message_id = m.id "
        "WHERE m.id IN (SELECT unnest(?)) ORDER BY m.id",
        [ws["waiting"]],
    )


STOPPED = [("not_sent", "Contact opted out", "cancelled")] * 2


class Refusing:
    def send(self, msg):
        raise ProviderError("Attempt to send to unsubscribed recipient", retryable=False, code="21610", http_status=400)


def test_a_provider_refusal_for_an_opted_out_person_stops_everything_waiting(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "Hello again")
    dispatcher = Dispatcher(db, lambda s: Refusing(), media_url=lambda t: None, status_callback_url=lambda p: None)
    dispatcher.step()
    assert db.scalar("SELECT opted_out FROM contacts WHERE id = ?", [ws["contact"]]) is True
    assert waiting_states(db, ws) == STOPPED
    assert db.fetchone("SELECT status, error_reason FROM messages WHERE id = ?", [mid]) == (
        "failed",
        "The recipient opted out (replied STOP) (error 21610): Attempt to send to unsubscribed recipient",
    )
    assert db.fetchall("SELECT kind, keyword FROM optout_history") == [("opt_out", "provider error 21610")]
    payload = json.loads(db.scalar("SELECT payload FROM events WHERE name = 'contact.opted_out'"))
    assert payload["source"] == "provider" and payload["contact_id"] == ws["contact"]
    # No confirmation: the provider would refuse it too.
    assert db.scalar("SELECT count(*) FROM messages WHERE direction = 'out' AND author_id IS NULL") == 0
    dispatcher.close()


def test_a_stop_keyword_stops_everything_waiting_and_confirms_once(db, ws):
    phone = db.scalar("SELECT phone FROM contacts WHERE id = ?", [ws["contact"]])
    sender = db.dicts("SELECT * FROM senders WHERE id = ?", [ws["sms"]])[0]
    event = InboundEvent("SMstop", "sms", phone, sender["phone"], None, "STOP", clock.utcnow())
    db.write(lambda tx: inbound.apply_inbound(tx, event, sender, []))
    assert db.scalar("SELECT opted_out FROM contacts WHERE id = ?", [ws["contact"]]) is True
    assert waiting_states(db, ws) == STOPPED
    assert db.fetchall("SELECT kind, keyword FROM optout_history") == [("opt_out", "STOP")]
    payload = json.loads(db.scalar("SELECT payload FROM events WHERE name = 'contact.opted_out'"))
    assert payload["source"] == "keyword"
    confirmations = db.fetchall("SELECT body, status FROM messages WHERE direction = 'out' AND author_id IS NULL")
    assert len(confirmations) == 1 and confirmations[0][1] == "queued"
