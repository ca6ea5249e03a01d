"""Live-page versions (core.versions): every change a page shows raises them, in the same
transaction; nothing else does; they live in the database and survive a restart."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock, contacts_csv, contacts_csv_mapping, events, queries, release, schema, versions
from core.actions import contacts as contact_actions
from core.actions import conversations as conv
from core.actions import inbound, messaging, optout, suppression, user_admin
from core.db import Database
from core.providers.base import InboundEvent, StatusEvent
from tests import factories as f


@pytest.fixture
def ws(db, make_user):
    f.always_open(db)
    admin = make_user("ada", "admin")
    maria = make_user("maria")
    james = make_user("james")
    sms = f.add_sender(db)
    zoe = f.add_contact(db, name="Zoë Ávila")
    c1 = f.add_conversation(db, contact_id=zoe, sender_id=sms, owner_id=maria.id)
    c2 = f.add_conversation(db, contact_id=f.add_contact(db, name="Omar"), sender_id=sms, owner_id=maria.id)
    c3 = f.add_conversation(db, contact_id=f.add_contact(db, name="Li Wei"), sender_id=sms, owner_id=james.id)
    return dict(admin=admin, maria=maria, james=james, sms=sms, zoe=zoe, c1=c1, c2=c2, c3=c3)


def snapshot(db, ws) -> dict[str, int]:
    return {
        "c1": versions.conversation_version(db, ws["c1"]),
        "c2": versions.conversation_version(db, ws["c2"]),
        "c3": versions.conversation_version(db, ws["c3"]),
        "maria": versions.inbox_version(db, ws["maria"].id),
        "james": versions.inbox_version(db, ws["james"].id),
        "team": versions.inbox_version(db, None),
    }


def moved(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {k for k in before if before[k] != after[k]}


def change(db, ws, action) -> set[str]:
    before = snapshot(db, ws)
    action()
    return moved(before, snapshot(db, ws))


def test_a_reply_sent(db, ws):
    assert change(db, ws, lambda: messaging.do_send(db, ws["maria"], ws["c1"], "Hi")) == {"c1", "maria", "team"}


def test_an_inbound_message(db, ws):
    sender = db.dicts("SELECT * FROM senders WHERE id = ?", [ws["sms"]])[0]
    phone = db.scalar("SELECT phone FROM contacts WHERE id = ?", [ws["zoe"]])
    event = InboundEvent("SMv1", "sms", phone, sender["phone"], None, "Thanks!", clock.utcnow())
    assert change(db, ws, lambda: db.write(lambda tx: inbound.apply_inbound(tx, event, sender, []))) == {
        "c1",
        "maria",
        "team",
    }


def test_a_status_callback(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["c1"], "Hi")
    db.write(lambda tx: tx.execute("UPDATE messages SET provider_message_id = 'SMv2' WHERE id = ?", [mid]))
    event = StatusEvent("SMv2", "delivered", clock.utcnow())
    assert change(db, ws, lambda: db.write(lambda tx: inbound.apply_statuses(tx, [event]))) == {"c1", "maria", "team"}


def test_a_status_of_a_campaign_message_nobody_answered_reaches_its_author(db, ws):
    contact = f.add_contact(db, name="Nobody Yet")

    def campaign(tx):
        tx.execute(
            "INSERT INTO messages (contact_id, sender_id, campaign_id, direction, author_id, body, status, created_at, "
            "status_at, provider_message_id) VALUES (?, ?, 1, 'out', ?, 'Book now', 'sent', ?, ?, 'SMv3')",
            [contact, ws["sms"], ws["james"].id, clock.utcnow(), clock.utcnow()],
        )

    db.write(campaign)
    event = StatusEvent("SMv3", "delivered", clock.utcnow())
    assert change(db, ws, lambda: db.write(lambda tx: inbound.apply_statuses(tx, [event]))) == {"james", "team"}


def test_read_and_unread(db, ws):
    assert change(db, ws, lambda: conv.do_mark_opened(db, ws["maria"], ws["c1"])) == {"c1", "maria", "team"}
    assert change(db, ws, lambda: conv.do_mark_opened(db, ws["maria"], ws["c1"])) == set()  # already read
    assert change(db, ws, lambda: conv.do_set_read_state(db, ws["maria"], [ws["c1"]], read=False)) == {
        "c1",
        "maria",
        "team",
    }


def test_assignment_moves_both_inboxes(db, ws):
    assert change(db, ws, lambda: conv.do_assign(db, ws["admin"], [ws["c1"]], ws["james"].id)) == {
        "c1",
        "maria",
        "james",
        "team",
    }


def test_disabling_an_agent_moves_the_conversations_handed_over(db, ws):
    """James is disabled and c3 goes to Maria: a page showing c3 (its owner, its read state) reloads."""
    assert change(
        db, ws, lambda: user_admin.do_disable_user(db, ws["admin"], ws["james"].id, reassign_to=ws["maria"].id)
    ) == {"c3", "maria", "james", "team"}
    assert db.scalar("SELECT owner_id FROM conversations WHERE id = ?", [ws["c3"]]) == ws["maria"].id


def test_close_and_reopen(db, ws):
    assert change(db, ws, lambda: conv.do_set_status(db, ws["maria"], [ws["c2"]], closed=True)) == {
        "c2",
        "maria",
        "team",
    }


def test_an_opt_out_flag_dismissed(db, ws):
    db.write(lambda tx: tx.execute("UPDATE conversations SET optout_flag = 'stop texting me' WHERE id = ?", [ws["c2"]]))
    assert change(db, ws, lambda: optout.do_dismiss_optout_flag(db, ws["maria"], ws["c2"])) == {"c2", "maria", "team"}


def test_a_contact_edit_reaches_every_conversation_of_the_contact(db, ws):
    c4 = f.add_conversation(
        db, contact_id=ws["zoe"], sender_id=f.add_sender(db, phone="+14155550122"), owner_id=ws["james"].id
    )
    before = versions.conversation_version(db, c4)
    changed = change(
        db, ws, lambda: contact_actions.do_update_contact(db, ws["maria"], ws["zoe"], name="Zoë Ávila-Ruiz")
    )
    assert changed == {"c1", "maria", "james", "team"}
    assert versions.conversation_version(db, c4) == before + 1


def test_a_contact_rename_reaches_the_sent_messages_of_whoever_wrote_to_them(db, ws):
    """Sent Messages shows the contact's name beside each message: James wrote to Zoë in Maria's c1,
    and to Nobody Yet, who never answered (no conversation). Renaming either moves James's version;
    a note (not shown there) does not."""
    f.add_message(db, contact_id=ws["zoe"], sender_id=ws["sms"], body="Hi", conversation_id=ws["c1"],
                  author_id=ws["james"].id, status="sent")  # fmt: skip
    nobody = f.add_contact(db, name="Nobody Yet")
    f.add_message(db, contact_id=nobody, sender_id=ws["sms"], body="Book now", author_id=ws["james"].id, status="sent")
    rename = lambda cid, name: lambda: contact_actions.do_update_contact(db, ws["admin"], cid, name=name)  # noqa: E731
    assert change(db, ws, rename(ws["zoe"], "Zoë Ávila-Ruiz")) == {"c1", "maria", "james", "team"}
    assert change(db, ws, rename(nobody, "Somebody Now")) == {"james", "team"}
    assert [r["contact_name"] for r in queries.sent_view(db, ws["james"]).page.rows] == [
        "Somebody Now",
        "Zoë Ávila-Ruiz",
    ]
    assert change(db, ws, lambda: contact_actions.do_update_contact(db, ws["admin"], nobody, notes="VIP")) == set()


def test_an_opt_out_stopping_queued_messages_reaches_their_authors(db, ws):
    """Opting out turns what still waits to go to the contact into "Not sent": James's Sent
    Messages shows those, in Maria's conversation (a STOP) or in none (an admin's opt-out)."""
    f.add_message(db, contact_id=ws["zoe"], sender_id=ws["sms"], body="Later", conversation_id=ws["c1"],
                  author_id=ws["james"].id, status="queued")  # fmt: skip
    sender = db.dicts("SELECT * FROM senders WHERE id = ?", [ws["sms"]])[0]
    zoe_phone = db.scalar("SELECT phone FROM contacts WHERE id = ?", [ws["zoe"]])
    stop = InboundEvent("SMstop1", "sms", zoe_phone, sender["phone"], None, "STOP", clock.utcnow())
    assert change(db, ws, lambda: db.write(lambda tx: inbound.apply_inbound(tx, stop, sender, []))) == {
        "c1",
        "maria",
        "james",
        "team",
    }
    nobody = f.add_contact(db, phone="+14158670777", name="Nobody Yet")
    queued = f.add_message(db, contact_id=nobody, sender_id=ws["sms"], body="Spring?", author_id=ws["james"].id,
                           status="queued")  # fmt: skip
    assert change(db, ws, lambda: suppression.do_add_opt_out(db, ws["admin"], "+14158670777", "asked by phone")) == {
        "james",
        "team",
    }
    assert db.scalar("SELECT status FROM messages WHERE id = ?", [queued]) == "not_sent"


def test_a_sender_change_reaches_its_conversations(db, ws):
    assert change(db, ws, lambda: db.write(lambda tx: tx.publish(events.SENDER_CHANGED, sender_id=ws["sms"]))) == {
        "c1",
        "c2",
        "c3",
        "maria",
        "james",
        "team",
    }


def test_a_failed_write_changes_no_version(db, ws):
    before = snapshot(db, ws)

    def broken(tx):
        tx.execute("UPDATE conversations SET status = 'closed' WHERE id = ?", [ws["c1"]])
        tx.publish(events.CONVERSATION_CLOSED, conversation_id=ws["c1"], owner_id=ws["maria"].id)
        raise RuntimeError("disk full")  # fails before the commit: nothing of it stays

    with pytest.raises(RuntimeError):
        db.write(broken)
    assert snapshot(db, ws) == before


def test_versions_survive_a_restart(db, ws):
    messaging.do_send(db, ws["maria"], ws["c1"], "Hi")
    before = snapshot(db, ws)
    path = db.path
    db.close()
    reopened = Database(path)
    try:
        schema.migrate(reopened)
        assert snapshot(reopened, ws) == before
        assert before["c1"] > 0
    finally:
        reopened.close()


def test_a_csv_import_renaming_a_contact_reaches_its_conversations(db, ws):
    zoe_phone = db.scalar("SELECT phone FROM contacts WHERE id = ?", [ws["zoe"]])
    omar_phone = db.scalar("SELECT phone FROM contacts WHERE name = 'Omar'")
    data = f"Name,Phone\nZoë Ávila-Ruiz,{zoe_phone}\nOmar,{omar_phone}\nNew Person,+14158670555\n".encode()
    parsed = contacts_csv.read_csv(data)
    mapping = contacts_csv_mapping.guess_mapping(parsed.columns)
    # Zoë renamed (c1, Maria's); Omar unchanged (c2 stays); a new contact has no conversation.
    assert change(db, ws, lambda: contacts_csv.import_contacts(db, ws["admin"], parsed, mapping)) == {
        "c1",
        "maria",
        "team",
    }


def test_a_csv_import_renaming_a_contact_reaches_whoever_wrote_to_them(db, ws):
    nobody = f.add_contact(db, phone="+14158670778", name="Nobody Yet")
    f.add_message(db, contact_id=nobody, sender_id=ws["sms"], body="Book now", author_id=ws["james"].id, status="sent")
    parsed = contacts_csv.read_csv(b"Name,Phone\nSomebody Now,+14158670778\n")
    mapping = contacts_csv_mapping.guess_mapping(parsed.columns)
    assert change(db, ws, lambda: contacts_csv.import_contacts(db, ws["admin"], parsed, mapping)) == {"james", "team"}


def test_queued_messages_retimed_reach_their_authors_lists(db, ws):
    queued = f.add_message(
        db,
        contact_id=ws["zoe"],
        sender_id=ws["sms"],
        body="Later",
        conversation_id=ws["c1"],
        status="queued",
        author_id=ws["james"].id,
    )
    f.add_outbox(db, message_id=queued, sender_id=ws["sms"], due_at=clock.utcnow() + dt.timedelta(days=1))
    # Hours always open: the message may go now, not tomorrow. James wrote it; Maria owns c1.
    assert change(db, ws, lambda: db.write(release.retime_queued)) == {"c1", "maria", "james", "team"}
