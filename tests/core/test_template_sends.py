"""Template sends (rule 5): the closed window takes only a registered template's own text, and the
provider receives its variables in its own shape (checked on the loopback fakes' request bodies)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core import clock
from core.actions import messaging
from core.delivery import Dispatcher
from core.errors import ValidationError
from core.providers.twilio import TwilioProvider
from core.providers.whatsapp_cloud import WhatsAppCloudProvider
from tests import factories as f
from tests.fakes.graph_server import FakeGraph
from tests.fakes.twilio_server import FakeTwilio

CONTENT_SID = "HX" + "ab" * 16
REMINDER = "Hi {{first_name}}, your visit is on {{date}} at {{time}}. Reply C to confirm."


@pytest.fixture
def ws(db, make_user):
    f.always_open(db)
    maria = make_user("maria")
    wa = f.add_sender(db, channel="whatsapp", provider="whatsapp_cloud", provider_ref="106540352242922")
    contact = f.add_contact(db, name="Zoë Ávila")
    # The customer last wrote three days ago: the 24-hour window is closed.
    conv = f.add_conversation(
        db, contact_id=contact, sender_id=wa, owner_id=maria.id, last_inbound_at=clock.utcnow() - dt.timedelta(days=3)
    )
    reminder = f.add_template(
        db,
        name="Appointment reminder",
        body=REMINDER,
        registered=True,
        provider_name="appointment_reminder",
        header_format="text",
        header_text="Visit for {{first_name}}",
        buttons=[
            {"type": "url", "text": "Manage", "url": "https://dental.example/b/{{code}}"},
            {"type": "quick_reply", "text": "Not me", "payload": "NOT_ME"},
        ],
        content_sid=CONTENT_SID,
    )
    return dict(maria=maria, wa=wa, contact=contact, conv=conv, reminder=reminder)


def message(db, mid):
    return db.dicts("SELECT * FROM messages WHERE id = ?", [mid])[0]


def outbox(db, mid):
    return db.fetchall("SELECT state FROM outbox WHERE message_id = ?", [mid])


VALUES = {"date": "May 4", "time": "3 PM", "code": "b77"}
FILLED = "Visit for Zoë\n\nHi Zoë, your visit is on May 4 at 3 PM. Reply C to confirm."


# ---- the closed window (issue: replacing the template's text with free text was accepted) ----------


def test_closed_window_queues_the_registered_template_with_its_values(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], None, template_id=ws["reminder"], template_values=VALUES)
    m = message(db, mid)
    assert (m["status"], m["body"], m["template_id"]) == ("queued", FILLED, ws["reminder"])
    assert json.loads(m["template_values"]) == {"first_name": "Zoë", "date": "May 4", "time": "3 PM", "code": "b77"}
    assert outbox(db, mid) == [("pending",)]


def test_the_template_text_sent_back_unchanged_is_still_the_template(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], FILLED, template_id=ws["reminder"], template_values=VALUES)
    assert message(db, mid)["status"] == "queued" and message(db, mid)["template_id"] == ws["reminder"]


@pytest.mark.parametrize(
    "body",
    [
        "Call me when you can, it's about the bill",  # the whole text replaced
        FILLED.replace("3 PM", "4 PM"),  # one value changed by hand
        FILLED + " Bring your card.",  # something added
    ],
)
def test_closed_window_refuses_anything_but_the_templates_own_text(db, ws, body):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], body, template_id=ws["reminder"], template_values=VALUES)
    m = message(db, mid)
    assert (m["status"], m["body"], m["template_id"]) == ("not_sent", body, None)
    assert m["error_reason"] == "WhatsApp window closed: only registered templates can be sent"
    assert outbox(db, mid) == []


def test_a_template_still_pending_approval_cannot_open_the_window(db, ws):
    db.write(lambda tx: tx.execute("UPDATE templates SET approval_status = 'pending' WHERE id = ?", [ws["reminder"]]))
    mid = messaging.do_send(db, ws["maria"], ws["conv"], None, template_id=ws["reminder"], template_values=VALUES)
    assert message(db, mid)["status"] == "not_sent" and outbox(db, mid) == []


def test_a_missing_value_is_refused_before_anything_is_recorded(db, ws):
    with pytest.raises(ValidationError, match=r"needs a value for \{\{date\}\}, \{\{time\}\}, \{\{code\}\}"):
        messaging.do_send(db, ws["maria"], ws["conv"], None, template_id=ws["reminder"])
    with pytest.raises(ValidationError, match="line breaks"):
        messaging.do_send(
            db, ws["maria"], ws["conv"], None, template_id=ws["reminder"], template_values=VALUES | {"time": "3\nPM"}
        )
    assert db.scalar("SELECT count(*) FROM messages WHERE direction = 'out'") == 0


def test_inside_the_window_an_edited_template_goes_as_the_agents_own_text(db, ws):
    db.write(
        lambda tx: tx.execute("UPDATE conversations SET last_inbound_at = ? WHERE id = ?", [clock.utcnow(), ws["conv"]])
    )
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "Hi Zoë, see you Tuesday!", template_id=ws["reminder"])
    m = message(db, mid)
    assert (m["status"], m["template_id"], m["template_values"]) == ("queued", None, None)


def test_a_template_paused_after_queueing_does_not_go_once_the_window_is_closed(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], None, template_id=ws["reminder"], template_values=VALUES)
    db.write(lambda tx: tx.execute("UPDATE templates SET approval_status = 'paused' WHERE id = ?", [ws["reminder"]]))
    with FakeGraph() as fake:
        provider = WhatsAppCloudProvider(fake.access_token, "app-secret", "verify", base_url=fake.url)
        dispatcher(db, provider).step()
        assert fake.sends == []
    assert message(db, mid)["status"] == "not_sent"


# ---- what the providers receive ------------------------------------------------------------------


def dispatcher(db, provider) -> Dispatcher:
    return Dispatcher(db, lambda sender: provider, media_url=lambda t: None, status_callback_url=lambda p: None)


def test_whatsapp_cloud_receives_header_body_and_button_parameters(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], None, template_id=ws["reminder"], template_values=VALUES)
    with FakeGraph() as fake:
        fake.register_template("appointment_reminder", header="text", body=3, buttons={0: "url", 1: "quick_reply"})
        provider = WhatsAppCloudProvider(fake.access_token, "app-secret", "verify", base_url=fake.url)
        assert dispatcher(db, provider).step() is True
        sent = fake.sends[0]
    assert sent.path == "/v21.0/106540352242922/messages"
    assert sent.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "biz_opaque_callback_data": f"parley:{mid}",  # the send's own reference (a lookup finds it by it)
        "to": db.scalar("SELECT phone FROM contacts WHERE id = ?", [ws["contact"]]),
        "type": "template",
        "template": {
            "name": "appointment_reminder",
            "language": {"code": "en_US"},
            "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "Zoë"}]},
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Zoë"},
                        {"type": "text", "text": "May 4"},
                        {"type": "text", "text": "3 PM"},
                    ],
                },
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "b77"}]},
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "1",
                    "parameters": [{"type": "payload", "payload": "NOT_ME"}],
                },
            ],
        },
    }
    assert message(db, mid)["status"] == "sending" and message(db, mid)["provider_message_id"].startswith("wamid.")


def test_whatsapp_cloud_named_template_sends_parameter_names(db, ws):
    named = f.add_template(
        db,
        name="Recall",
        body="Hello {{first_name}}, time for your check-up!",
        registered=True,
        provider_name="checkup_recall",
        parameter_format="named",
    )
    mid = messaging.do_send(db, ws["maria"], ws["conv"], None, template_id=named)
    with FakeGraph() as fake:
        fake.register_template("checkup_recall", body=["first_name"])
        dispatcher(db, WhatsAppCloudProvider(fake.access_token, "s", "v", base_url=fake.url)).step()
        template = fake.sends[0].json["template"]
    assert template["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": "Zoë", "parameter_name": "first_name"}]}
    ]
    assert message(db, mid)["status"] == "sending"


def test_twilio_receives_content_sid_and_content_variables(db, ws):
    db.write(
        lambda tx: tx.execute("UPDATE senders SET provider = 'twilio', provider_ref = NULL WHERE id = ?", [ws["wa"]])
    )
    mid = messaging.do_send(db, ws["maria"], ws["conv"], None, template_id=ws["reminder"], template_values=VALUES)
    with FakeTwilio() as fake:
        fake.register_content(CONTENT_SID, variables=4)
        provider = TwilioProvider(fake.account_sid, fake.auth_token, base_url=fake.url)
        dispatcher(db, provider).step()
        sent = fake.sends[0]
    assert sent.value("ContentSid") == CONTENT_SID
    assert json.loads(sent.value("ContentVariables")) == {"1": "Zoë", "2": "May 4", "3": "3 PM", "4": "b77"}
    assert sent.value("Body") is None and sent.value("To").startswith("whatsapp:+1")
    assert message(db, mid)["status"] == "sending"


def test_a_twilio_sender_refuses_a_template_without_its_content_sid(db, ws):
    db.write(lambda tx: tx.execute("UPDATE senders SET provider = 'twilio' WHERE id = ?", [ws["wa"]]))
    db.write(lambda tx: tx.execute("UPDATE templates SET content_sid = NULL WHERE id = ?", [ws["reminder"]]))
    with pytest.raises(ValidationError, match="has no Twilio Content SID"):
        messaging.do_send(db, ws["maria"], ws["conv"], None, template_id=ws["reminder"], template_values=VALUES)


# ---- the template changed while the message waited --------------------------------------------------


def test_a_template_reworded_while_its_message_waits_is_not_sent_with_the_new_words(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], None, template_id=ws["reminder"], template_values=VALUES)
    db.write(
        lambda tx: tx.execute(
            "UPDATE templates SET body = ? WHERE id = ?",
            ["Hi {{first_name}}, your visit moved to {{date}} at {{time}}. Reply C to confirm.", ws["reminder"]],
        )
    )
    with FakeGraph() as fake:
        fake.register_template("appointment_reminder", header="text", body=3, buttons={0: "url", 1: "quick_reply"})
        dispatcher(db, WhatsAppCloudProvider(fake.access_token, "s", "v", base_url=fake.url)).step()
        assert fake.sends == []
    m = message(db, mid)
    assert (m["status"], m["body"]) == ("failed", FILLED)
    assert m["error_reason"] == (
        "The template “Appointment reminder” was changed after this message was written, so the customer "
        "would not get the words the conversation shows; send it again"
    )
    assert outbox(db, mid) == [("failed",)]


def test_a_template_changed_elsewhere_than_its_words_still_goes(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], None, template_id=ws["reminder"], template_values=VALUES)
    db.write(lambda tx: tx.execute("UPDATE templates SET name = 'Reminder (May)' WHERE id = ?", [ws["reminder"]]))
    with FakeGraph() as fake:
        fake.register_template("appointment_reminder", header="text", body=3, buttons={0: "url", 1: "quick_reply"})
        dispatcher(db, WhatsAppCloudProvider(fake.access_token, "s", "v", base_url=fake.url)).step()
        assert len(fake.sends) == 1
    assert message(db, mid)["status"] == "sending"


def test_a_template_with_an_emoji_shortcode_goes_as_written(db, ws):
    waving = f.add_template(
        db, name="Wave", body="Hello {{first_name}} :wave: see you soon", registered=True, provider_name="wave_hello"
    )
    mid = messaging.do_send(db, ws["maria"], ws["conv"], None, template_id=waving)
    assert message(db, mid)["body"] == "Hello Zoë 👋 see you soon"
    with FakeGraph() as fake:
        fake.register_template("wave_hello", body=1)
        dispatcher(db, WhatsAppCloudProvider(fake.access_token, "s", "v", base_url=fake.url)).step()
        assert len(fake.sends) == 1
    assert message(db, mid)["status"] == "sending"


def test_retrying_a_message_whose_template_was_reworded_says_to_choose_it_again(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], None, template_id=ws["reminder"], template_values=VALUES)
    db.write(
        lambda tx: tx.execute(
            "UPDATE messages SET status = 'failed', error_reason = 'Provider timeout' WHERE id = ?", [mid]
        )
    )
    db.write(lambda tx: tx.execute("UPDATE templates SET footer = 'Dental Practice' WHERE id = ?", [ws["reminder"]]))
    with pytest.raises(ValidationError) as refused:
        messaging.do_retry(db, ws["maria"], mid)
    assert str(refused.value) == (
        "The template “Appointment reminder” was changed after this message was written; "
        "choose it again in the composer to send its new words."
    )
    assert message(db, mid)["status"] == "failed"


def test_retrying_a_template_message_whose_template_is_unchanged_queues_it(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], None, template_id=ws["reminder"], template_values=VALUES)
    db.write(lambda tx: tx.execute("UPDATE messages SET status = 'failed' WHERE id = ?", [mid]))
    messaging.do_retry(db, ws["maria"], mid)
    assert message(db, mid)["status"] == "queued"
