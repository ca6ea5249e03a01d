"""Sent Messages under AppTest: my outbound messages newest first, delivery status with the
provider's reasons, campaign messages (📣), campaign messages nobody answered (–), search, paging,
and marking the conversations of ticked rows read or unread.

Each case builds its messages with ``tests.factories`` at a frozen clock (``lists.NOW``) and
states the rows literally; ticks are sent as the browser's row list sends them.
"""

from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from core.actions.conversations import do_assign
from pages import bulk
from tests import factories as f
from tests.conftest import ROOT, sign_in_apptest
from tests.pages import lists
from tests.pages.lists import NOW, button, plain, range_caption, texts, workspace  # noqa: F401

PAGE = "pages/sent_messages.py"
KEY = "sent"
NO_REPLY = "No reply yet: a campaign message starts a conversation only when the customer answers."


def ago(**kwargs) -> dt.datetime:
    return NOW - dt.timedelta(**kwargs)


def ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at, "error")


def rows(at) -> list[dict]:
    return lists.rows(at, KEY)


def marker(db, user_id, cid) -> tuple | None:
    row = db.fetchone(
        "SELECT read_at IS NOT NULL, unread FROM read_markers WHERE user_id = ? AND conversation_id = ?",
        [user_id, cid],
    )
    return None if row is None else tuple(row)


class Sent:
    """What Ana sent: a campaign nobody answered, a campaign Carla answered, replies with every status."""

    def __init__(self, ws) -> None:
        db = ws.db
        self.ana = ws.user("ana", display_name="Ana Ruiz")
        self.ben = ws.user("ben", display_name="Ben Okafor")
        self.admin = ws.user("admin", role="admin", display_name="Ada Admin")
        sms = self.sms = f.add_sender(db, channel="sms", phone="+14155550100")
        wa = f.add_sender(db, channel="whatsapp", phone="+14155550199")
        spring = f.add_campaign(db, name="Spring cleaning", sender_id=sms, created_by=self.ana.id)
        self.quiet = f.add_contact(db, name="Quinn Quiet", phone="+14155552001")
        self.lone = f.add_message(
            db,
            contact_id=self.quiet,
            sender_id=sms,
            author_id=self.ana.id,
            campaign_id=spring,
            body="Spring cleaning: 20% off this month. Reply to book.",
            status="delivered",
            at=ago(days=2),
        )
        self.carla = f.add_contact(db, name="Carla Núñez", phone="+14155552002")
        self.to_carla = f.add_message(
            db,
            contact_id=self.carla,
            sender_id=sms,
            author_id=self.ana.id,
            campaign_id=spring,
            body="Spring cleaning: 20% off this month. Reply to book.",
            status="delivered",
            at=ago(days=2),
        )
        self.carla_conv = f.add_conversation(
            db,
            contact_id=self.carla,
            sender_id=sms,
            owner_id=self.ana.id,
            last_inbound_at=ago(days=1),
            inbound_body="Yes please, Friday?",
        )
        db.write(
            lambda tx: tx.execute(
                "UPDATE messages SET conversation_id = ? WHERE id = ?", [self.carla_conv, self.to_carla]
            )
        )
        self.reply = f.add_message(
            db,
            conversation_id=self.carla_conv,
            contact_id=self.carla,
            sender_id=sms,
            author_id=self.ana.id,
            body="Friday at 10:00 works.\nSee you then!",
            status="read",
            at=ago(minutes=40),
        )
        f.mark_read(db, self.ana.id, self.carla_conv)
        dmitri = f.add_contact(db, name="Dmitri Ivanov", phone="+14155552003")
        self.dmitri_conv = f.add_conversation(
            db,
            contact_id=dmitri,
            sender_id=wa,
            owner_id=self.ana.id,
            last_inbound_at=ago(hours=3),
            inbound_body="Do you open on Sunday?",
        )
        self.failed = f.add_message(
            db,
            conversation_id=self.dmitri_conv,
            contact_id=dmitri,
            sender_id=wa,
            author_id=self.ana.id,
            body="No, Monday to Saturday.",
            status="failed",
            error_code="131047",
            error_reason="Re-engagement message",
            at=ago(hours=2),
        )
        self.not_sent = f.add_message(
            db,
            conversation_id=self.dmitri_conv,
            contact_id=dmitri,
            sender_id=wa,
            author_id=self.ana.id,
            body="Here is our brochure",
            status="not_sent",
            error_reason="Contact opted out",
            has_media=True,
            at=ago(minutes=90),
        )
        self.queued = f.add_message(
            db,
            conversation_id=self.carla_conv,
            contact_id=self.carla,
            sender_id=sms,
            author_id=self.ana.id,
            body="Reminder: bring your card",
            status="queued",
            release_at=NOW + dt.timedelta(hours=17),
            at=ago(minutes=5),
        )
        bens_contact = f.add_contact(db, name="Fay Wong", phone="+14155552004")
        f.add_message(db, contact_id=bens_contact, sender_id=sms, author_id=self.ben.id, body="Ben's message")


@pytest.fixture
def sent(workspace):  # noqa: F811
    return Sent(workspace)


# ---- the rows ---------------------------------------------------------------------------------


def test_lists_my_outbound_messages_newest_first(workspace, sent):  # noqa: F811
    at = workspace.app("ana", PAGE)
    ok(at)
    assert texts(at, "header") == ["Sent Messages"]
    assert range_caption(at) == "1–6 of 6"
    assert rows(at) == [
        {
            "id": sent.queued,
            "href": f"conversation?id={sent.carla_conv}",
            "unread": False,
            "mark": None,
            "title": "Carla Núñez",
            "channel_icon": "💬",
            "channel_name": "SMS",
            "tag": "",
            "text": "Reminder: bring your card",
            "status": {
                "icon": "🕓",
                "word": "Queued until Thu 8:00 AM",
                "tone": "waiting",
                "help": "🕓 Queued until Thu 8:00 AM",
            },
            "when": "5 min",
            "when_help": "Wed, Mar 4, 2026, 2:55 PM",
        },
        {
            "id": sent.reply,
            "href": f"conversation?id={sent.carla_conv}",
            "unread": False,
            "mark": None,
            "title": "Carla Núñez",
            "channel_icon": "💬",
            "channel_name": "SMS",
            "tag": "",
            "text": "Friday at 10:00 works.",
            "status": {"icon": "✓✓", "word": "Read", "tone": "read", "help": "✓✓ Read"},
            "when": "40 min",
            "when_help": "Wed, Mar 4, 2026, 2:20 PM",
        },
        {
            "id": sent.not_sent,
            "href": f"conversation?id={sent.dmitri_conv}",
            "unread": True,
            "mark": None,
            "title": "Dmitri Ivanov",
            "channel_icon": "🟢",
            "channel_name": "WhatsApp",
            "tag": "",
            "text": "Here is our brochure 📎",
            "status": {
                "icon": "⚠",
                "word": "Not sent — Contact opted out",
                "tone": "failed",
                "help": "⚠ Not sent — Contact opted out",
            },
            "when": "1:30 PM",
            "when_help": "Wed, Mar 4, 2026, 1:30 PM",
        },
        {
            "id": sent.failed,
            "href": f"conversation?id={sent.dmitri_conv}",
            "unread": True,
            "mark": None,
            "title": "Dmitri Ivanov",
            "channel_icon": "🟢",
            "channel_name": "WhatsApp",
            "tag": "",
            "text": "No, Monday to Saturday.",
            "status": {
                "icon": "⚠",
                "word": "Failed — Re-engagement message (error 131047)",
                "tone": "failed",
                "help": "⚠ Failed — Re-engagement message (error 131047)",
            },
            "when": "1:00 PM",
            "when_help": "Wed, Mar 4, 2026, 1:00 PM",
        },
        {
            "id": sent.to_carla,
            "href": f"conversation?id={sent.carla_conv}",
            "unread": False,
            "mark": None,
            "title": "Carla Núñez",
            "channel_icon": "💬",
            "channel_name": "SMS",
            "tag": "📣 Spring cleaning — ",
            "text": "Spring cleaning: 20% off this month. Reply to book.",
            "status": {"icon": "✓✓", "word": "Delivered", "tone": "", "help": "✓✓ Delivered"},
            "when": "Mon",
            "when_help": "Mon, Mar 2, 2026, 3:00 PM",
        },
        {
            "id": sent.lone,
            "href": None,
            "unread": False,
            "mark": "–",
            "title": "Quinn Quiet",
            "channel_icon": "💬",
            "channel_name": "SMS",
            "tag": "📣 Spring cleaning — ",
            "text": "Spring cleaning: 20% off this month. Reply to book.",
            "status": {"icon": "✓✓", "word": "Delivered", "tone": "", "help": "✓✓ Delivered"},
            "when": "Mon",
            "when_help": "Mon, Mar 2, 2026, 3:00 PM",
            "selectable": False,
            "tick_help": NO_REPLY,
            "title_help": NO_REPLY,
        },
    ]
    assert button(at, "Mark read").disabled and button(at, "Mark unread").disabled


def test_a_status_moved_by_a_callback_shows_on_the_next_run(workspace, sent):  # noqa: F811
    at = workspace.app("ana", PAGE)
    workspace.db.write(
        lambda tx: (
            tx.execute(
                "UPDATE messages SET status = 'undelivered', error_code = '30003', "
                "error_reason = 'Unreachable handset' WHERE id = ?",
                [sent.reply],
            ),
            # What a provider callback publishes: it raises the author's inbox version, the page's cache key.
            tx.publish("message.failed", message_id=sent.reply),
        )
    )
    at.run()
    ok(at)
    assert rows(at)[1]["status"] == {
        "icon": "⚠",
        "word": "Undelivered — Unreachable handset (error 30003)",
        "tone": "failed",
        "help": "⚠ Undelivered — Unreachable handset (error 30003)",
    }


def test_only_my_messages(workspace, sent):  # noqa: F811
    at = workspace.app("ben", PAGE)
    ok(at)
    assert [(r["title"], r["text"], r["mark"]) for r in rows(at)] == [("Fay Wong", "Ben's message", "–")]
    assert range_caption(at) == "1–1 of 1"


def test_paging(workspace):  # noqa: F811
    db = workspace.db
    ana = workspace.user("ana")
    sms = f.add_sender(db, channel="sms")
    contact = f.add_contact(db, name="Paula Pager")
    for i in range(52):
        f.add_message(
            db, contact_id=contact, sender_id=sms, author_id=ana.id, body=f"Note {i:02d}", at=ago(minutes=i + 1)
        )
    at = workspace.app("ana", PAGE)
    assert range_caption(at) == "1–50 of 52"
    assert [r["text"] for r in rows(at)][:2] == ["Note 00", "Note 01"]
    assert button(at, "Prev").disabled
    button(at, "Next").click()
    at.run()
    ok(at)
    assert range_caption(at) == "51–52 of 52"
    assert [r["text"] for r in rows(at)] == ["Note 50", "Note 51"]
    button(at, "Prev").click()
    at.run()
    assert range_caption(at) == "1–50 of 52"


# ---- search -------------------------------------------------------------------------------------


def test_search_by_name_and_number(workspace, sent):  # noqa: F811
    for typed in ("+14155552001", "(415) 555-2001", "1-415-555-2001", "quinn"):
        at = lists.search(workspace.app("ana", PAGE), KEY, typed)
        ok(at)
        assert [r["id"] for r in rows(at)] == [sent.lone], typed
        assert range_caption(at) == "1–1 of 1"
    at = lists.search(at, KEY, "Fay Wong")  # Ben's recipient
    assert lists.rows_data(at, KEY) is None
    assert [plain(i) for i in texts(at, "info")] == ["No sent messages match “Fay Wong”."]


@pytest.mark.parametrize("hostile", ["%", ".*", "%'.*", "_"])
def test_hostile_search_finds_nothing(workspace, sent, hostile):  # noqa: F811
    at = lists.search(workspace.app("ana", PAGE), KEY, hostile)
    ok(at)
    assert lists.rows_data(at, KEY) is None
    assert range_caption(at) == "0–0 of 0"
    button(at, "Clear").click()
    at.run()
    assert range_caption(at) == "1–6 of 6"
    assert at.text_input(key=f"{KEY}.q_input").value == ""


# ---- mark the conversations of ticked rows read / unread ----------------------------------------------


def test_a_lone_campaign_message_cannot_be_ticked(workspace, sent):  # noqa: F811
    at = lists.tick(workspace.app("ana", PAGE), KEY, [sent.lone])
    ok(at)
    assert at.session_state[f"{KEY}.sel"] == []
    assert button(at, "Mark read").disabled and button(at, "Mark unread").disabled


def test_two_rows_of_one_conversation_are_one_selection(workspace, sent):  # noqa: F811
    at = lists.tick(workspace.app("ana", PAGE), KEY, [sent.queued, sent.reply, sent.to_carla])
    ok(at)
    assert at.session_state[f"{KEY}.sel"] == [sent.carla_conv]
    assert "1 selected" in texts(at, "caption")
    button(at, "Mark unread").click()
    at.run()
    ok(at)
    assert [plain(t) for t in texts(at, "toast")] == ["Marked 1 conversation unread."]
    assert marker(workspace.db, sent.ana.id, sent.carla_conv) == (True, True)
    assert [r["unread"] for r in rows(at)] == [True, True, True, True, True, False], "every row of it is unread"
    assert lists.rows_data(at, KEY)["selected"] == []


def test_mark_read_then_unread(workspace, sent):  # noqa: F811
    at = lists.tick(workspace.app("ana", PAGE), KEY, [sent.failed])
    button(at, "Mark read").click()
    at.run()
    ok(at)
    assert [plain(t) for t in texts(at, "toast")] == ["Marked 1 conversation read."]
    assert marker(workspace.db, sent.ana.id, sent.dmitri_conv) == (True, False)
    assert [r["unread"] for r in rows(at)] == [False] * 6


def test_admin_marking_a_reassigned_conversation_asks_first(workspace, sent):  # noqa: F811
    """Rule 6 on this page too: the conversation the admin wrote in now belongs to Ana."""
    db = workspace.db
    mine = f.add_conversation(
        db, contact_id=f.add_contact(db, name="Gus Grant"), sender_id=sent.sms, owner_id=sent.admin.id
    )
    reply = f.add_message(
        db,
        conversation_id=mine,
        contact_id=db.scalar("SELECT contact_id FROM conversations WHERE id = ?", [mine]),
        sender_id=sent.sms,
        author_id=sent.admin.id,
        body="Welcome!",
    )
    assert do_assign(db, sent.admin, [mine], sent.ana.id) == 1
    at = lists.tick(workspace.app("admin", PAGE), KEY, [reply])
    button(at, "Mark read").click()
    at.run()
    assert not at.exception
    assert at.session_state[f"{KEY}.confirm"] == {"ids": [mine], "read": True, "owners": ["Ana Ruiz"]}
    assert marker(db, sent.ana.id, mine) == (False, True), "nothing changes before the admin confirms"
    # The dialog's Confirm button calls this; AppTest cannot click inside a dialog.
    state = {k: at.session_state[k] for k in (f"{KEY}.confirm",)}
    bulk.confirm_read_state(KEY, sent.admin.id, state)
    assert marker(db, sent.ana.id, mine) == (True, False)
    assert state[f"{KEY}.flash"] == "Marked 1 conversation read for Ana Ruiz."


def test_owner_reading_shows_on_the_authors_page_within_a_minute(workspace, sent):  # noqa: F811
    """The admin wrote in a conversation now Ana's: the row's mark is Ana's, and her reading it
    moves her inbox version, not the admin's. The page reads again with its minute's redraw."""
    from core import clock
    from core.actions.conversations import do_set_read_state

    db = workspace.db
    gus = f.add_contact(db, name="Gus Grant", phone="+14155552010")
    mine = f.add_conversation(db, contact_id=gus, sender_id=sent.sms, owner_id=sent.admin.id)
    f.add_message(
        db, conversation_id=mine, contact_id=gus, sender_id=sent.sms, author_id=sent.admin.id, body="Welcome!"
    )
    assert do_assign(db, sent.admin, [mine], sent.ana.id) == 1
    at = workspace.app("admin", PAGE)
    at.run()
    ok(at)
    assert [(r["title"], r["unread"]) for r in rows(at)] == [("Gus Grant", True)]
    assert do_set_read_state(db, sent.ana, [mine], read=True) == 1
    clock.advance(dt.timedelta(seconds=61))  # the page's redraw (pages.inbox_list.REDRAW_EVERY)
    at.run()
    ok(at)
    assert [(r["title"], r["unread"]) for r in rows(at)] == [("Gus Grant", False)]


def test_agent_cannot_mark_another_agents_conversation(workspace, sent):  # noqa: F811
    theirs = f.add_conversation(
        workspace.db, contact_id=f.add_contact(workspace.db, name="Hal"), sender_id=sent.sms, owner_id=sent.ben.id
    )
    state = {f"{KEY}.sel": [theirs]}  # e.g. a selection that went stale when it was reassigned
    bulk.bulk_action(KEY, sent.ana.id, "unread", state)
    assert state[f"{KEY}.error"] == (
        f"Conversation {theirs} is assigned to someone else; you can mark "
        "conversations read or unread only in your own inbox."
    )
    assert marker(workspace.db, sent.ben.id, theirs) is None


def test_supervisor_opening_the_script_directly_sees_nothing_to_act_on(workspace, sent):  # noqa: F811
    """Supervisors have no Sent Messages in their navigation; the script alone shows an empty list."""
    workspace.user("sam", role="supervisor")
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=30)
    sign_in_apptest(at, workspace.rt, "sam")
    at.run()
    assert not at.exception
    assert lists.rows_data(at, KEY) is None
    assert not [b for b in at.button if b.label in ("Mark read", "Mark unread")]
    assert "Messages you send, and campaign messages, will appear here." in texts(at, "info")
