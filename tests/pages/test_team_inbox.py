"""Team Inbox under AppTest: whole team or one agent, read state (rule 6), assignment (rule 7), roles.

Ticking rows in the browser runs ``common._on_table``, which stores the ticked
conversation ids in ``team.sel``; AppTest cannot tick dataframe rows, so the
tests store that selection directly. The bulk-action callbacks take a
``state`` mapping, so refusals and the assignment flow are also driven with a
plain dict, as a crafted request would.
"""

from __future__ import annotations

import json

import pytest
from streamlit.proto.Dataframe_pb2 import Dataframe as DataframeProto
from streamlit.testing.v1 import AppTest

from core import queries, runtime
from core.actions.conversations import do_assign
from core.errors import PermissionDenied
from pages import common
from tests.conftest import ROOT, demo_user, sign_in_apptest

PAGE = "pages/team_inbox.py"
KEY = "team"

pytestmark = pytest.mark.usefixtures("navigation_only")


def unread_for_owner(db, cid) -> bool:
    return bool(
        db.scalar(
            f"SELECT {queries.UNREAD_SQL} FROM conversations c LEFT JOIN read_markers rm "
            "ON rm.user_id = c.owner_id AND rm.conversation_id = c.id WHERE c.id = ?",
            [cid],
        )
    )


def owner_of(db, cid) -> int | None:
    return db.scalar("SELECT owner_id FROM conversations WHERE id = ?", [cid])


def audit_rows(db, action: str, cid: int) -> list[tuple]:
    return db.fetchall(
        "SELECT actor_id, detail FROM audit_log WHERE action = ? AND object_type = 'conversation' "
        "AND object_id = ? ORDER BY id",
        [action, cid],
    )


def open_rows(db, viewer, owner_id) -> list[dict]:
    """The first page of the owner's open conversations, as the page lists them."""
    return queries.inbox_page(db, viewer, scope="team", owner_id=owner_id, status="open").rows


def first(rows, *, unread: bool) -> int:
    cid = next((r["conversation_id"] for r in rows if bool(r["unread"]) == unread), None)
    assert cid is not None, f"the demo workspace has a{'n un' if unread else ' '}read open conversation here"
    return cid


def texts(at, kind) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def page_errors(at):
    return [e.value for e in at.exception]


def table(at):
    return next(d for d in at.dataframe if d.key == f"{KEY}.table")


def team(app_as, viewer: str, owner: str | None = None) -> AppTest:
    at = app_as(viewer, PAGE)
    assert not page_errors(at) and not at.error, (page_errors(at), texts(at, "error"))
    if owner is not None:
        at.selectbox(key=f"{KEY}.owner").set_value(demo_user(runtime.current().db, owner).id).run()
        assert not page_errors(at) and not at.error
    return at


def tick(at, ids: list[int]) -> AppTest:
    """What ticking these rows does (``common._on_table``)."""
    at.session_state[f"{KEY}.sel"] = list(ids)
    at.session_state[f"{KEY}.sel_rows"] = list(ids)
    return at.run()


# ---- browsing ------------------------------------------------------------------------------


@pytest.mark.parametrize("viewer", ["admin", "sam"])
def test_whole_team_lists_everyone_with_an_owner_column(app_as, demo_db, viewer):
    user = demo_user(demo_db, viewer)
    at = team(app_as, viewer)
    picker = at.selectbox(key=f"{KEY}.owner")
    members = queries.team_members(demo_db, user)
    assert picker.value == 0
    assert picker.options[0] == "Whole team"
    assert [o.split("(@")[1].split(")")[0] for o in picker.options[1:]] == [m["username"] for m in members]
    assert {m["username"] for m in members} == {"admin", "maria", "james", "aiko"}, "supervisors own no inbox"

    page = queries.inbox_page(demo_db, user, scope="team", status="open")
    frame = table(at).value
    assert at.session_state[f"{KEY}.ids"] == [r["conversation_id"] for r in page.rows]
    assert list(frame["Owner"]) == [r["owner_name"] or "Unassigned" for r in page.rows]
    assert len(set(frame["Owner"])) > 1, "more than one agent's conversations"
    assert f"1–{len(page.rows)} of {page.total:,}" in texts(at, "caption")


@pytest.mark.parametrize("viewer", ["admin", "sam"])
def test_picking_one_agent_lists_only_their_conversations(app_as, demo_db, viewer):
    user, maria = demo_user(demo_db, viewer), demo_user(demo_db, "maria")
    at = team(app_as, viewer, owner="maria")
    page = queries.inbox_page(demo_db, user, scope="team", owner_id=maria.id, status="open")
    assert page.total < queries.inbox_page(demo_db, user, scope="team", status="open").total
    ids = at.session_state[f"{KEY}.ids"]
    assert ids == [r["conversation_id"] for r in page.rows]
    assert {owner_of(demo_db, cid) for cid in ids} == {maria.id}
    frame = table(at).value
    assert "Owner" not in frame.columns
    assert list(frame["●"]) == ["●" if r["unread"] else "" for r in page.rows]
    assert f":blue-badge[{queries.unread_count(demo_db, maria.id):,} unread]" in texts(at, "markdown")
    assert f"1–{len(page.rows)} of {page.total:,}" in texts(at, "caption")

    at.selectbox(key=f"{KEY}.owner").set_value(0).run()
    assert "Owner" in table(at).value.columns


def test_a_disabled_agent_picked_before_falls_back_to_the_whole_team(app_as, demo_db):
    aiko = demo_user(demo_db, "aiko")
    at = team(app_as, "admin", owner="aiko")
    assert "Owner" not in table(at).value.columns
    demo_db.write(lambda tx: tx.execute("UPDATE users SET active = FALSE WHERE id = ?", [aiko.id]))
    at.run()
    assert not page_errors(at) and not at.error
    picker = at.selectbox(key=f"{KEY}.owner")
    assert picker.value == 0
    assert not any("@aiko" in o for o in picker.options)
    assert "Owner" in table(at).value.columns


@pytest.mark.parametrize("viewer", ["admin", "sam"])
def test_reading_from_team_inbox_leaves_the_owner_unread(app_as, demo_db, viewer):
    maria = demo_user(demo_db, "maria")
    at = team(app_as, viewer, owner="maria")
    cid = first(open_rows(demo_db, demo_user(demo_db, viewer), maria.id), unread=True)
    before = queries.unread_count(demo_db, maria.id)
    name, phone = demo_db.fetchone(
        "SELECT ct.name, ct.phone FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = ?", [cid]
    )
    at.session_state[f"{KEY}.open"] = cid  # what a click on the row's cell stores (common._on_table)
    at.run()
    assert not page_errors(at) and not at.error
    assert at.query_params.get("id") in (str(cid), [str(cid)])
    assert at.chat_message, "the conversation opened"
    assert common.contact_label(name, phone) in texts(at, "subheader")[0].replace("\\", "")
    assert unread_for_owner(demo_db, cid)
    assert queries.unread_count(demo_db, maria.id) == before


# ---- mark read / unread for the owner (rule 6) ----------------------------------------------------


def test_admin_mark_read_asks_naming_the_owner_then_confirm_changes_owner_state(app_as, demo_db):
    admin, maria = demo_user(demo_db, "admin"), demo_user(demo_db, "maria")
    at = team(app_as, "admin", owner="maria")
    cid = first(open_rows(demo_db, admin, maria.id), unread=True)
    before = queries.unread_count(demo_db, maria.id)
    tick(at, [cid])
    assert "1 selected" in texts(at, "caption")
    at.button(key=f"{KEY}.act.read").click().run()
    assert not page_errors(at)
    assert at.session_state[f"{KEY}.confirm"] == {"ids": [cid], "read": True, "owners": [maria.display_name]}
    assert any(f"in {maria.display_name}'s inbox" in m for m in texts(at, "markdown")), texts(at, "markdown")
    assert unread_for_owner(demo_db, cid), "nothing changes before the admin confirms"
    assert audit_rows(demo_db, "conversation.read", cid) == []

    at.button(key=f"{KEY}.confirm_yes").click().run()
    assert not page_errors(at) and not at.error
    assert f"{KEY}.confirm" not in at.session_state
    assert not unread_for_owner(demo_db, cid)
    assert queries.unread_count(demo_db, maria.id) == before - 1
    [(actor, detail)] = audit_rows(demo_db, "conversation.read", cid)
    assert actor == admin.id and json.loads(detail)["owner_id"] == maria.id
    assert texts(at, "toast") == [f"Marked 1 conversation read for {maria.display_name}."]
    assert at.session_state[f"{KEY}.sel"] == []


def test_admin_cancelling_the_question_changes_nothing(app_as, demo_db):
    admin, maria = demo_user(demo_db, "admin"), demo_user(demo_db, "maria")
    at = team(app_as, "admin", owner="maria")
    cid = first(open_rows(demo_db, admin, maria.id), unread=False)
    tick(at, [cid])
    at.button(key=f"{KEY}.act.unread").click().run()
    assert at.session_state[f"{KEY}.confirm"]["owners"] == [maria.display_name]
    at.button(key=f"{KEY}.confirm_no").click().run()
    assert not page_errors(at) and not at.error
    assert f"{KEY}.confirm" not in at.session_state
    assert not unread_for_owner(demo_db, cid)
    assert audit_rows(demo_db, "conversation.unread", cid) == []
    assert not at.toast
    assert not [b for b in at.button if b.key == f"{KEY}.confirm_yes"], "the question is gone"


def test_confirm_callback_with_two_owners_marks_unread_for_both(demo_db):
    admin, maria, james = (demo_user(demo_db, u) for u in ("admin", "maria", "james"))
    c1 = first(open_rows(demo_db, admin, maria.id), unread=False)
    c2 = first(open_rows(demo_db, admin, james.id), unread=False)
    state = {f"{KEY}.sel": [c1, c2]}
    common.bulk_action(KEY, admin.id, "unread", state)
    assert state[f"{KEY}.confirm"] == {
        "ids": [c1, c2],
        "read": False,
        "owners": sorted([maria.display_name, james.display_name]),
    }
    assert not unread_for_owner(demo_db, c1) and not unread_for_owner(demo_db, c2)
    common.confirm_read_state(KEY, admin.id, state)
    assert unread_for_owner(demo_db, c1) and unread_for_owner(demo_db, c2)
    assert f"{KEY}.confirm" not in state and f"{KEY}.error" not in state
    names = sorted([maria.display_name, james.display_name])
    assert state[f"{KEY}.flash"] == f"Marked 2 conversations unread for {names[0]} and {names[1]}."


# ---- assignment (rule 7) ------------------------------------------------------------------------


def test_admin_assigns_through_the_callbacks(demo_db):
    admin, maria, james = (demo_user(demo_db, u) for u in ("admin", "maria", "james"))
    rows = open_rows(demo_db, admin, maria.id)
    read_one, unread_one = first(rows, unread=False), first(rows, unread=True)
    james_unread = queries.unread_count(demo_db, james.id)
    maria_unread = queries.unread_count(demo_db, maria.id)
    feed = runtime.current().feed
    last_notice = feed.last_notice_id()

    state = {f"{KEY}.sel": [read_one, unread_one]}
    common.bulk_action(KEY, admin.id, "assign", state)
    assert state[f"{KEY}.assign"] == {"ids": [read_one, unread_one]}
    assert state[f"{KEY}.ask"] is True
    assert owner_of(demo_db, read_one) == maria.id, "choosing whom comes first"
    state[f"{KEY}.assign_to"] = james.id
    common.assign_selected(KEY, admin.id, state)

    assert f"{KEY}.dialog_error" not in state and f"{KEY}.assign" not in state
    assert state[f"{KEY}.flash"] == f"Assigned 2 conversations to {james.display_name}."
    assert state[f"{KEY}.sel"] == []
    for cid in (read_one, unread_one):
        assert owner_of(demo_db, cid) == james.id
        assert unread_for_owner(demo_db, cid), "new owner sees it unread"
        [(actor, detail)] = audit_rows(demo_db, "conversation.assigned", cid)
        assert actor == admin.id
        assert {k: json.loads(detail)[k] for k in ("from_user_id", "to_user_id")} == {
            "from_user_id": maria.id,
            "to_user_id": james.id,
        }
    assert queries.unread_count(demo_db, james.id) == james_unread + 2
    assert queries.unread_count(demo_db, maria.id) == maria_unread - 1
    left = {
        r["conversation_id"]
        for r in queries.inbox_page(demo_db, maria, scope="mine", status="all", page_size=10_000).rows
    }
    assert not left & {read_one, unread_one}, "they left Maria's inbox"
    notices = feed.notices_for(james.id, last_notice)
    assert sorted(n.conversation_id for n in notices if n.kind == "assigned") == sorted([read_one, unread_one])


def test_admin_assigns_through_the_page(app_as, demo_db):
    admin, maria, james = (demo_user(demo_db, u) for u in ("admin", "maria", "james"))
    at = team(app_as, "admin", owner="maria")
    cid = first(open_rows(demo_db, admin, maria.id), unread=False)
    tick(at, [cid])
    at.button(key=f"{KEY}.act.assign").click().run()
    assert not page_errors(at)
    choose = at.selectbox(key=f"{KEY}.assign_to")
    handles = [f"(@{m['username']})" for m in queries.team_members(demo_db, admin)]
    assert len(choose.options) == len(handles)
    assert all(handle in option for handle, option in zip(handles, choose.options)), choose.options
    assert not any("(@sam)" in o for o in choose.options), "supervisors are not assignable"
    assert at.button(key=f"{KEY}.assign_yes").disabled, "nobody chosen yet"
    choose.set_value(james.id).run()
    at.button(key=f"{KEY}.assign_yes").click().run()
    assert not page_errors(at) and not at.error
    assert owner_of(demo_db, cid) == james.id
    assert unread_for_owner(demo_db, cid)
    assert texts(at, "toast") == [f"Assigned 1 conversation to {james.display_name}."]
    assert cid not in at.session_state[f"{KEY}.ids"], "it left Maria's list at once"


@pytest.mark.parametrize("target", ["aiko", "sam", None])
def test_assigning_to_a_disabled_user_or_supervisor_is_one_sentence(demo_db, target):
    admin, maria = demo_user(demo_db, "admin"), demo_user(demo_db, "maria")
    cid = first(open_rows(demo_db, admin, maria.id), unread=False)
    to = demo_user(demo_db, target) if target else None
    if target == "aiko":
        demo_db.write(lambda tx: tx.execute("UPDATE users SET active = FALSE WHERE id = ?", [to.id]))
    state = {f"{KEY}.sel": [cid]}
    common.bulk_action(KEY, admin.id, "assign", state)
    state[f"{KEY}.assign_to"] = to.id if to else None
    common.assign_selected(KEY, admin.id, state)
    if target == "aiko":
        expected = f"{to.display_name} is disabled; choose an active agent."
    elif target == "sam":
        expected = f"{to.display_name} is a supervisor; conversations go to agents or admins."
    else:
        expected = "Choose an agent to assign the conversations to."
    assert state[f"{KEY}.dialog_error"] == expected
    assert state[f"{KEY}.assign"] == {"ids": [cid]}, "the dialog stays open"
    assert f"{KEY}.flash" not in state
    assert owner_of(demo_db, cid) == maria.id
    assert not unread_for_owner(demo_db, cid)
    assert audit_rows(demo_db, "conversation.assigned", cid) == []


# ---- roles ------------------------------------------------------------------------------------


def test_supervisor_browses_read_only(app_as, demo_db):
    sam, maria = demo_user(demo_db, "sam"), demo_user(demo_db, "maria")
    at = team(app_as, "sam", owner="maria")
    assert not [b.key for b in at.button if (b.key or "").startswith(f"{KEY}.act.")]
    assert "Read-only: supervisors can open and read conversations but cannot change them." in texts(at, "caption")
    assert "Click a conversation to open it." in texts(at, "caption")
    assert DataframeProto.SelectionMode.MULTI_ROW not in table(at).proto.selection_mode, "no tick boxes"

    cid = first(open_rows(demo_db, sam, maria.id), unread=True)
    state = {f"{KEY}.sel": [cid]}
    common.bulk_action(KEY, sam.id, "read", state)
    assert state[f"{KEY}.error"] == "Supervisors can browse conversations but cannot mark conversations read or unread."
    common.bulk_action(KEY, sam.id, "assign", state)
    assert state[f"{KEY}.error"] == "Only an admin can assign conversations."
    assert f"{KEY}.confirm" not in state and f"{KEY}.assign" not in state
    assert unread_for_owner(demo_db, cid) and owner_of(demo_db, cid) == maria.id


def test_admin_gets_the_action_buttons(app_as):
    at = team(app_as, "admin")
    keys = {b.key for b in at.button}
    assert {f"{KEY}.act.{a}" for a in ("read", "unread", "close", "reopen", "assign")} <= keys
    assert "Reading a conversation here leaves its owner's unread mark alone." in texts(at, "caption")
    assert DataframeProto.SelectionMode.MULTI_ROW in table(at).proto.selection_mode


def test_agent_is_not_offered_team_inbox(app_as, demo_runtime):
    at = app_as("maria")
    scripts = {str(info.get("script_path")) for info in at._registered_pages.values()}
    assert str(ROOT / "pages" / "my_inbox.py") in scripts
    assert str(ROOT / PAGE) not in scripts
    with pytest.raises(ValueError):
        at.switch_page(PAGE)

    # The page script itself, reached some other way, refuses in core.
    direct = AppTest.from_file(str(ROOT / PAGE), default_timeout=30)
    sign_in_apptest(direct, demo_runtime, "maria")
    direct.run()
    assert texts(direct, "error") == ["Only admins and supervisors can see the Team Inbox."]
    assert not direct.dataframe


def test_agent_crafted_assign_is_refused(demo_db):
    maria, james = demo_user(demo_db, "maria"), demo_user(demo_db, "james")
    cid = first(open_rows(demo_db, demo_user(demo_db, "admin"), james.id), unread=False)

    state = {f"{KEY}.sel": [cid]}
    common.bulk_action(KEY, maria.id, "assign", state)
    assert state[f"{KEY}.error"] == "Only an admin can assign conversations."
    assert f"{KEY}.assign" not in state and f"{KEY}.ask" not in state

    state = {f"{KEY}.assign": {"ids": [cid]}, f"{KEY}.assign_to": maria.id}
    common.assign_selected(KEY, maria.id, state)
    assert state[f"{KEY}.dialog_error"] == "Only an admin can assign conversations."
    with pytest.raises(PermissionDenied):
        do_assign(demo_db, maria, [cid], maria.id)

    state = {f"{KEY}.sel": [cid]}
    common.bulk_action(KEY, maria.id, "read", state)
    assert state[f"{KEY}.error"] == (
        f"Conversation {cid} is assigned to someone else; you can mark conversations "
        "read or unread only in your own inbox."
    )
    assert owner_of(demo_db, cid) == james.id
    assert not unread_for_owner(demo_db, cid)
    assert audit_rows(demo_db, "conversation.assigned", cid) == []
