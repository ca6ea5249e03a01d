"""Reading a page of a conversation (core.threads): the newest messages, older ones before an id,
for short, long and very long threads, and always current under writes and after a restart."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock, queries, schema, threads
from core.actions import inbound, messaging
from core.auth import get_user
from core.db import Database
from core.providers.base import StatusEvent
from tests import factories as f


@pytest.fixture
def ws(db, make_user):
    f.always_open(db)
    maria = make_user("maria")
    sms = f.add_sender(db)
    return dict(maria=maria, sms=sms)


def conversation(db, ws, extra: int) -> tuple[int, list[int]]:
    """A conversation with 1 + ``extra`` messages; the ids of all of them, oldest first."""
    cid = f.add_conversation(db, contact_id=f.add_contact(db), sender_id=ws["sms"], owner_id=ws["maria"].id)
    first = db.scalar("SELECT id FROM messages WHERE conversation_id = ?", [cid])
    return cid, [first, *f.add_messages(db, conversation_id=cid, count=extra)]


# One of each way a page is read: a short thread (every row through the index), a long one
# (ids through the index, then rows) and a very long one (read from its newest end).
SIZES = [5, threads.SMALL + 50, threads.INDEX_LIMIT + 300]


@pytest.mark.parametrize("size", SIZES)
def test_the_newest_page_and_the_pages_before_it(db, ws, size):
    cid, ids = conversation(db, ws, size - 1)
    page = threads.read_page(db, cid, size, limit=200)
    assert [m["id"] for m in page.messages] == ids[-200:]
    assert page.has_older == (size > 200)
    assert page.messages[-1]["body"] == f"m{size}"  # the opening message, then m2 … m{size}
    assert {m["author_name"] for m in page.messages if m["direction"] == "out"} == {"Maria"}
    if size > 200:
        older = threads.read_page(db, cid, size, limit=200, before_id=page.messages[0]["id"])
        assert [m["id"] for m in older.messages] == ids[-400:-200]
        assert older.has_older == (size > 400)


@pytest.mark.parametrize("span", [threads.RANGE_SPAN, 0], ids=["as a range", "by ids"])
@pytest.mark.parametrize("first", [threads.SMALL, threads.INDEX_LIMIT], ids=["long", "very long"])
def test_a_page_holds_only_its_own_conversation_where_threads_interleave(db, ws, monkeypatch, first, span):
    # A narrow page is read as the range between its oldest and newest id: another conversation's
    # messages written in between must not come with it. A wide one (span 0 here) is read by ids.
    monkeypatch.setattr(threads, "RANGE_SPAN", span)
    cid, ids = conversation(db, ws, first)
    other, other_ids = conversation(db, ws, 1)
    for _ in range(6):  # 50 of ours, 50 of the other's, in turn
        ids += f.add_messages(db, conversation_id=cid, count=50)
        other_ids += f.add_messages(db, conversation_id=other, count=50)
    size = len(ids)
    assert size == first + 301
    page = threads.read_page(db, cid, size, limit=200)
    assert [m["id"] for m in page.messages] == ids[-200:]
    assert {m["conversation_id"] for m in page.messages} == {cid}
    older = threads.read_page(db, cid, size, limit=200, before_id=page.messages[0]["id"])
    assert [m["id"] for m in older.messages] == ids[-400:-200]
    assert not {m["id"] for m in page.messages + older.messages} & set(other_ids)


@pytest.mark.parametrize("size", SIZES)
def test_a_committed_message_is_in_the_very_next_read(db, ws, size):
    cid, ids = conversation(db, ws, size - 1)
    threads.read_page(db, cid, size)
    mid = messaging.do_send(db, ws["maria"], cid, "Just sent")
    thread = queries.thread(db, ws["maria"], cid)
    assert [m["id"] for m in thread.messages][-2:] == [ids[-1], mid]
    assert thread.messages[-1]["body"] == "Just sent" and thread.messages[-1]["status"] == "queued"


@pytest.mark.parametrize("size", SIZES)
def test_a_status_update_shows_in_the_next_read(db, ws, size):
    cid, ids = conversation(db, ws, size - 1)
    mid = messaging.do_send(db, ws["maria"], cid, "Will it arrive?")
    db.write(lambda tx: tx.execute("UPDATE messages SET provider_message_id = 'SMst1' WHERE id = ?", [mid]))
    assert queries.thread(db, ws["maria"], cid).messages[-1]["status"] == "queued"
    event = StatusEvent("SMst1", "delivered", clock.utcnow())
    db.write(lambda tx: inbound.apply_statuses(tx, [event]))
    assert queries.thread(db, ws["maria"], cid).messages[-1]["status"] == "delivered"


def test_an_inbound_reply_is_in_the_next_read(db, ws):
    cid, _ = conversation(db, ws, threads.INDEX_LIMIT + 10)
    sender = db.dicts("SELECT * FROM senders WHERE id = ?", [ws["sms"]])[0]
    phone = db.scalar(
        "SELECT ct.phone FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = ?", [cid]
    )
    event = f_inbound(sender, phone, "Hello again")
    db.write(lambda tx: inbound.apply_inbound(tx, event, sender, []))
    assert queries.thread(db, ws["maria"], cid).messages[-1]["body"] == "Hello again"


def f_inbound(sender, phone, body):
    from core.providers.base import InboundEvent

    return InboundEvent(
        provider_message_id="SMreply1",
        channel="sms",
        from_number=phone,
        to_number=sender["phone"],
        to_ref=None,
        body=body,
        received_at=clock.utcnow(),
    )


def test_nothing_is_stale_after_a_restart(tmp_path, make_user, db, ws):
    cid, ids = conversation(db, ws, threads.INDEX_LIMIT + 10)
    mid = messaging.do_send(db, ws["maria"], cid, "Before the restart")
    path = db.path
    db.close()
    reopened = Database(path)
    try:
        schema.migrate(reopened)
        thread = queries.thread(reopened, get_user(reopened, ws["maria"].id), cid)
        assert [m["id"] for m in thread.messages][-2:] == [ids[-1], mid]
        assert len(thread.messages) == 200 and thread.has_older
    finally:
        reopened.close()


def test_media_come_with_their_messages(db, ws):
    cid, _ = conversation(db, ws, 3)
    mid = messaging.do_send(
        db,
        ws["maria"],
        cid,
        "The form",
        attachments=[messaging.Attachment("form.pdf", "application/pdf", b"%PDF-1.4")],
        media_store=_Store(),
    )
    page = threads.read_page(db, cid, 5)
    assert [m["filename"] for m in page.media[mid]] == ["form.pdf"]


class _Store:
    def put(self, data: bytes) -> str:
        return "0" * 64


def test_dates_are_kept_as_stored(db, ws):
    at = dt.datetime(2026, 3, 1, 12, 0)
    cid = f.add_conversation(
        db, contact_id=f.add_contact(db), sender_id=ws["sms"], owner_id=ws["maria"].id, last_inbound_at=at
    )
    assert threads.read_page(db, cid, 1).messages[0]["created_at"] == at
