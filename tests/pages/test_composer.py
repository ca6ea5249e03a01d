"""The compose box: sending, blocked reasons (rules 2, 3, 5), templates, counts, files.

Each case is built with factories in the demo workspace, at a frozen time, so every
answer below is the literal sentence the page shows.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from core import clock
from pages import composer
from tests.factories import add_contact, add_conversation, add_sender, add_template, picture_bytes, set_hours

PAGE = "pages/conversation.py"
NOW = dt.datetime(2027, 1, 13, 17, 0)  # Wednesday 12:00 PM in New York, the demo users' zone
ALWAYS = {str(d): [["00:00", "24:00"]] for d in range(7)}
SATURDAYS = {"5": [["09:00", "17:00"]]}  # UTC: Saturday 4:00 AM to noon in New York


def uid(db, username):
    return db.scalar("SELECT id FROM users WHERE username = ?", [username])


def texts(at, kind):
    """What the elements show (their Markdown with the escapes of people's text undone),
    without the demo workspace's banner."""
    shown = [re.sub(r"\\(.)", r"\1", str(e.value)) for e in getattr(at, kind)]
    return [t for t in shown if not t.startswith("Demo workspace:")]


@pytest.fixture
def frozen():
    clock.freeze(NOW)


@pytest.fixture
def sms(demo_db, frozen):
    """Maria's SMS conversation with Sofía Ramos, whose customer wrote an hour ago; open all hours."""
    set_hours(demo_db, weekly=ALWAYS)
    sender = add_sender(demo_db, channel="sms", phone="+14155550177", label="Test SMS")
    contact = add_contact(demo_db, name="Sofía Ramos")
    return add_conversation(
        demo_db,
        contact_id=contact,
        sender_id=sender,
        owner_id=uid(demo_db, "maria"),
        last_inbound_at=NOW - dt.timedelta(hours=1),
    )


def whatsapp(db, *, hours_ago: float, name: str = "Wanda Window") -> int:
    sender = add_sender(db, channel="whatsapp", phone="+14155550188", label="Test WhatsApp")
    contact = add_contact(db, name=name)
    return add_conversation(
        db,
        contact_id=contact,
        sender_id=sender,
        owner_id=uid(db, "maria"),
        last_inbound_at=NOW - dt.timedelta(hours=hours_ago),
    )


def test_send_queues_the_message_and_clears_the_box(app_as, demo_db, sms):
    at = app_as("maria", PAGE, {"id": sms})
    at.text_area(key=f"compose_text_{sms}").input("See you Thursday at 3 :thumbsup:")
    at.button(key=f"send_{sms}").click().run()
    assert not at.error
    row = demo_db.fetchone(
        "SELECT body, status, author_id FROM messages WHERE conversation_id = ? ORDER BY id DESC LIMIT 1", [sms]
    )
    assert row == ("See you Thursday at 3 👍", "queued", uid(demo_db, "maria"))
    assert at.text_area(key=f"compose_text_{sms}").value == ""
    assert "See you Thursday at 3 👍" in texts(at, "text")
    assert "12:00 PM · María López · 🕓 Queued" in texts(at, "caption")


def test_send_outside_hours_says_when_it_goes(app_as, demo_db, sms):
    set_hours(demo_db, weekly=SATURDAYS)
    at = app_as("maria", PAGE, {"id": sms})
    # Beside it, the workspace's hours and when they open, both in the hours' zone; the release in Maria's (named).
    assert texts(at, "info") == [
        "Outside business hours: this will be queued until Sat 4:00 AM (America/New_York).  \n"
        "Business hours (UTC): Sat 9:00 AM–5:00 PM · closed now, opens Sat 9:00 AM"
    ]
    at.text_area(key=f"compose_text_{sms}").input("We open on Saturday")
    at.button(key=f"send_{sms}").click().run()
    status, release_at = demo_db.fetchone(
        "SELECT status, release_at FROM messages WHERE conversation_id = ? ORDER BY id DESC LIMIT 1", [sms]
    )
    assert (status, release_at) == ("queued", dt.datetime(2027, 1, 16, 9, 0))
    # The bubble says why it waits and until when.
    assert "12:00 PM · María López · 🕓 Queued — outside business hours, goes Sat at 4:00 AM" in texts(at, "caption")


def test_empty_send_gives_one_sentence(app_as, demo_db, sms):
    at = app_as("maria", PAGE, {"id": sms})
    at.button(key=f"send_{sms}").click().run()
    assert texts(at, "error") == ["Write a message or attach a file first."]
    assert demo_db.scalar("SELECT count(*) FROM messages WHERE conversation_id = ?", [sms]) == 1


def test_opted_out_contact_blocks_the_composer(app_as, demo_db, frozen):
    set_hours(demo_db, weekly=ALWAYS)
    sender = add_sender(demo_db, channel="sms", phone="+14155550177", label="Test SMS")
    contact = add_contact(demo_db, name="Olga Stopper", opted_out=True)
    cid = add_conversation(demo_db, contact_id=contact, sender_id=sender, owner_id=uid(demo_db, "maria"))
    at = app_as("maria", PAGE, {"id": cid})
    assert texts(at, "warning") == [
        "Olga Stopper has opted out (replied STOP): nothing can be sent until they reply START."
    ]
    assert at.button(key=f"send_{cid}").disabled
    assert at.text_area(key=f"compose_text_{cid}").disabled


def test_disabled_sender_blocks_the_composer(app_as, demo_db, frozen):
    set_hours(demo_db, weekly=ALWAYS)
    sender = add_sender(demo_db, channel="sms", phone="+14155550177", label="Old number", enabled=False)
    contact = add_contact(demo_db, name="Dora Disabled")
    cid = add_conversation(demo_db, contact_id=contact, sender_id=sender, owner_id=uid(demo_db, "maria"))
    at = app_as("maria", PAGE, {"id": cid})
    assert texts(at, "warning") == ["The sender Old number is disabled; an admin can enable it."]
    assert at.button(key=f"send_{cid}").disabled


def test_supervisor_sees_no_composer(app_as, demo_db, sms):
    at = app_as("sam", PAGE, {"id": sms})
    assert texts(at, "info") == ["Supervisors can read but not send."]
    assert not at.text_area
    assert not [b for b in at.button if b.key == f"send_{sms}"]


def test_an_admin_may_answer_another_agents_conversation(app_as, demo_db, sms):
    at = app_as("admin", PAGE, {"id": sms})
    assert not at.text_area(key=f"compose_text_{sms}").disabled
    assert not at.button(key=f"send_{sms}").disabled


def test_sms_segment_count(app_as, demo_db, sms):
    at = app_as("maria", PAGE, {"id": sms})
    at.text_area(key=f"compose_text_{sms}").input("x" * 42).run()
    assert "42 characters · GSM-7 · 1 segment (118 left)" in texts(at, "caption")
    at.text_area(key=f"compose_text_{sms}").input("Café 😀").run()
    assert "6 characters · UCS-2 · 1 segment (63 left) · UCS-2 because of “😀”" in texts(at, "caption")


def test_emoji_button_appends_and_shortcodes_preview(app_as, demo_db, sms):
    at = app_as("maria", PAGE, {"id": sms})
    at.text_area(key=f"compose_text_{sms}").input("Thanks :smile:").run()
    assert "Thanks 😄" in texts(at, "text")  # what will be sent
    at.pills(key=f"emoji_{sms}").set_value("👍").run()
    assert at.text_area(key=f"compose_text_{sms}").value == "Thanks :smile:👍"
    assert at.pills(key=f"emoji_{sms}").value is None  # ready for the next one
    at.pills(key=f"emoji_{sms}").set_value("👍").run()  # the same one again
    assert at.text_area(key=f"compose_text_{sms}").value == "Thanks :smile:👍👍"


def test_template_fills_text_and_lists_missing_variables(app_as, demo_db, sms):
    add_template(demo_db, name="Reminder (SMS)", channel="sms", body="Hi {{first_name}}, see you on {{date}}.")
    at = app_as("maria", PAGE, {"id": sms})
    box = at.selectbox(key=f"compose_template_{sms}")
    running_late = next(o for o in box.options if o.startswith("Running late"))
    box.select(running_late).run()
    assert at.text_area(key=f"compose_text_{sms}").value == (
        "Hi Sofía, no problem — we'll hold your appointment for 15 minutes."
    )
    assert not [w for w in texts(at, "warning") if "Fill in" in w]
    reminder = next(o for o in at.selectbox(key=f"compose_template_{sms}").options if o.startswith("Reminder"))
    at.selectbox(key=f"compose_template_{sms}").select(reminder).run()
    assert at.text_area(key=f"compose_text_{sms}").value == "Hi Sofía, see you on {{date}}."
    assert texts(at, "warning") == ["Fill in {{date}} before sending: this contact has no value for it."]


def test_a_template_over_typed_text_asks_first(app_as, demo_db, sms):
    add_template(demo_db, name="Office hours", channel="sms", body="Our office is open Monday to Friday, 8 to 5.")
    at = app_as("maria", PAGE, {"id": sms})
    box_key, question_text = f"compose_text_{sms}", "You have already written something. What should the template do?"

    def choose(name: str) -> None:
        picker = at.selectbox(key=f"compose_template_{sms}")
        picker.select(next(o for o in picker.options if o.startswith(name))).run()

    at.text_area(key=box_key).input("Hi Sofía, about Thursday:").run()
    choose("Office hours")
    assert question_text in texts(at, "markdown")
    assert at.text_area(key=box_key).value == "Hi Sofía, about Thursday:"  # nothing replaced while it asks
    assert at.selectbox(key=f"compose_template_{sms}").value is None  # the picker is ready again

    at.button(key=f"compose_keep_{sms}").click().run()
    assert question_text not in texts(at, "markdown")
    assert at.text_area(key=box_key).value == "Hi Sofía, about Thursday:"

    choose("Office hours")
    at.button(key=f"compose_add_{sms}").click().run()
    assert (
        at.text_area(key=box_key).value == "Hi Sofía, about Thursday:\n\nOur office is open Monday to Friday, 8 to 5."
    )

    at.text_area(key=box_key).input("Something else entirely").run()
    choose("Office hours")
    at.button(key=f"compose_replace_{sms}").click().run()
    assert at.text_area(key=box_key).value == "Our office is open Monday to Friday, 8 to 5."
    # The text is the draft too (kept in the database, per user and conversation).
    assert (
        demo_db.scalar(
            "SELECT body FROM drafts WHERE conversation_id = ? AND user_id = ?", [sms, uid(demo_db, "maria")]
        )
        == "Our office is open Monday to Friday, 8 to 5."
    )


def test_a_draft_is_kept_and_found_again_by_a_new_session(app_as, demo_db, sms):
    at = app_as("maria", PAGE, {"id": sms})
    at.text_area(key=f"compose_text_{sms}").input("Half-written answer").run()
    assert demo_db.scalar("SELECT body FROM drafts WHERE conversation_id = ?", [sms]) == "Half-written answer"
    again = app_as("maria", PAGE, {"id": sms})  # another browser, or after a restart
    assert again.text_area(key=f"compose_text_{sms}").value == "Half-written answer"
    assert app_as("admin", PAGE, {"id": sms}).text_area(key=f"compose_text_{sms}").value == ""  # Maria's alone
    again.button(key=f"send_{sms}").click().run()
    assert again.text_area(key=f"compose_text_{sms}").value == ""
    assert demo_db.scalar("SELECT count(*) FROM drafts WHERE conversation_id = ?", [sms]) == 0


def test_the_browsers_echo_of_a_sent_text_does_not_come_back_as_a_draft(app_as, demo_db, sms):
    # A rerun asked while Send's run was under way (a live refresh) carries the box's text as the
    # browser still had it. The server took it for the agent typing it again: the sent message
    # came back into the box and was kept as the draft (a loaded browser run).
    at = app_as("maria", PAGE, {"id": sms})
    box = f"compose_text_{sms}"
    at.text_area(key=box).input("Second new line")
    at.button(key=f"send_{sms}").click().run()
    at.text_area(key=box).input("Second new line").run()  # the stale request
    assert at.text_area(key=box).value == ""
    assert demo_db.scalar("SELECT count(*) FROM drafts WHERE conversation_id = ?", [sms]) == 0
    assert (
        demo_db.scalar("SELECT count(*) FROM messages WHERE conversation_id = ? AND body = 'Second new line'", [sms])
        == 1
    )
    # Anything else typed after the send is the agent's, and kept.
    at.text_area(key=box).input("Second new line, and more").run()
    assert demo_db.scalar("SELECT body FROM drafts WHERE conversation_id = ?", [sms]) == "Second new line, and more"


def test_text_typed_and_sent_in_one_click_writes_no_draft_on_the_way(app_as, demo_db, sms, monkeypatch):
    # The box's change and Send's press come in one request: the draft written first was a second
    # write on the one write path for every reply, deleted again by the send.
    from core import drafts

    saved = []
    real = drafts.do_save_draft
    monkeypatch.setattr(
        drafts, "do_save_draft", lambda db, user, cid, body: (saved.append(body), real(db, user, cid, body))
    )
    at = app_as("maria", PAGE, {"id": sms})
    at.text_area(key=f"compose_text_{sms}").input("On my way")
    at.button(key=f"send_{sms}").click().run()
    assert saved == []
    assert demo_db.scalar("SELECT count(*) FROM messages WHERE conversation_id = ? AND body = 'On my way'", [sms]) == 1
    assert demo_db.scalar("SELECT count(*) FROM drafts WHERE conversation_id = ?", [sms]) == 0
    assert at.text_area(key=f"compose_text_{sms}").value == ""


def test_text_typed_with_a_send_that_is_refused_is_kept_as_the_draft(app_as, demo_db, sms):
    at = app_as("maria", PAGE, {"id": sms})
    at.text_area(key=f"compose_text_{sms}").input("Hi {{first_name}}, are you still there?")
    at.button(key=f"send_{sms}").click().run()
    assert texts(at, "error") == [
        "The message still has an unfilled variable {{first_name}}; replace it before sending."
    ]
    assert demo_db.scalar("SELECT count(*) FROM messages WHERE conversation_id = ?", [sms]) == 1
    assert (
        demo_db.scalar("SELECT body FROM drafts WHERE conversation_id = ?", [sms])
        == "Hi {{first_name}}, are you still there?"
    )
    assert at.text_area(key=f"compose_text_{sms}").value == "Hi {{first_name}}, are you still there?"


def test_the_same_text_typed_again_after_the_echo_time_is_kept(app_as, demo_db, sms, monkeypatch):
    from pages import compose_text

    monkeypatch.setattr(compose_text, "ECHO_SECONDS", 0.0)
    at = app_as("maria", PAGE, {"id": sms})
    box = f"compose_text_{sms}"
    at.text_area(key=box).input("Thanks!")
    at.button(key=f"send_{sms}").click().run()
    at.text_area(key=box).input("Thanks!").run()
    assert at.text_area(key=box).value == "Thanks!"
    assert demo_db.scalar("SELECT body FROM drafts WHERE conversation_id = ?", [sms]) == "Thanks!"


def test_a_closed_conversation_says_sending_reopens_it(app_as, demo_db, sms):
    demo_db.write(lambda tx: tx.execute("UPDATE conversations SET status = 'closed' WHERE id = ?", [sms]))
    at = app_as("maria", PAGE, {"id": sms})
    assert "This conversation is closed: sending reopens it." in texts(at, "info")
    at.text_area(key=f"compose_text_{sms}").input("One more thing")
    at.button(key=f"send_{sms}").click().run()
    assert demo_db.scalar("SELECT status FROM conversations WHERE id = ?", [sms]) == "open"
    assert "This conversation is closed: sending reopens it." not in texts(at, "info")


def test_whatsapp_window_open_says_how_long(app_as, demo_db, frozen):
    set_hours(demo_db, weekly=ALWAYS)
    cid = whatsapp(demo_db, hours_ago=2)
    at = app_as("maria", PAGE, {"id": cid})
    assert texts(at, "success") == ["Customer care window open — 22 h 0 min left"]
    assert not at.button(key=f"send_{cid}").disabled


def test_whatsapp_window_closed_offers_registered_templates(app_as, demo_db, frozen):
    set_hours(demo_db, weekly=ALWAYS)
    cid = whatsapp(demo_db, hours_ago=30)
    at = app_as("maria", PAGE, {"id": cid})
    assert texts(at, "warning") == [
        "The WhatsApp customer care window is closed (24 hours after the customer's last message): "
        "only registered templates can be sent."
    ]
    box = at.selectbox(key=f"compose_template_{cid}")
    assert box.label == "Registered templates"
    assert [o.split(" · ")[0] for o in box.options] == [
        "Appointment reminder",
        "Check-up recall",
        "Recordatorio de cita",
    ]
    assert at.button(key=f"send_{cid}").disabled  # until a template is chosen
    assert at.text_area(key=f"compose_text_{cid}").disabled
    box.select(box.options[1]).run()
    assert at.text_area(key=f"compose_text_{cid}").value == (
        "Hello Wanda 👋 It's been 6 months since your last check-up at Brightside Dental. "
        "Reply here and we'll find a time."
    )
    assert not at.button(key=f"send_{cid}").disabled


def test_window_closing_before_the_release_is_announced(app_as, demo_db, frozen):
    set_hours(demo_db, weekly=SATURDAYS)
    cid = whatsapp(demo_db, hours_ago=22)  # closes at 2:00 PM in New York, Saturday is the next opening
    at = app_as("maria", PAGE, {"id": cid})
    assert texts(at, "success") == ["Customer care window open — 2 h 0 min left"]
    assert texts(at, "info") == [
        "Outside business hours: this will be queued until Sat 4:00 AM (America/New_York).  \n"
        "Business hours (UTC): Sat 9:00 AM–5:00 PM · closed now, opens Sat 9:00 AM"
    ]
    assert texts(at, "warning") == [
        "The WhatsApp window closes at 2:00 PM, before this could go: free text will not be sent then, "
        "only a registered template."
    ]


def test_segment_line_wording():
    assert composer.segment_line("x" * 42) == "42 characters · GSM-7 · 1 segment (118 left)"
    assert composer.segment_line("x" * 161).startswith("161 characters · GSM-7 · 2 segments")


PNG = picture_bytes()  # a real picture: one that does not open is refused


def attach_label(at) -> str:
    return next(p.proto.popover.label for p in at.get("popover") if "Attach" in p.proto.popover.label)


def test_an_attached_file_stays_attached_when_the_agent_leaves_and_comes_back(app_as, demo_db, sms):
    at = app_as("maria", PAGE, {"id": sms})
    at.text_area(key=f"compose_text_{sms}").input("Your x-ray, as promised").run()
    at.file_uploader(key=f"compose_files_{sms}_0").set_value(("x-ray.png", PNG, "image/png")).run()
    assert attach_label(at) == "Attach (1)"
    # Another page, then back: the text comes back from the draft, and the file with it.
    at.switch_page("pages/my_inbox.py").run()
    at.switch_page(PAGE)
    at.query_params["id"] = str(sms)
    at.run()
    assert at.text_area(key=f"compose_text_{sms}").value == "Your x-ray, as promised"
    assert attach_label(at) == "Attach (1)"
    at.button(key=f"send_{sms}").click().run()
    assert not at.error
    mid, body = demo_db.fetchone(
        "SELECT id, body FROM messages WHERE conversation_id = ? ORDER BY id DESC LIMIT 1", [sms]
    )
    assert body == "Your x-ray, as promised"
    assert demo_db.fetchall("SELECT filename, content_type, size FROM media WHERE message_id = ?", [mid]) == [
        ("x-ray.png", "image/png", len(PNG))
    ]
    assert attach_label(at) == "Attach"  # it went with the message


def test_a_removed_attachment_does_not_go(app_as, demo_db, sms):
    at = app_as("maria", PAGE, {"id": sms})
    at.file_uploader(key=f"compose_files_{sms}_0").set_value(("old.png", PNG, "image/png")).run()
    at.file_uploader(key=f"compose_files_{sms}_1").set_value(("new.png", PNG, "image/png")).run()
    assert attach_label(at) == "Attach (2)"
    at.button(key=f"unattach_{sms}_1").click().run()
    assert attach_label(at) == "Attach (1)"
    at.text_area(key=f"compose_text_{sms}").input("Only the new one").run()
    at.button(key=f"send_{sms}").click().run()
    mid = demo_db.scalar("SELECT max(id) FROM messages WHERE conversation_id = ?", [sms])
    assert demo_db.fetchall("SELECT filename FROM media WHERE message_id = ?", [mid]) == [("new.png",)]
