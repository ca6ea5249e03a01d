"""Admins run the people: disable with hand-over, re-enable, passwords, roles, profiles, teams."""

from __future__ import annotations

import pytest

from core import events
from core.actions import user_admin
from core.actions import users as accounts
from core.auth import get_user, sign_in
from core.errors import Conflict, PermissionDenied, SignInError, ValidationError
from tests import factories as f
from tests.conftest import TEST_PASSWORD


@pytest.fixture
def ws(db, make_user):
    ws = dict(
        admin=make_user("ada", "admin", "Ada Admin"),
        maria=make_user("maria", display_name="Maria Lopez"),
        james=make_user("james", display_name="James Reed"),
        sam=make_user("sam", "supervisor"),
    )
    sms = f.add_sender(db)
    ws["convs"] = [
        f.add_conversation(db, contact_id=f.add_contact(db, name=f"C{i}"), sender_id=sms, owner_id=ws["maria"].id)
        for i in range(3)
    ]
    return ws


def audit(db, action):
    return db.fetchall("SELECT actor_id, object_id, detail FROM audit_log WHERE action = ? ORDER BY id", [action])


def test_disabling_hands_every_conversation_over_as_unread(db, ws):
    heard = []
    db.subscribe(events.CONVERSATIONS_REASSIGNED, heard.append)
    assert user_admin.owned_conversations(db, ws["admin"], ws["maria"].id) == 3
    moved = user_admin.do_disable_user(db, ws["admin"], ws["maria"].id, reassign_to=ws["james"].id)
    assert moved == 3
    assert not get_user(db, ws["maria"].id).active
    assert db.fetchall("SELECT DISTINCT owner_id FROM conversations") == [(ws["james"].id,)]
    assert db.fetchall("SELECT count(*) FROM read_markers WHERE user_id = ? AND unread", [ws["james"].id]) == [(3,)]
    assert db.scalar("SELECT count(*) FROM messages") == 3  # nothing deleted (rule 4)
    assert [(e.payload["user_id"], e.payload["count"]) for e in heard] == [(ws["james"].id, 3)]
    [(actor, target, detail)] = audit(db, "user.disabled")
    assert (actor, target) == (ws["admin"].id, ws["maria"].id) and '"reassigned_to": "james"' in detail
    with pytest.raises(SignInError):
        sign_in(db, "maria", TEST_PASSWORD)


def test_disabling_asks_where_the_conversations_go(db, ws):
    with pytest.raises(ValidationError, match="Maria Lopez owns 3 conversations; choose who takes them over."):
        user_admin.do_disable_user(db, ws["admin"], ws["maria"].id)
    with pytest.raises(ValidationError, match="Choose an active agent or admin"):
        user_admin.do_disable_user(db, ws["admin"], ws["maria"].id, reassign_to=ws["sam"].id)
    assert get_user(db, ws["maria"].id).active  # nothing changed
    assert user_admin.do_disable_user(db, ws["admin"], ws["james"].id) == 0  # owns nothing: nothing to ask


def test_the_last_admin_and_oneself_cannot_be_disabled(db, ws):
    with pytest.raises(ValidationError, match="You cannot disable your own account"):
        user_admin.do_disable_user(db, ws["admin"], ws["admin"].id)
    second = user_admin.do_create_user(db, ws["admin"], "bea", "Bea", "admin", "a-long-password")
    user_admin.do_disable_user(db, second, ws["admin"].id)
    with pytest.raises(ValidationError, match="Bea is the last active admin; make someone else an admin first."):
        user_admin.do_change_role(db, second, second.id, "standard")
    with pytest.raises(ValidationError, match="You cannot disable your own account"):
        user_admin.do_disable_user(db, second, second.id)


def test_re_enable(db, ws):
    user_admin.do_disable_user(db, ws["admin"], ws["james"].id)
    assert accounts.do_set_active(db, ws["admin"], ws["james"].id, True) is True
    assert get_user(db, ws["james"].id).active and sign_in(db, "james", TEST_PASSWORD).id == ws["james"].id
    assert accounts.do_set_active(db, ws["admin"], ws["james"].id, True) is False
    assert len(audit(db, "user.enabled")) == 1


def test_reset_password(db, ws):
    with pytest.raises(ValidationError, match="at least 8 characters"):
        accounts.do_reset_password(db, ws["admin"], ws["maria"].id, "short")
    accounts.do_reset_password(db, ws["admin"], ws["maria"].id, "brand-new-password")
    with pytest.raises(SignInError):
        sign_in(db, "maria", TEST_PASSWORD)
    assert sign_in(db, "maria", "brand-new-password").id == ws["maria"].id
    [(_, _, detail)] = audit(db, "user.password_reset")
    assert "brand-new-password" not in detail


def test_change_role(db, ws):
    assert user_admin.do_change_role(db, ws["admin"], ws["james"].id, "admin") is True
    assert get_user(db, ws["james"].id).is_admin
    with pytest.raises(ValidationError, match="Supervisors cannot answer conversations and Maria Lopez owns 3"):
        user_admin.do_change_role(db, ws["admin"], ws["maria"].id, "supervisor")
    with pytest.raises(ValidationError, match="Choose a role"):
        user_admin.do_change_role(db, ws["admin"], ws["maria"].id, "owner")
    [(_, _, detail)] = audit(db, "user.role_changed")
    assert '"before": "standard"' in detail and '"after": "admin"' in detail


def test_an_admin_demoted_with_the_users_page_open_cannot_make_themselves_admin_again(db, ws):
    bob = ws["james"]
    user_admin.do_change_role(db, ws["admin"], bob.id, "admin")
    bob = get_user(db, bob.id)  # what bob's Users page holds from here on
    user_admin.do_change_role(db, ws["admin"], bob.id, "standard")  # Ada demotes him meanwhile
    with pytest.raises(PermissionDenied, match="Your role changed a moment ago: you can no longer change roles"):
        user_admin.do_change_role(db, bob, bob.id, "admin")  # he picks himself, "Admin", Change role
    with pytest.raises(PermissionDenied, match="you can no longer disable users"):
        user_admin.do_disable_user(db, bob, ws["admin"].id)
    assert db.fetchall("SELECT username, role, active FROM users WHERE username IN ('ada', 'james') ORDER BY 1") == [
        ("ada", "admin", True),
        ("james", "standard", True),
    ]


def test_teams_and_membership(db, ws):
    front = db.scalar("SELECT id FROM teams")
    billing = user_admin.do_create_team(db, ws["admin"], "  Billing  ")
    with pytest.raises(Conflict, match="already a team called “billing”"):
        user_admin.do_create_team(db, ws["admin"], "billing")
    assert user_admin.do_set_team_members(db, ws["admin"], billing, [ws["maria"].id, ws["james"].id]) == 2
    assert {r[0] for r in db.fetchall("SELECT username FROM users WHERE team_id = ?", [billing])} == {"maria", "james"}
    assert user_admin.do_set_team_members(db, ws["admin"], billing, [ws["james"].id]) == 1  # maria leaves
    assert db.scalar("SELECT team_id FROM users WHERE id = ?", [ws["maria"].id]) is None
    user_admin.do_rename_team(db, ws["admin"], billing, "Billing desk")
    overview = {t["name"]: t["members"] for t in user_admin.teams_overview(db, ws["admin"])}
    assert overview["Billing desk"] == 1 and front in {t["id"] for t in user_admin.teams_overview(db, ws["admin"])}
    user_admin.do_update_profile(
        db, ws["admin"], ws["maria"].id, display_name="María López", timezone="europe/madrid", team_id=billing
    )
    assert db.fetchone("SELECT display_name, timezone, team_id FROM users WHERE id = ?", [ws["maria"].id]) == (
        "María López",
        "Europe/Madrid",
        billing,
    )


def test_users_overview_counts_conversations_and_live_sign_in_sessions(db, ws):
    from core import sessions

    for browser in ("Firefox on a laptop", "Safari on a phone"):
        sessions.start(db, ws["maria"].id, b"key", user_agent=browser)
    ended = sessions.start(db, ws["james"].id, b"key", user_agent="Chrome").session_id
    from core.actions import sessions as session_actions

    session_actions.do_end_session(db, ws["admin"], ended)
    rows = {r["username"]: r for r in user_admin.users_overview(db, ws["admin"])}
    assert (rows["maria"]["conversations"], rows["maria"]["role_label"], rows["maria"]["sessions"]) == (3, "Agent", 2)
    assert (rows["james"]["sessions"], rows["sam"]["sessions"]) == (0, 0)
    assert rows["sam"]["role_label"] == "Supervisor"


def test_the_heir_is_told_in_one_notice(db, ws):
    from core.live import ChangeFeed

    feed = ChangeFeed()
    db.subscribe(events.EVERY, feed.on_event)
    user_admin.do_disable_user(db, ws["admin"], ws["maria"].id, reassign_to=ws["james"].id)
    assert [n.text for n in feed.notices_for(ws["james"].id, 0)] == [
        "3 conversations of Maria Lopez were assigned to you."
    ]


def test_disabling_ends_every_sign_in_session_at_once(db, ws):
    from core import sessions

    for browser in ("Firefox on a laptop", "Safari on a phone"):
        sessions.start(db, ws["maria"].id, b"key", user_agent=browser)
    assert len(sessions.live_sessions(db, ws["maria"].id)) == 2
    user_admin.do_disable_user(db, ws["admin"], ws["maria"].id, reassign_to=ws["james"].id)
    assert sessions.live_sessions(db, ws["maria"].id) == []
    assert db.fetchall("SELECT DISTINCT ended_reason FROM sessions WHERE user_id = ?", [ws["maria"].id]) == [
        ("user_disabled",)
    ]


def test_each_handed_over_conversation_is_an_assignment_in_the_audit_log_and_the_stats(db, ws):
    user_admin.do_disable_user(db, ws["admin"], ws["maria"].id, reassign_to=ws["james"].id)
    entries = db.fetchall(
        "SELECT actor_id, object_id, json_extract_string(detail, '$.from_user_id'), "
        "json_extract_string(detail, '$.to_user_id'), json_extract_string(detail, '$.why') "
        "FROM audit_log WHERE action = 'conversation.assigned' ORDER BY object_id"
    )
    admin, maria, james = ws["admin"].id, ws["maria"].id, ws["james"].id
    assert entries == [(admin, c, str(maria), str(james), "user.disabled") for c in sorted(ws["convs"])]
    assert db.fetchall(
        "SELECT conversation_id, agent_id, other_agent_id FROM report_facts "
        "WHERE kind = 'conversation_assigned' ORDER BY conversation_id"
    ) == [(c, james, maria) for c in sorted(ws["convs"])]
