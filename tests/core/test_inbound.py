"""Applying provider events: rule 1 (conversations start with a reply), rule 2
(opt-out keywords), rule 9 (statuses only move forward), idempotency."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from core import clock, queries
from core.actions import inbound, messaging
from core.providers.base import InboundEvent, StatusEvent
from tests import factories as f

_ids = itertools.count(1)


@pytest.fixture
def ws(db, make_user):
    f.always_open(db)
    admin = make_user("ada", "admin")
    maria = make_user("maria")
    sms = f.add_sender(db)
    sms2 = f.add_sender(db, phone="+14155550111")
    wa = f.add_sender(db, channel="whatsapp", provider_ref="PNID1")
    senders = {r["id"]: r for r in db.dicts("SELECT * FROM senders")}
    return dict(admin=admin, maria=maria, sms=senders[sms], sms2=senders[sms2], wa=senders[wa])


def receive(db, sender, from_number, body, *, pid=None, at=None, profile=None):
    event = InboundEvent(
        provider_message_id=pid or f"SMin{next(_ids)}",
        channel=sender["channel"],
        from_number=from_number,
        to_number=sender["phone"],
        to_ref=None,
        body=body,
        received_at=at or clock.utcnow(),
        profile_name=profile,
    )
    return db.write(lambda tx: inbound.apply_inbound(tx, event, sender, []))


def campaign_send(db, sender, contact_id, author_id, campaign_id=7):
    def write(tx):
        tx.execute(
            "INSERT INTO messages (contact_id, sender_id, campaign_id, direction, author_id, body, status, "
            "created_at, status_at, provider_message_id) VALUES (?,?,?, 'out', ?, 'Book your visit!', "
            "'delivered', ?, ?, ?)",
            [
                contact_id,
                sender["id"],
                campaign_id,
                author_id,
                clock.utcnow() - dt.timedelta(hours=1),
                clock.utcnow(),
                f"SMc{next(_ids)}",
            ],
        )

    db.write(write)


def test_campaign_send_creates_no_conversation_until_the_reply(db, ws):
    contact = f.add_contact(db, name="Ana")
    campaign_send(db, ws["sms"], contact, ws["maria"].id)
    assert db.scalar("SELECT count(*) FROM conversations") == 0
    mid = receive(db, ws["sms"], db.scalar("SELECT phone FROM contacts WHERE id = ?", [contact]), "Yes please")
    conv = db.dicts("SELECT * FROM conversations")[0]
    assert conv["owner_id"] == ws["maria"].id and conv["campaign_id"] == 7 and not conv["unsolicited"]
    thread = queries.thread(db, ws["maria"], conv["id"]).messages
    assert [m["direction"] for m in thread] == ["out", "in"]  # the campaign message joined the thread
    assert thread[-1]["id"] == mid and conv["message_count"] == 2
    assert queries.unread_count(db, ws["maria"].id) == 1


def test_unknown_number_becomes_an_unsolicited_conversation_for_the_admin(db, ws):
    receive(db, ws["sms"], "+14158675399", "Who is this?")
    conv = db.dicts("SELECT * FROM conversations")[0]
    assert conv["unsolicited"] and conv["owner_id"] == ws["admin"].id
    assert db.scalar("SELECT name FROM contacts WHERE id = ?", [conv["contact_id"]]) is None


def test_same_provider_message_twice_is_stored_once(db, ws):
    assert receive(db, ws["sms"], "+14158675300", "hi", pid="SMdup") is not None
    assert receive(db, ws["sms"], "+14158675300", "hi", pid="SMdup") is None
    assert db.scalar("SELECT count(*) FROM messages") == 1


def test_new_incoming_message_reopens_a_closed_conversation(db, ws):
    from core.actions import conversations as conv

    receive(db, ws["sms"], "+14158675301", "hi")
    cid = db.scalar("SELECT id FROM conversations")
    conv.do_set_status(db, ws["admin"], [cid], closed=True)
    receive(db, ws["sms"], "+14158675301", "one more thing")
    assert db.scalar("SELECT status FROM conversations WHERE id = ?", [cid]) == "open"


def test_whatsapp_inbound_refreshes_the_window(db, ws):
    at = clock.utcnow() - dt.timedelta(hours=1)
    receive(db, ws["wa"], "+14158675302", "hola", at=at, profile="Lucía")
    row = db.fetchone("SELECT c.last_inbound_at, ct.name FROM conversations c JOIN contacts ct ON ct.id = c.contact_id")
    assert row == (at, "Lucía")


@pytest.mark.parametrize(
    "word",
    [
        "STOP",
        "stop",
        " Stop ",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
        "stop all",
        "Opt Out",
        "STOP.",
    ],
)
def test_every_stop_keyword_opts_out_everywhere_with_one_confirmation(db, ws, word):
    phone = "+14158675303"
    receive(db, ws["sms"], phone, "hello")
    other = receive(db, ws["sms2"], phone, "hi there")
    other_conv = db.scalar("SELECT conversation_id FROM messages WHERE id = ?", [other])
    queued = messaging.do_send(db, ws["admin"], other_conv, "Pending reminder")  # waiting on another sender
    receive(db, ws["sms"], phone, word)
    contact = db.dicts("SELECT * FROM contacts WHERE phone = ?", [phone])[0]
    assert contact["opted_out"]
    assert db.dicts("SELECT status, error_reason FROM messages WHERE id = ?", [queued])[0] == {
        "status": "not_sent",
        "error_reason": "Contact opted out",
    }
    confirmations = db.fetchall("SELECT body FROM messages WHERE direction = 'out' AND author_id IS NULL")
    assert len(confirmations) == 1 and "unsubscribed" in confirmations[0][0]
    receive(db, ws["sms"], phone, word)  # again: no second confirmation
    assert db.scalar("SELECT count(*) FROM messages WHERE direction = 'out' AND author_id IS NULL") == 1
    assert (
        db.scalar("SELECT count(*) FROM optout_history WHERE contact_id = ? AND kind = 'opt_out'", [contact["id"]]) == 1
    )


@pytest.mark.parametrize("word", ["START", "UNSTOP", "yes"])
def test_opt_in_keywords_opt_back_in(db, ws, word):
    phone = "+14158675304"
    receive(db, ws["sms"], phone, "STOP")
    receive(db, ws["wa"], phone, word)
    assert not db.scalar("SELECT opted_out FROM contacts WHERE phone = ?", [phone])
    kinds = [r[0] for r in db.fetchall("SELECT kind FROM optout_history ORDER BY id")]
    assert kinds == ["opt_out", "opt_in"]


def test_yes_from_a_subscribed_contact_is_just_a_reply(db, ws):
    receive(db, ws["sms"], "+14158675305", "YES")
    assert db.scalar("SELECT count(*) FROM messages WHERE direction = 'out'") == 0


def test_help_gets_the_configured_reply(db, ws):
    receive(db, ws["sms"], "+14158675306", "HELP")
    reply = db.scalar("SELECT body FROM messages WHERE direction = 'out'")
    assert "Reply STOP to opt out" in reply and "Msg & data rates may apply" in reply


def test_natural_language_opt_out_is_flagged_not_applied(db, ws):
    receive(db, ws["sms"], "+14158675307", "please stop texting me")
    row = db.fetchone(
        "SELECT c.optout_flag, ct.opted_out FROM conversations c JOIN contacts ct ON ct.id = c.contact_id"
    )
    assert row == ("please stop texting me", False)


# ---- statuses (rule 9) ------------------------------------------------------------------


@pytest.fixture
def sent_message(db, ws):
    receive(db, ws["wa"], "+14158675308", "hi")
    cid = db.scalar("SELECT id FROM conversations")
    mid = messaging.do_send(db, ws["admin"], cid, "hello")  # unsolicited: the admin owns it
    db.write(
        lambda tx: tx.execute(
            "UPDATE messages SET status = 'sent', provider_message_id = 'wamid.1' WHERE id = ?", [mid]
        )
    )
    return mid


def apply(db, *events):
    return db.write(lambda tx: inbound.apply_statuses(tx, list(events)))


def status(db, mid):
    return db.scalar("SELECT status FROM messages WHERE id = ?", [mid])


def ev(name, minutes=0, code=None):
    return StatusEvent("wamid.1", name, clock.utcnow() + dt.timedelta(minutes=minutes), error_code=code)


def test_statuses_move_forward(db, sent_message):
    apply(db, ev("delivered"))
    assert status(db, sent_message) == "delivered"
    apply(db, ev("read", 1))
    assert status(db, sent_message) == "read"


def test_duplicate_and_out_of_order_callbacks_change_nothing(db, sent_message):
    apply(db, ev("read", 2))
    result = apply(db, ev("delivered", 1), ev("sent"), ev("read", 2))
    assert status(db, sent_message) == "read"
    assert result.statuses_applied == 0 and result.statuses_ignored == 3


def test_delivered_after_failed_wins_but_failed_after_delivered_does_not(db, sent_message):
    apply(db, ev("failed", 0, "131026"))
    assert status(db, sent_message) == "failed"
    assert "131026" in db.scalar("SELECT error_reason FROM messages WHERE id = ?", [sent_message])
    apply(db, ev("delivered", 1))  # multi-device WhatsApp users
    assert status(db, sent_message) == "delivered"
    apply(db, ev("failed", 2, "131026"))
    assert status(db, sent_message) == "delivered"


def test_a_failure_reason_is_recorded_in_words(db, sent_message):
    apply(db, StatusEvent("wamid.1", "undelivered", clock.utcnow(), error_code="30005"))
    row = db.fetchone("SELECT status, error_code, error_reason FROM messages WHERE id = ?", [sent_message])
    assert row == ("undelivered", "30005", "Unknown or inactive number (error 30005)")


def test_status_for_a_message_parley_never_sent_is_reported_not_applied(db, sent_message):
    result = apply(db, StatusEvent("SMnever", "delivered", clock.utcnow()))
    assert result.unknown_message_ids == ["SMnever"]
    assert status(db, sent_message) == "sent"
