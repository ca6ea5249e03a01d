"""After a campaign goes: live counters from status callbacks and replies, and who owns the replies."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock
from core.actions import campaigns, inbound, queued_campaigns
from core.actions.user_admin import do_set_team_members
from core.campaigns.ownership import ReplyOwner, reply_owners
from core.campaigns.progress import progress
from core.delivery import Dispatcher
from core.providers.base import SendResult, StatusEvent
from tests.core import campaign_workspace as cw


@pytest.fixture
def ws(db, make_user):
    return cw.build(db, make_user)


class Accepting:
    def send(self, msg):
        return SendResult(f"SM{msg.message_id}", "sent")


def send_all(db, campaign_id) -> dict[str, str]:
    Dispatcher(db, lambda s: Accepting(), media_url=lambda t: None, status_callback_url=lambda p: None).step()
    return dict(
        db.fetchall(
            "SELECT ct.phone, m.provider_message_id FROM messages m JOIN contacts ct ON ct.id = m.contact_id "
            "WHERE m.campaign_id = ?",
            [campaign_id],
        )
    )


def status(db, provider_id, value, code=None, message=None):
    event = StatusEvent(provider_id, value, clock.utcnow(), code, message)
    db.write(lambda tx: inbound.apply_statuses(tx, [event]))


def test_counters_follow_status_callbacks_replies_and_opt_outs(db, ws):
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    assert progress(db, cid).queued == 4
    ids = send_all(db, cid)
    status(db, ids["+14158670001"], "delivered")
    status(db, ids["+14158670002"], "delivered")
    status(db, ids["+14158670002"], "read")
    status(db, ids["+14158670003"], "undelivered", "30005", "Unknown destination handset")
    status(db, ids["+14158670003"], "sent")  # late and out of order: changes nothing (rule 9)
    cw.reply(db, ws["sms"], "+14158670001", "Yes please, Tuesday")
    cw.reply(db, ws["sms"], "+14158670002", "STOP")
    p = progress(db, cid)
    assert (p.total, p.queued, p.sending, p.sent, p.delivered, p.read, p.failed) == (4, 0, 0, 1, 2, 1, 1)
    assert (p.replied, p.opted_out) == (2, 1)
    assert p.failures == [("Unknown or inactive number (error 30005)", 1)]
    listed = next(c for c in queued_campaigns.list_campaigns(db, ws["sam"]) if c["id"] == cid)
    assert (listed["shown_status"], listed["sent"], listed["delivered"], listed["failed"], listed["replied"]) == (
        "sent",
        3,
        2,
        1,
        2,
    )


def test_replies_and_opt_outs_count_for_the_campaign_that_last_went_to_the_person(db, ws):
    start = clock.utcnow()
    first = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    send_all(db, first)
    second = campaigns.do_send_campaign(
        db, ws["maria"], cw.draft(ws, name="Next week", send_at=start + dt.timedelta(days=7))
    )
    cancelled = campaigns.do_send_campaign(
        db, ws["maria"], cw.draft(ws, name="Called off", send_at=start + dt.timedelta(days=3))
    )
    queued_campaigns.do_cancel(db, ws["maria"], cancelled)
    clock.freeze(start + dt.timedelta(minutes=5))
    cw.reply(db, ws["sms"], "+14158670001", "Yes please, Tuesday")  # to the first: the others have not gone
    cw.reply(db, ws["sms"], "+14158670003", "STOP")
    counted = {c: (progress(db, c).replied, progress(db, c).opted_out) for c in (first, second, cancelled)}
    assert counted == {first: (2, 1), second: (0, 0), cancelled: (0, 0)}
    clock.freeze(start + dt.timedelta(days=7, minutes=1))
    send_all(db, second)  # Ana, Ben and Una (Cleo opted out meanwhile)
    clock.freeze(start + dt.timedelta(days=7, minutes=5))
    cw.reply(db, ws["sms"], "+14158670002", "Thursday?")  # Ben answers the second, not the first
    counted = {c: (progress(db, c).replied, progress(db, c).opted_out) for c in (first, second, cancelled)}
    assert counted == {first: (2, 1), second: (1, 0), cancelled: (0, 0)}
    listed = {c["id"]: c["replied"] for c in queued_campaigns.list_campaigns(db, ws["sam"])}
    assert listed == {first: 2, second: 1, cancelled: 0}


def test_the_failure_reason_is_the_providers(db, ws):
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    ids = send_all(db, cid)
    for phone in ("+14158670001", "+14158670002"):
        status(db, ids[phone], "failed", "30007", "Message filtered")
    assert progress(db, cid).failures == [("Filtered by the carrier (spam or policy) (error 30007)", 2)]


def test_a_reply_makes_the_conversation_and_the_campaign_message_joins_it(db, ws):
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    send_all(db, cid)
    cw.reply(db, ws["sms"], "+14158670001", "Yes please")
    conv = db.dicts("SELECT * FROM conversations")
    assert len(conv) == 1
    assert (conv[0]["contact_id"], conv[0]["campaign_id"], conv[0]["unsolicited"], conv[0]["owner_id"]) == (
        ws["ana"],
        cid,
        False,
        ws["maria"].id,
    )
    thread = db.fetchall("SELECT direction, body FROM messages WHERE conversation_id = ? ORDER BY id", [conv[0]["id"]])
    assert thread == [("out", "Hi Ana, your cleaning is due. Reply YES to book."), ("in", "Yes please")]


# ---- who owns the replies (core.campaigns.ownership) ---------------------------------------------------


def pairs(ws, *names):
    return [(ws[n], ws["sms"]) for n in names]


def test_replies_belong_to_the_creator_by_default(db, ws):
    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    owners = db.write(lambda tx: reply_owners(tx, pairs(ws, "ana", "ben")))
    assert owners == {
        (ws["ana"], ws["sms"]): ReplyOwner(cid, ws["maria"].id),
        (ws["ben"], ws["sms"]): ReplyOwner(cid, ws["maria"].id),
    }


def test_replies_go_to_the_owner_an_admin_chose(db, ws):
    d = cw.draft(ws, reply_owner_mode="user", reply_owner_id=ws["james"].id)
    cid = campaigns.do_send_campaign(db, ws["admin"], d)
    owners = db.write(lambda tx: reply_owners(tx, pairs(ws, "ana")))
    assert owners == {(ws["ana"], ws["sms"]): ReplyOwner(cid, ws["james"].id)}


def test_replies_go_round_robin_across_a_team_and_continue_where_they_left_off(db, ws):
    from core.actions.user_admin import do_create_team

    team = do_create_team(db, ws["admin"], "Recall desk")
    do_set_team_members(db, ws["admin"], team, [ws["maria"].id, ws["james"].id, ws["sam"].id])  # sam: supervisor
    cid = campaigns.do_send_campaign(db, ws["admin"], cw.draft(ws, reply_owner_mode="team", reply_team_id=team))
    first = db.write(lambda tx: reply_owners(tx, pairs(ws, "ana", "ben", "cleo")))
    # Members who can answer, in id order: maria, james; turn 0, 1, 2 → maria, james, maria.
    assert [first[p].owner_id for p in pairs(ws, "ana", "ben", "cleo")] == [
        ws["maria"].id,
        ws["james"].id,
        ws["maria"].id,
    ]
    later = db.write(lambda tx: reply_owners(tx, pairs(ws, "uk")))
    assert later[(ws["uk"], ws["sms"])] == ReplyOwner(cid, ws["james"].id)  # turn 3


def test_no_campaign_message_means_no_owner_here(db, ws):
    assert db.write(lambda tx: reply_owners(tx, pairs(ws, "ana"))) == {}


def test_an_owner_disabled_since_gives_way_to_the_default(db, ws):
    d = cw.draft(ws, reply_owner_mode="user", reply_owner_id=ws["james"].id)
    cid = campaigns.do_send_campaign(db, ws["admin"], d)
    db.write(lambda tx: tx.execute("UPDATE users SET active = FALSE WHERE id = ?", [ws["james"].id]))
    assert db.write(lambda tx: reply_owners(tx, pairs(ws, "ana"))) == {(ws["ana"], ws["sms"]): ReplyOwner(cid, None)}


def test_an_owner_made_a_supervisor_since_gives_way_to_the_default(db, ws):
    from core.actions.user_admin import do_change_role

    cid = campaigns.do_send_campaign(
        db, ws["admin"], cw.draft(ws, reply_owner_mode="user", reply_owner_id=ws["james"].id)
    )
    do_change_role(db, ws["admin"], ws["james"].id, "supervisor")  # owns no conversation yet: allowed
    assert db.write(lambda tx: reply_owners(tx, pairs(ws, "ana"))) == {(ws["ana"], ws["sms"]): ReplyOwner(cid, None)}


def test_a_creator_made_a_supervisor_since_gives_way_to_the_default(db, ws):
    from core.actions.user_admin import do_change_role

    cid = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    do_change_role(db, ws["admin"], ws["maria"].id, "supervisor")
    assert db.write(lambda tx: reply_owners(tx, pairs(ws, "ana"))) == {(ws["ana"], ws["sms"]): ReplyOwner(cid, None)}


# ---- through inbound: the conversation a reply starts -------------------------------------------------


def owners_of_new_conversations(db) -> dict[str, int]:
    return dict(
        db.fetchall(
            "SELECT ct.phone, c.owner_id FROM conversations c JOIN contacts ct ON ct.id = c.contact_id ORDER BY ct.phone"
        )
    )


def test_a_reply_to_a_campaign_with_a_chosen_owner_lands_in_their_inbox(db, ws):
    d = cw.draft(ws, reply_owner_mode="user", reply_owner_id=ws["james"].id)
    campaigns.do_send_campaign(db, ws["admin"], d)
    cw.reply(db, ws["sms"], "+14158670001", "Yes")
    assert owners_of_new_conversations(db) == {"+14158670001": ws["james"].id}


def test_replies_to_a_team_campaign_go_round_the_team(db, ws):
    from core.actions.user_admin import do_create_team

    team = do_create_team(db, ws["admin"], "Recall desk")
    do_set_team_members(db, ws["admin"], team, [ws["maria"].id, ws["james"].id])
    campaigns.do_send_campaign(db, ws["admin"], cw.draft(ws, reply_owner_mode="team", reply_team_id=team))
    for phone in ("+14158670002", "+14158670001", "+14158670003"):  # in the order they write
        cw.reply(db, ws["sms"], phone, "Hello")
    assert owners_of_new_conversations(db) == {
        "+14158670002": ws["maria"].id,
        "+14158670001": ws["james"].id,
        "+14158670003": ws["maria"].id,
    }


def test_a_reply_to_a_campaign_whose_owner_became_a_supervisor_goes_to_the_default_owner(db, ws):
    from core.actions.user_admin import do_change_role

    cid = campaigns.do_send_campaign(
        db, ws["admin"], cw.draft(ws, reply_owner_mode="user", reply_owner_id=ws["james"].id)
    )
    send_all(db, cid)
    do_change_role(db, ws["admin"], ws["james"].id, "supervisor")
    cw.reply(db, ws["sms"], "+14158670001", "Yes please")
    assert owners_of_new_conversations(db) == {"+14158670001": ws["admin"].id}  # the first active admin


def test_the_default_owner_is_never_a_supervisor(db, ws):
    from core import settings

    cid = campaigns.do_send_campaign(
        db, ws["admin"], cw.draft(ws, reply_owner_mode="user", reply_owner_id=ws["james"].id)
    )
    send_all(db, cid)
    db.write(lambda tx: tx.execute("UPDATE users SET active = FALSE WHERE id = ?", [ws["james"].id]))
    db.write(lambda tx: settings.put(tx, "default_owner_id", ws["sam"].id))  # sam is a supervisor
    cw.reply(db, ws["sms"], "+14158670001", "Yes please")
    cw.reply(db, ws["sms"], "+14158679876", "Who is this?")  # unsolicited
    assert owners_of_new_conversations(db) == {"+14158670001": ws["admin"].id, "+14158679876": ws["admin"].id}
    db.write(lambda tx: settings.put(tx, "default_owner_id", ws["maria"].id))  # an agent: she gets them
    cw.reply(db, ws["sms"], "+14158670002", "Yes please")
    assert owners_of_new_conversations(db)["+14158670002"] == ws["maria"].id


def conversation_of(db, phone):
    return db.fetchone(
        "SELECT c.campaign_id, c.owner_id, c.unsolicited FROM conversations c JOIN contacts ct ON ct.id = c.contact_id "
        "WHERE ct.phone = ?",
        [phone],
    )


def next_week(ws):
    return cw.draft(
        ws,
        name="Next week",
        send_at=clock.utcnow() + dt.timedelta(days=7),
        reply_owner_mode="user",
        reply_owner_id=ws["james"].id,
    )


def test_a_reply_answers_the_campaign_that_went_not_one_scheduled_for_later(db, ws):
    first = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    send_all(db, first)
    campaigns.do_send_campaign(db, ws["admin"], next_week(ws))  # replies to it would go to James
    cw.reply(db, ws["sms"], "+14158670001", "Yes please, Tuesday")
    assert conversation_of(db, "+14158670001") == (first, ws["maria"].id, False)


def test_a_reply_answers_the_campaign_that_went_not_one_cancelled_before_it_went(db, ws):
    first = campaigns.do_send_campaign(db, ws["maria"], cw.draft(ws))
    send_all(db, first)
    later = campaigns.do_send_campaign(db, ws["admin"], next_week(ws))
    queued_campaigns.do_cancel(db, ws["admin"], later)
    cw.reply(db, ws["sms"], "+14158670001", "Yes please, Tuesday")
    assert conversation_of(db, "+14158670001") == (first, ws["maria"].id, False)


def test_a_reply_answers_the_campaign_that_went_last_even_if_it_was_written_first(db, ws):
    start = clock.utcnow()
    early = cw.draft(ws, name="Written first, goes later", send_at=start + dt.timedelta(hours=1))
    first_written = campaigns.do_send_campaign(db, ws["maria"], early)
    clock.freeze(start + dt.timedelta(minutes=1))
    now = cw.draft(ws, name="Goes now", reply_owner_mode="user", reply_owner_id=ws["james"].id)
    goes_now = campaigns.do_send_campaign(db, ws["admin"], now)
    send_all(db, goes_now)
    clock.freeze(start + dt.timedelta(hours=2))
    send_all(db, first_written)  # due since an hour: it goes now, after the other
    clock.freeze(start + dt.timedelta(hours=3))
    cw.reply(db, ws["sms"], "+14158670001", "Yes please")
    assert conversation_of(db, "+14158670001") == (first_written, ws["maria"].id, False)


def test_a_reply_to_a_campaign_that_was_cancelled_before_it_went_is_unsolicited(db, ws):
    cancelled = campaigns.do_send_campaign(db, ws["admin"], next_week(ws))
    queued_campaigns.do_cancel(db, ws["admin"], cancelled)
    cw.reply(db, ws["sms"], "+14158670001", "Hello?")
    assert conversation_of(db, "+14158670001") == (None, ws["admin"].id, True)  # the default owner


def test_a_chosen_owner_disabled_since_gives_the_reply_to_the_default_owner(db, ws):
    campaigns.do_send_campaign(db, ws["admin"], cw.draft(ws, reply_owner_mode="user", reply_owner_id=ws["james"].id))
    db.write(lambda tx: tx.execute("UPDATE users SET active = FALSE WHERE id = ?", [ws["james"].id]))
    cw.reply(db, ws["sms"], "+14158670001", "Yes")
    assert owners_of_new_conversations(db) == {"+14158670001": ws["admin"].id}  # the first active admin
