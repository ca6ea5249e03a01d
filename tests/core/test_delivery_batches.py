"""Recording a round's outcomes as one batch (issue 14): many answers, one transaction, nothing lost or doubled.

The dispatcher records every answer back since its last round in one transaction (messages,
outbox rows, events and reporting facts, each written as one list per column). These tests
build the cases where that batch does not commit and check, with real HTTP to a loopback
Twilio, that each message still goes out once and is recorded once:

- Parley dies after the provider answered a whole batch and before the batch was recorded: the
  next start finds the rows claimed, looks each one up, settles it with the provider's own id,
  and sends nothing again;
- the transaction recording a batch fails: nothing of it is written, and the next round records
  every answer of it, once.
"""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import wait as wait_futures

import pytest

from core import clock, events
from core import db as core_db
from core.actions import messaging
from tests import factories as f
from tests.core import test_delivery_faults as faults
from tests.core.test_delivery_faults import conversations, make_dispatcher, outbox_states, run_until_settled
from tests.fakes.twilio_server import FakeTwilio

# The faults tests' workspace: a Twilio SMS sender whose provider is a loopback FakeTwilio.
twilio, graph, ws = faults.twilio, faults.graph, faults.ws

BATCH = 20  # above core.db_events.SMALL_INSERT: the batch paths (one list per column) write the events and facts


def queue(db, ws, n: int = BATCH) -> tuple[list[int], list[int]]:
    convs = conversations(db, ws, "sms", n)
    return convs, [
        messaging.do_send(db, ws["maria"], c, f"Reminder {i}: your visit is on Tuesday") for i, c in enumerate(convs)
    ]


def recorded(db, mids: list[int]) -> dict[str, list]:
    """Per message, in queue order: its status, provider id, outbox states, and how many message.sent
    events and message_sent facts it has."""
    rows = db.fetchall(
        """SELECT m.id, m.status, m.provider_message_id,
                  (SELECT list(state ORDER BY id) FROM outbox WHERE message_id = m.id),
                  (SELECT count(*) FROM events WHERE name = 'message.sent' AND message_id = m.id),
                  (SELECT count(*) FROM report_facts WHERE kind = 'message_sent' AND message_id = m.id)
           FROM messages m WHERE m.id IN (SELECT unnest(?::BIGINT[])) ORDER BY m.id""",
        [mids],
    )
    return {
        "status": [r[1] for r in rows],
        "pid": [r[2] for r in rows],
        "outbox": [r[3] for r in rows],
        "events": [r[4] for r in rows],
        "facts": [r[5] for r in rows],
    }


def sids_by_body(twilio: FakeTwilio) -> dict[str, str]:
    return {m["body"]: m["sid"] for m in twilio.created}


def crash(dispatcher):
    """What a SIGKILL leaves: the answers in memory are lost, nothing is recorded or put back (the
    threads are only stopped so the test leaks none; ``close`` would record the answers)."""
    for pool in dispatcher._pools.values():
        pool.shutdown(wait=False, cancel_futures=True)


def test_a_crash_after_the_answers_before_their_record_sends_nothing_twice(db, ws, twilio):
    convs, mids = queue(db, ws)
    first = make_dispatcher(db, ws, lookup_tries=2)
    _, started = first._round()  # claims the batch and sends it
    assert len(started) == BATCH
    wait_futures(started)  # every answer is back, in memory only
    crash(first)  # ... and Parley dies before the round that records them (a crash runs no clean stop)
    assert len(twilio.sends) == BATCH
    assert recorded(db, mids)["outbox"] == [["claimed"]] * BATCH
    assert db.scalar("SELECT count(*) FROM events WHERE name = 'message.sent'") == 0

    again = make_dispatcher(db, ws, lookup_tries=2)
    assert again.recover() == BATCH  # claimed at the stop: outcome unknown, looked up, not resent
    assert db.fetchall("SELECT DISTINCT status FROM messages WHERE id IN (SELECT unnest(?::BIGINT[]))", [mids]) == [
        ("interrupted",)
    ]
    clock.freeze(clock.utcnow() + dt.timedelta(seconds=31))  # the lookup delay
    run_until_settled(db, again)
    after = recorded(db, mids)
    assert len(twilio.sends) == BATCH  # not one sent again
    assert len(twilio.lookups) == BATCH
    sids = sids_by_body(twilio)
    bodies = dict(db.fetchall("SELECT id, body FROM messages WHERE id IN (SELECT unnest(?::BIGINT[]))", [mids]))
    assert after["pid"] == [sids[bodies[m]] for m in mids]  # each settled with its own provider id
    assert after["status"] == ["sending"] * BATCH  # as the fake answered: accepted, not yet delivered
    assert after["outbox"] == [["done"]] * BATCH
    assert after["events"] == [1] * BATCH and after["facts"] == [1] * BATCH
    assert outbox_states(db) == {"done": BATCH}
    again.close()


@pytest.fixture
def failing_commit():
    """A before-commit hook that fails the next transaction recording sends (as a full disk or a
    conflict would at COMMIT), once."""
    armed = {"left": 1, "failed": 0}

    def hook(tx):
        if armed["left"] and any(e.name == events.MESSAGE_SENT for e in tx.events):
            armed["left"] -= 1
            armed["failed"] += 1
            raise RuntimeError("the disk is full")

    core_db.before_commit(hook)
    yield armed
    core_db._before_commit.remove(hook)


def test_a_batch_whose_record_fails_is_recorded_once_by_the_next_round(db, ws, twilio, failing_commit):
    convs, mids = queue(db, ws)
    maria_version = db.scalar("SELECT inbox_version FROM users WHERE id = ?", [ws["maria"].id])
    d = make_dispatcher(db, ws)
    with pytest.raises(RuntimeError, match="the disk is full"):
        d.step()  # claimed, sent, answered; the transaction recording them rolled back
    assert failing_commit["failed"] == 1
    assert len(twilio.sends) == BATCH
    nothing = recorded(db, mids)
    assert nothing["outbox"] == [["claimed"]] * BATCH and nothing["pid"] == [None] * BATCH
    assert nothing["events"] == [0] * BATCH and nothing["facts"] == [0] * BATCH
    assert d.sent == 0 and not d.idle()  # the answers wait for the next round, still in flight

    assert d.pump() is True  # the next round records the whole batch, once
    done = recorded(db, mids)
    sids = sids_by_body(twilio)
    bodies = dict(db.fetchall("SELECT id, body FROM messages WHERE id IN (SELECT unnest(?::BIGINT[]))", [mids]))
    assert done["pid"] == [sids[bodies[m]] for m in mids]
    assert done["status"] == ["sending"] * BATCH and done["outbox"] == [["done"]] * BATCH
    assert done["events"] == [1] * BATCH and done["facts"] == [1] * BATCH
    assert d.sent == BATCH and d.idle() and len(twilio.sends) == BATCH
    assert d.step() is False and len(twilio.sends) == BATCH  # nothing left to send
    # The batch's events name each message's conversation and author (stored in queue order), and
    # its facts say who wrote what on which sender, as one at a time would.
    assert db.fetchall(
        "SELECT message_id, conversation_id, user_id, json_extract(payload, '$.author_id')::INTEGER FROM events "
        "WHERE name = 'message.sent' ORDER BY id"
    ) == [(m, c, None, ws["maria"].id) for m, c in zip(mids, convs)]
    assert db.fetchall(
        "SELECT message_id, conversation_id, agent_id, sender_id, channel, source FROM report_facts "
        "WHERE kind = 'message_sent' ORDER BY id"
    ) == [(m, c, ws["maria"].id, ws["sms"], "sms", "live") for m, c in zip(mids, convs)]
    # One delivery event per conversation, for its owner's live page; her inbox version moved.
    assert db.scalar("SELECT count(*) FROM events WHERE name = ?", [events.CONVERSATION_DELIVERY]) == BATCH
    assert db.scalar("SELECT inbox_version FROM users WHERE id = ?", [ws["maria"].id]) > maria_version
    d.close()


def test_a_busy_sender_has_two_batches_claimed_at_most_and_each_goes_once(db, ws):
    """While one batch is out the next is claimed whole (a round then records and claims a batch),
    never more: rows past two batches stay pending until answers come back."""
    import threading

    from core.delivery import Dispatcher
    from core.providers.base import SendResult

    release, calls, lock = threading.Event(), [], threading.Lock()

    class HeldProvider:
        def send(self, msg):
            with lock:
                calls.append(msg.message_id)
            release.wait(30)
            return SendResult(f"SM{msg.message_id}", "sent")

    _, mids = queue(db, ws, 20)
    d = Dispatcher(db, lambda sender: HeldProvider(), media_url=lambda t: None, status_callback_url=lambda p: None,
                   batch=4, threads=8)  # fmt: skip
    assert (d.claim_cap, d.sender_cap) == (8, 6)
    for _ in range(5):
        d.pump()
    assert outbox_states(db) == {"claimed": 8, "pending": 12}
    deadline = time.monotonic() + 10
    while len(calls) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(calls) == 6  # at most sender_cap calls at once; two claimed rows wait in the lane
    release.set()
    while d.sent < 20 and time.monotonic() < deadline + 20:
        d.pump()
    assert d.sent == 20 and outbox_states(db) == {"done": 20}
    assert sorted(calls) == sorted(mids)  # each once
    d.close()


def test_media_go_with_their_message_in_a_batch_of_plain_ones(db, ws, twilio, tmp_path):
    """The claim reads media only for messages that have some: the picture still goes, with its link."""
    from core.media_store import MediaStore

    convs, plain = queue(db, ws, 3)
    picture = messaging.Attachment("xray.png", "image/png", f.picture_bytes())
    with_picture = messaging.do_send(
        db, ws["maria"], convs[1], "Your x-ray", attachments=[picture], media_store=MediaStore(tmp_path / "media")
    )
    token = db.scalar("SELECT token FROM media WHERE message_id = ?", [with_picture])
    d = make_dispatcher(db, ws)
    assert d.step() is True
    sent = {r.value("Body"): r.values("MediaUrl") for r in twilio.sends}
    assert sent == {
        "Reminder 0: your visit is on Tuesday": [],
        "Reminder 1: your visit is on Tuesday": [],
        "Reminder 2: your visit is on Tuesday": [],
        "Your x-ray": [f"https://parley.example/files/{token}"],
    }
    assert outbox_states(db) == {"done": 4} and d.sent == 4
    d.close()
