"""Reporting facts: every event → its fact, exactly once; durations in wall-clock and business hours;
the backfill derives the same facts from the stored rows."""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
import sys
import textwrap

import duckdb
import pytest

from core import clock, events, reporting, reporting_backfill, schema, settings
from core.actions import conversations as conv_actions
from core.actions import inbound, messaging
from core.db import Database
from core.providers.base import InboundEvent, StatusEvent
from tests import factories as f

_ids = itertools.count(1)
FRI_16 = dt.datetime(2026, 3, 6, 16, 0)  # a Friday; Monday March 9 is a holiday
TUE_9 = dt.datetime(2026, 3, 10, 9, 0)


@pytest.fixture
def ws(db, make_user):
    ada = make_user("ada", "admin")
    maria = make_user("maria")
    james = make_user("james")

    def write(tx):
        settings.put(
            tx,
            "business_hours",
            {
                "timezone": "UTC",
                "weekly": {**{str(d): [["09:00", "17:00"]] for d in range(5)}, "5": [], "6": []},
                "holidays": ["2026-03-09"],
            },
        )
        settings.put(tx, "quiet_hours", {"start": "00:00", "end": "24:00"})
        settings.put(tx, "default_owner_id", maria.id)  # new numbers' conversations go to maria

    db.write(write)
    sms = f.add_sender(db)
    sender = db.dicts("SELECT * FROM senders WHERE id = ?", [sms])[0]
    return dict(ada=ada, maria=maria, james=james, sender=sender)


def receive(db, ws, phone, body, at):
    clock.freeze(at)
    event = InboundEvent(
        provider_message_id=f"SMin{next(_ids)}",
        channel="sms",
        from_number=phone,
        to_number=ws["sender"]["phone"],
        to_ref=None,
        body=body,
        received_at=at,
    )
    mid = db.write(lambda tx: inbound.apply_inbound(tx, event, ws["sender"], []))
    return db.scalar("SELECT conversation_id FROM messages WHERE id = ?", [mid])


def reply(db, user, cid, body, at):
    clock.freeze(at)
    return messaging.do_send(db, user, cid, body)


def facts(db, cid, *kinds):
    where = "AND kind IN (SELECT unnest(?::VARCHAR[]))" if kinds else "AND ?::VARCHAR[] IS NOT NULL"
    return db.fetchall(
        f"SELECT kind, seconds, business_seconds, agent_id FROM report_facts WHERE conversation_id = ? {where} "
        "ORDER BY id",
        [cid, list(kinds)],
    )


def test_a_reopened_conversation_counts_waits_across_a_weekend_and_a_holiday(db, ws):
    maria = ws["maria"]
    cid = receive(db, ws, "+14158670001", "Hi, can I book a cleaning?", FRI_16)
    reply(db, maria, cid, "Of course! Tuesday 2pm?", dt.datetime(2026, 3, 10, 10, 0))
    clock.freeze(dt.datetime(2026, 3, 10, 10, 30))
    conv_actions.do_set_status(db, maria, [cid], closed=True)
    assert receive(db, ws, "+14158670001", "Sorry, one more question", dt.datetime(2026, 3, 11, 9, 0)) == cid
    reply(db, maria, cid, "Sure, go ahead", dt.datetime(2026, 3, 11, 9, 20))
    clock.freeze(dt.datetime(2026, 3, 11, 10, 0))
    conv_actions.do_set_status(db, maria, [cid], closed=True)

    m = maria.id
    # Friday 16:00 → Tuesday 10:00: 90 h on the clock; open hours: Fri 16–17 and Tue 9–10 (the weekend and
    # the Monday holiday are closed).
    assert facts(db, cid) == [
        ("conversation_opened", None, None, m),
        ("message_received", None, None, m),
        ("first_response", 324000.0, 7200.0, m),
        ("reply", 324000.0, 7200.0, m),
        ("conversation_closed", 325800.0, 9000.0, m),  # opened Fri 16:00, closed Tue 10:30
        ("conversation_reopened", None, None, m),  # the customer wrote again
        ("message_received", None, None, m),
        ("reply", 1200.0, 1200.0, m),  # not a second first response
        ("conversation_closed", 3600.0, 3600.0, m),  # since the reopening at 09:00
    ]
    state = db.dicts("SELECT * FROM report_conversation_state WHERE conversation_id = ?", [cid])[0]
    assert (state["status"], state["waiting_since"]) == ("closed", None)
    assert state["first_response_at"] == dt.datetime(2026, 3, 10, 10, 0)


def test_a_conversation_with_no_reply_keeps_its_customer_waiting(db, ws):
    cid = receive(db, ws, "+14158670002", "Hello?", TUE_9)
    assert facts(db, cid) == [
        ("conversation_opened", None, None, ws["maria"].id),
        ("message_received", None, None, ws["maria"].id),
    ]
    receive(db, ws, "+14158670002", "Anyone there?", TUE_9 + dt.timedelta(hours=1))
    state = db.dicts("SELECT * FROM report_conversation_state WHERE conversation_id = ?", [cid])[0]
    assert state["waiting_since"] == TUE_9 and state["first_response_at"] is None  # the first message started it


def test_a_reassignment_mid_conversation_credits_the_agent_who_answered(db, ws):
    maria, james, ada = ws["maria"], ws["james"], ws["ada"]
    cid = receive(db, ws, "+14158670003", "Do you take my insurance?", TUE_9)
    clock.freeze(TUE_9 + dt.timedelta(minutes=30))
    conv_actions.do_assign(db, ada, [cid], james.id)
    reply(db, james, cid, "Yes, we do.", TUE_9 + dt.timedelta(hours=1))
    assert facts(db, cid) == [
        ("conversation_opened", None, None, maria.id),
        ("message_received", None, None, maria.id),
        ("conversation_assigned", None, None, james.id),
        ("first_response", 3600.0, 3600.0, james.id),
        ("reply", 3600.0, 3600.0, james.id),
    ]
    assert db.scalar("SELECT other_agent_id FROM report_facts WHERE kind = 'conversation_assigned'") == maria.id


def test_automatic_and_campaign_messages_are_not_replies(db, ws):
    cid = receive(db, ws, "+14158670004", "STOP", TUE_9)  # opt-out: the confirmation goes out automatically
    assert [k for k, *_ in facts(db, cid)] == ["conversation_opened", "message_received", "opted_out"]
    assert db.scalar("SELECT count(*) FROM messages WHERE conversation_id = ? AND direction = 'out'", [cid]) == 1
    receive(db, ws, "+14158670004", "START", TUE_9 + dt.timedelta(hours=1))
    assert [k for k, *_ in facts(db, cid, "opted_out", "opted_in")] == ["opted_out", "opted_in"]


def test_delivery_outcomes_become_message_facts_once_each(db, ws):
    from core.providers.base import SendResult
    from tests.core.test_delivery import ScriptedProvider, dispatcher

    cid = receive(db, ws, "+14158670005", "Hi", TUE_9)
    clock.freeze(None)
    f.always_open(db)
    ok = reply(db, ws["maria"], cid, "Hello!", clock.utcnow())
    bad = reply(db, ws["maria"], cid, "Are you there?", clock.utcnow())
    direct = reply(db, ws["maria"], cid, "See you Thursday", clock.utcnow())
    # Each message its own id, whichever sending thread calls first (the three go at once).
    sids = {ok: "SMok1", bad: "SMbad1", direct: "SMdir"}
    provider = ScriptedProvider(lambda msg: SendResult(sids[msg.message_id], "sent"))
    assert dispatcher(db, provider).step()
    now = clock.utcnow()
    callbacks = [
        StatusEvent("SMok1", "delivered", now),
        StatusEvent("SMok1", "delivered", now),  # a duplicate callback changes nothing
        StatusEvent("SMbad1", "undelivered", now, "30003", "Unreachable"),
    ]
    db.write(lambda tx: inbound.apply_statuses(tx, callbacks))
    db.write(lambda tx: inbound.apply_statuses(tx, [StatusEvent("SMok1", "read", now)]))
    db.write(lambda tx: inbound.apply_statuses(tx, [StatusEvent("SMdir", "read", now)]))  # no 'delivered' first
    rows = db.fetchall(
        "SELECT message_id, kind, status, error_code FROM report_facts WHERE message_id IN (?, ?, ?) "
        "AND starts_with(kind, 'message') ORDER BY id",
        [ok, bad, direct],
    )
    assert rows == [
        (ok, "message_sent", None, None),
        (bad, "message_sent", None, None),
        (direct, "message_sent", None, None),
        (ok, "message_delivered", None, None),
        (bad, "message_failed", "undelivered", "30003"),
        (ok, "message_read", None, None),
        (direct, "message_delivered", None, None),  # read implies delivered
        (direct, "message_read", None, None),
    ]


def test_a_retried_transaction_writes_its_facts_once(db, ws):
    attempts = []
    original = inbound.apply_inbound

    def flaky(tx):
        event = InboundEvent("SMflaky", "sms", "+14158670006", ws["sender"]["phone"], None, "Hi", TUE_9)
        result = original(tx, event, ws["sender"], [])
        attempts.append(1)
        if len(attempts) == 1:
            raise duckdb.TransactionException("Conflict on tuple deletion")  # DuckDB's write-write conflict
        return result

    clock.freeze(TUE_9)
    mid = db.write(flaky)
    assert len(attempts) == 2
    assert db.scalar("SELECT count(*) FROM report_facts WHERE message_id = ?", [mid]) == 1
    assert db.scalar("SELECT count(*) FROM report_facts WHERE kind = 'conversation_opened'") == 1


def test_a_failing_listener_after_commit_loses_no_fact(db, ws):
    def broken(event):
        raise RuntimeError("listener bug")

    db.subscribe(events.MESSAGE_RECEIVED, broken)
    cid = receive(db, ws, "+14158670007", "Hi", TUE_9)
    assert [k for k, *_ in facts(db, cid)] == ["conversation_opened", "message_received"]


def test_a_crash_between_commit_and_listeners_keeps_the_facts_exactly_once(tmp_path):
    """The process dies in the first after-commit listener: the facts committed with the change."""
    path = tmp_path / "crash.duckdb"
    script = textwrap.dedent(
        f"""
        import datetime as dt, os
        from core import events, schema, settings
        from core.actions import inbound
        from core.actions.users import do_create_workspace
        from core.db import Database
        from core.providers.base import InboundEvent
        from tests import factories as f
        db = Database({str(path)!r})
        schema.migrate(db)
        do_create_workspace(db, name="Crash", demo=False)
        settings.ensure_defaults(db)
        sid = f.add_sender(db)
        sender = db.dicts("SELECT * FROM senders WHERE id = ?", [sid])[0]
        db.subscribe(events.MESSAGE_RECEIVED, lambda event: os._exit(3))  # dies after COMMIT
        event = InboundEvent("SMcrash", "sms", "+14158670008", sender["phone"], None, "Hi", dt.datetime(2026, 3, 10, 9))
        db.write(lambda tx: inbound.apply_inbound(tx, event, sender, []))
        os._exit(0)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=str(schema.__file__).rsplit("/core/", 1)[0])
    assert done.returncode == 3, "the process died in the listener, after the commit"
    db = Database(path)
    try:
        assert db.scalar("SELECT count(*) FROM messages WHERE provider_message_id = 'SMcrash'") == 1
        assert db.fetchall("SELECT kind, count(*) FROM report_facts GROUP BY kind ORDER BY kind") == [
            ("conversation_opened", 1),
            ("message_received", 1),
        ]
    finally:
        db.close()


def test_the_backfill_derives_what_the_live_writer_wrote(db, ws):
    test_a_reopened_conversation_counts_waits_across_a_weekend_and_a_holiday(db, ws)
    test_a_reassignment_mid_conversation_credits_the_agent_who_answered(db, ws)
    test_a_conversation_with_no_reply_keeps_its_customer_waiting(db, ws)
    columns = "kind, occurred_at, conversation_id, message_id, agent_id, started_at, seconds, business_seconds"
    kinds = "kind NOT IN ('message_sent', 'message_delivered', 'message_read', 'message_failed')"
    live = db.fetchall(f"SELECT {columns} FROM report_facts WHERE {kinds} ORDER BY ALL")
    live_state = db.fetchall("SELECT * FROM report_conversation_state ORDER BY ALL")
    first = db.write(reporting_backfill.rebuild)
    assert db.fetchall(f"SELECT {columns} FROM report_facts WHERE {kinds} ORDER BY ALL") == live
    assert db.fetchall("SELECT * FROM report_conversation_state ORDER BY ALL") == live_state
    assert db.scalar("SELECT DISTINCT source FROM report_facts") == "backfill"
    assert db.write(reporting_backfill.rebuild) == first  # idempotent


def test_a_held_message_an_opt_out_stops_is_a_failure_live_and_rebuilt(db, ws):
    cid = receive(db, ws, "+14158670001", "Are you open Saturday?", FRI_16)
    held = reply(db, ws["maria"], cid, "We open again on Tuesday", dt.datetime(2026, 3, 6, 18, 0))
    assert db.scalar("SELECT status FROM messages WHERE id = ?", [held]) == "queued"  # after hours: held
    receive(db, ws, "+14158670001", "STOP", dt.datetime(2026, 3, 6, 19, 0))
    failed = (
        "SELECT occurred_at, message_id, agent_id, status, error_reason FROM report_facts "
        "WHERE kind = 'message_failed' ORDER BY ALL"
    )
    expected = [(dt.datetime(2026, 3, 6, 19, 0), held, ws["maria"].id, "not_sent", "Contact opted out")]
    assert db.fetchall(failed) == expected
    db.write(reporting_backfill.rebuild)
    assert db.fetchall(failed) == expected


def test_the_migration_backfills_a_workspace_that_had_no_facts(tmp_path):
    db = Database(tmp_path / "old.duckdb")
    before = [m.version for m in schema.MIGRATIONS if m.version < 8]
    schema.migrate(db, target=before[-1])
    sid = f.add_sender(db)
    contact = f.add_contact(db, name="Zoë")
    cid = f.add_conversation(db, contact_id=contact, sender_id=sid, owner_id=None, last_inbound_at=TUE_9)

    def agent_reply(tx):
        tx.execute(
            "INSERT INTO users (id, username, display_name, role, password_hash, created_at) "
            "VALUES (7, 'ana', 'Ana', 'standard', 'x', ?)",
            [TUE_9],
        )
        tx.execute(
            "INSERT INTO messages (conversation_id, contact_id, sender_id, direction, author_id, body, status, "
            "created_at, status_at) VALUES (?, ?, ?, 'out', 7, 'Hello Zoë', 'delivered', ?, ?)",
            [cid, contact, sid, TUE_9 + dt.timedelta(minutes=15), TUE_9 + dt.timedelta(minutes=16)],
        )

    db.write(agent_reply)
    schema.migrate(db)
    assert db.fetchall(
        "SELECT kind, seconds, agent_id, source FROM report_facts WHERE kind IN ('first_response', 'reply', "
        "'message_delivered') ORDER BY kind"
    ) == [
        ("first_response", 900.0, 7, "backfill"),
        ("message_delivered", None, 7, "backfill"),
        ("reply", 900.0, 7, "backfill"),
    ]
    db.close()


def test_business_seconds_counts_only_open_hours():
    hours = settings.business_hours_from_json(
        {"timezone": "America/New_York", "weekly": {"0": [["09:00", "12:00"], ["13:00", "17:00"]]}, "holidays": []}
    )
    mon = dt.datetime(2026, 3, 2, 14, 0)  # Monday 09:00 in New York (EST, UTC-5)
    starts = [mon, mon + dt.timedelta(hours=2), mon, mon]
    ends = [mon + dt.timedelta(hours=4), mon + dt.timedelta(hours=5), mon + dt.timedelta(days=7), mon]
    # 09–13 → 3 h (lunch closed); 11–14 → 1 h + 1 h; empty → 0; seven days later is 10:00 in New York
    # (clocks went forward on Sunday March 8), so the week holds one whole Monday (7 h) and 09–10 (1 h).
    assert list(reporting.business_seconds(starts, ends, hours)) == [10800.0, 7200.0, 28800.0, 0.0]


def test_an_event_without_its_ids_records_nothing_and_never_fails_the_write(db, ws):
    from core import events as names

    before = db.scalar("SELECT count(*) FROM events")
    db.write(lambda tx: tx.publish(names.MESSAGE_RECEIVED, conversation_id=None, contact_name="x"))
    db.write(lambda tx: tx.publish(names.CONTACT_OPTED_OUT, source="provider"))
    db.write(lambda tx: tx.publish(names.CONVERSATION_CLOSED, conversation_id=424242))
    assert db.scalar("SELECT count(*) FROM report_facts") == 0
    assert db.scalar("SELECT count(*) FROM events") == before + 3  # the writes themselves went through
