"""The opt-out list kept by hand (rule 2): add with a reason, remove (admins), list, search, history."""

from __future__ import annotations

import pytest

from core import events
from core.actions import messaging, suppression
from core.actions.inbound import opt_out_contact
from core.errors import Conflict, PermissionDenied, ValidationError
from tests import factories as f


@pytest.fixture
def ws(db, make_user):
    f.always_open(db)
    ws = dict(
        admin=make_user("ada", "admin", "Ada Admin"), maria=make_user("maria"), sam=make_user("sam", "supervisor")
    )
    ws["sms"] = f.add_sender(db)
    ws["ana"] = f.add_contact(db, phone="+14158670001", name="Ana Díaz")
    ws["conv"] = f.add_conversation(db, contact_id=ws["ana"], sender_id=ws["sms"], owner_id=ws["maria"].id)
    return ws


def test_adding_an_opt_out_stops_what_waits_and_keeps_the_reason(db, ws):
    waiting = messaging.do_send(db, ws["maria"], ws["conv"], "See you Tuesday")
    heard = []
    db.subscribe(events.CONTACT_OPTED_OUT, heard.append)
    contact_id = suppression.do_add_opt_out(db, ws["admin"], "(415) 867-0001", "  Asked by phone  ")
    assert contact_id == ws["ana"]
    assert db.fetchone("SELECT status, error_reason FROM messages WHERE id = ?", [waiting]) == (
        "not_sent",
        "Contact opted out",
    )
    assert db.scalar("SELECT state FROM outbox WHERE message_id = ?", [waiting]) == "cancelled"
    assert db.scalar("SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'queued'") == 0  # no text
    [h] = suppression.history(db, ws["admin"], contact_id)
    assert (h["kind"], h["reason"], h["by_user"]) == ("opt_out", "Asked by phone", "Ada Admin")
    assert [e.payload["contact_id"] for e in heard] == [contact_id]
    assert db.fetchall("SELECT action, object_id FROM audit_log") == [("optout.added", contact_id)]


def test_a_number_that_is_not_a_contact_becomes_one_opted_out(db, ws):
    contact_id = suppression.do_add_opt_out(db, ws["maria"], "+1 415 867 0099", "Complaint by email")
    assert db.fetchone("SELECT phone, opted_out FROM contacts WHERE id = ?", [contact_id]) == ("+14158670099", True)
    with pytest.raises(Conflict, match=r"\(415\) 867-0099 is already opted out."):
        suppression.do_add_opt_out(db, ws["admin"], "4158670099", "Again")


def test_bad_input(db, ws):
    with pytest.raises(ValidationError, match="Say why"):
        suppression.do_add_opt_out(db, ws["admin"], "+14158670001", " ")
    with pytest.raises(ValidationError, match="is not a valid phone number"):
        suppression.do_add_opt_out(db, ws["admin"], "nope", "x")
    with pytest.raises(PermissionDenied, match="Supervisors"):
        suppression.do_add_opt_out(db, ws["sam"], "+14158670001", "x")


def test_an_agent_made_supervisor_since_the_page_drew_cannot_add_an_opt_out(db, ws):
    stale = ws["maria"]  # the User her open page holds
    db.write(lambda tx: tx.execute("UPDATE users SET role = 'supervisor' WHERE id = ?", [stale.id]))
    with pytest.raises(PermissionDenied, match="Your role changed a moment ago: you can no longer change the opt-out"):
        suppression.do_add_opt_out(db, stale, "+14158670001", "Asked by phone")
    assert db.fetchall("SELECT opted_out FROM contacts WHERE id = ?", [ws["ana"]]) == [(False,)]
    assert db.scalar("SELECT count(*) FROM optout_history") == 0


def test_removing_is_for_admins_with_a_reason(db, ws):
    suppression.do_add_opt_out(db, ws["admin"], "+14158670001", "Asked by phone")
    with pytest.raises(PermissionDenied, match="Only an admin can remove an opt-out."):
        suppression.do_remove_opt_out(db, ws["maria"], ws["ana"], "She asked")
    with pytest.raises(ValidationError, match="Say why"):
        suppression.do_remove_opt_out(db, ws["admin"], ws["ana"], "")
    assert suppression.do_remove_opt_out(db, ws["admin"], ws["ana"], "Signed a new consent form") == "+14158670001"
    assert db.scalar("SELECT opted_out FROM contacts WHERE id = ?", [ws["ana"]]) is False
    assert [(h["kind"], h["reason"]) for h in suppression.history(db, ws["admin"], ws["ana"])] == [
        ("opt_out", "Asked by phone"),
        ("opt_in", "Signed a new consent form"),
    ]
    with pytest.raises(Conflict, match="is not opted out"):
        suppression.do_remove_opt_out(db, ws["admin"], ws["ana"], "again")


def test_the_list_says_how_each_opted_out_and_searches(db, ws):
    bo = f.add_contact(db, phone="+14158670002", name="Bo Stop")
    conv = f.add_conversation(db, contact_id=bo, sender_id=ws["sms"], owner_id=ws["maria"].id)
    db.write(
        lambda tx: (
            tx.execute(
                "INSERT INTO optout_history (contact_id, kind, keyword, channel, occurred_at) "
                "VALUES (?, 'opt_out', 'stop', 'sms', now())",
                [bo],
            ),
            opt_out_contact(tx, bo, conv, ws["maria"].id, keyword="stop"),
        )
    )
    suppression.do_add_opt_out(db, ws["admin"], "+14158670001", "Asked by phone")
    rows, total = suppression.opted_out(db, ws["admin"])
    assert total == 2
    assert {r["phone"]: r["how"] for r in rows} == {
        "+14158670001": "Added by Ada Admin: Asked by phone",
        "+14158670002": "Replied STOP",
    }
    rows, total = suppression.opted_out(db, ws["admin"], search="bo st")
    assert (total, [r["phone"] for r in rows]) == (1, ["+14158670002"])
    rows, total = suppression.opted_out(db, ws["admin"], search="867-0001")
    assert [r["name"] for r in rows] == ["Ana Díaz"]
    with pytest.raises(PermissionDenied):
        suppression.opted_out(db, ws["maria"])
