"""Business hours, quiet hours and the automatic texts; changing hours re-times the queue (rule 3)."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock, settings
from core.actions import campaigns, messaging
from core.actions.inbound import queue_system_reply
from core.actions.workspace import do_save_hours, do_save_texts
from core.errors import PermissionDenied, ValidationError
from tests import factories as f
from tests.core import campaign_workspace as cw

WEEKDAYS_9_TO_5 = {d: [("09:00", "17:00")] for d in range(5)}
SATURDAY_NOON = dt.datetime(2026, 3, 14, 16, 0)  # 12:00 in New York (EDT, UTC-4)
MONDAY_9AM = dt.datetime(2026, 3, 16, 13, 0)  # 9:00 in New York


@pytest.fixture
def ws(db, make_user):
    clock.freeze(SATURDAY_NOON)
    admin = make_user("ada", "admin")
    maria = make_user("maria")
    sender = f.add_sender(db)
    # A New York number: its quiet hours (8:00–21:00) are the business's own clock.
    contact = f.add_contact(db, phone="+12125550123", name="Ana")
    conv = f.add_conversation(db, contact_id=contact, sender_id=sender, owner_id=maria.id)
    save(db, admin, WEEKDAYS_9_TO_5)
    return dict(admin=admin, maria=maria, sender=sender, contact=contact, conv=conv)


def save(db, admin, weekly, *, quiet=("08:00", "21:00"), holidays=(), timezone="America/New_York") -> int:
    return do_save_hours(
        db,
        admin,
        timezone=timezone,
        weekly=weekly,
        holidays=list(holidays),
        quiet_start=quiet[0],
        quiet_end=quiet[1],
    )


def due(db, message_id):
    return db.fetchone(
        "SELECT o.due_at, m.release_at FROM outbox o JOIN messages m ON m.id = o.message_id WHERE m.id = ?",
        [message_id],
    )


def test_a_message_written_on_saturday_waits_for_monday_then_goes_when_hours_open_now(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "See you soon")
    assert due(db, mid) == (MONDAY_9AM, MONDAY_9AM)
    moved = save(db, ws["admin"], {d: [("08:00", "20:00")] for d in range(7)})  # open on Saturdays now
    assert moved == 1
    assert due(db, mid) == (SATURDAY_NOON, None)  # goes now, no longer "queued until"


def test_narrower_hours_hold_what_was_due(db, ws):
    save(db, ws["admin"], {d: [("08:00", "20:00")] for d in range(7)})
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "Now")
    assert due(db, mid) == (SATURDAY_NOON, None)
    save(db, ws["admin"], WEEKDAYS_9_TO_5, holidays=["2026-03-16"])  # and Monday is a holiday
    tuesday_9am = dt.datetime(2026, 3, 17, 13, 0)
    assert due(db, mid) == (tuesday_9am, tuesday_9am)
    assert db.scalar("SELECT queued_reason FROM messages WHERE id = ?", [mid]) == "business_hours"


def test_quiet_hours_are_recipients_own_and_re_time_too(db, ws):
    la = f.add_contact(db, phone="+14158670001", name="Leo")  # San Francisco: 3 hours behind
    conv = f.add_conversation(db, contact_id=la, sender_id=ws["sender"], owner_id=ws["maria"].id)
    mid = messaging.do_send(db, ws["maria"], conv, "Morning!")
    assert due(db, mid)[0] == dt.datetime(2026, 3, 16, 15, 0)  # 8:00 in San Francisco
    save(db, ws["admin"], WEEKDAYS_9_TO_5, quiet=("10:00", "20:00"))  # stricter quiet hours
    assert due(db, mid)[0] == dt.datetime(2026, 3, 16, 17, 0)  # 10:00 in San Francisco


def test_automatic_replies_retries_and_campaign_times_keep_their_own_rules(db, ws):
    help_reply = db.write(lambda tx: queue_system_reply(tx, ws["conv"], "Help text", ws["maria"].id))
    retry = messaging.do_send(db, ws["maria"], ws["conv"], "Retried")
    backoff = dt.datetime(2026, 3, 20, 10, 0)
    db.write(lambda tx: tx.execute("UPDATE outbox SET attempts = 2, due_at = ? WHERE message_id = ?", [backoff, retry]))
    cw.tag(db, {ws["contact"]: "recall"})
    template = f.add_template(db, name="Recall", kind="campaign", channel="sms", body="Hi {{first_name}}, recall time.")
    from core.campaigns.audience import AudienceSpec, VariableSource

    wednesday = dt.datetime(2026, 3, 18, 14, 0)
    cid = campaigns.do_send_campaign(
        db,
        ws["maria"],
        campaigns.CampaignDraft(
            name="Recall",
            sender_id=ws["sender"],
            template_id=template,
            audience=AudienceSpec("tag", tag="recall"),
            sources={"first_name": VariableSource("field", "first_name")},
            send_at=wednesday,
        ),
    )
    campaign_message = db.scalar("SELECT id FROM messages WHERE campaign_id = ?", [cid])
    save(db, ws["admin"], {d: [("00:00", "24:00")] for d in range(7)}, quiet=("00:00", "24:00"))
    assert due(db, help_reply) == (SATURDAY_NOON, None)  # untouched: it answers the customer
    assert due(db, retry) == (backoff, backoff)  # keeps its back-off
    assert due(db, campaign_message) == (wednesday, wednesday)  # never before its chosen time


@pytest.mark.parametrize(
    "weekly, timezone, holidays, quiet, sentence",
    [
        ({0: [("17:00", "09:00")]}, "America/New_York", [], ("08:00", "21:00"), "Monday's hours must close after"),
        ({0: [("9am", "17:00")]}, "America/New_York", [], ("08:00", "21:00"), "“9am” is not a time for Monday"),
        (WEEKDAYS_9_TO_5, "Mars/Olympus", [], ("08:00", "21:00"), "“Mars/Olympus” is not a known time zone."),
        (WEEKDAYS_9_TO_5, "America/New_York", ["next friday"], ("08:00", "21:00"), "“next friday” is not a date"),
        (WEEKDAYS_9_TO_5, "America/New_York", [], ("21:00", "08:00"), "allowed hours must end after they start"),
        ({}, "America/New_York", [], ("08:00", "21:00"), "Business hours are never open in the next 30 days"),
        (
            {d: [("01:00", "05:00")] for d in range(7)},
            "America/New_York",
            [],
            ("08:00", "21:00"),
            "never overlap the recipient's allowed hours",
        ),
    ],
)
def test_hours_that_cannot_work_are_refused_and_nothing_changes(db, ws, weekly, timezone, holidays, quiet, sentence):
    before = settings.get(db, "business_hours")
    with pytest.raises(ValidationError, match=sentence):
        save(db, ws["admin"], weekly, quiet=quiet, holidays=holidays, timezone=timezone)
    assert settings.get(db, "business_hours") == before


def test_saving_hours_is_audited_with_before_and_after(db, ws):
    save(db, ws["admin"], {d: [("08:00", "18:00")] for d in range(5)})
    detail = db.fetchall("SELECT detail FROM audit_log WHERE action = 'settings.changed' ORDER BY id")[-1][0]
    assert '"keys": ["business_hours"]' in detail and '"08:00", "18:00"' in detail and '"09:00", "17:00"' in detail
    with pytest.raises(PermissionDenied):
        save(db, ws["maria"], WEEKDAYS_9_TO_5)


def test_the_automatic_texts(db, ws):
    changed = do_save_texts(
        db,
        ws["admin"],
        {
            "help_reply": "Brightside Dental: help at (555) 010-0100. Msg & data rates may apply. Reply STOP to opt out.",
            "optout_confirmation": "You are unsubscribed. Reply START to resubscribe.",
        },
    )
    assert changed == ["help_reply", "optout_confirmation"]
    assert settings.get(db, "optout_confirmation") == "You are unsubscribed. Reply START to resubscribe."
    with pytest.raises(ValidationError, match="The HELP reply must tell people how to opt out"):
        do_save_texts(db, ws["admin"], {"help_reply": "Call us."})
    with pytest.raises(ValidationError, match="The opt-in confirmation cannot be empty"):
        do_save_texts(db, ws["admin"], {"optin_confirmation": "  "})
    with pytest.raises(PermissionDenied):
        do_save_texts(db, ws["maria"], {"optin_confirmation": "Hi"})
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'settings.changed'") == 2  # hours + these


def test_texts_from_a_stale_form_are_refused_and_change_nothing(db, ws):
    from core.actions.workspace import current
    from core.errors import Conflict

    loaded = current(db, ws["admin"])  # both admins' forms are filled from this
    do_save_texts(db, ws["admin"], {"optout_confirmation": "Unsubscribed: no more texts from us."}, expected=loaded)
    with pytest.raises(Conflict, match="Someone else saved the automatic texts while you were editing"):
        do_save_texts(db, ws["admin"], {"optin_confirmation": "Welcome back. Reply STOP to opt out."}, expected=loaded)
    assert settings.get(db, "optin_confirmation") == loaded["optin_confirmation"]
    assert settings.get(db, "optout_confirmation") == "Unsubscribed: no more texts from us."
