"""Rule 2, the agent's side: a flagged "please stop texting me" is confirmed or dismissed."""

from __future__ import annotations

import pytest

from core.actions import optout
from core.errors import Conflict, NotFound, PermissionDenied
from tests.core import test_inbound
from tests.core.test_inbound import receive

ws = test_inbound.ws  # the fixture, shared with test_inbound.py


@pytest.fixture
def flagged(db, ws, make_user):  # noqa: F811
    phone = "+14155550123"
    receive(db, ws["sms"], phone, "please don't text me anymore")
    cid = db.scalar("SELECT id FROM conversations")
    return cid, phone


def contact(db, phone):
    return db.dicts("SELECT * FROM contacts WHERE phone = ?", [phone])[0]


def test_confirming_opts_out_everywhere_like_stop(db, ws, flagged):  # noqa: F811
    cid, phone = flagged
    optout.do_confirm_opt_out(db, ws["admin"], cid)
    c = contact(db, phone)
    assert c["opted_out"]
    assert db.scalar("SELECT optout_flag FROM conversations WHERE id = ?", [cid]) is None
    kinds = [r[0] for r in db.fetchall("SELECT kind FROM optout_history WHERE contact_id = ? ORDER BY id", [c["id"]])]
    assert kinds == ["flagged", "opt_out_confirmed_by_agent"]
    assert db.scalar("SELECT user_id FROM optout_history WHERE kind = 'opt_out_confirmed_by_agent'") == ws["admin"].id
    # One confirmation reply is queued, as for STOP.
    replies = db.fetchall("SELECT body FROM messages WHERE conversation_id = ? AND direction = 'out'", [cid])
    assert len(replies) == 1
    with pytest.raises(Conflict):
        optout.do_confirm_opt_out(db, ws["admin"], cid)


def test_dismissing_clears_the_flag_and_keeps_the_contact(db, ws, flagged):  # noqa: F811
    cid, phone = flagged
    optout.do_dismiss_optout_flag(db, ws["admin"], cid)
    assert not contact(db, phone)["opted_out"]
    assert db.scalar("SELECT optout_flag FROM conversations WHERE id = ?", [cid]) is None
    assert db.scalar("SELECT count(*) FROM optout_history WHERE kind = 'flag_dismissed'") == 1


def test_other_agents_and_supervisors_cannot_answer(db, ws, flagged, make_user):  # noqa: F811
    cid, phone = flagged
    db.write(lambda tx: tx.execute("UPDATE conversations SET owner_id = ? WHERE id = ?", [ws["maria"].id, cid]))
    james = make_user("james")
    sam = make_user("sam", "supervisor")
    for who in (james, sam):
        with pytest.raises((PermissionDenied, NotFound)):
            optout.do_confirm_opt_out(db, who, cid)
    assert not contact(db, phone)["opted_out"]
    optout.do_confirm_opt_out(db, ws["maria"], cid)  # the owner may
    assert contact(db, phone)["opted_out"]


def test_the_agents_answer_is_in_the_audit_log(db, ws, flagged):  # noqa: F811
    cid, phone = flagged
    optout.do_dismiss_optout_flag(db, ws["admin"], cid)
    receive(db, ws["sms"], phone, "seriously, stop messaging me")
    optout.do_confirm_opt_out(db, ws["admin"], cid)
    contact_id = contact(db, phone)["id"]
    assert db.fetchall(
        "SELECT actor_id, action, object_id FROM audit_log WHERE action LIKE 'optout.%' ORDER BY id"
    ) == [
        (ws["admin"].id, "optout.flag_dismissed", contact_id),
        (ws["admin"].id, "optout.confirmed", contact_id),
    ]
