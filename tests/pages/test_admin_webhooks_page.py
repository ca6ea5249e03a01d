"""Webhook review (admins): how far behind Parley is, then kept webhooks with their reason, and a retry
of the selected ones."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock
from tests import factories as f
from tests.pages.admin_page import errors, plain, toasts

PAGE = "pages/admin_webhooks.py"
pytestmark = pytest.mark.usefixtures("navigation_only")


def keep(db, state, error):
    return db.write(
        lambda tx: tx.scalar(
            "INSERT INTO webhook_inbox (received_at, provider, state, url, content_type, body, error) "
            "VALUES (?, 'twilio', ?, '/webhooks/twilio', 'application/x-www-form-urlencoded', ?, ?) RETURNING id",
            [clock.utcnow(), state, b"MessageSid=SM1&From=%2B14158670001", error],
        )
    )


def test_kept_webhooks_and_retry(app_as, demo_db):
    first = keep(demo_db, "error", "Could not be applied: KeyError: 'x'")
    keep(demo_db, "unknown_sender", "No sender for +14155559999")
    at = app_as("admin", PAGE)
    assert not errors(at)
    assert list(at.dataframe[1].value["Reason"]) == [
        "No sender for +14155559999",
        "Could not be applied: KeyError: 'x'",
    ]
    at.session_state["webhooks.table"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert [c.value for c in at.code] == ["MessageSid=SM1&From=%2B14158670001"]
    at.button(key="webhooks.retry").click().run()
    assert toasts(at) == ["1 webhook sent back to be applied."]
    assert demo_db.fetchone("SELECT state, retries FROM webhook_inbox WHERE id = ?", [first]) == ("pending", 1)


def test_the_backlog_by_reason_with_its_oldest_in_the_admins_zone(app_as, demo_db):
    now = dt.datetime(2030, 1, 7, 15, 0)  # a Monday; 9:00 AM in Chicago
    clock.freeze(now)
    demo_db.write(lambda tx: tx.execute("DELETE FROM outbox; DELETE FROM webhook_inbox"))
    demo_db.write(lambda tx: tx.execute("UPDATE users SET timezone = 'America/Chicago' WHERE username = 'admin'"))
    sender = demo_db.scalar("SELECT min(id) FROM senders")
    contact = f.add_contact(demo_db, name="Una Proof")

    def out(status="queued", ago=dt.timedelta(0)):
        return f.add_message(demo_db, contact_id=contact, sender_id=sender, body="Hi", status=status, at=now - ago)

    for seconds in (90, 30):
        f.add_webhook(demo_db, received_at=now - dt.timedelta(seconds=seconds))
    f.add_outbox(
        demo_db,
        message_id=out(),
        sender_id=sender,
        due_at=now + dt.timedelta(hours=23),
        created_at=now - dt.timedelta(hours=2),
        queued_reason="business_hours",
    )
    f.add_outbox(
        demo_db,
        message_id=out(),
        sender_id=sender,
        due_at=now + dt.timedelta(minutes=1),
        retry_since=now - dt.timedelta(minutes=4),
    )
    out("failed", ago=dt.timedelta(hours=1))

    at = app_as("admin", PAGE)
    assert not errors(at)
    table = at.dataframe[0].value
    assert table.to_dict("records") == [
        {"Waiting": "Webhooks received, not applied yet", "Count": 2, "Oldest since": "8:58 AM", "Waited": "1 min"},
        {"Waiting": "Sends waiting for business hours", "Count": 1, "Oldest since": "7:00 AM", "Waited": "2 h 0 min"},
        {"Waiting": "Sends waiting for the recipient's quiet hours", "Count": 0, "Oldest since": "", "Waited": ""},
        {
            "Waiting": "Sends retrying after a provider failure",
            "Count": 1,
            "Oldest since": "8:56 AM",
            "Waited": "4 min",
        },
        {"Waiting": "Sends due, waiting their turn (rate limit)", "Count": 0, "Oldest since": "", "Waited": ""},
        {"Waiting": "Sends failed in the last 24 hours", "Count": 1, "Oldest since": "", "Waited": ""},
    ]
    assert "Times in America/Chicago. The same counts are in /healthz for monitoring." in [
        plain(c.value) for c in at.caption
    ]
