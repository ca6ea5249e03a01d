"""Team Inbox under AppTest: whole team or one agent, read state (rule 6), assignment (rule 7), roles.

Each case builds its team with ``tests.factories`` at a frozen clock and states what the list
shows literally. Ticks are sent as the browser's row list sends them (``lists.tick``); the
bulk-action callbacks also take a plain ``state`` mapping, so refusals are driven the way a
crafted request would be.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from streamlit.testing.v1 import AppTest

from core.actions.conversations import do_assign
from core.errors import PermissionDenied
from pages import bulk
from tests import factories as f
from tests.conftest import ROOT, sign_in_apptest
from tests.pages import lists
from tests.pages.lists import NOW, plain, range_caption, texts, workspace  # noqa: F401

PAGE = "pages/team_inbox.py"
KEY = "team"


def ago(**kwargs) -> dt.datetime:
    return NOW - dt.timedelta(**kwargs)


def ok(at):
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, texts(at, "error")


def owner_of(db, cid) -> int | None:
    return db.scalar("SELECT owner_id FROM conversations WHERE id = ?", [cid])


def marker(db, user_id, cid) -> tuple | None:
    """The owner's read marker: (read?, marked unread?) or None when never read."""
    row = db.fetchone(
        "SELECT read_at IS NOT NULL, unread FROM read_markers WHERE user_id = ? AND conversation_id = ?", [user_id, cid]
    )
    return None if row is None else tuple(row)


def audit_rows(db, action: str, cid: int) -> list[tuple]:
    return db.fetchall(
        "SELECT actor_id, detail FROM audit_log WHERE action = ? AND object_type = 'conversation' "
        "AND object_id = ? ORDER BY id",
        [action, cid],
    )


def listed(at) -> list[tuple]:
    return [(r["title"], r.get("owner"), r["unread"]) for r in lists.rows(at, KEY)]


class Team:
    """María has Carla (unread) and Dan (read); James has Fox (unread) and Eli (read)."""

    def __init__(self, ws) -> None:
        db = ws.db
        self.admin = ws.user("admin", role="admin", display_name="Ada Admin")
        self.sam = ws.user("sam", role="supervisor", display_name="Sam Supervisor")
        self.maria = ws.user("maria", display_name="María López")
        self.james = ws.user("james", display_name="James Carter")
        self.aiko = ws.user("aiko", display_name="Aiko Tanaka")
        sms = f.add_sender(db, channel="sms")

        def conv(name, owner, minutes, read):
            contact = f.add_contact(db, name=name)
            cid = f.add_conversation(
                db,
                contact_id=contact,
                sender_id=sms,
                owner_id=owner.id,
                last_inbound_at=ago(minutes=minutes),
                inbound_body=f"Hello from {name}",
            )
            if read:
                f.mark_read(db, owner.id, cid)
            return cid

        self.carla = conv("Carla Núñez", self.maria, 5, read=False)
        self.fox = conv("Fox Mulder", self.james, 30, read=False)
        self.dan = conv("Dan Brown", self.maria, 60, read=True)
        self.eli = conv("Eli Stone", self.james, 120, read=True)

    def pick(self, at, owner):
        at.selectbox(key=f"{KEY}.owner").set_value(owner.id).run()
        ok(at)
        return at


@pytest.fixture
def team(workspace):  # noqa: F811
    return Team(workspace)


# ---- browsing ------------------------------------------------------------------------------


@pytest.mark.parametrize("viewer", ["admin", "sam"])
def test_whole_team_lists_everyone_with_the_owner(workspace, team, viewer):  # noqa: F811
    at = workspace.app(viewer, PAGE)
    ok(at)
    assert texts(at, "header") == ["Team Inbox"]
    assert listed(at) == [
        ("Carla Núñez", "María López", True),
        ("Fox Mulder", "James Carter", True),
        ("Dan Brown", "María López", False),
        ("Eli Stone", "James Carter", False),
    ]
    assert range_caption(at) == "1–4 of 4"
    picker = at.selectbox(key=f"{KEY}.owner")
    assert picker.options == [
        "Whole team",
        "Aiko Tanaka (@aiko)",
        "James Carter (@james)",
        "María López (@maria)",
        "Ada Admin (@admin) · admin",
    ]


@pytest.mark.parametrize("viewer", ["admin", "sam"])
def test_picking_one_agent_lists_only_theirs_with_their_unread_count(workspace, team, viewer):  # noqa: F811
    at = team.pick(workspace.app(viewer, PAGE), team.james)
    assert listed(at) == [("Fox Mulder", None, True), ("Eli Stone", None, False)]
    assert lists.rows(at, KEY)[0]["href"] == f"conversation?id={team.fox}"
    assert ":blue-badge[1 unread]" in texts(at, "markdown")
    assert range_caption(at) == "1–2 of 2"


def test_a_tick_right_after_picking_an_agent_counts(workspace, team):  # noqa: F811
    """After *Inbox of* changes the list, the very first event from it is acted on (no dead first click)."""
    at = team.pick(workspace.app("admin", PAGE), team.maria)
    at = lists.tick(at, KEY, [team.dan])
    ok(at)
    assert at.session_state[f"{KEY}.sel"] == [team.dan]
    assert "1 selected" in texts(at, "caption")


def test_a_disabled_agent_picked_before_falls_back_to_the_whole_team(workspace, team):  # noqa: F811
    at = team.pick(workspace.app("admin", PAGE), team.aiko)
    assert lists.rows_data(at, KEY) is None
    assert [plain(i) for i in texts(at, "info")] == ["No open conversations here yet."]
    workspace.db.write(lambda tx: tx.execute("UPDATE users SET active = FALSE WHERE id = ?", [team.aiko.id]))
    at.run()
    ok(at)
    picker = at.selectbox(key=f"{KEY}.owner")
    assert picker.value == 0
    assert "Aiko Tanaka (@aiko)" not in picker.options
    assert len(lists.rows(at, KEY)) == 4


@pytest.mark.parametrize("viewer", ["admin", "sam"])
def test_reading_from_team_inbox_leaves_the_owner_unread(workspace, team, viewer):  # noqa: F811
    at = workspace.app(viewer, "pages/conversation.py", query={"id": team.carla})
    assert not at.exception
    assert at.chat_message, "the conversation opened"
    assert marker(workspace.db, team.maria.id, team.carla) is None
    at = team.pick(workspace.app(viewer, PAGE), team.maria)
    assert listed(at)[0] == ("Carla Núñez", None, True)


# ---- mark read / unread for the owner (rule 6) ----------------------------------------------------


def test_admin_mark_read_asks_naming_the_owner_then_confirm_changes_owner_state(workspace, team):  # noqa: F811
    db = workspace.db
    at = lists.tick(team.pick(workspace.app("admin", PAGE), team.maria), KEY, [team.carla])
    assert "1 selected" in texts(at, "caption")
    at.button(key=f"{KEY}.act.read").click().run()
    assert not at.exception
    assert at.session_state[f"{KEY}.confirm"] == {"ids": [team.carla], "read": True, "owners": ["María López"]}
    assert [plain(m) for m in texts(at, "markdown") if "inbox" in m] == [
        "This marks 1 conversation **read** in María López's inbox. They will see it as read."
    ]
    assert marker(db, team.maria.id, team.carla) is None, "nothing changes before the admin confirms"
    assert audit_rows(db, "conversation.read", team.carla) == []

    at.button(key=f"{KEY}.confirm_yes").click().run()
    ok(at)
    assert f"{KEY}.confirm" not in at.session_state
    assert marker(db, team.maria.id, team.carla) == (True, False)
    [(actor, detail)] = audit_rows(db, "conversation.read", team.carla)
    assert actor == team.admin.id and json.loads(detail)["owner_id"] == team.maria.id
    assert [plain(t) for t in texts(at, "toast")] == ["Marked 1 conversation read for María López."]
    assert at.session_state[f"{KEY}.sel"] == []
    assert listed(at) == [("Carla Núñez", None, False), ("Dan Brown", None, False)]
    assert ":gray-badge[all read]" in texts(at, "markdown")


def test_admin_cancelling_the_question_changes_nothing(workspace, team):  # noqa: F811
    at = lists.tick(team.pick(workspace.app("admin", PAGE), team.maria), KEY, [team.dan])
    at.button(key=f"{KEY}.act.unread").click().run()
    assert at.session_state[f"{KEY}.confirm"]["owners"] == ["María López"]
    at.button(key=f"{KEY}.confirm_no").click().run()
    ok(at)
    assert f"{KEY}.confirm" not in at.session_state
    assert marker(workspace.db, team.maria.id, team.dan) == (True, False)
    assert audit_rows(workspace.db, "conversation.unread", team.dan) == []
    assert not at.toast
    assert not [b for b in at.button if b.key == f"{KEY}.confirm_yes"], "the question is gone"


def test_confirm_callback_with_two_owners_marks_unread_for_both(workspace, team):  # noqa: F811
    state = {f"{KEY}.sel": [team.dan, team.eli]}
    bulk.bulk_action(KEY, team.admin.id, "unread", state)
    assert state[f"{KEY}.confirm"] == {
        "ids": [team.dan, team.eli],
        "read": False,
        "owners": ["James Carter", "María López"],
    }
    bulk.confirm_read_state(KEY, team.admin.id, state)
    assert marker(workspace.db, team.maria.id, team.dan) == (True, True)
    assert marker(workspace.db, team.james.id, team.eli) == (True, True)
    assert f"{KEY}.confirm" not in state and f"{KEY}.error" not in state
    assert state[f"{KEY}.flash"] == "Marked 2 conversations unread for James Carter and María López."


# ---- assignment (rule 7) ------------------------------------------------------------------------


def test_admin_assigns_through_the_callbacks(workspace, team):  # noqa: F811
    db = workspace.db
    feed = workspace.rt.feed
    last_notice = feed.last_notice_id()
    state = {f"{KEY}.sel": [team.carla, team.dan]}
    bulk.bulk_action(KEY, team.admin.id, "assign", state)
    assert state[f"{KEY}.assign"] == {"ids": [team.carla, team.dan]}
    assert state[f"{KEY}.ask"] is True
    assert owner_of(db, team.carla) == team.maria.id, "choosing whom comes first"
    state[f"{KEY}.assign_to"] = team.james.id
    bulk.assign_selected(KEY, team.admin.id, state)

    assert f"{KEY}.dialog_error" not in state and f"{KEY}.assign" not in state
    assert state[f"{KEY}.flash"] == "Assigned 2 conversations to James Carter."
    assert state[f"{KEY}.sel"] == []
    for cid in (team.carla, team.dan):
        assert owner_of(db, cid) == team.james.id
        assert marker(db, team.james.id, cid) == (False, True), "James sees it unread (marked, never read)"
        [(actor, detail)] = audit_rows(db, "conversation.assigned", cid)
        assert actor == team.admin.id
        assert {k: json.loads(detail)[k] for k in ("from_user_id", "to_user_id")} == {
            "from_user_id": team.maria.id,
            "to_user_id": team.james.id,
        }
    notices = feed.notices_for(team.james.id, last_notice)
    assert sorted(n.conversation_id for n in notices if n.kind == "assigned") == [team.carla, team.dan]
    at = workspace.app("james", "pages/my_inbox.py")
    assert [(r["title"], r["unread"]) for r in lists.rows(at, "mine")] == [
        ("Carla Núñez", True),
        ("Fox Mulder", True),
        ("Dan Brown", True),
        ("Eli Stone", False),
    ]
    assert texts(at, "header") == ["My Inbox :blue-badge[3 unread]"]


def test_admin_assigns_through_the_page(workspace, team):  # noqa: F811
    at = lists.tick(team.pick(workspace.app("admin", PAGE), team.maria), KEY, [team.dan])
    at.button(key=f"{KEY}.act.assign").click().run()
    assert not at.exception
    choose = at.selectbox(key=f"{KEY}.assign_to")
    assert choose.options == [
        "Aiko Tanaka (@aiko)",
        "James Carter (@james)",
        "María López (@maria)",
        "Ada Admin (@admin) · admin",
    ], "supervisors are not assignable"
    assert at.button(key=f"{KEY}.assign_yes").disabled, "nobody chosen yet"
    choose.set_value(team.james.id).run()
    at.button(key=f"{KEY}.assign_yes").click().run()
    ok(at)
    assert owner_of(workspace.db, team.dan) == team.james.id
    assert [plain(t) for t in texts(at, "toast")] == ["Assigned 1 conversation to James Carter."]
    assert listed(at) == [("Carla Núñez", None, True)], "it left María's list at once"


@pytest.mark.parametrize(
    "target, sentence",
    [
        ("aiko", "Aiko Tanaka is disabled; choose an active agent."),
        ("sam", "Sam Supervisor is a supervisor; conversations go to agents or admins."),
        (None, "Choose an agent to assign the conversations to."),
    ],
)
def test_assigning_to_a_disabled_user_or_supervisor_is_one_sentence(workspace, team, target, sentence):  # noqa: F811
    db = workspace.db
    if target == "aiko":
        db.write(lambda tx: tx.execute("UPDATE users SET active = FALSE WHERE id = ?", [team.aiko.id]))
    state = {f"{KEY}.sel": [team.dan]}
    bulk.bulk_action(KEY, team.admin.id, "assign", state)
    state[f"{KEY}.assign_to"] = getattr(team, target).id if target else None
    bulk.assign_selected(KEY, team.admin.id, state)
    assert state[f"{KEY}.dialog_error"] == sentence
    assert state[f"{KEY}.assign"] == {"ids": [team.dan]}, "the dialog stays open"
    assert f"{KEY}.flash" not in state
    assert owner_of(db, team.dan) == team.maria.id
    assert audit_rows(db, "conversation.assigned", team.dan) == []


# ---- roles ------------------------------------------------------------------------------------


def test_supervisor_browses_read_only(workspace, team):  # noqa: F811
    at = team.pick(workspace.app("sam", PAGE), team.maria)
    assert not [b.key for b in at.button if (b.key or "").startswith(f"{KEY}.act.")]
    assert "Read-only: supervisors can open and read conversations but cannot change them." in texts(at, "caption")
    assert lists.rows_data(at, KEY)["selectable"] is False, "no tick boxes"

    state = {f"{KEY}.sel": [team.carla]}
    bulk.bulk_action(KEY, team.sam.id, "read", state)
    assert state[f"{KEY}.error"] == "Supervisors can browse conversations but cannot mark conversations read or unread."
    bulk.bulk_action(KEY, team.sam.id, "assign", state)
    assert state[f"{KEY}.error"] == "Only an admin can assign conversations."
    assert f"{KEY}.confirm" not in state and f"{KEY}.assign" not in state
    assert (
        marker(workspace.db, team.maria.id, team.carla) is None and owner_of(workspace.db, team.carla) == team.maria.id
    )


def test_admin_gets_the_action_buttons_and_tick_boxes(workspace, team):  # noqa: F811
    at = workspace.app("admin", PAGE)
    keys = {b.key for b in at.button}
    assert {f"{KEY}.act.{a}" for a in ("read", "unread", "close", "reopen", "assign")} <= keys
    assert "Reading a conversation here leaves its owner's unread mark alone." in texts(at, "caption")
    assert lists.rows_data(at, KEY)["selectable"] is True


def test_agent_is_not_offered_team_inbox(workspace, team):  # noqa: F811
    at = workspace.app("maria", "pages/my_inbox.py")
    scripts = {str(info.get("script_path")) for info in at._registered_pages.values()}
    assert str(ROOT / "pages" / "my_inbox.py") in scripts
    assert str(ROOT / PAGE) not in scripts
    with pytest.raises(ValueError):
        at.switch_page(PAGE)

    # The page script itself, reached some other way, refuses in core.
    direct = AppTest.from_file(str(ROOT / PAGE), default_timeout=30)
    sign_in_apptest(direct, workspace.rt, "maria")
    direct.run()
    assert texts(direct, "error") == ["Only admins and supervisors can see the Team Inbox."]
    assert lists.rows_data(direct, KEY) is None


def test_agent_crafted_assign_is_refused(workspace, team):  # noqa: F811
    db = workspace.db
    state = {f"{KEY}.sel": [team.eli]}
    bulk.bulk_action(KEY, team.maria.id, "assign", state)
    assert state[f"{KEY}.error"] == "Only an admin can assign conversations."
    assert f"{KEY}.assign" not in state and f"{KEY}.ask" not in state

    state = {f"{KEY}.assign": {"ids": [team.eli]}, f"{KEY}.assign_to": team.maria.id}
    bulk.assign_selected(KEY, team.maria.id, state)
    assert state[f"{KEY}.dialog_error"] == "Only an admin can assign conversations."
    with pytest.raises(PermissionDenied):
        do_assign(db, team.maria, [team.eli], team.maria.id)

    state = {f"{KEY}.sel": [team.eli]}
    bulk.bulk_action(KEY, team.maria.id, "read", state)
    assert state[f"{KEY}.error"] == (
        f"Conversation {team.eli} is assigned to someone else; you can mark conversations "
        "read or unread only in your own inbox."
    )
    assert owner_of(db, team.eli) == team.james.id
    assert audit_rows(db, "conversation.assigned", team.eli) == []
