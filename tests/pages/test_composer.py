"""The compose box: sending, blocked reasons (rules 2, 3, 5), templates, counts, files."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from core import clock, settings
from pages import composer

PAGE = "pages/conversation.py"


def uid(db, username):
    return db.scalar("SELECT id FROM users WHERE username = ?", [username])


def open_around_the_clock(db):
    db.write(
        lambda tx: (
            settings.put(
                tx,
                "business_hours",
                {"timezone": "UTC", "weekly": {str(d): [["00:00", "24:00"]] for d in range(7)}, "holidays": []},
            ),
            settings.put(tx, "quiet_hours", {"start": "00:00", "end": "24:00"}),
        )
    )


def closed_until_later_this_week(db):
    day = (clock.utcnow().weekday() + 3) % 7  # open one day, three days from now
    db.write(
        lambda tx: settings.put(
            tx, "business_hours", {"timezone": "UTC", "weekly": {str(day): [["09:00", "17:00"]]}, "holidays": []}
        )
    )


def sms_conversation(db, username="maria"):
    return db.scalar(
        "SELECT c.id FROM conversations c JOIN contacts ct ON ct.id = c.contact_id JOIN senders s "
        "ON s.id = c.sender_id WHERE c.owner_id = ? AND c.channel = 'sms' AND NOT ct.opted_out "
        "AND s.enabled AND ct.name IS NOT NULL ORDER BY c.id LIMIT 1",
        [uid(db, username)],
    )


def whatsapp_conversation(db, *, window_open: bool):
    cutoff = clock.utcnow() - dt.timedelta(hours=24)
    op = ">" if window_open else "<"
    return db.fetchone(
        "SELECT c.id, u.username FROM conversations c JOIN contacts ct ON ct.id = c.contact_id JOIN users u "
        f"ON u.id = c.owner_id WHERE c.channel = 'whatsapp' AND NOT ct.opted_out AND c.last_inbound_at {op} ? "
        "AND u.role = 'standard' ORDER BY c.id LIMIT 1",
        [cutoff],
    )


def texts(at, kind):
    return [str(e.value) for e in getattr(at, kind)]


def test_send_queues_the_message_and_clears_the_box(app_as, demo_db):
    open_around_the_clock(demo_db)
    cid = sms_conversation(demo_db)
    at = app_as("maria", PAGE, {"id": cid})
    at.text_area(key=f"compose_text_{cid}").input("See you Thursday at 3 :thumbsup:")
    at.button(key=f"send_{cid}").click().run()
    assert not at.error
    row = demo_db.fetchone(
        "SELECT body, status, author_id FROM messages WHERE conversation_id = ? ORDER BY id DESC LIMIT 1", [cid]
    )
    assert row == ("See you Thursday at 3 👍", "queued", uid(demo_db, "maria"))
    assert at.text_area(key=f"compose_text_{cid}").value == ""
    assert "See you Thursday at 3 👍" in texts(at, "text")
    assert any("🕓" in c for c in texts(at, "caption"))


def test_send_outside_hours_says_when_it_goes(app_as, demo_db):
    closed_until_later_this_week(demo_db)
    cid = sms_conversation(demo_db)
    at = app_as("maria", PAGE, {"id": cid})
    info = [i for i in texts(at, "info") if "queued until" in i]
    assert info and info[0].startswith("Outside business hours: this will be queued until ")
    weekday = (clock.utcnow() + dt.timedelta(days=3)).strftime("%a")
    assert weekday in info[0]
    at.text_area(key=f"compose_text_{cid}").input("We open on " + weekday)
    at.button(key=f"send_{cid}").click().run()
    status, release_at = demo_db.fetchone(
        "SELECT status, release_at FROM messages WHERE conversation_id = ? ORDER BY id DESC LIMIT 1", [cid]
    )
    assert status == "queued" and release_at > clock.utcnow()
    assert any("🕓 Queued until " + weekday in c for c in texts(at, "caption"))


def test_empty_send_gives_one_sentence(app_as, demo_db):
    cid = sms_conversation(demo_db)
    at = app_as("maria", PAGE, {"id": cid})
    before = demo_db.scalar("SELECT count(*) FROM messages WHERE conversation_id = ?", [cid])
    at.button(key=f"send_{cid}").click().run()
    assert texts(at, "error") == ["Write a message or attach a file first."]
    assert demo_db.scalar("SELECT count(*) FROM messages WHERE conversation_id = ?", [cid]) == before


def test_opted_out_contact_blocks_the_composer(app_as, demo_db):
    cid, owner = demo_db.fetchone(
        "SELECT c.id, u.username FROM conversations c JOIN contacts ct "
        "ON ct.id = c.contact_id JOIN users u ON u.id = c.owner_id "
        "WHERE ct.opted_out ORDER BY c.id LIMIT 1"
    )
    at = app_as(owner, PAGE, {"id": cid})
    assert any("has opted out" in w for w in texts(at, "warning"))
    assert at.button(key=f"send_{cid}").disabled
    assert at.text_area(key=f"compose_text_{cid}").disabled


def test_supervisor_sees_no_composer(app_as, demo_db):
    cid = sms_conversation(demo_db)
    at = app_as("sam", PAGE, {"id": cid})
    assert "Supervisors can read but not send." in texts(at, "info")
    assert not at.text_area
    assert not [b for b in at.button if b.key == f"send_{cid}"]


def test_sms_segment_count(app_as, demo_db):
    cid = sms_conversation(demo_db)
    at = app_as("maria", PAGE, {"id": cid})
    at.text_area(key=f"compose_text_{cid}").input("x" * 42).run()
    assert "42 characters · GSM-7 · 1 segment (118 left)" in texts(at, "caption")
    at.text_area(key=f"compose_text_{cid}").input("Café 😀").run()
    line = next(c for c in texts(at, "caption") if "characters" in c)
    assert "UCS-2" in line and "😀" in line


def test_emoji_button_appends_and_shortcodes_preview(app_as, demo_db):
    cid = sms_conversation(demo_db)
    at = app_as("maria", PAGE, {"id": cid})
    at.text_area(key=f"compose_text_{cid}").input("Thanks :smile:").run()
    assert "Thanks 😄" in texts(at, "text")  # what will be sent
    at.button(key=f"emoji_{cid}_13").click().run()  # 👍
    assert at.text_area(key=f"compose_text_{cid}").value == "Thanks :smile:👍"


def test_template_fills_text_and_lists_missing_variables(app_as, demo_db):
    cid = sms_conversation(demo_db)
    first = demo_db.scalar(
        "SELECT split_part(ct.name, ' ', 1) FROM conversations c JOIN contacts ct "
        "ON ct.id = c.contact_id WHERE c.id = ?",
        [cid],
    )
    at = app_as("maria", PAGE, {"id": cid})
    box = at.selectbox(key=f"compose_template_{cid}")
    running_late = next(o for o in box.options if o.startswith("Running late"))
    box.select(running_late).run()
    assert (
        at.text_area(key=f"compose_text_{cid}").value
        == f"Hi {first}, no problem — we'll hold your appointment for 15 minutes."
    )
    needs_date = [o for o in at.selectbox(key=f"compose_template_{cid}").options if "{{date}}" in o]
    if needs_date:  # a template with a variable the contact has no value for
        at.selectbox(key=f"compose_template_{cid}").select(needs_date[0]).run()
        assert any("{{date}}" in w for w in texts(at, "warning"))


def test_whatsapp_window_open(app_as, demo_db):
    found = whatsapp_conversation(demo_db, window_open=True)
    if found is None:
        pytest.skip("no WhatsApp conversation with an open window in the demo")
    cid, owner = found
    at = app_as(owner, PAGE, {"id": cid})
    assert any(s.startswith("Customer care window open — ") and s.endswith(" left") for s in texts(at, "success"))


def test_whatsapp_window_closed_offers_registered_templates(app_as, demo_db):
    found = whatsapp_conversation(demo_db, window_open=False)
    if found is None:
        pytest.skip("no WhatsApp conversation with a closed window in the demo")
    cid, owner = found
    at = app_as(owner, PAGE, {"id": cid})
    assert any("only registered templates can be sent" in w for w in texts(at, "warning"))
    box = at.selectbox(key=f"compose_template_{cid}")
    assert box.label == "Registered templates"
    assert box.options and all("registered" in o for o in box.options)
    assert at.button(key=f"send_{cid}").disabled  # until a template is chosen
    box.select(box.options[0]).run()
    assert at.text_area(key=f"compose_text_{cid}").value


def test_attachment_rules_are_explained():
    ok = SimpleNamespace(name="x-ray.png", type="image/png", size=20_000)
    bad = SimpleNamespace(name="setup.exe", type="application/x-msdownload", size=20_000)
    assert composer._check_files("sms", [ok]) == []
    assert composer._check_files("sms", [bad]) == ["Files of type application/x-msdownload cannot be sent."]
    two = composer._check_files("whatsapp", [ok, ok])
    assert two == ["A WhatsApp message can carry one attachment; send the others in separate messages."]


def test_segment_line_wording():
    assert composer.segment_line("x" * 42) == "42 characters · GSM-7 · 1 segment (118 left)"
    assert composer.segment_line("x" * 161).startswith("161 characters · GSM-7 · 2 segments")


def test_window_line_wording():
    window = SimpleNamespace(open=True, remaining=dt.timedelta(hours=5, minutes=12))
    assert composer.window_line(window) == ("success", "Customer care window open — 5 h 12 min left")
    closed = SimpleNamespace(open=False, remaining=dt.timedelta(0))
    assert composer.window_line(closed)[1] == "Window closed: only registered templates can be sent"
