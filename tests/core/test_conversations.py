"""Rules 6 and 7 and open/closed: read state by role, assignment, permissions."""

from __future__ import annotations

import pytest

from core import queries
from core.actions import conversations as conv
from core.errors import NotFound, PermissionDenied, ValidationError
from tests import factories as f


@pytest.fixture
def team(db, make_user):
    admin = make_user("ada", "admin", "Ada Admin")
    maria = make_user("maria", "standard", "Maria Lopez")
    james = make_user("james", "standard", "James Cole")
    sam = make_user("sam", "supervisor", "Sam Super")
    sms = f.add_sender(db)
    c1 = f.add_conversation(db, contact_id=f.add_contact(db, name="Zoë Ávila"), sender_id=sms, owner_id=maria.id)
    c2 = f.add_conversation(db, contact_id=f.add_contact(db, name="Omar"), sender_id=sms, owner_id=maria.id)
    c3 = f.add_conversation(db, contact_id=f.add_contact(db, name="Li Wei"), sender_id=sms, owner_id=james.id)
    return dict(admin=admin, maria=maria, james=james, sam=sam, c1=c1, c2=c2, c3=c3)


def unread_ids(db, user):
    return {r["conversation_id"] for r in queries.inbox_page(db, user).rows if r["unread"]}


def test_new_inbound_conversations_are_unread_for_their_owner(db, team):
    assert unread_ids(db, team["maria"]) == {team["c1"], team["c2"]}
    assert queries.unread_count(db, team["maria"].id) == 2


def test_owner_opening_marks_read(db, team):
    conv.open_conversation(db, team["maria"], team["c1"])
    assert unread_ids(db, team["maria"]) == {team["c2"]}


def test_admin_or_supervisor_reading_leaves_owner_state_alone(db, team):
    for viewer in (team["admin"], team["sam"]):
        detail = conv.open_conversation(db, viewer, team["c1"])
        assert detail["unread"] is True
        queries.thread(db, viewer, team["c1"])
    assert unread_ids(db, team["maria"]) == {team["c1"], team["c2"]}


def test_agent_cannot_open_another_agents_conversation(db, team):
    with pytest.raises(PermissionDenied, match="assigned to someone else"):
        conv.open_conversation(db, team["james"], team["c1"])
    with pytest.raises(PermissionDenied):
        queries.thread(db, team["james"], str(team["c1"]))  # as it arrives from a URL
    with pytest.raises(NotFound, match="no conversation 424242"):
        queries.conversation_detail(db, team["james"], 424242)
    with pytest.raises(NotFound, match="not a conversation number"):
        queries.conversation_detail(db, team["james"], "1 OR 1=1")


def test_agent_marks_own_read_and_unread_in_bulk(db, team):
    maria = team["maria"]
    assert conv.do_set_read_state(db, maria, [team["c1"], team["c2"]], read=True) == 2
    assert unread_ids(db, maria) == set()
    conv.do_set_read_state(db, maria, [team["c2"]], read=False)
    assert unread_ids(db, maria) == {team["c2"]}
    assert queries.unread_count(db, maria.id) == 1


def test_agent_cannot_mark_others_and_supervisor_cannot_mark_any(db, team):
    with pytest.raises(PermissionDenied):
        conv.do_set_read_state(db, team["james"], [team["c1"]], read=True)
    with pytest.raises(PermissionDenied, match="Supervisors"):
        conv.do_set_read_state(db, team["sam"], [team["c3"]], read=True, confirmed=True)
    assert unread_ids(db, team["maria"]) == {team["c1"], team["c2"]}


def test_admin_marking_needs_confirmation_naming_the_owner(db, team):
    admin = team["admin"]
    with pytest.raises(conv.ConfirmationRequired) as asked:
        conv.do_set_read_state(db, admin, [team["c1"], team["c3"]], read=True)
    assert asked.value.owners == ["James Cole", "Maria Lopez"]
    assert "James Cole and Maria Lopez" in str(asked.value)
    assert unread_ids(db, team["maria"]) == {team["c1"], team["c2"]}  # nothing changed yet
    conv.do_set_read_state(db, admin, [team["c1"], team["c3"]], read=True, confirmed=True)
    assert unread_ids(db, team["maria"]) == {team["c2"]}
    assert unread_ids(db, team["james"]) == set()
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'conversation.read'") == 2


def test_assignment_moves_ownership_marks_unread_and_audits(db, team):
    admin, maria, james = team["admin"], team["maria"], team["james"]
    conv.do_set_read_state(db, maria, [team["c1"]], read=True)
    heard = []
    db.subscribe("conversation.assigned", heard.append)
    assert conv.do_assign(db, admin, [team["c1"], team["c2"]], james.id) == 2
    assert {r["conversation_id"] for r in queries.inbox_page(db, maria).rows} == set()
    assert unread_ids(db, james) == {team["c1"], team["c2"], team["c3"]}
    audit = db.dicts(
        "SELECT actor_id, object_id, detail FROM audit_log WHERE action = 'conversation.assigned' ORDER BY object_id"
    )
    assert [a["object_id"] for a in audit] == [team["c1"], team["c2"]]
    assert all(a["actor_id"] == admin.id and '"from_user_id": %d' % maria.id in a["detail"] for a in audit)
    assert [e.payload["user_id"] for e in heard] == [james.id, james.id]
    assert sorted(e.payload["contact_name"] for e in heard) == ["Omar", "Zoë Ávila"]  # the notice says who
    # The new owner can now open them; the old one cannot.
    conv.open_conversation(db, james, team["c1"])
    with pytest.raises(PermissionDenied):
        conv.open_conversation(db, maria, team["c1"])


def test_assignment_refusals(db, team, make_user):
    gone = make_user("gone", "standard", "Gone Person", active=False)
    with pytest.raises(PermissionDenied, match="Only an admin"):
        conv.do_assign(db, team["maria"], [team["c1"]], team["james"].id)  # a crafted request by an agent
    with pytest.raises(ValidationError, match="Gone Person is disabled"):
        conv.do_assign(db, team["admin"], [team["c1"]], gone.id)
    with pytest.raises(ValidationError, match="supervisor"):
        conv.do_assign(db, team["admin"], [team["c1"]], team["sam"].id)
    with pytest.raises(NotFound):
        conv.do_assign(db, team["admin"], [team["c1"]], 9999)
    with pytest.raises(ValidationError, match="Select at least one"):
        conv.do_assign(db, team["admin"], [], team["james"].id)
    assert queries.conversation_detail(db, team["admin"], team["c1"])["owner_id"] == team["maria"].id


def test_team_inbox_is_for_admins_and_supervisors(db, team):
    with pytest.raises(PermissionDenied):
        queries.inbox_page(db, team["maria"], scope="team")
    everyone = queries.inbox_page(db, team["sam"], scope="team")
    assert everyone.total == 3
    only_james = queries.inbox_page(db, team["admin"], scope="team", owner_id=team["james"].id)
    assert [r["conversation_id"] for r in only_james.rows] == [team["c3"]]


def test_close_and_reopen_and_status_filter(db, team):
    maria = team["maria"]
    conv.do_set_status(db, maria, [team["c1"]], closed=True)
    assert {r["conversation_id"] for r in queries.inbox_page(db, maria).rows} == {team["c2"]}
    assert {r["conversation_id"] for r in queries.inbox_page(db, maria, status="closed").rows} == {team["c1"]}
    assert queries.inbox_page(db, maria, status="all").total == 2
    with pytest.raises(PermissionDenied):
        conv.do_set_status(db, team["sam"], [team["c1"]], closed=False)
    conv.do_set_status(db, maria, [team["c1"]], closed=False)
    assert queries.inbox_page(db, maria).total == 2


def test_an_admin_closing_or_reopening_others_conversations_is_audited(db, team):
    """Every admin action is in the audit log: closing Maria's and James's conversations in one go is
    one entry per conversation, naming its owner; an agent closing their own is not an admin action."""
    admin, maria = team["admin"], team["maria"]
    assert conv.do_set_status(db, maria, [team["c2"]], closed=True) == 1
    assert conv.do_set_status(db, admin, [team["c1"], team["c3"]], closed=True) == 2
    assert conv.do_set_status(db, admin, [team["c1"]], closed=False) == 1
    rows = db.fetchall(
        "SELECT actor_id, action, object_type, object_id, detail FROM audit_log "
        "WHERE action LIKE 'conversation.%' ORDER BY id"
    )
    by_object = sorted(rows, key=lambda r: (r[1], r[3]))
    assert by_object == [
        (admin.id, "conversation.closed", "conversation", team["c1"], '{"owner_id": %d}' % maria.id),
        (admin.id, "conversation.closed", "conversation", team["c3"], '{"owner_id": %d}' % team["james"].id),
        (admin.id, "conversation.reopened", "conversation", team["c1"], '{"owner_id": %d}' % maria.id),
    ]


def test_inbox_search_by_name_and_number_forms(db, team):
    maria = team["maria"]
    phone = db.scalar(
        "SELECT ct.phone FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = ?", [team["c1"]]
    )
    national = phone[2:]  # 415867xxxx
    forms = [
        "zoe",
        "ÁVILA",
        "oë Á",
        phone,
        f"+1 {national[:3]} {national[3:6]} {national[6:]}",
        f"({national[:3]}) {national[3:6]}-{national[6:]}",
        national,
        national[3:],
    ]
    for query in forms:
        found = [r["conversation_id"] for r in queries.inbox_page(db, maria, search=query).rows]
        assert found == [team["c1"]], query
    for hostile in ["%", "_", "'", "\\", ".*", "' OR 1=1 --", "x" * 1000]:
        assert queries.inbox_page(db, maria, search=hostile).total == 0, hostile
    for too_short, sentence in [
        ("5", "Type at least 3 digits to search by number."),
        ("z", "Type at least two letters of the name to search."),
    ]:
        with pytest.raises(ValidationError) as raised:
            queries.inbox_page(db, maria, search=too_short)
        assert str(raised.value) == sentence
    assert queries.inbox_page(db, maria, search="   ").total == 2
