"""My Inbox under AppTest: the row list (what each row says), selection and bulk actions, paging,
search, Open/Closed/All, and whose conversations appear at all.

Each case builds its workspace with ``tests.factories`` at a frozen clock (``lists.NOW``, a
Wednesday 15:00 UTC; users in UTC) and states the expected rows literally. Ticks are sent the
way the browser's row list sends them (``lists.tick``).
"""

from __future__ import annotations

import datetime as dt

import pytest

from core.actions.conversations import do_set_status
from tests import factories as f
from tests.pages import lists
from tests.pages.lists import NOW, button, plain, range_caption, texts, workspace  # noqa: F401

PAGE = "pages/my_inbox.py"
KEY = "mine"


def ago(**kwargs) -> dt.datetime:
    return NOW - dt.timedelta(**kwargs)


def ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at, "error")


def header(at) -> str:
    return texts(at, "header")[0]


def rows(at) -> list[dict]:
    return lists.rows(at, KEY)


def titles(at) -> list[str]:
    return [r["title"] for r in rows(at)]


def unread_marks(at) -> list[bool]:
    return [r["unread"] for r in rows(at)]


class Inbox:
    """Ana's inbox: three open conversations (two unread), one closed; Ben's conversation beside it."""

    def __init__(self, ws) -> None:
        db = ws.db
        self.ana = ws.user("ana", display_name="Ana Ruiz")
        self.ben = ws.user("ben", display_name="Ben Okafor")
        sms = f.add_sender(db, channel="sms", phone="+14155550100", label="Front desk")
        self.sms = sms
        wa = f.add_sender(db, channel="whatsapp", phone="+14155550199", label="WhatsApp desk")
        carla = f.add_contact(db, name="Carla Núñez", phone="+14155551001")
        self.carla = f.add_conversation(
            db,
            contact_id=carla,
            sender_id=sms,
            owner_id=self.ana.id,
            last_inbound_at=ago(minutes=3),
            inbound_body="Can I move my appointment?\nThursday would be better",
        )
        unknown = f.add_contact(db, phone="+13125550197")
        self.unknown = f.add_conversation(
            db,
            contact_id=unknown,
            sender_id=sms,
            owner_id=self.ana.id,
            last_inbound_at=ago(hours=2),
            inbound_body="Posso levar minha filha?",
        )
        f.add_message(
            db,
            conversation_id=self.unknown,
            contact_id=unknown,
            sender_id=sms,
            author_id=self.ana.id,
            body="Sim, claro!",
            status="delivered",
            at=ago(minutes=90),
        )
        f.mark_read(db, self.ana.id, self.unknown)
        dmitri = f.add_contact(db, name="Dmitri Ivanov", phone="+14155551003")
        self.dmitri = f.add_conversation(
            db,
            contact_id=dmitri,
            sender_id=wa,
            owner_id=self.ana.id,
            last_inbound_at=ago(hours=22),
            inbound_body="Hola",
        )
        eve = f.add_contact(db, name="Eve Adams", phone="+14155551004")
        self.closed = f.add_conversation(
            db,
            contact_id=eve,
            sender_id=sms,
            owner_id=self.ana.id,
            last_inbound_at=ago(days=3),
            inbound_body="Thanks, all done",
            status="closed",
        )
        f.mark_read(db, self.ana.id, self.closed)
        fay = f.add_contact(db, name="Fay Wong", phone="+14155551005")
        self.bens = f.add_conversation(
            db,
            contact_id=fay,
            sender_id=sms,
            owner_id=self.ben.id,
            last_inbound_at=ago(minutes=1),
            inbound_body="Ben's customer",
        )


@pytest.fixture
def inbox(workspace):  # noqa: F811
    return Inbox(workspace)


# ---- the rows ----------------------------------------------------------------------------------


def test_rows_read_like_an_inbox(workspace, inbox):  # noqa: F811
    at = workspace.app("ana", PAGE)
    ok(at)
    assert header(at) == "My Inbox :blue-badge[2 unread]"
    assert range_caption(at) == "1–3 of 3"
    assert rows(at) == [
        {
            "id": inbox.carla,
            "href": f"conversation?id={inbox.carla}",
            "unread": True,
            "title": "Carla Núñez",
            "channel_icon": "💬",
            "channel_name": "SMS",
            "prefix": "",
            "text": "Can I move my appointment?",
            "flags": [],
            "when": "3 min",
            "when_help": "Wed, Mar 4, 2026, 2:57 PM",
        },
        {
            "id": inbox.unknown,
            "href": f"conversation?id={inbox.unknown}",
            "unread": False,
            "title": "(312) 555-0197",
            "channel_icon": "💬",
            "channel_name": "SMS",
            "prefix": "Sent: ",
            "text": "Sim, claro!",
            "flags": [],
            "status": {"icon": "✓✓", "tone": "", "help": "Last message sent: Delivered"},
            "when": "1:30 PM",
            "when_help": "Wed, Mar 4, 2026, 1:30 PM",
        },
        {
            "id": inbox.dmitri,
            "href": f"conversation?id={inbox.dmitri}",
            "unread": True,
            "title": "Dmitri Ivanov",
            "channel_icon": "🟢",
            "channel_name": "WhatsApp",
            "prefix": "",
            "text": "Hola",
            "flags": [
                {
                    "text": "Window closes in 2 h 0 min",
                    "tone": "orange",
                    "help": "After that only registered templates can be sent.",
                }
            ],
            "when": "Yesterday",
            "when_help": "Tue, Mar 3, 2026, 5:00 PM",
        },
    ]
    data = lists.rows_data(at, KEY)
    assert (data["selectable"], data["selected"], data["label"]) == (True, [], "My Inbox")
    # Nothing ticked yet: the bulk buttons wait for a selection; agents cannot assign.
    assert all(button(at, label).disabled for label in ("Mark read", "Mark unread", "Close", "Reopen"))
    assert not [b for b in at.button if b.label.startswith("Assign")]


def test_no_unread_says_all_read(workspace, inbox):  # noqa: F811
    for cid in (inbox.carla, inbox.dmitri):
        f.mark_read(workspace.db, inbox.ana.id, cid)
    at = workspace.app("ana", PAGE)
    ok(at)
    assert header(at) == "My Inbox :gray-badge[all read]"
    assert unread_marks(at) == [False, False, False]


def test_the_last_outgoing_status_shows_its_icon(workspace, inbox):  # noqa: F811
    db = workspace.db
    carla = db.scalar("SELECT contact_id FROM conversations WHERE id = ?", [inbox.carla])
    f.add_message(
        db,
        conversation_id=inbox.carla,
        contact_id=carla,
        sender_id=inbox.sms,
        author_id=inbox.ana.id,
        body="Of course, which time?",
        status="failed",
        error_code="30003",
        at=ago(minutes=2),
    )
    f.add_message(
        db,
        conversation_id=inbox.unknown,
        contact_id=db.scalar("SELECT contact_id FROM conversations WHERE id = ?", [inbox.unknown]),
        sender_id=inbox.sms,
        author_id=inbox.ana.id,
        body="See you then",
        status="queued",
        at=ago(minutes=1),
    )
    at = workspace.app("ana", PAGE)
    ok(at)
    assert [(r["title"], r["prefix"], r["text"], r.get("status")) for r in rows(at)] == [
        (
            "(312) 555-0197",
            "Sent: ",
            "See you then",
            {"icon": "🕓", "tone": "waiting", "help": "Last message sent: Queued"},
        ),
        (
            "Carla Núñez",
            "Sent: ",
            "Of course, which time?",
            {"icon": "⚠", "tone": "failed", "help": "Last message sent: Failed"},
        ),
        ("Dmitri Ivanov", "", "Hola", None),
    ]


def test_flags_say_what_else_to_know(workspace, inbox):  # noqa: F811
    db = workspace.db
    db.write(lambda tx: tx.execute("UPDATE contacts SET opted_out = TRUE WHERE name = 'Carla Núñez'"))
    db.write(
        lambda tx: tx.execute(
            "UPDATE conversations SET optout_flag = 'please stop texting me', unsolicited = TRUE WHERE id = ?",
            [inbox.unknown],
        )
    )
    at = workspace.app("ana", PAGE)
    ok(at)
    assert [r["flags"] for r in rows(at)[:2]] == [
        [{"text": "Opted out", "tone": "red", "help": "The contact opted out: nothing can be sent."}],
        [
            {"text": "Asked to stop?", "tone": "red", "help": "Their words look like an opt-out request."},
            {"text": "Unsolicited", "tone": "orange", "help": "They wrote first: no campaign reached them."},
        ],
    ]


def test_names_and_messages_stay_text(workspace, inbox):  # noqa: F811
    hostile = "**x** [y](javascript:alert(1)) ![t](http://127.0.0.1:9/t) <b>hi</b>"
    workspace.db.write(lambda tx: tx.execute("UPDATE contacts SET name = ? WHERE name = 'Carla Núñez'", [hostile]))
    workspace.db.write(
        lambda tx: tx.execute("UPDATE conversations SET last_message_preview = ? WHERE id = ?", [hostile, inbox.carla])
    )
    at = workspace.app("ana", PAGE)
    ok(at)
    # The row list sets every string with textContent: what is sent is what is shown, character for character.
    assert (rows(at)[0]["title"], rows(at)[0]["text"]) == (hostile, hostile)
    assert not [m for m in texts(at, "markdown") if "javascript" in m]


# ---- selection and bulk actions ----------------------------------------------------------------------


def test_ticking_rows_selects_them_for_the_buttons(workspace, inbox):  # noqa: F811
    at = lists.tick(workspace.app("ana", PAGE), KEY, [inbox.carla, inbox.dmitri])
    ok(at)
    assert at.session_state[f"{KEY}.sel"] == [inbox.carla, inbox.dmitri]
    assert lists.rows_data(at, KEY)["selected"] == [inbox.carla, inbox.dmitri]
    assert "2 selected" in texts(at, "caption")
    assert not any(button(at, label).disabled for label in ("Mark read", "Mark unread", "Close", "Reopen"))
    # The list sends every ticked row with each change: unticking one leaves the other.
    at = lists.tick(at, KEY, [inbox.dmitri])
    assert at.session_state[f"{KEY}.sel"] == [inbox.dmitri]
    assert "1 selected" in texts(at, "caption")
    # A row id that is not on the page (a stale or crafted event) selects nothing.
    at = lists.tick(at, KEY, [inbox.bens, 999_999])
    assert at.session_state[f"{KEY}.sel"] == []
    assert button(at, "Mark read").disabled


def test_the_action_row_keeps_its_shape_when_the_ticks_go(workspace, inbox):  # noqa: F811
    """The live list draws as many captions with nothing ticked as with two rows ticked: nothing it drew
    for a selection has to be taken away (a "2 selected" the browser failed to take away stayed on
    screen after Mark read)."""
    at = lists.tick(workspace.app("ana", PAGE), KEY, [inbox.carla, inbox.dmitri])
    ticked = texts(at, "caption")
    button(at, "Mark read").click()
    at.run()
    ok(at)
    after = texts(at, "caption")
    assert "2 selected" in ticked and "2 selected" not in after
    assert len(after) == len(ticked), f"{ticked} became {after}"


def test_mark_read_then_unread(workspace, inbox):  # noqa: F811
    at = lists.tick(workspace.app("ana", PAGE), KEY, [inbox.carla, inbox.dmitri])
    epoch = lists.rows_data(at, KEY)["epoch"]
    button(at, "Mark read").click()
    at.run()
    ok(at)
    assert [plain(t) for t in texts(at, "toast")] == ["Marked 2 conversations read."]
    assert unread_marks(at) == [False, False, False]
    assert header(at) == "My Inbox :gray-badge[all read]"
    data = lists.rows_data(at, KEY)
    assert (data["selected"], data["epoch"]) == ([], epoch + 1), "the browser is told to untick"
    assert at.session_state[f"{KEY}.sel"] == [] and button(at, "Mark read").disabled

    at = lists.tick(at, KEY, [inbox.unknown])
    button(at, "Mark unread").click()
    at.run()
    ok(at)
    assert [plain(t) for t in texts(at, "toast")] == ["Marked 1 conversation unread."]
    assert unread_marks(at) == [False, True, False]
    assert header(at) == "My Inbox :blue-badge[1 unread]"


def test_close_and_reopen(workspace, inbox):  # noqa: F811
    at = lists.tick(workspace.app("ana", PAGE), KEY, [inbox.carla, inbox.unknown])
    button(at, "Close").click()
    at.run()
    ok(at)
    assert [plain(t) for t in texts(at, "toast")] == ["Closed 2 conversations."]
    assert titles(at) == ["Dmitri Ivanov"]
    assert header(at) == "My Inbox :blue-badge[1 unread]", "closed conversations leave the count"

    at.button_group(key=f"{KEY}.status").set_value("Closed")
    at.run()
    assert titles(at) == ["Carla Núñez", "(312) 555-0197", "Eve Adams"]
    at = lists.tick(at, KEY, [inbox.carla])
    button(at, "Reopen").click()
    at.run()
    ok(at)
    assert [plain(t) for t in texts(at, "toast")] == ["Reopened 1 conversation."]
    assert titles(at) == ["(312) 555-0197", "Eve Adams"]


def test_a_ticked_row_that_leaves_the_page_is_no_longer_selected(workspace, inbox):  # noqa: F811
    at = lists.tick(workspace.app("ana", PAGE), KEY, [inbox.unknown, inbox.dmitri])
    do_set_status(workspace.db, inbox.ana, [inbox.unknown], closed=True)  # from her other tab
    at.run()
    ok(at)
    assert titles(at) == ["Carla Núñez", "Dmitri Ivanov"]
    assert at.session_state[f"{KEY}.sel"] == [inbox.dmitri]
    assert lists.rows_data(at, KEY)["selected"] == [inbox.dmitri]
    assert "1 selected" in texts(at, "caption")


# ---- paging --------------------------------------------------------------------------------------


def test_fifty_a_page_and_turning_drops_the_selection(workspace):  # noqa: F811
    db = workspace.db
    ana = workspace.user("ana")
    sms = f.add_sender(db, channel="sms")
    made = []
    for i in range(53):
        contact = f.add_contact(db, name=f"Customer {i:02d}")
        made.append(
            f.add_conversation(
                db, contact_id=contact, sender_id=sms, owner_id=ana.id, last_inbound_at=ago(minutes=i + 1)
            )
        )
    at = workspace.app("ana", PAGE)
    ok(at)
    assert range_caption(at) == "1–50 of 53"
    assert titles(at)[:2] == ["Customer 00", "Customer 01"] and titles(at)[-1] == "Customer 49"
    assert button(at, "Prev").disabled and not button(at, "Next").disabled
    at = lists.tick(at, KEY, [made[0]])
    button(at, "Next").click()
    at.run()
    ok(at)
    assert range_caption(at) == "51–53 of 53"
    assert titles(at) == ["Customer 50", "Customer 51", "Customer 52"]
    assert not button(at, "Prev").disabled and button(at, "Next").disabled
    assert at.session_state[f"{KEY}.sel"] == [], "turning the page drops the selection"
    assert lists.rows_data(at, KEY)["selected"] == []
    button(at, "Prev").click()
    at.run()
    assert range_caption(at) == "1–50 of 53"


# ---- search and Open / Closed / All --------------------------------------------------------------------


def test_search_by_name_or_by_number_typed_any_way(workspace, inbox):  # noqa: F811
    at = lists.search(workspace.app("ana", PAGE), KEY, "NÚÑEZ")
    ok(at)
    assert titles(at) == ["Carla Núñez"]
    for typed in ("+13125550197", "3125550197", "(312) 555-0197", "312.555.0197", "0197"):
        at = lists.search(at, KEY, typed)
        ok(at)
        assert titles(at) == ["(312) 555-0197"], typed
        assert range_caption(at) == "1–1 of 1"
    at = lists.search(at, KEY, "Fay")  # Ben's customer: not in Ana's inbox
    assert lists.rows_data(at, KEY) is None
    button(at, "Clear").click()
    at.run()
    assert titles(at) == ["Carla Núñez", "(312) 555-0197", "Dmitri Ivanov"]
    assert at.text_input(key=f"{KEY}.q_input").value == ""


@pytest.mark.parametrize("hostile", ["%", ".*", "%'.*", "_", "[a-z]+", "\\", '"; DROP TABLE contacts; --'])
def test_hostile_search_is_literal_and_finds_nothing(workspace, inbox, hostile):  # noqa: F811
    at = lists.search(workspace.app("ana", PAGE), KEY, hostile)
    ok(at)
    assert lists.rows_data(at, KEY) is None
    assert [plain(i) for i in texts(at, "info")] == [f"No open conversations match “{hostile}”."]
    assert range_caption(at) == "0–0 of 0"
    assert workspace.db.scalar("SELECT count(*) FROM contacts") == 5


def test_open_closed_all(workspace, inbox):  # noqa: F811
    at = workspace.app("ana", PAGE)
    at.button_group(key=f"{KEY}.status").set_value("All")
    at.run()
    ok(at)
    assert titles(at) == ["Carla Núñez", "(312) 555-0197", "Dmitri Ivanov", "Eve Adams"]
    assert rows(at)[3]["flags"] == [{"text": "Closed", "tone": ""}]
    assert header(at) == "My Inbox :blue-badge[2 unread]", "the badge counts open conversations"
    at.button_group(key=f"{KEY}.status").set_value("Closed")
    at.run()
    assert titles(at) == ["Eve Adams"]
    assert rows(at)[0]["flags"] == [], "no need to flag closed rows in the Closed list"


def test_an_empty_inbox_says_so(workspace):  # noqa: F811
    workspace.user("ana")
    at = workspace.app("ana", PAGE)
    ok(at)
    assert header(at) == "My Inbox :gray-badge[all read]"
    assert [plain(i) for i in texts(at, "info")] == ["No open conversations here yet."]
    assert lists.rows_data(at, KEY) is None
