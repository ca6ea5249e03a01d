"""My Inbox under AppTest: own conversations newest first, unread badge, paging, search,
Open/Closed/All, bulk read/unread and close/reopen, and who gets the page at all.

Expected rows come from the database (plain SQL over the demo workspace), never
from hard-coded counts. AppTest cannot tick a dataframe, so ticks and clicks go through
the table's real ``on_select`` callback (``common._on_table``) and the next run picks them up.
"""

from __future__ import annotations

import pytest

from core import queries
from core.actions.conversations import do_assign, do_set_read_state, do_set_status
from core.phones import format_phone_display
from pages import common
from tests.conftest import demo_user
from tests.pages import lists
from tests.pages.lists import button, range_caption, texts

PAGE = "pages/my_inbox.py"
KEY = "mine"


# ---- helpers ----------------------------------------------------------------------------------


def table_event(at, rows=(), cell=None):
    return lists.table_event(at, KEY, rows, cell)


def search(at, query):
    return lists.search(at, KEY, query)


def uid(db, username) -> int:
    return db.scalar("SELECT id FROM users WHERE username = ?", [username])


def own_ids(db, user_id, status="open") -> list[int]:
    """The owner's conversations, newest activity first (what My Inbox must list)."""
    where = "" if status == "all" else "AND status = ?"
    return [
        r[0]
        for r in db.fetchall(
            f"SELECT id FROM conversations WHERE owner_id = ? {where} ORDER BY last_message_at DESC, id DESC",
            [user_id] + ([] if status == "all" else [status]),
        )
    ]


def unread(db, cid) -> bool:
    return bool(
        db.scalar(
            f"SELECT {queries.UNREAD_SQL} FROM conversations c LEFT JOIN read_markers rm "
            "ON rm.user_id = c.owner_id AND rm.conversation_id = c.id WHERE c.id = ?",
            [cid],
        )
    )


def status_of(db, cid) -> str:
    return db.scalar("SELECT status FROM conversations WHERE id = ?", [cid])


def header(at) -> str:
    return texts(at, "header")[0]


def badge(n: int) -> str:
    return f"My Inbox :blue-badge[{n:,} unread]" if n else "My Inbox :gray-badge[all read]"


def table(at):
    frames = [d.value for d in at.dataframe if "Contact" in d.value.columns]
    return frames[0] if frames else None


def shown_ids(at) -> list[int]:
    return list(at.session_state[f"{KEY}.ids"]) if table(at) is not None else []


def tick(at, positions):
    return table_event(at, rows=positions)


def show(at, choice):
    at.button_group(key=f"{KEY}.status").set_value(choice)
    return at.run()


def ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at, "error")


# ---- the list ---------------------------------------------------------------------------------


def test_lists_own_open_conversations_newest_first_with_badge(app_as, demo_db):
    maria = uid(demo_db, "maria")
    expected = own_ids(demo_db, maria)
    assert len(expected) > queries.PAGE_SIZE, "the demo inbox needs two pages for this test"
    at = app_as("maria", PAGE)
    ok(at)
    n = queries.unread_count(demo_db, maria)
    assert n > 0
    assert header(at) == badge(n)
    assert shown_ids(at) == expected[: queries.PAGE_SIZE]
    frame = table(at)
    assert len(frame) == queries.PAGE_SIZE
    assert list(frame["●"]) == ["●" if unread(demo_db, c) else "" for c in expected[: queries.PAGE_SIZE]]
    contacts = dict(
        (r[0], common.contact_label(r[1], r[2]))
        for r in demo_db.fetchall(
            "SELECT c.id, ct.name, ct.phone FROM conversations c JOIN contacts ct ON ct.id = c.contact_id "
            "WHERE c.owner_id = ?",
            [maria],
        )
    )
    assert list(frame["Contact"]) == [contacts[c] for c in expected[: queries.PAGE_SIZE]]
    previews = dict(
        demo_db.fetchall(
            "SELECT id, CASE WHEN last_message_direction = 'out' THEN 'Sent: ' ELSE '' END || last_message_preview "
            "FROM conversations WHERE owner_id = ?",
            [maria],
        )
    )
    assert list(frame["Last message"]) == [previews[c] for c in expected[: queries.PAGE_SIZE]]
    assert range_caption(at) == f"1–{queries.PAGE_SIZE} of {len(expected)}"
    # Nothing ticked yet: the bulk buttons wait for a selection.
    assert all(button(at, label).disabled for label in ("Mark read", "Mark unread", "Close", "Reopen"))
    assert not [b for b in at.button if b.label.startswith("Assign")], "agents cannot assign"


def test_badge_counts_only_open_unread_and_says_all_read_at_zero(app_as, demo_db):
    maria = demo_user(demo_db, "maria")
    do_set_read_state(demo_db, maria, own_ids(demo_db, maria.id), read=True)
    assert queries.unread_count(demo_db, maria.id) == 0
    at = app_as("maria", PAGE)
    ok(at)
    assert header(at) == "My Inbox :gray-badge[all read]"
    assert set(table(at)["●"]) == {""}


def test_paging_next_and_prev(app_as, demo_db):
    maria = uid(demo_db, "maria")
    expected = own_ids(demo_db, maria)
    size = queries.PAGE_SIZE
    at = app_as("maria", PAGE)
    assert button(at, "Prev").disabled and not button(at, "Next").disabled
    tick(at, [0])
    assert at.session_state[f"{KEY}.sel"] == [expected[0]]
    button(at, "Next").click()
    at.run()
    ok(at)
    assert shown_ids(at) == expected[size : 2 * size]
    assert range_caption(at) == f"{size + 1}–{min(len(expected), 2 * size)} of {len(expected)}"
    assert not button(at, "Prev").disabled
    assert button(at, "Next").disabled == (len(expected) <= 2 * size)
    assert at.session_state[f"{KEY}.sel"] == [], "turning the page drops the selection"
    button(at, "Prev").click()
    at.run()
    assert shown_ids(at) == expected[:size]
    assert range_caption(at) == f"1–{size} of {len(expected)}"


# ---- search -----------------------------------------------------------------------------------


def test_search_by_name(app_as, demo_db):
    maria = uid(demo_db, "maria")
    cid, name = demo_db.fetchone(
        "SELECT c.id, ct.name FROM conversations c JOIN contacts ct ON ct.id = c.contact_id "
        "WHERE c.owner_id = ? AND c.status = 'open' AND ct.name LIKE '% %' ORDER BY c.id LIMIT 1",
        [maria],
    )
    last = name.split()[-1]
    expected = [
        r[0]
        for r in demo_db.fetchall(
            "SELECT c.id FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.owner_id = ? "
            "AND c.status = 'open' AND lower(ct.name) LIKE '%' || lower(?) || '%' "
            "ORDER BY c.last_message_at DESC, c.id DESC",
            [maria, last],
        )
    ]
    at = search(app_as("maria", PAGE), last.upper())
    ok(at)
    assert cid in shown_ids(at)
    assert shown_ids(at) == expected
    assert range_caption(at) == f"1–{len(expected)} of {len(expected)}"
    assert set(table(at)["Contact"]) == {
        n
        for (n,) in demo_db.fetchall(
            "SELECT ct.name FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.id IN "
            "(SELECT unnest(?::INTEGER[]))",
            [expected],
        )
    }


def test_search_by_number_in_any_form(app_as, demo_db):
    maria = uid(demo_db, "maria")
    cid, phone = demo_db.fetchone(
        "SELECT c.id, ct.phone FROM conversations c JOIN contacts ct ON ct.id = c.contact_id "
        "WHERE c.owner_id = ? AND c.status = 'open' AND ct.phone LIKE '+1%' ORDER BY c.last_message_at LIMIT 1",
        [maria],
    )
    national = phone[2:]
    at = app_as("maria", PAGE)
    assert cid not in shown_ids(at), "the conversation is not on the first page before searching"
    for form in (
        phone,
        national,
        f"({national[:3]}) {national[3:6]}-{national[6:]}",
        f"+1 {national[:3]}.{national[3:6]}.{national[6:]}",
        format_phone_display(phone),
    ):
        at = search(at, form)
        ok(at)
        assert shown_ids(at) == [cid], form
    # The last digits alone find it too (with any other number that ends the same way).
    at = search(at, national[-4:])
    assert cid in shown_ids(at)
    phones = [
        demo_db.scalar(
            "SELECT ct.phone FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = ?", [c]
        )
        for c in shown_ids(at)
    ]
    assert all(national[-4:] in p for p in phones)


@pytest.mark.parametrize("hostile", ["%", ".*", "%'.*", "_", "[a-z]+", "\\", '"; DROP TABLE contacts; --'])
def test_hostile_search_is_literal_and_finds_nothing(app_as, demo_db, hostile):
    at = search(app_as("maria", PAGE), hostile)
    ok(at)
    assert table(at) is None
    info = [i for i in texts(at, "info") if "match" in i]
    assert len(info) == 1 and info[0].startswith("No open conversations match “")
    assert range_caption(at) == "0–0 of 0"
    assert demo_db.scalar("SELECT count(*) FROM contacts") > 0


def test_apostrophe_is_just_a_character(app_as, demo_db):
    maria = uid(demo_db, "maria")
    expected = [
        r[0]
        for r in demo_db.fetchall(
            "SELECT c.id FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.owner_id = ? "
            "AND c.status = 'open' AND instr(coalesce(ct.name, ''), '''') > 0 "
            "ORDER BY c.last_message_at DESC, c.id DESC",
            [maria],
        )
    ]
    assert expected, "the demo workspace has O'Brien contacts"
    at = search(app_as("maria", PAGE), "'")
    ok(at)
    assert shown_ids(at) == expected
    assert all("'" in name for name in table(at)["Contact"])


def test_clear_restores_the_list(app_as, demo_db):
    maria = uid(demo_db, "maria")
    expected = own_ids(demo_db, maria)
    at = search(app_as("maria", PAGE), "%'.*")
    assert table(at) is None
    button(at, "Clear").click()
    at.run()
    ok(at)
    assert at.text_input(key=f"{KEY}.q_input").value == ""
    assert shown_ids(at) == expected[: queries.PAGE_SIZE]
    assert not [b for b in at.button if b.label == "Clear"]
    assert range_caption(at) == f"1–{queries.PAGE_SIZE} of {len(expected)}"


def test_search_starts_at_the_first_page(app_as, demo_db):
    maria = uid(demo_db, "maria")
    expected = own_ids(demo_db, maria)
    # Digits every one of her contacts' numbers share: the search matches the whole inbox.
    phones = [
        demo_db.scalar(
            "SELECT ct.phone FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = ?", [c]
        )
        for c in expected
    ]
    common_digits = next(d for d in ("555", "55") if all(d in p for p in phones))
    at = app_as("maria", PAGE)
    button(at, "Next").click()
    at.run()
    assert at.session_state[f"{KEY}.page"] == 1
    at = search(at, common_digits)
    ok(at)
    assert at.session_state[f"{KEY}.page"] == 0
    assert shown_ids(at) == expected[: queries.PAGE_SIZE]
    assert range_caption(at) == f"1–{queries.PAGE_SIZE} of {len(expected)}"


def test_clicking_a_row_opens_the_conversation(app_as, demo_db):
    maria = uid(demo_db, "maria")
    cid = own_ids(demo_db, maria)[2]
    name = demo_db.scalar(
        "SELECT ct.name FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = ?", [cid]
    )
    at = table_event(app_as("maria", PAGE), cell=2)
    ok(at)
    assert at.query_params["id"] in (str(cid), [str(cid)])
    assert name in texts(at, "subheader")[0].replace("\\", "")
    assert not at.dataframe, "the list is gone: the conversation page is showing"


# ---- Open / Closed / All ------------------------------------------------------------------------


def test_open_closed_all_switch(app_as, demo_db):
    maria = uid(demo_db, "maria")
    closed, everything = own_ids(demo_db, maria, "closed"), own_ids(demo_db, maria, "all")
    assert closed, "the demo inbox has closed conversations"
    assert len(everything) > queries.PAGE_SIZE
    at = app_as("maria", PAGE)
    button(at, "Next").click()
    at.run()
    at = show(at, "All")
    ok(at)
    assert at.session_state[f"{KEY}.page"] == 0, "the switch goes back to the first page"
    assert shown_ids(at) == everything[: queries.PAGE_SIZE]
    assert range_caption(at) == f"1–{queries.PAGE_SIZE} of {len(everything)}"
    flagged = [c for c, flags in zip(shown_ids(at), table(at)["Flags"]) if "Closed" in flags]
    assert flagged == [c for c in everything[: queries.PAGE_SIZE] if c in closed]
    n = queries.unread_count(demo_db, maria)
    assert header(at) == badge(n), "the badge counts open conversations whatever the switch"
    at = show(at, "Closed")
    ok(at)
    assert shown_ids(at) == closed[: queries.PAGE_SIZE]
    assert range_caption(at) == f"1–{min(len(closed), queries.PAGE_SIZE)} of {len(closed)}"
    assert "Closed" not in set(table(at)["Flags"]), "no need to flag closed rows in the Closed list"
    assert header(at) == badge(n)
    at = show(at, "Open")
    assert shown_ids(at) == own_ids(demo_db, maria)[: queries.PAGE_SIZE]


# ---- bulk actions ---------------------------------------------------------------------------------


def test_mark_read_then_unread_changes_db_and_badge(app_as, demo_db):
    maria = uid(demo_db, "maria")
    at = app_as("maria", PAGE)
    ids = shown_ids(at)
    marks = list(table(at)["●"])
    positions = [i for i, m in enumerate(marks) if m][:3]
    assert len(positions) == 3
    chosen = [ids[i] for i in positions]
    before = queries.unread_count(demo_db, maria)
    at = tick(at, positions)
    assert "3 selected" in texts(at, "caption")
    assert not button(at, "Mark read").disabled
    button(at, "Mark read").click()
    at.run()
    ok(at)
    assert not any(unread(demo_db, c) for c in chosen)
    assert queries.unread_count(demo_db, maria) == before - 3
    assert header(at) == badge(before - 3)
    assert [m for i, m in enumerate(table(at)["●"]) if i in positions] == ["", "", ""]
    assert "Marked 3 conversations read." in texts(at, "toast")
    assert at.session_state[f"{KEY}.sel"] == [] and button(at, "Mark read").disabled

    at = tick(at, positions[:2])
    button(at, "Mark unread").click()
    at.run()
    ok(at)
    assert [unread(demo_db, c) for c in chosen] == [True, True, False]
    assert queries.unread_count(demo_db, maria) == before - 1
    assert header(at) == badge(before - 1)
    assert "Marked 2 conversations unread." in texts(at, "toast")


def test_mark_unread_a_read_conversation(app_as, demo_db):
    maria = uid(demo_db, "maria")
    at = app_as("maria", PAGE)
    position = list(table(at)["●"]).index("")
    cid = shown_ids(at)[position]
    assert not unread(demo_db, cid)
    before = queries.unread_count(demo_db, maria)
    tick(at, [position])
    button(at, "Mark unread").click()
    at.run()
    ok(at)
    assert unread(demo_db, cid)
    assert header(at) == badge(before + 1)
    assert table(at)["●"][shown_ids(at).index(cid)] == "●"


def test_close_and_reopen(app_as, demo_db):
    maria = uid(demo_db, "maria")
    opened = own_ids(demo_db, maria)
    at = app_as("maria", PAGE)
    marks = list(table(at)["●"])
    positions = [marks.index("●"), marks.index("")]  # one unread, one read
    chosen = [opened[i] for i in positions]
    before = queries.unread_count(demo_db, maria)
    tick(at, positions)
    button(at, "Close").click()
    at.run()
    ok(at)
    assert [status_of(demo_db, c) for c in chosen] == ["closed", "closed"]
    assert "Closed 2 conversations." in texts(at, "toast")
    assert not set(chosen) & set(shown_ids(at))
    assert shown_ids(at) == [c for c in opened if c not in chosen][: queries.PAGE_SIZE]
    assert range_caption(at).endswith(f"of {len(opened) - 2}")
    assert header(at) == badge(before - 1), "a closed unread conversation leaves the badge"

    at = show(at, "Closed")
    assert set(chosen) <= set(shown_ids(at))
    tick(at, [shown_ids(at).index(c) for c in chosen])
    button(at, "Reopen").click()
    at.run()
    ok(at)
    assert [status_of(demo_db, c) for c in chosen] == ["open", "open"]
    assert "Reopened 2 conversations." in texts(at, "toast")
    assert not set(chosen) & set(shown_ids(at))
    assert header(at) == badge(before)
    at = show(at, "Open")
    assert shown_ids(at) == opened[: queries.PAGE_SIZE]


def test_closing_an_already_closed_conversation_says_so(app_as, demo_db):
    maria = uid(demo_db, "maria")
    at = show(app_as("maria", PAGE), "Closed")
    cid = shown_ids(at)[0]
    tick(at, [0])
    button(at, "Close").click()
    at.run()
    ok(at)
    assert status_of(demo_db, cid) == "closed"
    assert "Those conversations were already closed." in texts(at, "toast")
    assert own_ids(demo_db, maria, "closed")[0] == cid


def test_closing_the_whole_last_page_goes_back_a_page(app_as, demo_db):
    maria = uid(demo_db, "maria")
    opened = own_ids(demo_db, maria)
    size = queries.PAGE_SIZE
    assert size < len(opened) <= 2 * size
    at = app_as("maria", PAGE)
    button(at, "Next").click()
    at.run()
    last = shown_ids(at)
    assert last == opened[size:]
    tick(at, list(range(len(last))))
    button(at, "Close").click()
    at.run()
    ok(at)
    assert all(status_of(demo_db, c) == "closed" for c in last)
    assert at.session_state[f"{KEY}.page"] == 0
    assert shown_ids(at) == opened[:size]
    assert range_caption(at) == f"1–{size} of {size}"
    assert button(at, "Next").disabled


def test_bulk_action_callback_with_explicit_state(demo_db, demo_runtime):
    """The callbacks take any mapping, so a dialog-less driver can act on a selection."""
    maria, james = uid(demo_db, "maria"), uid(demo_db, "james")
    mine = [c for c in own_ids(demo_db, maria) if unread(demo_db, c)][:2]
    state = {f"{KEY}.sel": list(mine), f"{KEY}.sel_rows": list(mine)}
    common.bulk_action(KEY, maria, "read", state=state)
    assert not any(unread(demo_db, c) for c in mine)
    assert state[f"{KEY}.flash"] == "Marked 2 conversations read."
    assert state[f"{KEY}.sel"] == [] and f"{KEY}.error" not in state

    theirs = [c for c in own_ids(demo_db, james) if unread(demo_db, c)][0]
    state = {f"{KEY}.sel": [theirs]}
    common.bulk_action(KEY, maria, "read", state=state)
    assert state[f"{KEY}.error"] == (
        f"Conversation {theirs} is assigned to someone else; you can mark "
        "conversations read or unread only in your own inbox."
    )
    assert unread(demo_db, theirs)
    state = {f"{KEY}.sel": [theirs]}
    common.bulk_action(KEY, maria, "close", state=state)
    assert "assigned to someone else" in state[f"{KEY}.error"]
    assert status_of(demo_db, theirs) == "open"


def test_action_error_is_shown_on_the_page(app_as, demo_db):
    """A selection that went stale (reassigned meanwhile) gives one sentence, not a traceback."""
    james = uid(demo_db, "james")
    theirs = own_ids(demo_db, james)[0]
    was_unread = unread(demo_db, theirs)
    at = app_as("maria", PAGE)
    at.session_state[f"{KEY}.sel"] = [theirs]
    at.run()
    button(at, "Mark read").click()
    at.run()
    assert not at.exception
    assert texts(at, "error") == [
        f"Conversation {theirs} is assigned to someone else; you can mark "
        "conversations read or unread only in your own inbox."
    ]
    assert unread(demo_db, theirs) == was_unread


# ---- changes made elsewhere (another session, an admin) -------------------------------------------


def test_assignment_moves_the_conversation_between_inboxes(app_as, demo_db):
    """Rule 7: it leaves the old owner's list on their next run and arrives unread in the new one."""
    admin, maria, james = demo_user(demo_db, "admin"), uid(demo_db, "maria"), uid(demo_db, "james")
    read_one = next(c for c in own_ids(demo_db, maria) if not unread(demo_db, c))
    at = app_as("maria", PAGE)
    assert read_one in shown_ids(at)
    maria_before, james_before = queries.unread_count(demo_db, maria), queries.unread_count(demo_db, james)
    assert do_assign(demo_db, admin, [read_one], james) == 1
    at.run()
    ok(at)
    assert read_one not in shown_ids(at)
    assert shown_ids(at) == own_ids(demo_db, maria)[: queries.PAGE_SIZE]
    assert header(at) == badge(maria_before)
    theirs = app_as("james", PAGE)
    assert shown_ids(theirs)[:1] == own_ids(demo_db, james)[:1]
    assert read_one in own_ids(demo_db, james) and unread(demo_db, read_one)
    assert header(theirs) == badge(james_before + 1)


def test_a_conversation_an_admin_closes_leaves_the_owners_list(app_as, demo_db):
    admin, maria = demo_user(demo_db, "admin"), uid(demo_db, "maria")
    cid = next(c for c in own_ids(demo_db, maria) if unread(demo_db, c))
    at = app_as("maria", PAGE)
    before = queries.unread_count(demo_db, maria)
    assert cid in shown_ids(at)
    assert do_set_status(demo_db, admin, [cid], closed=True) == 1
    at.run()
    assert cid not in shown_ids(at)
    assert header(at) == badge(before - 1)


# ---- whose inbox ------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["maria", "james", "aiko", "admin"])
def test_only_own_conversations(app_as, demo_db, username):
    me = uid(demo_db, username)
    at = show(app_as(username, PAGE), "All")
    ok(at)
    everything = own_ids(demo_db, me, "all")
    assert shown_ids(at) == everything[: queries.PAGE_SIZE]
    assert range_caption(at).endswith(f"of {len(everything)}")
    owners = {demo_db.scalar("SELECT owner_id FROM conversations WHERE id = ?", [c]) for c in shown_ids(at)}
    assert owners == {me}
    assert header(at) == badge(queries.unread_count(demo_db, me))


def test_another_agents_contact_is_not_found(app_as, demo_db):
    maria, james = uid(demo_db, "maria"), uid(demo_db, "james")
    phone = demo_db.scalar(
        "SELECT ct.phone FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.owner_id = ? "
        "AND c.status = 'open' AND ct.id NOT IN (SELECT contact_id FROM conversations WHERE owner_id = ?) "
        "ORDER BY c.id LIMIT 1",
        [james, maria],
    )
    at = search(app_as("maria", PAGE), phone)
    ok(at)
    assert table(at) is None
    assert any(i.startswith("No open conversations match") for i in texts(at, "info"))
    at = search(app_as("james", PAGE), phone)
    assert len(shown_ids(at)) == 1


def test_supervisor_has_no_my_inbox_or_sent_page(app_as):
    at = app_as("sam")
    assert not at.exception
    for page in (PAGE, "pages/sent_messages.py"):
        with pytest.raises(ValueError, match="not a registered page|registered"):
            at.switch_page(page)
    maria = app_as("maria")
    maria.switch_page(PAGE)  # the same call works for an agent
    maria.run()
    assert header(maria).startswith("My Inbox")
