"""Sending a campaign: bulk queuing through the outbox, schedules, pause/resume/cancel, bad input."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core import clock, events, settings
from core.actions import campaigns, messaging, optout, queued_campaigns
from core.actions.campaigns import _queue
from core.campaigns.audience import AudienceSpec
from core.delivery import Dispatcher
from core.errors import Conflict, PermissionDenied, ValidationError
from core.providers.base import ProviderError, SendResult
from core.providers.whatsapp_cloud import WhatsAppCloudProvider
from tests.core import campaign_workspace as cw
from tests.fakes.graph_server import FakeGraph


@pytest.fixture
def ws(db, make_user):
    return cw.build(db, make_user)


def messages(db, campaign_id) -> list[dict]:
    return db.dicts(
        "SELECT m.*, ct.phone, o.state, o.due_at FROM messages m JOIN contacts ct ON ct.id = m.contact_id "
        "LEFT JOIN outbox o ON o.message_id = m.id WHERE m.campaign_id = ? ORDER BY ct.phone",
        [campaign_id],
    )


class Accepting:
    def __init__(self):
        self.sent = []

    def send(self, msg):
        self.sent.append(msg)
        return SendResult(f"SM{msg.message_id}", "sent")


def dispatcher(db, provider) -> Dispatcher:
    return Dispatcher(db, lambda s: provider, media_url=lambda t: None, status_callback_url=lambda p: None)


def test_sending_queues_every_recipient_through_the_outbox_and_makes_no_conversation(db, ws):
    heard = []
    db.subscribe(events.CAMPAIGN_QUEUED, heard.append)
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    rows = messages(db, cid)
    assert [r["phone"] for r in rows] == ["+14158670001", "+14158670002", "+14158670003", "+447911123456"]
    assert {(r["status"], r["state"], r["direction"], r["author_id"], r["sender_id"]) for r in rows} == {
        ("queued", "pending", "out", ws["maria"].id, ws["sms"])
    }
    assert [r["conversation_id"] for r in rows] == [None, None, None, None]  # rule 1
    assert db.scalar("SELECT count(*) FROM conversations") == 0
    c = db.dicts("SELECT * FROM campaigns WHERE id = ?", [cid])[0]
    assert (c["status"], c["recipients"], c["excluded"], c["created_by"], c["template_id"]) == (
        "sending",
        4,
        2,
        ws["maria"].id,
        ws["recall"],
    )
    assert json.loads(c["audience"]) == {"kind": "tag", "tag": "recall"}
    assert sorted(db.fetchall("SELECT phone, reason FROM campaign_exclusions WHERE campaign_id = ?", [cid])) == [
        ("+14158670004", "opted_out"),
        ("+14158670005", "archived"),
    ]
    assert [(e.payload["campaign_id"], e.payload["count"]) for e in heard] == [(cid, 4)]
    audit = db.fetchall("SELECT actor_id, action, object_id FROM audit_log WHERE action LIKE 'campaign.%'")
    assert audit == [(ws["maria"].id, "campaign.queued", cid)]


def test_a_recipient_already_in_a_conversation_sees_the_campaign_message_in_it(db, ws):
    conv = cw.f.add_conversation(db, contact_id=ws["ben"], sender_id=ws["sms"], owner_id=ws["james"].id)
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    ben = next(r for r in messages(db, cid) if r["phone"] == "+14158670002")
    assert ben["conversation_id"] == conv
    c = db.dicts("SELECT * FROM conversations WHERE id = ?", [conv])[0]
    assert (c["message_count"], c["last_message_direction"]) == (2, "out")
    assert c["last_message_preview"] == "Hi Ben, your cleaning is due. Reply YES to book."


def test_a_csv_number_that_is_no_contact_yet_becomes_one(db, ws):
    cid = campaigns.do_send_campaign(
        db, ws["maria"], cw.draft(ws, audience=cw.csv_spec("phone\n+1 415 867 9999\n"), name="List")
    )
    row = db.dicts("SELECT phone, name, opted_out FROM contacts WHERE phone = '+14158679999'")
    assert row == [{"phone": "+14158679999", "name": None, "opted_out": False}]
    assert [r["body"] for r in messages(db, cid)] == ["Hi there, your cleaning is due. Reply YES to book."]


def test_scheduled_campaign_waits_for_its_time(db, ws):
    at = clock.utcnow().replace(microsecond=0) + dt.timedelta(days=2)
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws, send_at=at))
    assert db.scalar("SELECT status FROM campaigns WHERE id = ?", [cid]) == "scheduled"
    assert {(r["release_at"], r["due_at"]) for r in messages(db, cid)} == {(at, at)}
    assert dispatcher(db, Accepting()).step() is False  # nothing is due yet


def test_queued_campaign_goes_through_the_dispatcher(db, ws):
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    provider = Accepting()
    assert dispatcher(db, provider).step() is True
    assert sorted(m.to_number for m in provider.sent) == [
        "+14158670001",
        "+14158670002",
        "+14158670003",
        "+447911123456",
    ]
    assert {r["status"] for r in messages(db, cid)} == {"sent"}


def test_whatsapp_campaign_sends_each_recipient_their_own_parameters(db, ws):
    db.write(lambda tx: tx.execute("UPDATE senders SET provider = 'whatsapp_cloud' WHERE id = ?", [ws["wa"]]))
    for contact in ("ana", "ben"):
        cw.f.add_conversation(db, contact_id=ws[contact], sender_id=ws["wa"], owner_id=ws["maria"].id)
    import os

    os.environ.update(
        PARLEY_WHATSAPP_TOKEN="EAAtest-token", PARLEY_WHATSAPP_APP_SECRET="s", PARLEY_WHATSAPP_VERIFY_TOKEN="v"
    )
    try:
        cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws, sender_id=ws["wa"], template_id=ws["wa_recall"]))
    finally:
        for key in ("PARLEY_WHATSAPP_TOKEN", "PARLEY_WHATSAPP_APP_SECRET", "PARLEY_WHATSAPP_VERIFY_TOKEN"):
            os.environ.pop(key)
    with FakeGraph() as fake:
        fake.register_template("checkup_recall", body=1)
        dispatcher(db, WhatsAppCloudProvider(fake.access_token, "s", "v", base_url=fake.url)).step()
        sent = sorted((r.json["to"], r.json["template"]["components"][0]["parameters"][0]["text"]) for r in fake.sends)
    assert sent == [("+14158670001", "Ana"), ("+14158670002", "Ben")]
    assert {r["status"] for r in messages(db, cid)} == {"sending"}


def test_an_sms_campaigns_list_records_no_whatsapp_opt_in(db, ws):
    # Its "consent" column is consent to texts: Ben is still left out of a WhatsApp campaign after it.
    campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws, audience=cw.csv_spec("phone,consent\n+14158670002,yes\n")))
    assert db.scalar("SELECT whatsapp_opt_in_at FROM contacts WHERE id = ?", [ws["ben"]]) is None
    later = cw.draft(ws, sender_id=ws["wa"], template_id=ws["wa_recall"], audience=cw.csv_spec("phone\n+14158670002\n"))
    assert campaigns.check_campaign(db, ws["maria"], later).audience.counts == {"no_whatsapp_opt_in": 1}


def test_a_whatsapp_campaigns_list_records_the_opt_in_it_gives(db, ws, monkeypatch):
    monkeypatch.setenv("PARLEY_WHATSAPP_TOKEN", "EAAtest-token")
    monkeypatch.setenv("PARLEY_WHATSAPP_APP_SECRET", "s")
    monkeypatch.setenv("PARLEY_WHATSAPP_VERIFY_TOKEN", "v")
    db.write(lambda tx: tx.execute("UPDATE senders SET provider = 'whatsapp_cloud' WHERE id = ?", [ws["wa"]]))
    clock.freeze(dt.datetime(2026, 5, 4, 15, 0))
    spec = cw.csv_spec("phone,consent\n+14158670002,yes\n+14158670001,no\n")
    campaigns.do_send_campaign(
        db, ws["maria"], cw.draft(ws, sender_id=ws["wa"], template_id=ws["wa_recall"], audience=spec)
    )
    assert db.fetchall(
        "SELECT phone, whatsapp_opt_in_at FROM contacts WHERE id IN (?, ?) ORDER BY phone", [ws["ana"], ws["ben"]]
    ) == [("+14158670001", None), ("+14158670002", dt.datetime(2026, 5, 4, 15, 0))]


def test_someone_who_opts_out_while_the_preview_is_open_gets_nothing(db, ws):
    preview = campaigns.check_campaign(db, ws["maria"], cw.draft(ws))
    db.write(lambda tx: tx.execute("UPDATE contacts SET opted_out = TRUE WHERE id = ?", [ws["ben"]]))
    cid = db.write(_queue, ws["maria"], preview)
    assert [r["phone"] for r in messages(db, cid)] == ["+14158670001", "+14158670003", "+447911123456"]
    assert ("+14158670002", "opted_out") in db.fetchall(
        "SELECT phone, reason FROM campaign_exclusions WHERE campaign_id = ?", [cid]
    )


@pytest.mark.parametrize(
    "number, now_utc, due_utc",
    [
        # Idaho 208-320: Boise or northern Idaho. 14:00 UTC = 8:00 MDT = 7:00 PDT.
        ("+12083201234", dt.datetime(2025, 6, 10, 14, 0), dt.datetime(2025, 6, 10, 15, 0)),
        # An Australian mobile: Sydney to Perth, and the Cocos Islands (UTC+6:30). 22:00 UTC = 8:00 in Sydney.
        ("+61412345678", dt.datetime(2025, 6, 10, 22, 0), dt.datetime(2025, 6, 11, 1, 30)),
        # A toll-free number: anywhere in the US or Canada. 12:00 UTC = 8:00 in New York, 2:00 in Honolulu.
        ("+18005550100", dt.datetime(2025, 6, 10, 12, 0), dt.datetime(2025, 6, 10, 18, 0)),
    ],
)
def test_a_campaign_waits_for_quiet_hours_in_every_zone_the_number_may_be_in(db, ws, number, now_utc, due_utc):
    db.write(lambda tx: settings.put(tx, "quiet_hours", {"start": "08:00", "end": "21:00"}))  # business: always open
    clock.freeze(now_utc)
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws, audience=cw.csv_spec(f"phone\n{number}\n")))
    assert [(r["due_at"], r["release_at"], r["queued_reason"]) for r in messages(db, cid)] == [
        (due_utc, due_utc, "quiet_hours")
    ]


def test_a_contacts_own_zone_is_used_alone(db, ws):
    db.write(lambda tx: settings.put(tx, "quiet_hours", {"start": "08:00", "end": "21:00"}))
    db.write(
        lambda tx: tx.execute(
            "UPDATE contacts SET phone = '+12083201234', timezone = 'America/Boise' WHERE id = ?", [ws["ben"]]
        )
    )
    clock.freeze(dt.datetime(2025, 6, 10, 14, 0))  # 8:00 in Boise
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws, audience=cw.csv_spec("phone\n+12083201234\n")))
    assert [(r["due_at"], r["release_at"], r["queued_reason"]) for r in messages(db, cid)] == [
        (dt.datetime(2025, 6, 10, 14, 0), None, None)
    ]


# ---- pause, resume, cancel ----------------------------------------------------------------------------


def test_pause_holds_what_has_not_gone_and_resume_releases_it(db, ws):
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    assert queued_campaigns.do_pause(db, ws["maria"], cid) == 4
    assert {r["state"] for r in messages(db, cid)} == {"paused"}
    assert dispatcher(db, Accepting()).step() is False  # nothing goes while paused
    assert queued_campaigns.campaign_detail(db, ws["sam"], cid)["shown_status"] == "paused"
    with pytest.raises(Conflict, match="only a campaign that is sending or scheduled can be paused"):
        queued_campaigns.do_pause(db, ws["maria"], cid)
    assert queued_campaigns.do_resume(db, ws["admin"], cid) == 4
    assert {r["state"] for r in messages(db, cid)} == {"pending"}
    assert dispatcher(db, Accepting()).step() is True
    assert queued_campaigns.campaign_detail(db, ws["sam"], cid)["shown_status"] == "sent"
    assert [a for (a,) in db.fetchall("SELECT action FROM audit_log WHERE object_id = ? ORDER BY id", [cid])] == [
        "campaign.queued",
        "campaign.paused",
        "campaign.resumed",
    ]


class RefusingOptedOut:
    """The provider refuses the send: the person replied STOP at its end (Twilio 21610)."""

    def send(self, msg):
        raise ProviderError("Attempt to send to unsubscribed recipient", retryable=False, code="21610", http_status=400)


def _stop_by_keyword(db, ws):
    cw.reply(db, ws["sms"], "+14158670001", "STOP")


def _stop_by_agent(db, ws):
    cw.reply(db, ws["sms"], "+14158670001", "please stop texting me")  # flagged, then confirmed
    conv = db.scalar("SELECT id FROM conversations WHERE contact_id = ?", [ws["ana"]])
    optout.do_confirm_opt_out(db, ws["maria"], conv)


def _stop_by_provider(db, ws):
    cw.reply(db, ws["sms"], "+14158670001", "Who is this?")
    conv = db.scalar("SELECT id FROM conversations WHERE contact_id = ?", [ws["ana"]])
    messaging.do_send(db, ws["maria"], conv, "Your dental office")
    dispatcher(db, RefusingOptedOut()).step()  # only the direct message is due: the campaign is paused


@pytest.mark.parametrize("stop", [_stop_by_keyword, _stop_by_agent, _stop_by_provider])
def test_an_opt_out_while_a_campaign_is_paused_stops_its_message_for_good(db, ws, stop):
    # Every opt-out path (rule 2) stops a paused campaign row as the manual opt-out list does: it
    # is not sent on resume, not even after the person opted back in meanwhile.
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    queued_campaigns.do_pause(db, ws["maria"], cid)
    stop(db, ws)
    assert db.scalar("SELECT opted_out FROM contacts WHERE id = ?", [ws["ana"]]) is True
    ana = [r for r in messages(db, cid) if r["phone"] == "+14158670001"]
    assert [(r["status"], r["error_reason"], r["state"]) for r in ana] == [
        ("not_sent", "Contact opted out", "cancelled")
    ]
    cw.reply(db, ws["sms"], "+14158670001", "START")
    assert queued_campaigns.do_resume(db, ws["maria"], cid) == 3
    provider = Accepting()
    dispatcher(db, provider).step()
    assert sorted(m.to_number for m in provider.sent if m.body.startswith("Hi ")) == [
        "+14158670002",
        "+14158670003",
        "+447911123456",
    ]
    assert [(r["status"], r["state"]) for r in messages(db, cid) if r["phone"] == "+14158670001"] == [
        ("not_sent", "cancelled")
    ]


def test_resume_never_releases_a_message_that_is_no_longer_queued(db, ws):
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    queued_campaigns.do_pause(db, ws["maria"], cid)
    # A row left paused under a message recorded not sent (as an opt-out once left it).
    db.write(
        lambda tx: tx.execute(
            "UPDATE messages SET status = 'not_sent', error_reason = 'Contact opted out' "
            "WHERE campaign_id = ? AND contact_id = ?",
            [cid, ws["ana"]],
        )
    )
    assert queued_campaigns.do_resume(db, ws["maria"], cid) == 3
    provider = Accepting()
    dispatcher(db, provider).step()
    assert sorted(m.to_number for m in provider.sent) == ["+14158670002", "+14158670003", "+447911123456"]
    assert [(r["status"], r["state"]) for r in messages(db, cid) if r["phone"] == "+14158670001"] == [
        ("not_sent", "cancelled")
    ]


def test_the_dispatcher_never_sends_a_due_row_whose_message_is_no_longer_queued(db, ws):
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    db.write(
        lambda tx: tx.execute(
            "UPDATE messages SET status = 'not_sent', error_reason = 'Contact opted out' "
            "WHERE campaign_id = ? AND contact_id = ?",
            [cid, ws["ana"]],
        )
    )
    provider = Accepting()
    dispatcher(db, provider).step()
    assert sorted(m.to_number for m in provider.sent) == ["+14158670002", "+14158670003", "+447911123456"]
    assert [
        (r["status"], r["error_reason"], r["state"]) for r in messages(db, cid) if r["phone"] == "+14158670001"
    ] == [("not_sent", "Contact opted out", "cancelled")]


def test_cancel_records_what_has_not_gone_as_not_sent(db, ws):
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    assert queued_campaigns.do_cancel(db, ws["maria"], cid) == 4
    assert {(r["status"], r["error_reason"], r["state"]) for r in messages(db, cid)} == {
        ("not_sent", "Campaign cancelled", "cancelled")
    }


def test_a_cancelled_campaigns_messages_are_failures_live_and_rebuilt(db, ws):
    from core import reporting_backfill

    clock.freeze(dt.datetime(2026, 3, 10, 11, 0))
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    clock.freeze(dt.datetime(2026, 3, 10, 12, 0))
    queued_campaigns.do_cancel(db, ws["maria"], cid)
    failed = (
        "SELECT occurred_at, campaign_id, agent_id, status, error_reason FROM report_facts "
        "WHERE kind = 'message_failed' ORDER BY ALL"
    )
    expected = [(dt.datetime(2026, 3, 10, 12, 0), cid, ws["maria"].id, "not_sent", "Campaign cancelled")] * 4
    assert db.fetchall(failed) == expected
    db.write(reporting_backfill.rebuild)
    assert db.fetchall(failed) == expected


def test_only_the_creator_or_an_admin_steers_a_campaign(db, ws):
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    with pytest.raises(PermissionDenied, match="creator or an admin"):
        queued_campaigns.do_pause(db, ws["james"], cid)
    with pytest.raises(PermissionDenied, match="Supervisors"):
        queued_campaigns.do_cancel(db, ws["sam"], cid)
    assert queued_campaigns.do_pause(db, ws["admin"], cid) == 4


def _demote(db, user, role=None, active=True):
    """An admin changes ``user`` after their page drew: the page still holds the old ``User``."""
    db.write(
        lambda tx: tx.execute(
            "UPDATE users SET role = coalesce(?, role), active = ? WHERE id = ?", [role, active, user.id]
        )
    )


@pytest.mark.parametrize(
    "change, sentence",
    [
        (dict(role="supervisor"), "Your role changed a moment ago: you can no longer steer campaigns; nothing was"),
        (dict(active=False), "Your account was disabled a moment ago; nothing was changed."),
    ],
)
def test_a_creator_demoted_or_disabled_since_the_page_drew_steers_nothing(db, ws, change, sentence):
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    _demote(db, ws["maria"], **change)
    for act in (queued_campaigns.do_pause, queued_campaigns.do_cancel):
        with pytest.raises(PermissionDenied, match=sentence):
            act(db, ws["maria"], cid)
    assert {(r["status"], r["state"]) for r in messages(db, cid)} == {("queued", "pending")}
    assert db.scalar("SELECT status FROM campaigns WHERE id = ?", [cid]) == "sending"


def test_an_admin_made_an_agent_since_the_page_drew_steers_only_their_own(db, ws):
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    _demote(db, ws["admin"], role="standard")
    with pytest.raises(PermissionDenied, match="Only the campaign's creator or an admin can pause it."):
        queued_campaigns.do_pause(db, ws["admin"], cid)
    assert db.scalar("SELECT status FROM campaigns WHERE id = ?", [cid]) == "sending"


def test_a_paused_campaign_is_not_resumed_by_a_creator_disabled_since(db, ws):
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    assert queued_campaigns.do_pause(db, ws["maria"], cid) == 4
    _demote(db, ws["maria"], active=False)
    with pytest.raises(PermissionDenied, match="Your account was disabled a moment ago; nothing was changed."):
        queued_campaigns.do_resume(db, ws["maria"], cid)
    assert {r["state"] for r in messages(db, cid)} == {"paused"}


@pytest.mark.parametrize(
    "change, sentence",
    [
        (dict(role="supervisor"), "Your role changed a moment ago: you can no longer send campaigns; nothing was"),
        (dict(active=False), "Your account was disabled a moment ago; nothing was changed."),
    ],
)
def test_an_agent_demoted_or_disabled_since_the_page_drew_sends_no_campaign(db, ws, change, sentence):
    _demote(db, ws["maria"], **change)
    with pytest.raises(PermissionDenied, match=sentence):
        campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    assert db.scalar("SELECT count(*) FROM messages") == 0
    assert db.scalar("SELECT count(*) FROM campaigns") == 0


def test_replies_owned_by_an_admin_choice_need_the_sender_to_be_admin_still(db, ws):
    _demote(db, ws["admin"], role="standard")
    with pytest.raises(PermissionDenied, match="Your role changed a moment ago: you can no longer choose who owns"):
        campaigns.do_send_campaign(
            db, ws["admin"], cw.draft(ws, reply_owner_mode="user", reply_owner_id=ws["james"].id)
        )
    assert db.scalar("SELECT count(*) FROM campaigns") == 0


# ---- bad input: one sentence each, nothing sent --------------------------------------------------------


def nothing_sent(db) -> bool:
    return db.scalar("SELECT count(*) FROM messages") == 0 and db.scalar("SELECT count(*) FROM campaigns") == 0


def test_empty_audience(db, ws):
    with pytest.raises(ValidationError, match="Nobody would receive this campaign: the audience is empty."):
        campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws, audience=AudienceSpec("tag", tag="nobody")))
    cw.tag(db, {ws["dora"]: "gone"})
    with pytest.raises(ValidationError, match=r"all 1 are excluded \(1 opted out\)"):
        campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws, audience=AudienceSpec("tag", tag="gone")))
    assert nothing_sent(db)


def test_schedule_in_the_past(db, ws):
    with pytest.raises(ValidationError, match="That time has passed"):
        campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws, send_at=clock.utcnow() - dt.timedelta(hours=1)))
    assert nothing_sent(db)


def test_a_csv_of_garbage(db, ws):
    garbage = "what,ever\nhello,world\n12,34\n\x07bell,x\n"
    with pytest.raises(ValidationError, match=r"all 3 are excluded \(3 not a valid phone number\)"):
        campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws, audience=cw.csv_spec(garbage)))
    with pytest.raises(ValidationError, match="not a CSV"):
        cw.csv_spec("PK\x03\x04 a zip file")
    assert nothing_sent(db)


def test_a_csv_of_a_million_rows_is_refused_before_it_is_parsed(db, ws):
    import time

    from core.campaigns.audience import read_csv_audience

    data = b"phone\n" + b"".join(b"+1415%07d\n" % i for i in range(1_000_000))
    started = time.perf_counter()
    with pytest.raises(ValidationError, match="That file has 1,000,001 lines; a campaign goes to at most 200,000"):
        read_csv_audience(data, "million.csv")
    assert time.perf_counter() - started < 1.0  # counted, not parsed
    assert nothing_sent(db)


def test_a_sender_without_credentials(db, ws, monkeypatch):
    for key in ("PARLEY_TWILIO_ACCOUNT_SID", "PARLEY_TWILIO_AUTH_TOKEN", "PARLEY_TWILIO_API_KEY_SID"):
        monkeypatch.delenv(key, raising=False)
    db.write(lambda tx: tx.execute("UPDATE senders SET provider = 'twilio' WHERE id = ?", [ws["sms"]]))
    with pytest.raises(ValidationError, match="Front desk SMS cannot send yet: Twilio is not configured"):
        campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    assert nothing_sent(db)


def test_templates_that_cannot_make_a_campaign(db, ws):
    conversation = cw.f.add_template(db, name="Directions", channel=None, body="We are at 120 Main St.")
    with pytest.raises(ValidationError, match="is a conversation template"):
        campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws, template_id=conversation, sources={}))
    db.write(lambda tx: tx.execute("UPDATE templates SET approval_status = 'pending' WHERE id = ?", [ws["wa_recall"]]))
    with pytest.raises(
        ValidationError, match="registered template WhatsApp has approved; “Check-up recall” is pending"
    ):
        campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws, sender_id=ws["wa"], template_id=ws["wa_recall"]))
    with pytest.raises(ValidationError, match="is for SMS"):
        campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws, sender_id=ws["wa"]))
    assert nothing_sent(db)


def test_who_may_send_and_choose_the_reply_owner(db, ws):
    with pytest.raises(PermissionDenied, match="Supervisors can follow campaigns but cannot send them."):
        campaigns.do_send_campaign(db, ws["sam"], cw.draft(ws))
    with pytest.raises(PermissionDenied, match="Only an admin can choose who owns a campaign's replies."):
        campaigns.do_send_campaign(
            db, ws["maria"], cw.draft(ws, reply_owner_mode="user", reply_owner_id=ws["james"].id)
        )
    with pytest.raises(ValidationError, match="Replies go to an active agent or admin"):
        campaigns.do_send_campaign(db, ws["admin"], cw.draft(ws, reply_owner_mode="user", reply_owner_id=ws["sam"].id))
    assert nothing_sent(db)
