"""Sending (rules 2, 3, 5): queued with its outbox row, or not sent with the reason."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock
from core.actions import composing, messaging
from core.actions.messaging import Attachment
from core.errors import PermissionDenied, ValidationError
from tests import factories as f

PNG, JPEG = f.picture_bytes("PNG"), f.picture_bytes("JPEG")


@pytest.fixture
def ws(db, make_user):
    f.always_open(db)
    admin = make_user("ada", "admin")
    maria = make_user("maria")
    james = make_user("james")
    sam = make_user("sam", "supervisor")
    sms = f.add_sender(db)
    wa = f.add_sender(db, channel="whatsapp", provider_ref="PNID1")
    contact = f.add_contact(db, name="Zoë Ávila")
    c_sms = f.add_conversation(db, contact_id=contact, sender_id=sms, owner_id=maria.id)
    c_wa = f.add_conversation(db, contact_id=contact, sender_id=wa, owner_id=maria.id)
    return dict(admin=admin, maria=maria, james=james, sam=sam, sms=sms, wa=wa, contact=contact, c_sms=c_sms, c_wa=c_wa)


def message(db, mid):
    return db.dicts("SELECT * FROM messages WHERE id = ?", [mid])[0]


def outbox(db, mid):
    return db.dicts("SELECT * FROM outbox WHERE message_id = ?", [mid])


def test_send_records_queued_message_and_outbox_row_in_one_go(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["c_sms"], "Your cleaning is booked :tada:")
    m = message(db, mid)
    assert m["status"] == "queued" and m["direction"] == "out" and m["author_id"] == ws["maria"].id
    assert m["body"] == "Your cleaning is booked 🎉"  # shortcode expanded
    assert len(outbox(db, mid)) == 1 and outbox(db, mid)[0]["state"] == "pending"
    conv = db.dicts("SELECT * FROM conversations WHERE id = ?", [ws["c_sms"]])[0]
    assert conv["message_count"] == 2 and conv["last_message_direction"] == "out"
    assert conv["last_message_preview"].startswith("Your cleaning")


def test_admin_may_reply_in_anyones_conversation_but_agents_and_supervisors_may_not(db, ws):
    assert messaging.do_send(db, ws["admin"], ws["c_sms"], "Hi from the office")
    with pytest.raises(PermissionDenied):
        messaging.do_send(db, ws["james"], ws["c_sms"], "not mine")
    with pytest.raises(PermissionDenied, match="Supervisors"):
        messaging.do_send(db, ws["sam"], ws["c_sms"], "watching")


def test_opted_out_contact_gets_a_not_sent_record_and_no_outbox_row(db, ws):
    db.write(lambda tx: tx.execute("UPDATE contacts SET opted_out = TRUE WHERE id = ?", [ws["contact"]]))
    state = composing.composer_state(db, ws["maria"], ws["c_sms"])
    assert "opted out" in state.blocked_reason
    mid = messaging.do_send(db, ws["maria"], ws["c_sms"], "Are you there?")
    m = message(db, mid)
    assert m["status"] == "not_sent" and m["error_reason"] == "Contact opted out"
    assert outbox(db, mid) == []


def test_disabled_sender_blocks_with_reason(db, ws):
    db.write(lambda tx: tx.execute("UPDATE senders SET enabled = FALSE WHERE id = ?", [ws["sms"]]))
    assert "disabled" in composing.composer_state(db, ws["maria"], ws["c_sms"]).blocked_reason
    assert message(db, messaging.do_send(db, ws["maria"], ws["c_sms"], "x"))["status"] == "not_sent"


@pytest.mark.parametrize(
    "age, is_open", [(dt.timedelta(hours=23, minutes=59), True), (dt.timedelta(hours=24, minutes=1), False)]
)
def test_whatsapp_window_at_23h59_and_24h01(db, ws, age, is_open):
    last_in = db.scalar("SELECT last_inbound_at FROM conversations WHERE id = ?", [ws["c_wa"]])
    clock.freeze(last_in + age)
    state = composing.composer_state(db, ws["maria"], ws["c_wa"])
    assert state.window.open is is_open
    assert state.templates_only is (not is_open)
    mid = messaging.do_send(db, ws["maria"], ws["c_wa"], "Free text")
    assert message(db, mid)["status"] == ("queued" if is_open else "not_sent")
    if not is_open:
        assert "window closed" in message(db, mid)["error_reason"]


def test_closed_window_allows_registered_templates_only(db, ws):
    registered = f.add_template(db, name="Reminder", body="Hi {{first_name}}, see you soon", registered=True)
    loose = f.add_template(db, name="Loose", body="Hello {{first_name}}")
    clock.freeze(clock.utcnow() + dt.timedelta(days=2))
    ok = messaging.do_send(db, ws["maria"], ws["c_wa"], None, template_id=registered)
    assert message(db, ok)["status"] == "queued" and message(db, ok)["body"] == "Hi Zoë, see you soon"
    refused = messaging.do_send(db, ws["maria"], ws["c_wa"], None, template_id=loose)
    assert message(db, refused)["status"] == "not_sent"


def test_template_with_a_missing_variable_is_refused_with_a_sentence(db, ws):
    nameless = f.add_contact(db)
    conv = f.add_conversation(db, contact_id=nameless, sender_id=ws["sms"], owner_id=ws["maria"].id)
    db.write(
        lambda tx: tx.execute(
            "INSERT INTO templates (name, body, created_at) VALUES ('T', 'Hi {{first_name}}!', now())"
        )
    )
    tid = db.scalar("SELECT id FROM templates")
    with pytest.raises(ValidationError, match=r"\{\{first_name\}\}"):
        messaging.do_send(db, ws["maria"], conv, None, template_id=tid)
    with pytest.raises(ValidationError, match="unfilled variable"):
        messaging.do_send(db, ws["maria"], conv, "Hi {{first_name}}!")
    assert composing.render_template(db, tid, ws["c_sms"], ws["maria"]).text == "Hi Zoë!"


def test_outside_business_hours_the_message_waits_with_its_release_time(db, ws):
    from core import settings

    db.write(
        lambda tx: settings.put(
            tx,
            "business_hours",
            {
                "timezone": "America/New_York",
                "weekly": {str(d): [["09:00", "17:00"]] for d in range(5)},
                "holidays": [],
            },
        )
    )
    db.write(lambda tx: settings.put(tx, "quiet_hours", {"start": "08:00", "end": "21:00"}))
    clock.freeze(dt.datetime(2026, 11, 27, 23, 30))  # Friday 18:30 in New York
    state = composing.composer_state(db, ws["maria"], ws["c_sms"])
    assert state.release_reason == "outside business hours"
    mid = messaging.do_send(db, ws["maria"], ws["c_sms"], "See you Monday")
    m = message(db, mid)
    assert m["status"] == "queued"
    # Business opens Monday 09:00 New York (14:00 UTC), but the contact's 415
    # number is in California, where quiet hours last until 08:00 PST.
    assert m["release_at"] == dt.datetime(2026, 11, 30, 16, 0)
    assert outbox(db, mid)[0]["due_at"] == m["release_at"]


@pytest.mark.parametrize(
    "body, sentence",
    [
        ("", "Write a message"),
        ("   ", "Write a message"),
        ("nul\x00byte", "NUL character"),
        ("x" * 2_000_000, "at most 1,600 characters"),
    ],
)
def test_bad_bodies_get_one_sentence_and_store_nothing(db, ws, body, sentence):
    before = db.scalar("SELECT count(*) FROM messages")
    with pytest.raises(ValidationError, match=sentence):
        messaging.do_send(db, ws["maria"], ws["c_sms"], body)
    assert db.scalar("SELECT count(*) FROM messages") == before


def test_right_to_left_override_is_kept_as_text(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["c_sms"], "abc\u202edef")
    assert message(db, mid)["body"] == "abc\u202edef"


def test_attachments_checked_against_channel_rules(db, ws, tmp_path):
    from core.media_store import MediaStore

    store = MediaStore(tmp_path / "media")
    with pytest.raises(ValidationError):
        messaging.do_send(
            db,
            ws["maria"],
            ws["c_sms"],
            "file",
            media_store=store,
            attachments=[Attachment("setup.exe", "application/x-msdownload", b"MZ" * 10)],
        )
    with pytest.raises(ValidationError):
        messaging.do_send(
            db,
            ws["maria"],
            ws["c_sms"],
            "big",
            media_store=store,
            attachments=[Attachment("big.jpg", "image/jpeg", b"0" * (6 * 1024 * 1024))],
        )
    mid = messaging.do_send(
        db,
        ws["maria"],
        ws["c_sms"],
        "",
        media_store=store,
        attachments=[Attachment("../../etc/x-ray.png", "image/png", PNG)],
    )
    media = db.dicts("SELECT * FROM media WHERE message_id = ?", [mid])
    assert media[0]["filename"] == "x-ray.png" and len(media[0]["token"]) >= 24
    assert store.read(media[0]["sha256"]) == PNG


@pytest.mark.parametrize(
    "channel, filename, claimed, data, stored",
    [
        ("sms", "voice note.amr", "", b"#!AMR\n" + b"0" * 32, "audio/amr"),  # the browser knew no type: the extension's
        ("sms", "scan.jpg", "application/octet-stream", JPEG, "image/jpeg"),
        ("sms", "Photo.JPG", "Image/JPG; name=Photo.JPG", JPEG, "image/jpeg"),  # an alias, with parameters
        ("whatsapp", "menu.pdf", "", b"%PDF-1.4\n", "application/pdf"),
    ],
)
def test_an_attachment_is_stored_with_the_type_it_was_checked_as(
    db, ws, tmp_path, channel, filename, claimed, data, stored
):
    """The stored type is what providers are told (``/files``' Content-Type, WhatsApp's media kind) and what
    the thread and transcript show: the type the rules accepted, not the browser's raw words for it (an empty
    type was served as an empty Content-Type, and a WhatsApp photo went as a document)."""
    from core.media_store import MediaStore

    conversation = ws["c_sms"] if channel == "sms" else ws["c_wa"]
    mid = messaging.do_send(
        db,
        ws["maria"],
        conversation,
        "",
        media_store=MediaStore(tmp_path / "media"),
        attachments=[Attachment(filename, claimed, data)],
    )
    assert db.fetchall("SELECT content_type FROM media WHERE message_id = ?", [mid]) == [(stored,)]


@pytest.mark.parametrize(
    "filename, claimed, data, refusal",
    [
        ("x-ray.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "“x-ray.png” cannot be opened as a picture; attach the picture itself."),
        ("photo.jpg", "image/jpeg", b"%PDF-1.4\n", "“photo.jpg” cannot be opened as a picture; attach the picture itself."),
        ("invoice.pdf", "application/pdf", b"<!DOCTYPE html><html><body>pay here</body></html>", "“invoice.pdf” is a web page, not the file its name says; attach the file itself."),
    ],
)  # fmt: skip
def test_an_attachment_whose_bytes_are_not_what_it_claims_is_refused(
    db, ws, tmp_path, filename, claimed, data, refusal
):
    from core.media_store import MediaStore

    with pytest.raises(ValidationError) as refused:
        messaging.do_send(
            db, ws["maria"], ws["c_sms"], "", media_store=MediaStore(tmp_path / "media"),
            attachments=[Attachment(filename, claimed, data)],
        )  # fmt: skip
    assert str(refused.value) == refusal
    assert db.scalar("SELECT count(*) FROM messages WHERE direction = 'out'") == 0


def test_a_picture_of_another_kind_than_its_name_is_stored_as_what_it_is(db, ws, tmp_path):
    from core.media_store import MediaStore

    mid = messaging.do_send(
        db, ws["maria"], ws["c_sms"], "", media_store=MediaStore(tmp_path / "media"),
        attachments=[Attachment("scan.jpg", "image/jpeg", PNG)],
    )  # fmt: skip
    assert db.fetchall("SELECT filename, content_type FROM media WHERE message_id = ?", [mid]) == [
        ("scan.png", "image/png")
    ]


def test_retry_requeues_an_interrupted_message(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["c_sms"], "hello")
    db.write(
        lambda tx: (
            tx.execute("UPDATE messages SET status = 'interrupted' WHERE id = ?", [mid]),
            tx.execute("UPDATE outbox SET state = 'interrupted' WHERE message_id = ?", [mid]),
        )
    )
    messaging.do_retry(db, ws["maria"], mid)
    assert message(db, mid)["status"] == "queued"
    assert sorted(r["state"] for r in outbox(db, mid)) == ["pending", "superseded"]
    with pytest.raises(ValidationError, match="Only interrupted or failed"):
        messaging.do_retry(db, ws["maria"], mid)
    with pytest.raises(PermissionDenied):
        messaging.do_retry(db, ws["james"], mid)


def test_unregistered_us_sender_warns_admins_only(db, ws):
    db.write(lambda tx: tx.execute("UPDATE senders SET registration_status = 'unregistered' WHERE id = ?", [ws["sms"]]))
    assert "10DLC" in composing.composer_state(db, ws["admin"], ws["c_sms"]).sender_warning
    assert composing.composer_state(db, ws["maria"], ws["c_sms"]).sender_warning is None


def test_a_queued_message_records_why_it_waits_and_a_sent_one_does_not(db, ws):
    from core import settings

    db.write(
        lambda tx: (
            settings.put(
                tx,
                "business_hours",
                {"timezone": "America/New_York", "weekly": {str(d): [["09:00", "17:00"]] for d in range(5)}},
            ),
            settings.put(tx, "quiet_hours", {"start": "08:00", "end": "21:00"}),
        )
    )
    clock.freeze(dt.datetime(2026, 11, 27, 23, 30))  # Friday 18:30 in New York: closed
    closed = message(db, messaging.do_send(db, ws["maria"], ws["c_sms"], "See you Monday"))
    assert (closed["queued_reason"], closed["release_at"]) == ("business_hours", dt.datetime(2026, 11, 30, 16, 0))
    clock.freeze(dt.datetime(2026, 11, 30, 14, 30))  # Monday 9:30 in New York, 6:30 in California
    quiet = message(db, messaging.do_send(db, ws["maria"], ws["c_sms"], "Good morning"))
    assert (quiet["queued_reason"], quiet["release_at"]) == ("quiet_hours", dt.datetime(2026, 11, 30, 16, 0))
    clock.freeze(dt.datetime(2026, 11, 30, 18, 0))  # open, and 10:00 in California
    now = message(db, messaging.do_send(db, ws["maria"], ws["c_sms"], "Right away"))
    assert (now["queued_reason"], now["release_at"]) == (None, None)


def test_a_message_waits_for_eight_in_every_zone_the_number_may_be_in(db, ws):
    from core import settings

    db.write(lambda tx: settings.put(tx, "quiet_hours", {"start": "08:00", "end": "21:00"}))  # business: always open
    db.write(lambda tx: tx.execute("UPDATE contacts SET phone = '+12083201234' WHERE id = ?", [ws["contact"]]))
    clock.freeze(dt.datetime(2025, 6, 10, 14, 0))  # 8:00 in Boise, 7:00 in northern Idaho (both area 208-320)
    state = composing.composer_state(db, ws["maria"], ws["c_sms"])
    assert (state.release_at, state.release_reason) == (dt.datetime(2025, 6, 10, 15, 0), "the recipient's quiet hours")
    m = message(db, messaging.do_send(db, ws["maria"], ws["c_sms"], "Good morning"))
    assert (m["queued_reason"], m["release_at"]) == ("quiet_hours", dt.datetime(2025, 6, 10, 15, 0))
    # The contact's own zone, once set, is used alone: 8:00 in Boise, it goes.
    db.write(lambda tx: tx.execute("UPDATE contacts SET timezone = 'America/Boise' WHERE id = ?", [ws["contact"]]))
    m = message(db, messaging.do_send(db, ws["maria"], ws["c_sms"], "Good morning again"))
    assert (m["queued_reason"], m["release_at"]) == (None, None)


def test_sending_clears_the_authors_draft_in_the_same_write(db, ws):
    from core import drafts

    f.always_open(db)
    drafts.do_save_draft(db, ws["maria"], ws["c_sms"], "See you Monday")
    messaging.do_send(db, ws["maria"], ws["c_sms"], "See you Monday")
    assert drafts.get_draft(db, ws["maria"], ws["c_sms"]) == ""


def test_writing_in_a_closed_conversation_reopens_it_with_the_message(db, ws):
    from core.actions import conversations

    conversations.do_set_status(db, ws["maria"], [ws["c_sms"]], closed=True)
    heard = []
    db.subscribe("conversation.reopened", heard.append)
    mid = messaging.do_send(db, ws["maria"], ws["c_sms"], "One more thing about Thursday")
    assert db.fetchone("SELECT status, closed_at FROM conversations WHERE id = ?", [ws["c_sms"]]) == ("open", None)
    assert message(db, mid)["status"] == "queued"
    assert [(e.payload["conversation_id"], e.payload["actor_id"], e.payload["owner_id"]) for e in heard] == [
        (ws["c_sms"], ws["maria"].id, ws["maria"].id)
    ]
    messaging.do_send(db, ws["maria"], ws["c_sms"], "And the parking")  # already open: nothing more to say
    assert len(heard) == 1
