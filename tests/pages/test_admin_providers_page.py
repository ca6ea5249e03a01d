"""Provider setup (admins): credentials without secrets, webhook URLs, a test message."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock
from tests import factories as f
from tests.pages.admin_page import errors, plain

PAGE = "pages/admin_providers.py"
pytestmark = pytest.mark.usefixtures("navigation_only")
SECRET = "a-very-secret-twilio-token"


def test_credentials_are_shown_as_set_or_missing_never_their_value(app_as, monkeypatch):
    monkeypatch.setenv("PARLEY_TWILIO_ACCOUNT_SID", "AC" + "9f" * 16)
    monkeypatch.setenv("PARLEY_TWILIO_AUTH_TOKEN", SECRET)
    at = app_as("admin", PAGE)
    assert not errors(at)
    twilio = at.dataframe[0].value
    values = dict(zip(twilio["Setting"], twilio["Value"]))
    assert (
        values["Auth Token"] == "set"
        and values["Account SID"].endswith("9f9f")
        and values["API key secret"] == "missing"
    )
    everything = " ".join(str(e.value) for e in (*at.markdown, *at.caption, *at.code, *at.dataframe))
    assert SECRET not in everything
    assert [c.value for c in at.code] == ["http://127.0.0.1:0/webhooks/twilio", "http://127.0.0.1:0/webhooks/whatsapp"]
    assert any("PARLEY_PUBLIC_URL is not set" in w.value for w in at.warning)


def test_a_test_message_through_the_simulator_reports_its_answer(app_as, demo_db):
    f.always_open(demo_db)  # the demo keeps a dental practice's hours; this test may run at night
    at = app_as("admin", PAGE)
    at.text_input(key="providers.to").input("+1 415 867 0042").run()
    at.button(key="providers.send").click().run()
    assert not errors(at)
    [ok] = [plain(s.value) for s in at.success]
    assert ok.startswith("Built-in simulator accepted it: message id SIM") and ok.endswith("status “sending”.")
    assert (
        demo_db.scalar(
            "SELECT count(*) FROM messages WHERE body = 'Parley test message' AND provider_message_id LIKE 'SIM%'"
        )
        == 1
    )


def test_a_test_message_outside_business_hours_says_when_it_could_go(app_as, demo_db):
    clock.freeze(dt.datetime(2026, 12, 7, 3, 0))  # a Monday, 3:00 AM UTC
    f.set_hours(demo_db, weekly={"0": [["09:00", "17:00"]]})
    at = app_as("admin", PAGE)
    at.text_input(key="providers.to").input("+1 415 867 0043").run()
    at.button(key="providers.send").click().run()
    assert [plain(e.value) for e in at.error] == [
        "Parley sends nothing now (outside business hours), test messages included: try again after 9:00 AM."
    ]
    assert not at.success
    assert demo_db.scalar("SELECT count(*) FROM messages WHERE body = 'Parley test message'") == 0


def test_a_sender_without_credentials_says_what_is_missing(app_as, demo_db, monkeypatch):
    for key in ("PARLEY_TWILIO_ACCOUNT_SID", "PARLEY_TWILIO_AUTH_TOKEN", "PARLEY_TWILIO_API_KEY_SID"):
        monkeypatch.delenv(key, raising=False)
    demo_db.write(lambda tx: tx.execute("UPDATE senders SET provider = 'twilio' WHERE label = 'Front desk SMS'"))
    at = app_as("admin", PAGE)
    at.selectbox(key="providers.sender").set_value(
        demo_db.scalar("SELECT id FROM senders WHERE label = 'Front desk SMS'")
    ).run()
    at.text_input(key="providers.to").input("+14158670042").run()
    at.button(key="providers.send").click().run()
    assert errors(at) == ["Twilio is not configured: set PARLEY_TWILIO_ACCOUNT_SID and PARLEY_TWILIO_AUTH_TOKEN."]
