"""Sent Messages under AppTest: my outbound messages newest first, delivery status with the
provider's reasons, campaign messages (📣), campaign messages nobody answered (–), search,
paging, and marking the conversations of ticked rows read or unread.

Expected rows come from the database, never from hard-coded counts. AppTest cannot tick a
dataframe, so ticks and clicks go through the table's real ``on_select`` callback
(``common._on_table``) and the next run picks them up.
"""

from __future__ import annotations

from collections.abc import MutableMapping

import pytest
from streamlit.testing.v1 import AppTest

from core import queries
from core.actions.conversations import do_assign
from pages import common
from tests.conftest import ROOT, demo_user, sign_in_apptest
from tests.pages import lists
from tests.pages.lists import button, range_caption, texts

PAGE = "pages/sent_messages.py"
KEY = "sent"


# ---- helpers ----------------------------------------------------------------------------------


def table_event(at, rows=(), cell=None):
    return lists.table_event(at, KEY, rows, cell)


def search(at, query):
    return lists.search(at, KEY, query)


def uid(db, username) -> int:
    return db.scalar("SELECT id FROM users WHERE username = ?", [username])


def own_sent(db, user_id) -> list[int]:
    """The user's outbound messages, newest first (what Sent Messages must list)."""
    return [
        r[0]
        for r in db.fetchall(
            "SELECT id FROM messages WHERE author_id = ? AND direction = 'out' ORDER BY created_at DESC, id DESC",
            [user_id],
        )
    ]


def message(db, mid) -> dict:
    return db.dicts(
        "SELECT m.*, cp.name AS campaign_name, ct.phone AS contact_phone, ct.name AS contact_name FROM messages m "
        "JOIN contacts ct ON ct.id = m.contact_id LEFT JOIN campaigns cp ON cp.id = m.campaign_id WHERE m.id = ?",
        [mid],
    )[0]


def unread(db, cid) -> bool:
    return bool(
        db.scalar(
            f"SELECT {queries.UNREAD_SQL} FROM conversations c LEFT JOIN read_markers rm "
            "ON rm.user_id = c.owner_id AND rm.conversation_id = c.id WHERE c.id = ?",
            [cid],
        )
    )


def ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at, "error")


def table(at):
    frames = [d.value for d in at.dataframe if "Recipient" in d.value.columns]
    return frames[0] if frames else None


def shown_ids(at) -> list[int]:
    return list(at.session_state[f"{KEY}.ids"]) if table(at) is not None else []


def row(at, mid) -> dict:
    """The table row of message ``mid``, as a dict of column → shown text."""
    i = shown_ids(at).index(mid)
    return {column: value for column, value in table(at).iloc[i].items()}


def tick(at, positions):
    return table_event(at, rows=positions)


class State(MutableMapping):
    """AppTest's session state with ``pop`` and friends, for driving the callbacks directly."""

    def __init__(self, at):
        self.s = at.session_state

    def __getitem__(self, key):
        return self.s[key]

    def __setitem__(self, key, value):
        self.s[key] = value

    def __delitem__(self, key):
        del self.s[key]

    def __iter__(self):
        return iter(self.s)

    def __len__(self):
        return len(self.s)


# ---- the list ---------------------------------------------------------------------------------


def test_lists_my_outbound_messages_newest_first(app_as, demo_db):
    maria = uid(demo_db, "maria")
    expected = own_sent(demo_db, maria)
    size = queries.PAGE_SIZE
    assert len(expected) > size
    at = app_as("maria", PAGE)
    ok(at)
    assert texts(at, "header") == ["Sent Messages"]
    assert shown_ids(at) == expected[:size]
    assert range_caption(at) == f"1–{size} of {len(expected):,}"
    frame = table(at)
    rows = [message(demo_db, m) for m in expected[:size]]
    assert list(frame["Recipient"]) == [common.contact_label(r["contact_name"], r["contact_phone"]) for r in rows]
    tz = demo_user(demo_db, "maria").timezone
    assert list(frame["Status"]) == [common.status_label(r, tz) for r in rows]
    assert list(frame["Message"]) == [
        (f"📣 {r['campaign_name']} — " if r["campaign_id"] else "") + r["body"] + (" 📎" if r["has_media"] else "")
        for r in rows
    ]
    assert list(frame["●"]) == [
        "–" if r["conversation_id"] is None else ("●" if unread(demo_db, r["conversation_id"]) else "") for r in rows
    ]
    assert button(at, "Mark read").disabled and button(at, "Mark unread").disabled


def test_paging(app_as, demo_db):
    expected = own_sent(demo_db, uid(demo_db, "maria"))
    size = queries.PAGE_SIZE
    at = app_as("maria", PAGE)
    assert button(at, "Prev").disabled
    button(at, "Next").click()
    at.run()
    ok(at)
    assert shown_ids(at) == expected[size : 2 * size]
    assert range_caption(at) == f"{size + 1}–{2 * size} of {len(expected):,}"
    button(at, "Prev").click()
    at.run()
    assert shown_ids(at) == expected[:size]


@pytest.mark.parametrize("status, word", [("failed", "Failed"), ("undelivered", "Undelivered")])
def test_failures_show_the_providers_reason(app_as, demo_db, status, word):
    maria = uid(demo_db, "maria")
    mid, phone, reason = demo_db.fetchone(
        "SELECT m.id, ct.phone, m.error_reason FROM messages m JOIN contacts ct ON ct.id = m.contact_id "
        "WHERE m.author_id = ? AND m.status = ? AND m.error_reason IS NOT NULL "
        "ORDER BY m.created_at DESC LIMIT 1",
        [maria, status],
    )
    at = search(app_as("maria", PAGE), phone)
    ok(at)
    assert mid in shown_ids(at)
    assert row(at, mid)["Status"] == f"⚠ {word} — {reason}"
    assert all(
        demo_db.scalar("SELECT contact_id FROM messages WHERE id = ?", [m])
        == demo_db.scalar("SELECT contact_id FROM messages WHERE id = ?", [mid])
        for m in shown_ids(at)
    )


def test_not_sent_shows_why(app_as, demo_db):
    maria = uid(demo_db, "maria")
    mid, phone, reason = demo_db.fetchone(
        "SELECT m.id, ct.phone, m.error_reason FROM messages m JOIN contacts ct ON ct.id = m.contact_id "
        "WHERE m.author_id = ? AND m.status = 'not_sent' ORDER BY m.id LIMIT 1",
        [maria],
    )
    at = search(app_as("maria", PAGE), phone)
    assert row(at, mid)["Status"] == f"⚠ Not sent — {reason}"


def test_a_status_moved_by_a_callback_shows_on_the_next_run(app_as, demo_db):
    maria = uid(demo_db, "maria")
    mid = own_sent(demo_db, maria)[0]
    at = app_as("maria", PAGE)
    demo_db.write(
        lambda tx: tx.execute(
            "UPDATE messages SET status = 'failed', error_code = '30003', error_reason = 'Unreachable handset' "
            "WHERE id = ?",
            [mid],
        )
    )
    # What a provider callback would publish (the feed's version is the page's cache key).
    demo_db.write(lambda tx: tx.publish("message.failed", message_id=mid))
    at.run()
    assert row(at, mid)["Status"] == "⚠ Failed — 30003: Unreachable handset"


def test_campaign_messages_are_marked_and_unanswered_ones_have_no_conversation(app_as, demo_db):
    maria = uid(demo_db, "maria")
    lone, phone, campaign, body = demo_db.fetchone(
        "SELECT m.id, ct.phone, cp.name, m.body FROM messages m JOIN contacts ct ON ct.id = m.contact_id "
        "JOIN campaigns cp ON cp.id = m.campaign_id WHERE m.author_id = ? AND m.conversation_id IS NULL "
        "ORDER BY m.created_at DESC LIMIT 1",
        [maria],
    )
    at = search(app_as("maria", PAGE), phone)
    ok(at)
    shown = row(at, lone)
    assert shown["Message"] == f"📣 {campaign} — {body}"
    assert shown["●"] == "–"
    # Ticking it selects no conversation: nothing to mark, the buttons stay off.
    at = tick(at, [shown_ids(at).index(lone)])
    assert at.session_state[f"{KEY}.sel"] == []
    assert button(at, "Mark read").disabled and button(at, "Mark unread").disabled

    answered, phone, campaign, body, cid = demo_db.fetchone(
        "SELECT m.id, ct.phone, cp.name, m.body, m.conversation_id FROM messages m "
        "JOIN contacts ct ON ct.id = m.contact_id JOIN campaigns cp ON cp.id = m.campaign_id "
        "WHERE m.author_id = ? AND m.conversation_id IS NOT NULL ORDER BY m.created_at DESC LIMIT 1",
        [maria],
    )
    at = search(at, phone)
    shown = row(at, answered)
    assert shown["Message"] == f"📣 {campaign} — {body}"
    assert shown["●"] == ("●" if unread(demo_db, cid) else "")
    reply = demo_db.scalar(
        "SELECT id FROM messages WHERE author_id = ? AND direction = 'out' "
        "AND campaign_id IS NULL ORDER BY created_at DESC LIMIT 1",
        [maria],
    )
    at = search(at, message(demo_db, reply)["contact_phone"])
    assert not row(at, reply)["Message"].startswith("📣")


def test_search_by_name_and_number(app_as, demo_db):
    maria = uid(demo_db, "maria")
    contact, name, phone = demo_db.fetchone(
        "SELECT ct.id, ct.name, ct.phone FROM messages m JOIN contacts ct ON ct.id = m.contact_id "
        "WHERE m.author_id = ? AND m.direction = 'out' AND ct.name LIKE '% %' AND ct.phone LIKE '+1%' "
        "ORDER BY m.created_at LIMIT 1",
        [maria],
    )
    expected = [
        r[0]
        for r in demo_db.fetchall(
            "SELECT id FROM messages WHERE author_id = ? AND direction = 'out' AND contact_id = ? "
            "ORDER BY created_at DESC, id DESC",
            [maria, contact],
        )
    ]
    at = app_as("maria", PAGE)
    assert not set(expected) & set(shown_ids(at)), "the oldest recipient is not on the first page"
    national = phone[2:]
    for query in (phone, f"({national[:3]}) {national[3:6]}-{national[6:]}", f"1-{national[:3]}-{national[3:]}"):
        at = search(at, query)
        ok(at)
        assert shown_ids(at) == expected, query
        assert range_caption(at) == f"1–{len(expected)} of {len(expected)}"
    at = search(at, name.split()[-1].lower())
    assert set(expected) <= set(shown_ids(at))
    assert all(name.split()[-1] in r for r in table(at)["Recipient"])


@pytest.mark.parametrize("hostile", ["%", ".*", "%'.*", "_"])
def test_hostile_search_finds_nothing(app_as, hostile):
    at = search(app_as("maria", PAGE), hostile)
    ok(at)
    assert table(at) is None
    assert [i for i in texts(at, "info") if "match" in i][0].startswith("No sent messages match “")
    assert range_caption(at) == "0–0 of 0"


def test_clear_restores_the_list(app_as, demo_db):
    expected = own_sent(demo_db, uid(demo_db, "maria"))
    at = search(app_as("maria", PAGE), "%'.*")
    button(at, "Clear").click()
    at.run()
    ok(at)
    assert shown_ids(at) == expected[: queries.PAGE_SIZE]
    assert at.text_input(key=f"{KEY}.q_input").value == ""


def test_clicking_a_row_opens_its_conversation_but_not_a_lone_campaign_message(app_as, demo_db):
    maria = uid(demo_db, "maria")
    lone, phone = demo_db.fetchone(
        "SELECT m.id, ct.phone FROM messages m JOIN contacts ct ON ct.id = m.contact_id WHERE m.author_id = ? "
        "AND m.conversation_id IS NULL ORDER BY m.created_at DESC LIMIT 1",
        [maria],
    )
    at = search(app_as("maria", PAGE), phone)
    at = table_event(at, cell=shown_ids(at).index(lone))
    ok(at)
    assert texts(at, "header") == ["Sent Messages"], "nothing to open: the page stays"
    assert table(at) is not None and lone in shown_ids(at)

    mid, cid = demo_db.fetchone(
        "SELECT id, conversation_id FROM messages WHERE author_id = ? AND direction = 'out' "
        "AND conversation_id IS NOT NULL ORDER BY created_at DESC, id DESC LIMIT 1",
        [maria],
    )
    name = demo_db.scalar(
        "SELECT ct.name FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = ?", [cid]
    )
    at = app_as("maria", PAGE)
    at = table_event(at, cell=shown_ids(at).index(mid))
    ok(at)
    assert at.query_params["id"] in (str(cid), [str(cid)])
    assert name in texts(at, "subheader")[0].replace("\\", "")


# ---- mark the conversations of ticked rows read / unread ----------------------------------------------


def test_mark_unread_then_read(app_as, demo_db):
    maria = uid(demo_db, "maria")
    at = app_as("maria", PAGE)
    conversations = list(at.session_state[f"{KEY}.open_ids"])
    # Two rows of two different conversations that are read now.
    positions, seen = [], set()
    for i, cid in enumerate(conversations):
        if cid is not None and cid not in seen and not unread(demo_db, cid):
            positions.append(i)
            seen.add(cid)
        if len(positions) == 2:
            break
    chosen = [conversations[i] for i in positions]
    before = queries.unread_count(demo_db, maria)
    at = tick(at, positions)
    assert at.session_state[f"{KEY}.sel"] == chosen
    assert "2 selected" in texts(at, "caption")
    button(at, "Mark unread").click()
    at.run()
    ok(at)
    assert [unread(demo_db, c) for c in chosen] == [True, True]
    assert queries.unread_count(demo_db, maria) == before + sum(
        demo_db.scalar("SELECT status = 'open' FROM conversations WHERE id = ?", [c]) for c in chosen
    )
    assert "Marked 2 conversations unread." in texts(at, "toast")
    marks = list(table(at)["●"])
    assert all(marks[i] == "●" for i, c in enumerate(conversations) if c in chosen), (
        "every row of those conversations shows the mark"
    )
    assert at.session_state[f"{KEY}.sel"] == [] and button(at, "Mark read").disabled

    at = tick(at, positions)
    button(at, "Mark read").click()
    at.run()
    ok(at)
    assert [unread(demo_db, c) for c in chosen] == [False, False]
    assert queries.unread_count(demo_db, maria) == before
    assert "Marked 2 conversations read." in texts(at, "toast")
    assert all(table(at)["●"][i] == "" for i, c in enumerate(conversations) if c in chosen)


def test_two_rows_of_one_conversation_are_one_selection(app_as, demo_db):
    maria = uid(demo_db, "maria")
    cid = demo_db.scalar(
        "SELECT conversation_id FROM messages WHERE author_id = ? AND direction = 'out' "
        "AND conversation_id IS NOT NULL GROUP BY conversation_id HAVING count(*) > 1 "
        "ORDER BY max(created_at) DESC LIMIT 1",
        [maria],
    )
    at = search(
        app_as("maria", PAGE),
        demo_db.scalar(
            "SELECT ct.phone FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = ?", [cid]
        ),
    )
    positions = [i for i, c in enumerate(at.session_state[f"{KEY}.open_ids"]) if c == cid]
    assert len(positions) > 1
    at = tick(at, positions)
    assert at.session_state[f"{KEY}.sel"] == [cid]
    was = unread(demo_db, cid)
    button(at, "Mark read" if was else "Mark unread").click()
    at.run()
    ok(at)
    assert unread(demo_db, cid) is not was
    assert f"Marked 1 conversation {'read' if was else 'unread'}." in texts(at, "toast")


def test_admin_marking_a_reassigned_conversation_asks_first(app_as, demo_db):
    """Rule 6 on this page too: the conversation now belongs to María, so the admin confirms."""
    admin, maria = demo_user(demo_db, "admin"), uid(demo_db, "maria")
    cid = demo_db.scalar(
        "SELECT conversation_id FROM messages WHERE author_id = ? AND direction = 'out' "
        "AND conversation_id IS NOT NULL ORDER BY created_at DESC LIMIT 1",
        [admin.id],
    )
    assert do_assign(demo_db, admin, [cid], maria) == 1
    assert unread(demo_db, cid), "assigned conversations arrive unread"
    at = app_as("admin", PAGE)
    tick(at, [list(at.session_state[f"{KEY}.open_ids"]).index(cid)])
    button(at, "Mark read").click()
    at.run()
    assert not at.exception
    assert at.session_state[f"{KEY}.confirm"] == {"ids": [cid], "read": True, "owners": ["María López"]}
    assert unread(demo_db, cid), "nothing changes before the admin confirms"
    # The dialog's Confirm button calls this; AppTest cannot click inside a dialog.
    common.confirm_read_state(KEY, admin.id, state=State(at))
    at.run()
    ok(at)
    assert not unread(demo_db, cid)
    assert "Marked 1 conversation read for María López." in texts(at, "toast")


def test_agent_cannot_mark_another_agents_conversation(app_as, demo_db):
    james = uid(demo_db, "james")
    theirs = demo_db.scalar("SELECT id FROM conversations WHERE owner_id = ? ORDER BY id LIMIT 1", [james])
    was = unread(demo_db, theirs)
    at = app_as("maria", PAGE)
    at.session_state[f"{KEY}.sel"] = [theirs]  # e.g. a selection that went stale when it was reassigned
    at.run()
    button(at, "Mark unread" if not was else "Mark read").click()
    at.run()
    assert not at.exception
    assert texts(at, "error") == [
        f"Conversation {theirs} is assigned to someone else; you can mark "
        "conversations read or unread only in your own inbox."
    ]
    assert unread(demo_db, theirs) == was


# ---- whose messages -------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["maria", "james", "aiko", "admin"])
def test_only_my_messages(app_as, demo_db, username):
    me = uid(demo_db, username)
    expected = own_sent(demo_db, me)
    at = app_as(username, PAGE)
    ok(at)
    assert shown_ids(at) == expected[: queries.PAGE_SIZE]
    assert range_caption(at).endswith(f"of {len(expected):,}")
    authors = {demo_db.scalar("SELECT author_id FROM messages WHERE id = ?", [m]) for m in shown_ids(at)}
    assert authors == {me}


def test_someone_elses_recipient_is_not_found(app_as, demo_db):
    maria, james = uid(demo_db, "maria"), uid(demo_db, "james")
    phone = demo_db.scalar(
        "SELECT ct.phone FROM messages m JOIN contacts ct ON ct.id = m.contact_id WHERE m.author_id = ? "
        "AND m.direction = 'out' AND ct.id NOT IN (SELECT contact_id FROM messages WHERE author_id = ?) "
        "ORDER BY m.id LIMIT 1",
        [james, maria],
    )
    at = search(app_as("maria", PAGE), phone)
    ok(at)
    assert table(at) is None
    assert any(i.startswith("No sent messages match") for i in texts(at, "info"))
    assert table(search(app_as("james", PAGE), phone)) is not None


def test_supervisor_opening_the_script_directly_sees_nothing_to_act_on(demo_runtime):
    """Supervisors have no Sent Messages in their navigation; the script alone shows an empty list."""
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=30)
    sign_in_apptest(at, demo_runtime, "sam")
    at.run()
    assert not at.exception
    assert table(at) is None
    assert not [b for b in at.button if b.label in ("Mark read", "Mark unread")]
    assert "Messages you send, and campaign messages, will appear here." in texts(at, "info")
