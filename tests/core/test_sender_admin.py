"""Sender numbers (rule 10): adding and editing, registration, the banner, and the sending gate."""

from __future__ import annotations

import pytest

from core import events, senders
from core.actions import composing, messaging
from core.actions.senders import SenderForm, do_create_sender, do_set_unregistered_rule, do_update_sender
from core.conversation_view import conversation_view
from core.delivery import Dispatcher
from core.engine import ProviderBook
from core.errors import Conflict, PermissionDenied, ValidationError
from core.providers.base import InboundEvent, SendResult
from tests import factories as f


@pytest.fixture
def ws(db, make_user):
    f.always_open(db)
    return dict(admin=make_user("ada", "admin"), maria=make_user("maria"))


def form(**changes) -> SenderForm:
    base = dict(phone="(415) 555-0142", channel="sms", provider="simulator", label="Main line", rate_per_second=5)
    return SenderForm(**(base | changes))


def test_a_new_sender_is_stored_as_e164_audited_and_routes_webhooks_at_once(db, ws):
    book = ProviderBook(db, simulator_url="http://x", simulator_secret=b"s", demo=False)
    heard = []
    db.subscribe(events.SENDER_CHANGED, heard.append)
    event = InboundEvent("SM1", "sms", "+14158670001", "+14155550142", None, "hi", None)
    assert book.sender_for("twilio", event) is None  # the index is built without the new number
    sid = do_create_sender(db, ws["admin"], form(brand_status="approved", campaign_status="pending"))
    row = db.dicts(f"SELECT {senders.COLUMNS} FROM senders WHERE id = ?", [sid])[0]
    assert (row["phone"], row["label"], row["rate_per_second"], row["registration_status"]) == (
        "+14155550142",
        "Main line",
        5.0,
        "pending",
    )
    assert [e.payload["sender_id"] for e in heard] == [sid]
    assert book.sender_for("twilio", event)["id"] == sid  # sender.changed made the routing reload
    assert db.fetchall("SELECT actor_id, action FROM audit_log") == [(ws["admin"].id, "sender.created")]


@pytest.mark.parametrize(
    "changes, sentence",
    [
        (dict(phone="555"), "“555” is not a valid phone number."),
        (dict(label=" "), "Give the sender a display name"),
        (dict(rate_per_second=0), "between 0.1 and 1000 messages per second"),
        (dict(provider="carrier-pigeon"), "Choose a provider"),
        (dict(provider="whatsapp_cloud"), "The WhatsApp Cloud API sends WhatsApp only"),
        (dict(registration_kind="none"), "US numbers need 10DLC registration or toll-free verification"),
        (dict(channel="whatsapp", registration_kind="10dlc"), "A WhatsApp sender's registration"),
        (dict(brand_status="lost"), "Choose the 10DLC brand and campaign statuses."),
    ],
)
def test_bad_sender_input(db, ws, changes, sentence):
    with pytest.raises(ValidationError, match=sentence.replace("(", r"\(").replace(")", r"\)")):
        do_create_sender(db, ws["admin"], form(**changes))
    assert db.scalar("SELECT count(*) FROM senders") == 0


def test_the_same_number_twice_and_agents(db, ws):
    do_create_sender(db, ws["admin"], form())
    with pytest.raises(Conflict, match=r"\(415\) 555-0142 is already a sms sender"):
        do_create_sender(db, ws["admin"], form(label="Again"))
    with pytest.raises(PermissionDenied, match="Only an admin can manage sender numbers."):
        do_create_sender(db, ws["maria"], form(phone="+14155550143"))


@pytest.mark.parametrize(
    "kind, brand, campaign, status, overall",
    [
        ("10dlc", "approved", "approved", None, "registered"),
        ("10dlc", "approved", "pending", None, "pending"),
        ("10dlc", "approved", "suspended", None, "rejected"),
        ("10dlc", None, None, None, "unregistered"),
        ("toll_free", None, None, "verified", "verified"),
        ("toll_free", None, None, "pending", "pending"),
    ],
)
def test_registration_overall_status(db, ws, kind, brand, campaign, status, overall):
    sid = do_create_sender(
        db,
        ws["admin"],
        form(registration_kind=kind, brand_status=brand, campaign_status=campaign, registration_status=status),
    )
    assert db.scalar("SELECT registration_status FROM senders WHERE id = ?", [sid]) == overall


def test_the_banner_names_unregistered_us_senders_to_admins_only(db, ws):
    do_create_sender(db, ws["admin"], form(brand_status="approved", campaign_status="approved"))
    assert senders.banner(db, ws["admin"]) == []
    pending = do_create_sender(
        db, ws["admin"], form(phone="+18885550100", label="Toll-free", registration_kind="toll_free")
    )
    do_create_sender(db, ws["admin"], form(phone="+447911123456", label="UK", registration_kind="none"))
    assert [s["id"] for s in senders.banner(db, ws["admin"])] == [pending]
    assert senders.banner(db, ws["maria"]) == []
    assert senders.BANNER.startswith("URGENT! Please register the 10-digit business phone number")


def test_the_workspace_rule_blocks_unregistered_senders_everywhere(db, ws):
    sid = do_create_sender(db, ws["admin"], form(label="Front desk"))  # 10DLC not started
    conv = f.add_conversation(db, contact_id=f.add_contact(db, name="Ana"), sender_id=sid, owner_id=ws["maria"].id)
    queued = messaging.do_send(db, ws["maria"], conv, "Queued before the rule changed")
    state = composing.composer_state(db, ws["admin"], conv)
    assert (
        state.blocked_reason is None
        and "has no completed 10DLC brand and campaign registration" in state.sender_warning
    )

    do_set_unregistered_rule(db, ws["admin"], "block")
    state = composing.composer_state(db, ws["maria"], conv)
    assert state.blocked_reason.startswith("The sender Front desk cannot send until its US carrier registration")
    page = conversation_view(db, ws["maria"], conv).composer  # what the Conversation page lays out
    assert page.blocked_reason == state.blocked_reason and page.hard_block
    refused = messaging.do_send(db, ws["maria"], conv, "After")
    assert db.fetchone("SELECT status, error_reason FROM messages WHERE id = ?", [refused]) == (
        "not_sent",
        "Sender not registered (10DLC)",
    )

    class Never:
        def send(self, msg):
            raise AssertionError("an unregistered sender must not reach the provider")

    Dispatcher(db, lambda s: Never(), media_url=lambda t: None, status_callback_url=lambda p: None).step()
    assert db.fetchone("SELECT status, error_reason FROM messages WHERE id = ?", [queued]) == (
        "not_sent",
        "Sender not registered (10DLC)",
    )

    # Registration completed: the sender may send again.
    do_update_sender(
        db, ws["admin"], sid, form(label="Front desk", brand_status="approved", campaign_status="approved")
    )
    assert composing.composer_state(db, ws["maria"], conv).blocked_reason is None

    class Accepting:
        def send(self, msg):
            return SendResult("SM1", "sent")

    ok = messaging.do_send(db, ws["maria"], conv, "Registered now")
    Dispatcher(db, lambda s: Accepting(), media_url=lambda t: None, status_callback_url=lambda p: None).step()
    assert db.scalar("SELECT status FROM messages WHERE id = ?", [ok]) == "sent"
    assert [a for (a,) in db.fetchall("SELECT action FROM audit_log ORDER BY id")] == [
        "sender.created",
        "settings.changed",
        "sender.updated",
    ]


def test_a_sender_with_history_keeps_its_number_and_channel(db, ws):
    """Its conversations and messages were on that number and channel: changed, the history would show
    texts from a number that never sent them, and replies to the old number would find no sender."""
    sid = do_create_sender(db, ws["admin"], form(brand_status="approved", campaign_status="approved"))
    conv = f.add_conversation(db, contact_id=f.add_contact(db, name="Ana"), sender_id=sid, owner_id=ws["maria"].id)
    with pytest.raises(ValidationError, match="has messages, so its number and channel stay"):
        do_update_sender(
            db, ws["admin"], sid, form(phone="+14155550143", brand_status="approved", campaign_status="approved")
        )
    with pytest.raises(ValidationError, match="has messages, so its number and channel stay"):
        do_update_sender(
            db,
            ws["admin"],
            sid,
            form(channel="whatsapp", registration_kind="whatsapp", registration_status="approved"),
        )
    assert db.fetchone("SELECT phone, channel FROM senders WHERE id = ?", [sid]) == ("+14155550142", "sms")
    assert db.scalar("SELECT channel FROM conversations WHERE id = ?", [conv]) == "sms"
    # Everything else may still change.
    assert do_update_sender(
        db, ws["admin"], sid, form(label="Front desk", brand_status="approved", campaign_status="approved")
    )


def test_a_sender_without_history_may_fix_its_number(db, ws):
    sid = do_create_sender(db, ws["admin"], form(phone="+14155550144"))
    assert do_update_sender(db, ws["admin"], sid, form(phone="+14155550145"))
    assert db.scalar("SELECT phone FROM senders WHERE id = ?", [sid]) == "+14155550145"


def test_an_edit_from_a_stale_form_is_refused_and_changes_nothing(db, ws):
    approved = dict(brand_status="approved", campaign_status="approved")
    sid = do_create_sender(db, ws["admin"], form(label="Front desk", **approved))
    loaded = senders.list_senders(db, ws["admin"])[0]  # both admins' forms are filled from this
    do_update_sender(
        db, ws["admin"], sid, form(label="Front desk", brand_status="approved", campaign_status="suspended")
    )
    with pytest.raises(Conflict, match="Someone else saved Front desk while you were editing"):
        do_update_sender(db, ws["admin"], sid, form(label="Front desk", rate_per_second=2, **approved), expected=loaded)
    assert db.fetchone("SELECT campaign_status, rate_per_second FROM senders WHERE id = ?", [sid]) == ("suspended", 5.0)
    fresh = senders.list_senders(db, ws["admin"])[0]
    assert do_update_sender(
        db, ws["admin"], sid, form(label="Front desk", rate_per_second=2, **approved), expected=fresh
    )


def test_canadian_and_caribbean_numbers_are_not_us_numbers(db, ws):
    """+1 is the whole North American plan: a Toronto or Kingston long code is not a US number, so
    10DLC and toll-free verification do not apply to it and it is never flagged or blocked for them."""
    toronto = do_create_sender(
        db, ws["admin"], form(phone="+1 416 555 0123", label="Toronto", registration_kind="none")
    )
    kingston = do_create_sender(
        db, ws["admin"], form(phone="+1 876 555 0123", label="Kingston", registration_kind="none")
    )
    us = do_create_sender(db, ws["admin"], form(phone="+1 415 555 0150", label="San Francisco"))  # 10DLC not started
    assert [s["id"] for s in senders.banner(db, ws["admin"])] == [us]
    do_set_unregistered_rule(db, ws["admin"], "block")
    assert dict(db.fetchall("SELECT id, send_blocked FROM senders")) == {
        toronto: None,
        kingston: None,
        us: "Sender not registered (10DLC)",
    }
    # Puerto Rico is a US territory: its numbers are US numbers for the carriers.
    with pytest.raises(ValidationError, match="US numbers need 10DLC registration or toll-free verification"):
        do_create_sender(db, ws["admin"], form(phone="+1 787 555 0123", label="San Juan", registration_kind="none"))


def test_the_messages_waiting_to_go_from_a_sender_are_counted_for_admins_only(db, ws):
    from core import senders
    from core.actions import messaging
    from core.errors import PermissionDenied

    sid = f.add_sender(db, phone="+14155550188", label="Night line")
    other = f.add_sender(db, phone="+14155550189", label="Day line")
    contact = f.add_contact(db, phone="+14158679999")
    mine = f.add_conversation(db, contact_id=contact, sender_id=sid, owner_id=ws["maria"].id)
    theirs = f.add_conversation(db, contact_id=contact, sender_id=other, owner_id=ws["maria"].id)
    for conversation, text in ((mine, "One"), (mine, "Two"), (theirs, "Elsewhere")):
        messaging.do_send(db, ws["maria"], conversation, text)
    first = db.scalar("SELECT min(id) FROM outbox WHERE sender_id = ?", [sid])
    db.write(lambda tx: tx.execute("UPDATE outbox SET state = 'paused' WHERE id = ?", [first]))  # a paused campaign's
    assert senders.waiting_messages(db, ws["admin"], sid) == 2
    with pytest.raises(PermissionDenied, match="Only an admin can manage sender numbers."):
        senders.waiting_messages(db, ws["maria"], sid)
