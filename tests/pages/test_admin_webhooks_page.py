"""Webhook review (admins): kept webhooks with their reason, and a retry of the selected ones."""

from __future__ import annotations

import pytest

from core import clock
from tests.pages.admin_page import errors, toasts

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
    assert list(at.dataframe[0].value["Reason"]) == [
        "No sender for +14155559999",
        "Could not be applied: KeyError: 'x'",
    ]
    at.session_state["webhooks.table"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert [c.value for c in at.code] == ["MessageSid=SM1&From=%2B14158670001"]
    at.button(key="webhooks.retry").click().run()
    assert toasts(at) == ["1 webhooks sent back to be applied."]
    assert demo_db.fetchone("SELECT state, retries FROM webhook_inbox WHERE id = ?", [first]) == ("pending", 1)
