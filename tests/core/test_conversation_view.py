"""The Conversation page's one core call (core.conversation_view): what it returns, what it
decides (rules 2, 3, 5, 6, 10, who may work, what may be retried), and how few statements it takes."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock, labels, versions
from core.conversation_view import check_files, conversation_view, missing_variables, upload_limits
from core.errors import NotFound, PermissionDenied
from tests import factories as f

NOW = dt.datetime(2027, 1, 13, 17, 0)  # a Wednesday, noon in New York


@pytest.fixture
def ws(db, make_user):
    clock.freeze(NOW)
    f.always_open(db)
    admin = make_user("ada", "admin", "Ada Admin")
    maria = make_user("maria", "standard", "Maria Lopez")
    james = make_user("james", "standard", "James Cole")
    sam = make_user("sam", "supervisor", "Sam Super")
    sms = f.add_sender(db, label="Front desk", registration_status="unregistered")
    wa = f.add_sender(db, channel="whatsapp", label="WhatsApp")
    zoe = f.add_contact(db, name="Zoë Ávila")
    c_sms = f.add_conversation(
        db, contact_id=zoe, sender_id=sms, owner_id=maria.id, last_inbound_at=NOW - dt.timedelta(hours=1)
    )
    f.add_template(db, name="Directions", body="We're at 120 Main Street.")
    f.add_template(
        db, name="Check-up", channel="whatsapp", body="Hi {{first_name}}, time for a check-up.", registered=True
    )
    f.add_template(db, name="Free WhatsApp", channel="whatsapp", body="Just checking in!")
    return dict(admin=admin, maria=maria, james=james, sam=sam, sms=sms, wa=wa, zoe=zoe, c_sms=c_sms)


def whatsapp(db, ws, hours_ago):
    return f.add_conversation(
        db,
        contact_id=ws["zoe"],
        sender_id=ws["wa"],
        owner_id=ws["maria"].id,
        last_inbound_at=NOW - dt.timedelta(hours=hours_ago),
    )


def test_one_call_gives_the_whole_page(db, ws):
    view = conversation_view(db, ws["maria"], str(ws["c_sms"]))
    assert view.conversation_id == ws["c_sms"]
    assert view.contact_label == "Zoë Ávila"
    assert (view.detail["sender_label"], view.detail["owner_name"], view.detail["status"]) == (
        "Front desk",
        "Maria Lopez",
        "open",
    )
    assert [m["body"] for m in view.messages] == ["Hello"]
    assert view.has_older is False
    assert view.permissions.is_owner and view.permissions.can_work and view.permissions.back_to == "inbox"
    assert [t["name"] for t in view.composer.templates] == ["Directions"]
    assert view.version == versions.conversation_version(db, ws["c_sms"])


def test_the_owner_opening_it_marks_it_read_and_others_do_not(db, ws):
    for viewer in ("admin", "sam"):
        view = conversation_view(db, ws[viewer], ws["c_sms"])
        assert view.detail["unread"] is True and view.marked_read is False
        assert view.permissions.back_to == "team"
    before = versions.conversation_version(db, ws["c_sms"])
    view = conversation_view(db, ws["maria"], ws["c_sms"])
    assert view.marked_read is True and view.detail["unread"] is False
    assert view.version == before + 1 == versions.conversation_version(db, ws["c_sms"])
    again = conversation_view(db, ws["maria"], ws["c_sms"])
    assert again.marked_read is False and again.version == view.version


@pytest.mark.parametrize(
    "raw, error, sentence",
    [
        ("abc", NotFound, "“abc” is not a conversation number."),
        ("999999", NotFound, "There is no conversation 999999."),
        ("-3", NotFound, "There is no conversation -3."),
        ("", NotFound, "“” is not a conversation number."),
    ],
)
def test_bad_ids_get_one_sentence(db, ws, raw, error, sentence):
    with pytest.raises(error) as raised:
        conversation_view(db, ws["maria"], raw)
    assert str(raised.value) == sentence


def test_another_agents_conversation_is_refused(db, ws):
    with pytest.raises(PermissionDenied) as raised:
        conversation_view(db, ws["james"], ws["c_sms"])
    assert str(raised.value) == (
        f"Conversation {ws['c_sms']} is assigned to someone else; you can open only the conversations in your inbox."
    )


def test_who_may_work_it(db, ws):
    assert conversation_view(db, ws["admin"], ws["c_sms"]).permissions.can_work is True
    sam = conversation_view(db, ws["sam"], ws["c_sms"])
    assert (sam.permissions.can_work, sam.composer.can_write, sam.composer.refusal) == (
        False,
        False,
        "Supervisors can read conversations but cannot send messages.",
    )
    assert sam.permissions.can_mark_unread is False


def test_retryable_messages(db, ws):
    failed, interrupted, delivered = (
        f.add_messages(db, conversation_id=ws["c_sms"], count=2)[1],
        f.add_messages(db, conversation_id=ws["c_sms"], count=2)[1],
        f.add_messages(db, conversation_id=ws["c_sms"], count=2)[1],
    )
    db.write(
        lambda tx: tx.execute(
            "UPDATE messages SET status = 'failed', error_code = '30003', "
            "error_reason = 'Unreachable handset' WHERE id = ?",
            [failed],
        )
    )
    db.write(lambda tx: tx.execute("UPDATE messages SET status = 'interrupted' WHERE id = ?", [interrupted]))
    for viewer, expected in (("maria", {failed, interrupted}), ("admin", {failed, interrupted}), ("sam", set())):
        view = conversation_view(db, ws[viewer], ws["c_sms"])
        assert {m["id"] for m in view.messages if m["retryable"]} == expected
    texts = {m["id"]: m["status_text"] for m in conversation_view(db, ws["maria"], ws["c_sms"]).messages}
    assert (texts[failed].words, texts[failed].reason) == ("Failed", "Unreachable handset (error 30003)")
    assert (texts[interrupted].words, texts[interrupted].reason) == ("Interrupted", "we don't know if it was sent")
    assert (texts[delivered].words, texts[delivered].problem) == ("Delivered", False)


def test_status_words_for_sends_under_provider_faults():
    """Issue 18: a message waiting out an outage says why and when it is retried; an interrupted
    one says whether Parley is still checking with the provider or the agent must decide."""
    from core import delivery

    now = dt.datetime(2026, 3, 2, 15, 0)
    retry_at = now + dt.timedelta(minutes=3)
    queued = labels.status_text(
        {"status": "queued", "error_reason": "provider unavailable (HTTP 500: Internal Server Error)",
         "release_at": retry_at},
        now,
    )  # fmt: skip
    assert (queued.words, queued.reason, queued.until, queued.problem) == (
        "Queued",
        "provider unavailable (HTTP 500: Internal Server Error)",
        retry_at,
        False,
    )
    held = labels.status_text({"status": "queued", "release_at": retry_at}, now)  # business hours: no reason
    assert (held.reason, held.until) == ("", retry_at)
    checking = labels.status_text({"status": "interrupted", "error_reason": delivery.CHECKING_REASON}, now)
    assert checking.reason == (
        "the provider's answer never came, so Parley is checking with the provider whether this went out "
        "before sending it again."
    )
    decide = labels.status_text({"status": "interrupted", "error_reason": delivery.INTERRUPTED_REASON}, now)
    assert decide.reason.startswith("the provider's answer never came and the provider cannot be asked")
    assert decide.reason.endswith("Retry to send it again (if the first try did arrive, it arrives twice).")


def test_an_attachment_that_could_not_be_downloaded_is_said_beside_its_message(db, ws):
    """The customer sent a photo whose download failed: the message is kept, with no media, and its
    status says what happened and why (rule 8: never a silent drop)."""
    from core.actions import inbound
    from core.providers.base import InboundEvent

    sender = db.dicts("SELECT * FROM senders WHERE id = ?", [ws["sms"]])[0]
    phone = db.scalar("SELECT phone FROM contacts WHERE id = ?", [ws["zoe"]])
    event = InboundEvent("SMimg2", "sms", phone, sender["phone"], None, "", NOW)
    why = "Attachment 1 could not be downloaded: The attachment has no URL to download."
    db.write(lambda tx: inbound.apply_inbound(tx, event, sender, [], [why]))
    last = conversation_view(db, ws["maria"], ws["c_sms"]).messages[-1]
    text = last["status_text"]
    assert (last["body"], text.status, text.words, text.reason, text.problem) == (
        "",
        "received",
        "Received",
        why,
        False,
    )
    plain = labels.status_text({"status": "received", "error_reason": None}, NOW)
    assert (plain.words, plain.reason) == ("Received", "")


def test_whatsapp_window_open(db, ws):
    composer = conversation_view(db, ws["maria"], whatsapp(db, ws, 2)).composer
    assert composer.window_notice == ("success", "Customer care window open — 22 h 0 min left")
    assert (composer.templates_only, composer.blocked_reason, composer.hard_block) == (False, None, False)
    assert [t["name"] for t in composer.templates] == ["Check-up", "Directions", "Free WhatsApp"]


def test_whatsapp_window_closed_offers_only_registered_templates(db, ws):
    composer = conversation_view(db, ws["maria"], whatsapp(db, ws, 30)).composer
    assert composer.window_notice is None
    assert composer.templates_only and not composer.hard_block
    assert composer.blocked_reason == (
        "The WhatsApp customer care window is closed (24 hours after the customer's last message): "
        "only registered templates can be sent."
    )
    assert [t["name"] for t in composer.templates] == ["Check-up"]
    assert composer.needs_template(None) is True
    assert composer.needs_template(composer.templates[0]["id"]) is False


def test_outside_hours_and_the_window_closing_first(db, ws):
    f.set_hours(db, weekly={"5": [["09:00", "17:00"]]})  # Saturdays only (UTC)
    composer = conversation_view(db, ws["maria"], whatsapp(db, ws, 22)).composer
    assert composer.release_at == dt.datetime(2027, 1, 16, 9, 0)
    # Maria reads her own time, named because the hours (UTC) are in another zone.
    assert composer.release_notice == (
        "Outside business hours: this will be queued until Sat 4:00 AM (America/New_York)."
    )
    assert composer.window_warning == (
        "The WhatsApp window closes at 2:00 PM, before this could go: free text will not be sent then, "
        "only a registered template."
    )
    view = conversation_view(db, ws["maria"], ws["c_sms"])
    assert view.composer.window_warning is None
    assert view.refresh_at == dt.datetime(2027, 1, 16, 9, 0)  # the notice changes when the hours open


def test_the_hours_beside_a_release_for_business_hours_and_a_closed_conversation(db, ws):
    view = conversation_view(db, ws["maria"], ws["c_sms"])
    assert (view.composer.hours_notice, view.composer.reopen_notice) == (None, None)  # open, hours open
    f.set_hours(db, weekly={"5": [["09:00", "17:00"]]})  # Saturdays only (UTC)
    db.write(lambda tx: tx.execute("UPDATE conversations SET status = 'closed' WHERE id = ?", [ws["c_sms"]]))
    composer = conversation_view(db, ws["maria"], ws["c_sms"]).composer
    # The week and the opening in one zone, the hours' own, named once.
    assert composer.hours_notice == "Business hours (UTC): Sat 9:00 AM–5:00 PM · closed now, opens Sat 9:00 AM"
    assert composer.reopen_notice == "This conversation is closed: sending reopens it."
    assert conversation_view(db, ws["sam"], ws["c_sms"]).composer.reopen_notice is None  # cannot send at all
    # Held only by the recipient's quiet hours: no business hours to show.
    f.set_hours(db, weekly={str(d): [["00:00", "24:00"]] for d in range(7)}, quiet=("18:00", "19:00"))
    composer = conversation_view(db, ws["maria"], ws["c_sms"]).composer
    assert composer.release_notice is not None and composer.hours_notice is None


def test_opted_out_and_disabled_sender_block_everything(db, ws):
    db.write(lambda tx: tx.execute("UPDATE contacts SET opted_out = TRUE WHERE id = ?", [ws["zoe"]]))
    composer = conversation_view(db, ws["maria"], ws["c_sms"]).composer
    assert composer.hard_block and composer.release_notice is None
    assert (
        composer.blocked_reason == "Zoë Ávila has opted out (replied STOP): nothing can be sent until they reply START."
    )
    db.write(lambda tx: tx.execute("UPDATE contacts SET opted_out = FALSE WHERE id = ?", [ws["zoe"]]))
    db.write(lambda tx: tx.execute("UPDATE senders SET enabled = FALSE WHERE id = ?", [ws["sms"]]))
    composer = conversation_view(db, ws["maria"], ws["c_sms"]).composer
    assert composer.blocked_reason == "The sender Front desk is disabled; an admin can enable it."


def test_unregistered_us_sender_warns_admins_only(db, ws):
    assert conversation_view(db, ws["admin"], ws["c_sms"]).composer.sender_warning == (
        "Front desk has no completed 10DLC brand and campaign registration (status: unregistered); US carriers "
        "may filter or block its messages."
    )
    assert conversation_view(db, ws["maria"], ws["c_sms"]).composer.sender_warning is None


def test_upload_limits_and_file_checks():
    assert (upload_limits("whatsapp").max_mb, upload_limits("sms").max_mb) == (100, 5)
    ok = ("x-ray.png", "image/png", 20_000)
    assert check_files("sms", [ok]) == []
    assert check_files("sms", [("setup.exe", "application/x-msdownload", 20_000)]) == [
        "Files of type application/x-msdownload cannot be sent."
    ]
    assert check_files("whatsapp", [ok, ok]) == [
        "A WhatsApp message can carry one attachment; send the others in separate messages."
    ]
    assert check_files("sms", [("big.png", "image/png", 6_000_000)]) == ["SMS/MMS attachments must total 5 MB or less."]


def test_missing_template_variables():
    assert missing_variables("Hi Zoë, see you on {{date}} at {{ time }} ({{date}})") == ["date", "time"]
    assert missing_variables("Hi Zoë") == []


def test_contact_label_and_status_words():
    assert labels.contact_label("  Zoë  ", "+14155550123") == "Zoë"
    assert labels.contact_label(None, "+14155550123") == "(415) 555-0123"
    assert labels.contact_label("", None) == "Unknown number"
    later = NOW + dt.timedelta(hours=3)
    assert labels.status_text({"status": "queued", "release_at": later}, NOW).until == later
    assert labels.status_text({"status": "not_sent", "error_reason": "Contact opted out"}, NOW).reason == (
        "Contact opted out"
    )
    assert labels.status_text({"status": "undelivered"}, NOW).reason == "the carrier could not deliver it"


class _Counting:
    def __init__(self, cursor, calls):
        self._cursor, self._calls = cursor, calls

    def execute(self, sql, params=None):
        self._calls.append(" ".join(sql.split())[:60])
        return self._cursor.execute(sql, params)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


def test_few_statements(db, ws, monkeypatch):
    conversation_view(db, ws["maria"], ws["c_sms"])  # marks it read
    calls: list[str] = []
    real = db.cursor
    monkeypatch.setattr(db, "cursor", lambda: _Counting(real(), calls))
    conversation_view(db, ws["maria"], ws["c_sms"])
    assert len(calls) == 3, calls  # the conversation; what it points to; its messages
    calls.clear()
    versions.conversation_version(db, ws["c_sms"])
    assert len(calls) == 1


def test_a_closed_window_offers_only_the_templates_whatsapp_approved(db, ws):
    f.add_template(
        db, name="Awaiting review", channel="whatsapp", body="Hello!", registered=True, approval_status="pending"
    )
    composer = conversation_view(db, ws["maria"], whatsapp(db, ws, hours_ago=30)).composer
    assert [(t["name"], t["language"]) for t in composer.templates] == [("Check-up", "en_US")]


def test_what_admins_change_in_the_small_tables_shows_in_the_very_next_view(db, ws):
    """Senders, templates, hours and names are kept in memory between views (Database.small_table_cache):
    each change, by an admin page or any other write, shows in the next view."""
    from core.actions import user_admin

    first = conversation_view(db, ws["maria"], ws["c_sms"])
    assert first.detail["owner_name"] == "Maria Lopez"
    assert first.composer.release_notice is None
    assert [t["name"] for t in first.composer.templates] == ["Directions"]

    user_admin.do_update_profile(
        db, ws["admin"], ws["maria"].id, display_name="Maria López-Ruiz", timezone="UTC", team_id=None
    )
    assert conversation_view(db, ws["maria"], ws["c_sms"]).detail["owner_name"] == "Maria López-Ruiz"

    f.add_template(db, name="Balance due", body="Your balance is due.")
    assert [t["name"] for t in conversation_view(db, ws["maria"], ws["c_sms"]).composer.templates] == [
        "Balance due",
        "Directions",
    ]

    f.set_hours(db, weekly={"2": [["09:00", "10:00"]]})  # Wednesdays 9-10 UTC; it is 17:00
    assert conversation_view(db, ws["maria"], ws["c_sms"]).composer.release_notice == (
        "Outside business hours: this will be queued until Wed Jan 20, 4:00 AM (America/New_York)."
    )

    db.write(lambda tx: tx.execute("UPDATE senders SET enabled = FALSE WHERE id = ?", [ws["sms"]]))
    composer = conversation_view(db, ws["maria"], ws["c_sms"]).composer
    assert composer.hard_block is True


def test_the_small_tables_are_read_again_only_after_a_write_that_changes_them(db, ws):
    loads = []

    def load(database):
        loads.append(1)
        return database.scalar("SELECT display_name FROM users WHERE id = ?", [ws["maria"].id])

    assert db.small_table_cache("test.name", load) == "Maria Lopez"
    assert db.small_table_cache("test.name", load) == "Maria Lopez"
    assert len(loads) == 1
    # A message arriving raises versions (users.inbox_version, core.versions) and changes no name.
    f.add_message(
        db, conversation_id=ws["c_sms"], contact_id=ws["zoe"], sender_id=ws["sms"], direction="in", body="Open?"
    )
    db.write(lambda tx: tx.execute("UPDATE users SET inbox_version = inbox_version + 1 WHERE id = ?", [ws["maria"].id]))
    assert db.small_table_cache("test.name", load) == "Maria Lopez"
    assert len(loads) == 1
    db.write(lambda tx: tx.execute("UPDATE users SET display_name = 'M. Lopez' WHERE id = ?", [ws["maria"].id]))
    assert db.small_table_cache("test.name", load) == "M. Lopez"
    assert len(loads) == 2
    # A write that failed changes nothing, and nothing is read again for it.
    with pytest.raises(RuntimeError):

        def failing(tx):
            tx.execute("UPDATE users SET display_name = 'Never' WHERE id = ?", [ws["maria"].id])
            raise RuntimeError("rolled back")

        db.write(failing)
    assert db.small_table_cache("test.name", load) == "M. Lopez"
    assert len(loads) == 2


def _unread_for_maria(db, ws) -> bool:
    return conversation_view(db, ws["admin"], ws["c_sms"]).detail["unread"]  # an admin's look marks nothing


def test_a_deferred_mark_shows_read_at_once_and_writes_when_the_page_finishes(db, ws):
    from core.conversation_view import finish_open

    before = versions.conversation_version(db, ws["c_sms"])
    view = conversation_view(db, ws["maria"], ws["c_sms"], defer_mark=True)
    assert (view.detail["unread"], view.mark_pending, view.marked_read, view.version) == (False, True, False, before)
    assert _unread_for_maria(db, ws) is True  # nothing written yet
    assert finish_open(db, ws["maria"], view) == before + 1 == versions.conversation_version(db, ws["c_sms"])
    assert (view.mark_pending, view.marked_read, view.version) == (False, True, before + 1)
    assert _unread_for_maria(db, ws) is False
    assert finish_open(db, ws["maria"], view) == before + 1  # once only
    assert versions.conversation_version(db, ws["c_sms"]) == before + 1
    again = conversation_view(db, ws["maria"], ws["c_sms"], defer_mark=True)
    assert (again.mark_pending, again.detail["unread"]) == (False, False)


def test_a_live_page_drawn_before_its_deferred_mark_watches_the_version_the_mark_will_make(db, ws):
    from core.conversation_view import finish_open, version_to_watch

    shown = versions.conversation_version(db, ws["c_sms"])
    view = conversation_view(db, ws["maria"], ws["c_sms"], defer_mark=True)
    assert version_to_watch(view) == shown + 1
    finish_open(db, ws["maria"], view)
    assert version_to_watch(view) == shown + 1 == versions.conversation_version(db, ws["c_sms"])
    read_by_admin = conversation_view(db, ws["admin"], ws["c_sms"], defer_mark=True)
    assert version_to_watch(read_by_admin) == shown + 1  # nothing pending: the version shown


def test_a_change_between_the_view_and_its_deferred_mark_makes_the_page_reload(db, ws):
    from core.actions import conversations as conv_actions
    from core.conversation_view import finish_open

    shown = versions.conversation_version(db, ws["c_sms"])
    view = conversation_view(db, ws["maria"], ws["c_sms"], defer_mark=True)
    conv_actions.do_set_status(db, ws["admin"], [ws["c_sms"]], closed=True)  # meanwhile: version shown + 1
    assert finish_open(db, ws["maria"], view) == shown  # not shown + 2: the live page sees it moved
    assert versions.conversation_version(db, ws["c_sms"]) == shown + 2
    assert _unread_for_maria(db, ws) is False


def test_a_deferred_mark_is_not_made_for_someone_elses_conversation_or_a_read_one(db, ws):
    from core.conversation_view import finish_open

    view = conversation_view(db, ws["admin"], ws["c_sms"], defer_mark=True)
    assert (view.mark_pending, view.detail["unread"]) == (False, True)
    shown = view.version
    assert finish_open(db, ws["admin"], view) == shown
    assert _unread_for_maria(db, ws) is True


def _now(fn, *args, **kwargs):
    """A page writer that makes the write at once (``core.page_writes`` makes it on its thread)."""
    fn(*args, **kwargs)


def test_a_mark_handed_to_the_page_writer_is_watched_from_the_version_it_will_make(db, ws):
    from core.conversation_view import finish_open_later

    shown = versions.conversation_version(db, ws["c_sms"])
    view = conversation_view(db, ws["maria"], ws["c_sms"], defer_mark=True)
    handed = []
    assert finish_open_later(db, ws["maria"], view, lambda *a, **k: handed.append((a, k))) == shown + 1
    assert (view.mark_pending, view.version) == (False, shown + 1)
    assert _unread_for_maria(db, ws) is True  # handed over, not written
    assert len(handed) == 1
    _now(*handed[0][0], **handed[0][1])
    assert versions.conversation_version(db, ws["c_sms"]) == shown + 1
    assert _unread_for_maria(db, ws) is False
    assert finish_open_later(db, ws["maria"], view, lambda *a, **k: handed.append((a, k))) == shown + 1
    assert len(handed) == 1  # once only


def test_a_mark_unread_clicked_before_the_page_writer_marks_read_is_kept(db, ws):
    # The page's run has ended and its mark-read waits on the page writer's queue; the agent clicks
    # Mark unread meanwhile. The write made after it must not undo it.
    from core.actions import conversations as conv_actions
    from core.conversation_view import finish_open_later

    shown = versions.conversation_version(db, ws["c_sms"])
    view = conversation_view(db, ws["maria"], ws["c_sms"], defer_mark=True)
    handed = []
    finish_open_later(db, ws["maria"], view, lambda *a, **k: handed.append((a, k)))
    conv_actions.do_set_read_state(db, ws["maria"], [ws["c_sms"]], read=False)
    assert versions.conversation_version(db, ws["c_sms"]) == shown + 1
    _now(*handed[0][0], **handed[0][1])
    assert _unread_for_maria(db, ws) is True
    # Mark unread made the very number the page watches (shown + 1): raised once more, so that a
    # page still showing it reloads.
    assert versions.conversation_version(db, ws["c_sms"]) == shown + 2


def test_a_message_that_came_before_the_page_writer_marks_read_stays_unread(db, ws):
    # The agent has not seen it: the live page reloads (the version moved past the one it
    # watches) and marks read what it then shows.
    from core.actions import inbound
    from core.conversation_view import finish_open_later
    from core.providers.base import InboundEvent

    view = conversation_view(db, ws["maria"], ws["c_sms"], defer_mark=True)
    handed = []
    watched = finish_open_later(db, ws["maria"], view, lambda *a, **k: handed.append((a, k)))
    sender = db.dicts("SELECT * FROM senders WHERE id = ?", [ws["sms"]])[0]
    phone = db.scalar("SELECT phone FROM contacts WHERE id = ?", [ws["zoe"]])
    event = InboundEvent("SMlate1", "sms", phone, sender["phone"], None, "One more question", clock.utcnow())
    db.write(lambda tx: inbound.apply_inbound(tx, event, sender, []))
    _now(*handed[0][0], **handed[0][1])
    assert _unread_for_maria(db, ws) is True
    assert watched == view.version
    assert versions.conversation_version(db, ws["c_sms"]) == watched + 1  # the message, then once more
    reloaded = conversation_view(db, ws["maria"], ws["c_sms"], defer_mark=True)
    assert reloaded.messages[-1]["body"] == "One more question"
    assert finish_open_later(db, ws["maria"], reloaded, _now) == versions.conversation_version(db, ws["c_sms"])
    assert _unread_for_maria(db, ws) is False
