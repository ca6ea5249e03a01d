"""Provider setup: credentials present without their secrets, the webhook URLs, a test message."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock, provider_setup
from core.errors import PermissionDenied, SendingBlocked
from core.providers.base import SendResult
from core.providers.twilio import TwilioProvider
from tests import factories as f
from tests.fakes.twilio_server import FakeTwilio

SID = "AC" + "1234abcd" * 4
TOKEN = "very-secret-auth-token"
GRAPH_TOKEN = "EAA-very-secret-graph-token"


@pytest.fixture
def ws(db, make_user):
    f.always_open(db)
    return dict(
        admin=make_user("ada", "admin"),
        maria=make_user("maria"),
        twilio=f.add_sender(db, provider="twilio", phone="+14155550100", label="Twilio SMS"),
    )


def test_what_is_set_is_shown_without_any_secret(db, ws):
    env = {
        "PARLEY_TWILIO_ACCOUNT_SID": SID,
        "PARLEY_TWILIO_AUTH_TOKEN": TOKEN,
        "PARLEY_WHATSAPP_TOKEN": GRAPH_TOKEN,
        "PARLEY_WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
    }
    found = provider_setup.overview(
        db, ws["admin"], public_url="https://parley.example.com", local_url="http://127.0.0.1:8501", env=env, secrets={}
    )
    twilio, whatsapp = found
    shown = {c.label: c.shown for c in twilio.credentials}
    assert shown["Account SID"] == "••••••••••••••••••••••••••••••abcd" and shown["Auth Token"] == "set"
    assert shown["API key secret"] == "missing"
    assert (twilio.ready, twilio.webhook_url, twilio.senders) == (True, "https://parley.example.com/webhooks/twilio", 1)
    assert whatsapp.webhook_url == "https://parley.example.com/webhooks/whatsapp"
    assert not whatsapp.ready
    assert whatsapp.problem == (
        "WhatsApp Cloud API is not configured: set PARLEY_WHATSAPP_APP_SECRET and PARLEY_WHATSAPP_VERIFY_TOKEN."
    )
    everything = repr(found)
    assert TOKEN not in everything and GRAPH_TOKEN not in everything and SID not in everything
    with pytest.raises(PermissionDenied):
        provider_setup.overview(db, ws["maria"], public_url=None, local_url="http://x", env=env, secrets={})


def test_without_a_public_address_the_urls_are_local(db, ws):
    found = provider_setup.overview(
        db, ws["admin"], public_url=None, local_url="http://127.0.0.1:8501", env={}, secrets={}
    )
    assert [p.webhook_url for p in found] == [
        "http://127.0.0.1:8501/webhooks/twilio",
        "http://127.0.0.1:8501/webhooks/whatsapp",
    ]


@pytest.fixture
def twilio_env(monkeypatch):
    monkeypatch.setenv("PARLEY_TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("PARLEY_TWILIO_AUTH_TOKEN", TOKEN)


def test_a_test_message_reports_what_twilio_answered_and_is_recorded(db, ws, twilio_env):
    with FakeTwilio(account_sid=SID, auth_token=TOKEN) as fake:
        provider = TwilioProvider(SID, TOKEN, base_url=fake.url)
        outcome = provider_setup.do_send_test_message(
            db, ws["admin"], ws["twilio"], "(415) 867-0001", "Parley test", lambda sender: provider
        )
        assert fake.sends[0].value("Body") == "Parley test" and fake.sends[0].value("To") == "+14158670001"
    assert outcome.ok and outcome.provider_message_id.startswith("SM")
    assert outcome.sentence == f"Twilio accepted it: message id {outcome.provider_message_id}, status “sending”."
    row = db.dicts("SELECT * FROM messages")[0]
    assert (row["provider_message_id"], row["author_id"], row["conversation_id"], row["body"]) == (
        outcome.provider_message_id,
        ws["admin"].id,
        None,
        "Parley test",
    )
    assert db.fetchall("SELECT action FROM audit_log") == [("sender.tested",)]


def test_a_refusal_is_reported_with_twilios_code_and_words(db, ws, twilio_env):
    with FakeTwilio(account_sid=SID, auth_token=TOKEN) as fake:
        fake.script(400, FakeTwilio.error(21211, "The 'To' number +14158670001 is not a valid phone number."))
        provider = TwilioProvider(SID, TOKEN, base_url=fake.url)
        outcome = provider_setup.do_send_test_message(
            db, ws["admin"], ws["twilio"], "+14158670001", "Parley test", lambda sender: provider
        )
    assert not outcome.ok and outcome.code == "21211"
    assert outcome.sentence.startswith("Twilio refused it (error 21211): The 'To' number")
    assert db.scalar("SELECT count(*) FROM messages") == 0
    assert db.fetchall("SELECT action FROM audit_log") == [("sender.test_failed",)]


def test_a_sender_with_no_credentials(db, ws, monkeypatch):
    for key in ("PARLEY_TWILIO_ACCOUNT_SID", "PARLEY_TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(SendingBlocked, match="Twilio is not configured: set PARLEY_TWILIO_ACCOUNT_SID"):
        provider_setup.do_send_test_message(db, ws["admin"], ws["twilio"], "+14158670001", "x", lambda s: None)


def test_the_rules_still_hold_for_a_test(db, ws, twilio_env):
    f.add_contact(db, phone="+14158670009", opted_out=True)
    with pytest.raises(SendingBlocked, match=r"\(415\) 867-0009 has opted out"):
        provider_setup.do_send_test_message(db, ws["admin"], ws["twilio"], "+14158670009", "x", lambda s: None)
    with pytest.raises(PermissionDenied):
        provider_setup.do_send_test_message(db, ws["maria"], ws["twilio"], "+14158670001", "x", lambda s: None)


class Recording:
    def __init__(self):
        self.sends = []

    def send(self, message):
        self.sends.append(message)
        return SendResult("SMTEST", "sent")


def _after_the_check(monkeypatch, change):
    original = provider_setup.check_test_message

    def checked_then_changed(*args, **kwargs):
        result = original(*args, **kwargs)
        change()
        return result

    monkeypatch.setattr(provider_setup, "check_test_message", checked_then_changed)


def test_a_stop_between_the_check_and_the_send_sends_nothing(db, ws, twilio_env, monkeypatch):
    contact = f.add_contact(db, phone="+14158670010")
    _after_the_check(
        monkeypatch,
        lambda: db.write(lambda tx: tx.execute("UPDATE contacts SET opted_out = TRUE WHERE id = ?", [contact])),
    )
    provider = Recording()
    with pytest.raises(SendingBlocked, match=r"\(415\) 867-0010 has opted out"):
        provider_setup.do_send_test_message(db, ws["admin"], ws["twilio"], "+14158670010", "x", lambda s: provider)
    assert provider.sends == []
    assert db.scalar("SELECT count(*) FROM messages") == 0


def test_a_sender_disabled_between_the_check_and_the_send_sends_nothing(db, ws, twilio_env, monkeypatch):
    _after_the_check(
        monkeypatch,
        lambda: db.write(lambda tx: tx.execute("UPDATE senders SET enabled = FALSE WHERE id = ?", [ws["twilio"]])),
    )
    provider = Recording()
    with pytest.raises(SendingBlocked, match="Twilio SMS is disabled"):
        provider_setup.do_send_test_message(db, ws["admin"], ws["twilio"], "+14158670011", "x", lambda s: provider)
    assert provider.sends == []


MONDAY_3AM = dt.datetime(2026, 12, 7, 3, 0)  # UTC


def test_a_test_message_is_refused_outside_business_hours_with_when_it_could_go(db, ws, twilio_env):
    clock.freeze(MONDAY_3AM)
    f.set_hours(db, weekly={"0": [["09:00", "17:00"]]})
    provider = Recording()
    with pytest.raises(SendingBlocked) as refused:
        provider_setup.do_send_test_message(db, ws["admin"], ws["twilio"], "+14158670012", "x", lambda s: provider)
    assert str(refused.value) == (
        "Parley sends nothing now (outside business hours), test messages included: try again after 9:00 AM."
    )
    assert provider.sends == [] and db.scalar("SELECT count(*) FROM messages") == 0


def test_a_test_message_is_refused_in_the_recipients_quiet_hours(db, ws, twilio_env):
    clock.freeze(dt.datetime(2026, 12, 7, 10, 0))  # 5:00 AM in New York
    f.set_hours(db, weekly={str(d): [["00:00", "24:00"]] for d in range(7)}, quiet=("08:00", "21:00"))
    f.add_contact(db, phone="+14158670013", timezone="America/New_York")
    provider = Recording()
    with pytest.raises(SendingBlocked) as refused:
        provider_setup.do_send_test_message(db, ws["admin"], ws["twilio"], "+14158670013", "x", lambda s: provider)
    assert str(refused.value) == (
        "Parley sends nothing now (the recipient's quiet hours), test messages included: try again after 1:00 PM."
    )
    assert provider.sends == []


def test_hours_that_close_between_the_check_and_the_send_send_nothing(db, ws, twilio_env, monkeypatch):
    clock.freeze(MONDAY_3AM)
    _after_the_check(monkeypatch, lambda: f.set_hours(db, weekly={"0": [["09:00", "17:00"]]}))
    provider = Recording()
    with pytest.raises(SendingBlocked, match="outside business hours"):
        provider_setup.do_send_test_message(db, ws["admin"], ws["twilio"], "+14158670014", "x", lambda s: provider)
    assert provider.sends == [] and db.scalar("SELECT count(*) FROM messages") == 0
