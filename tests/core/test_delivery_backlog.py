"""How far behind Parley is, as /healthz and the admin's Webhook review page read it: webhooks not
applied yet, sends held by business or quiet hours, retrying, waiting their sender's turn, and
failures in the last 24 hours; each case built by hand, each answer written out."""

from __future__ import annotations

import datetime as dt

from core import clock, ingest_apply
from core.delivery_outcomes import backlog
from tests import factories as f

NOW = dt.datetime(2026, 12, 4, 15, 0)


def test_the_backlog_by_reason_with_the_age_of_each_oldest(db, make_user):
    clock.freeze(NOW)
    maria = make_user("maria")
    sender = f.add_sender(db)
    contact = f.add_contact(db, name="Una Proof")

    def out(status="queued", at=NOW):
        return f.add_message(
            db, contact_id=contact, sender_id=sender, body="Hi", status=status, author_id=maria.id, at=at
        )

    def queued(due_at, *, created_at=NOW, **kw):
        f.add_outbox(db, message_id=out(at=created_at), sender_id=sender, due_at=due_at, created_at=created_at, **kw)

    tomorrow = NOW + dt.timedelta(hours=17)
    for hours in (2, 1):  # written outside business hours: wait for them to open
        queued(tomorrow, created_at=NOW - dt.timedelta(hours=hours), queued_reason="business_hours")
    queued(NOW + dt.timedelta(hours=3), created_at=NOW - dt.timedelta(minutes=5), queued_reason="quiet_hours")
    for minutes in (4, 1):  # the provider answered 500: retried later
        queued(NOW + dt.timedelta(minutes=1), retry_since=NOW - dt.timedelta(minutes=minutes))
    for seconds in (20, 5, 0):  # due now, waiting for the sender's rate limit
        queued(NOW - dt.timedelta(seconds=seconds), created_at=NOW - dt.timedelta(minutes=1))
    queued(NOW, state="claimed")
    queued(NOW, state="interrupted")
    queued(NOW, state="sent")  # settled: not counted
    for status, hours_ago in (("failed", 23), ("undelivered", 2), ("failed", 1), ("failed", 25), ("delivered", 1)):
        out(status, at=NOW - dt.timedelta(hours=hours_ago))
    for seconds in (90, 30):
        f.add_webhook(db, received_at=NOW - dt.timedelta(seconds=seconds))
    f.add_webhook(db, received_at=NOW - dt.timedelta(days=2), state="error")  # kept for review: not waiting

    assert backlog(db) == {
        "due": 6,
        "retrying": 2,
        "oldest_retry_seconds": 240.0,
        "in_flight": 1,
        "checking": 0,
        "interrupted": 1,
        "held_business_hours": 2,
        "oldest_business_hours_seconds": 7200.0,
        "held_quiet_hours": 1,
        "oldest_quiet_hours_seconds": 300.0,
        "held_later": 0,
        "waiting_turn": 3,
        "oldest_turn_seconds": 20.0,
        "failed_24h": 3,
    }
    assert ingest_apply.backlog(db) == {
        "pending": 2,
        "oldest_age_seconds": 90.0,
        "kept_for_review": 1,
        "items_rejected": 0,
    }


def test_nothing_waiting_is_all_zero(db):
    clock.freeze(NOW)
    assert backlog(db) == {
        "due": 0,
        "retrying": 0,
        "oldest_retry_seconds": 0.0,
        "in_flight": 0,
        "checking": 0,
        "interrupted": 0,
        "held_business_hours": 0,
        "oldest_business_hours_seconds": 0.0,
        "held_quiet_hours": 0,
        "oldest_quiet_hours_seconds": 0.0,
        "held_later": 0,
        "waiting_turn": 0,
        "oldest_turn_seconds": 0.0,
        "failed_24h": 0,
    }
