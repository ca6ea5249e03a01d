"""What changes between an action's check and its commit is seen by the commit.

Each test lets a ``check_*`` (or the last read before the write) run, then changes the world
the way another person or a webhook would at that moment — a reassignment, a STOP, a
disabled account, a closed WhatsApp window, a second click — and only then lets the action
commit. The commit must act on the world as it is now: refuse with one sentence and change
nothing, or record what the rules say (a message to a contact who just opted out is *not
sent*, never queued).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from core import clock, contacts, contacts_csv, permissions, queries
from core.actions import contacts as contact_actions
from core.actions import conversations as conv
from core.actions import messaging, optout
from core.actions.inbound import opt_out_contact
from core.errors import Conflict, PermissionDenied, ValidationError
from tests import factories as f


def after(monkeypatch, owner, name: str, change: Callable[[], None]) -> None:
    """Run ``change`` right after ``owner.name`` returns (once): between check and commit."""
    original = getattr(owner, name)
    done = []

    def wrapped(*args, **kwargs):
        result = original(*args, **kwargs)
        if not done:
            done.append(True)
            change()
        return result

    monkeypatch.setattr(owner, name, wrapped)


@pytest.fixture
def ws(db, make_user):
    f.always_open(db)
    people = {u: make_user(u, role) for u, role in (("ada", "admin"), ("bo", "admin"), ("maria", "standard"))}
    people["james"] = make_user("james")
    sms = f.add_sender(db)
    wa = f.add_sender(db, channel="whatsapp", provider_ref="PNID1")
    contact = f.add_contact(db, name="Zoë Ávila")
    return dict(
        **people,
        sms=sms,
        wa=wa,
        contact=contact,
        c_sms=f.add_conversation(db, contact_id=contact, sender_id=sms, owner_id=people["maria"].id),
        c_wa=f.add_conversation(db, contact_id=contact, sender_id=wa, owner_id=people["maria"].id),
    )


def owner_of(db, cid):
    return db.scalar("SELECT owner_id FROM conversations WHERE id = ?", [cid])


def unread_for(db, cid, user_id) -> bool:
    return bool(
        db.scalar(
            f"SELECT {queries.UNREAD_SQL} FROM conversations c LEFT JOIN read_markers rm "
            "ON rm.user_id = ? AND rm.conversation_id = c.id WHERE c.id = ?",
            [user_id, cid],
        )
    )


def reassign(db, cid, user_id):
    return lambda: db.write(lambda tx: tx.execute("UPDATE conversations SET owner_id = ? WHERE id = ?", [user_id, cid]))


def disable(db, user_id):
    return lambda: db.write(lambda tx: tx.execute("UPDATE users SET active = FALSE WHERE id = ?", [user_id]))


def counts(db):
    return db.fetchone("SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM outbox)")


# ---- assignment -------------------------------------------------------------------------------------


def test_an_agent_disabled_before_the_assignment_commits_gets_nothing(db, ws, monkeypatch):
    after(monkeypatch, conv, "check_assign", disable(db, ws["james"].id))
    with pytest.raises(ValidationError, match="James was disabled a moment ago; choose an active agent"):
        conv.do_assign(db, ws["ada"], [ws["c_sms"]], ws["james"].id)
    assert owner_of(db, ws["c_sms"]) == ws["maria"].id
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'conversation.assigned'") == 0


def test_two_admins_assigning_the_same_conversation_move_it_once(db, ws, monkeypatch):
    heard = []
    db.subscribe("conversation.assigned", heard.append)
    other_admin = lambda: conv.do_assign(db, ws["bo"], [ws["c_sms"]], ws["james"].id)  # noqa: E731
    after(monkeypatch, conv, "check_assign", other_admin)
    assert conv.do_assign(db, ws["ada"], [ws["c_sms"]], ws["james"].id) == 0
    assert owner_of(db, ws["c_sms"]) == ws["james"].id
    assert [e.payload["actor_id"] for e in heard] == [ws["bo"].id], "James is told once"
    assert db.fetchall("SELECT actor_id FROM audit_log WHERE action = 'conversation.assigned'") == [(ws["bo"].id,)]


def test_the_audit_names_the_owner_at_commit_time(db, ws, monkeypatch):
    after(monkeypatch, conv, "check_assign", reassign(db, ws["c_sms"], ws["ada"].id))
    assert conv.do_assign(db, ws["bo"], [ws["c_sms"]], ws["james"].id) == 1
    detail = db.scalar("SELECT detail FROM audit_log WHERE action = 'conversation.assigned'")
    assert f'"from_user_id": {ws["ada"].id}' in detail and '"from_user": "Ada"' in detail


def test_an_admin_who_lost_the_role_meanwhile_cannot_assign(db, ws, monkeypatch):
    demote = lambda: db.write(lambda tx: tx.execute("UPDATE users SET role = 'standard' WHERE id = ?", [ws["ada"].id]))  # noqa: E731
    after(monkeypatch, conv, "check_assign", demote)
    with pytest.raises(PermissionDenied, match="can no longer assign conversations; nothing was changed"):
        conv.do_assign(db, ws["ada"], [ws["c_sms"]], ws["james"].id)
    assert owner_of(db, ws["c_sms"]) == ws["maria"].id


# ---- read state -----------------------------------------------------------------------------------------


def test_marking_read_a_conversation_reassigned_meanwhile_leaves_the_new_owner_alone(db, ws, monkeypatch):
    after(monkeypatch, conv, "check_set_read_state", reassign(db, ws["c_sms"], ws["james"].id))
    with pytest.raises(PermissionDenied, match=f"Conversation {ws['c_sms']} was assigned to someone else a moment ago"):
        conv.do_set_read_state(db, ws["maria"], [ws["c_sms"]], read=True)
    assert unread_for(db, ws["c_sms"], ws["james"].id), "still unread for James"


def test_an_admins_confirmation_covers_only_the_owners_it_named(db, ws, monkeypatch):
    after(monkeypatch, conv, "check_set_read_state", reassign(db, ws["c_sms"], ws["james"].id))
    with pytest.raises(Conflict, match="was reassigned while you were marking it; nothing was changed"):
        conv.do_set_read_state(db, ws["ada"], [ws["c_sms"]], read=True, confirmed=True)  # confirmed for Maria
    assert unread_for(db, ws["c_sms"], ws["james"].id)
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'conversation.read'") == 0


def test_opening_a_conversation_reassigned_meanwhile_does_not_mark_it_read_for_the_new_owner(db, ws, monkeypatch):
    after(monkeypatch, queries, "conversation_detail", reassign(db, ws["c_sms"], ws["james"].id))
    detail = conv.open_conversation(db, ws["maria"], ws["c_sms"])
    assert detail["unread"] is True, "Maria saw it as it was; nothing was marked"
    assert unread_for(db, ws["c_sms"], ws["james"].id)


# ---- open / closed ---------------------------------------------------------------------------------------


def test_closing_a_conversation_reassigned_meanwhile_is_refused(db, ws, monkeypatch):
    after(monkeypatch, conv, "_require_workable", reassign(db, ws["c_sms"], ws["james"].id))
    with pytest.raises(PermissionDenied, match="was assigned to someone else a moment ago; nothing was changed"):
        conv.do_set_status(db, ws["maria"], [ws["c_sms"]], closed=True)
    assert db.scalar("SELECT status FROM conversations WHERE id = ?", [ws["c_sms"]]) == "open"


def test_closing_what_someone_else_closed_meanwhile_counts_nothing(db, ws, monkeypatch):
    heard = []
    db.subscribe("conversation.closed", heard.append)
    admin_closes = lambda: conv.do_set_status(db, ws["ada"], [ws["c_sms"]], closed=True)  # noqa: E731
    after(monkeypatch, conv, "_require_workable", admin_closes)
    assert conv.do_set_status(db, ws["maria"], [ws["c_sms"], ws["c_wa"]], closed=True) == 1  # only c_wa was open
    assert [e.payload["conversation_id"] for e in heard] == [ws["c_sms"], ws["c_wa"]]


# ---- sending ------------------------------------------------------------------------------------------------


def test_a_stop_between_check_and_commit_makes_the_message_not_sent(db, ws, monkeypatch):
    stop = lambda: db.write(  # noqa: E731 (the inbound STOP path, as a webhook would apply it)
        lambda tx: opt_out_contact(tx, ws["contact"], ws["c_sms"], ws["maria"].id, keyword="STOP")
    )
    after(monkeypatch, messaging, "check_send", stop)
    mid = messaging.do_send(db, ws["maria"], ws["c_sms"], "Your appointment is tomorrow")
    row = db.fetchone("SELECT status, error_reason, release_at FROM messages WHERE id = ?", [mid])
    assert row == ("not_sent", "Contact opted out", None)
    assert db.scalar("SELECT count(*) FROM outbox WHERE message_id = ?", [mid]) == 0


def test_a_sender_disabled_meanwhile_makes_the_message_not_sent(db, ws, monkeypatch):
    off = lambda: db.write(lambda tx: tx.execute("UPDATE senders SET enabled = FALSE WHERE id = ?", [ws["sms"]]))  # noqa: E731
    after(monkeypatch, messaging, "check_send", off)
    mid = messaging.do_send(db, ws["maria"], ws["c_sms"], "Hello")
    assert db.fetchone("SELECT status, error_reason FROM messages WHERE id = ?", [mid]) == (
        "not_sent",
        "Sender disabled",
    )
    assert db.scalar("SELECT count(*) FROM outbox WHERE message_id = ?", [mid]) == 0


def test_the_whatsapp_window_closing_meanwhile_makes_free_text_not_sent(db, ws, monkeypatch):
    last_inbound = db.scalar("SELECT last_inbound_at FROM conversations WHERE id = ?", [ws["c_wa"]])
    clock.freeze(last_inbound + dt.timedelta(hours=23, minutes=59, seconds=59))  # open at check time
    after(monkeypatch, messaging, "check_send", lambda: clock.advance(dt.timedelta(seconds=2)))
    mid = messaging.do_send(db, ws["maria"], ws["c_wa"], "Free text")
    status, reason = db.fetchone("SELECT status, error_reason FROM messages WHERE id = ?", [mid])
    assert (status, reason) == ("not_sent", "WhatsApp window closed: only registered templates can be sent")


def test_a_send_in_a_conversation_reassigned_meanwhile_is_refused(db, ws, monkeypatch):
    before = counts(db)
    after(monkeypatch, messaging, "check_send", reassign(db, ws["c_sms"], ws["james"].id))
    with pytest.raises(PermissionDenied, match="assigned to James a moment ago; your message was not sent"):
        messaging.do_send(db, ws["maria"], ws["c_sms"], "Hello")
    assert counts(db) == before


def test_an_author_disabled_meanwhile_sends_nothing(db, ws, monkeypatch):
    before = counts(db)
    after(monkeypatch, messaging, "check_send", disable(db, ws["maria"].id))
    with pytest.raises(PermissionDenied, match="Your account was disabled a moment ago; nothing was changed"):
        messaging.do_send(db, ws["maria"], ws["c_sms"], "Hello")
    assert counts(db) == before


def failed_message(db, ws) -> int:
    mid = messaging.do_send(db, ws["maria"], ws["c_sms"], "Will fail")
    db.write(lambda tx: tx.execute("UPDATE messages SET status = 'failed', error_code = '30003' WHERE id = ?", [mid]))
    db.write(lambda tx: tx.execute("UPDATE outbox SET state = 'done' WHERE message_id = ?", [mid]))
    return mid


def test_a_double_click_on_retry_queues_the_message_once(db, ws, monkeypatch):
    mid = failed_message(db, ws)
    other_click = lambda: messaging.do_retry(db, ws["maria"], mid)  # noqa: E731
    after(monkeypatch, permissions, "require_sender", other_click)
    with pytest.raises(Conflict, match="already queued again; it goes once"):
        messaging.do_retry(db, ws["maria"], mid)
    assert db.fetchall("SELECT state FROM outbox WHERE message_id = ? ORDER BY id", [mid]) == [("done",), ("pending",)]


def test_a_retry_after_a_stop_meanwhile_is_refused(db, ws, monkeypatch):
    mid = failed_message(db, ws)
    stop = lambda: db.write(lambda tx: tx.execute("UPDATE contacts SET opted_out = TRUE WHERE id = ?", [ws["contact"]]))  # noqa: E731
    after(monkeypatch, permissions, "require_sender", stop)
    with pytest.raises(ValidationError, match="Zoë Ávila has opted out"):
        messaging.do_retry(db, ws["maria"], mid)
    assert db.scalar("SELECT status FROM messages WHERE id = ?", [mid]) == "failed"


# ---- opt-out requests -------------------------------------------------------------------------------------


def test_answering_an_opt_out_request_in_a_conversation_reassigned_meanwhile_is_refused(db, ws, monkeypatch):
    db.write(lambda tx: tx.execute("UPDATE conversations SET optout_flag = 'please stop' WHERE id = ?", [ws["c_sms"]]))
    after(monkeypatch, optout, "check_resolve_flag", reassign(db, ws["c_sms"], ws["james"].id))
    with pytest.raises(PermissionDenied, match="assigned to someone else a moment ago"):
        optout.do_confirm_opt_out(db, ws["maria"], ws["c_sms"])
    assert db.scalar("SELECT opted_out FROM contacts WHERE id = ?", [ws["contact"]]) is False


# ---- contacts -------------------------------------------------------------------------------------------------


def test_an_editor_disabled_meanwhile_changes_no_contact(db, ws, monkeypatch):
    after(monkeypatch, contact_actions, "check_update_contact", disable(db, ws["maria"].id))
    with pytest.raises(PermissionDenied, match="disabled a moment ago"):
        contact_actions.do_update_contact(db, ws["maria"], ws["contact"], name="Someone Else")
    assert db.scalar("SELECT name FROM contacts WHERE id = ?", [ws["contact"]]) == "Zoë Ávila"


def test_a_number_saved_by_someone_else_meanwhile_is_a_duplicate(db, ws, monkeypatch):
    racer = lambda: contact_actions.do_create_contact(db, ws["james"], phone="+14158679999", name="First")  # noqa: E731
    after(monkeypatch, contact_actions, "check_create_contact", racer)
    with pytest.raises(contacts.DuplicateContact, match="already belongs to First"):
        contact_actions.do_create_contact(db, ws["maria"], phone="+14158679999", name="Second")
    assert db.fetchall("SELECT name FROM contacts WHERE phone = '+14158679999'") == [("First",)]


def test_an_importer_disabled_while_the_file_is_read_imports_nothing(db, ws, monkeypatch):
    # A big file takes seconds between the role check and the write: an admin may disable the agent then.
    after(monkeypatch, contacts_csv, "_parse_phones", disable(db, ws["maria"].id))
    parsed = contacts_csv.read_csv(b"name,phone\nNew Person,+14158679998\nRenamed,%s\n" % b"+14158670100")
    with pytest.raises(PermissionDenied, match="disabled a moment ago"):
        contacts_csv.import_contacts(db, ws["maria"], parsed, {"name": "name", "phone": "phone"})
    assert db.scalar("SELECT count(*) FROM contacts WHERE phone = '+14158679998'") == 0
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'contacts.imported'") == 0


def test_an_importer_made_supervisor_meanwhile_imports_nothing(db, ws, monkeypatch):
    demote = lambda: db.write(  # noqa: E731
        lambda tx: tx.execute("UPDATE users SET role = 'supervisor' WHERE id = ?", [ws["maria"].id])
    )
    after(monkeypatch, contacts_csv, "_parse_phones", demote)
    parsed = contacts_csv.read_csv(b"name,phone\nNew Person,+14158679997\n")
    with pytest.raises(PermissionDenied, match="Your role changed a moment ago"):
        contacts_csv.import_contacts(db, ws["maria"], parsed, {"name": "name", "phone": "phone"})
    assert db.scalar("SELECT count(*) FROM contacts WHERE phone = '+14158679997'") == 0
