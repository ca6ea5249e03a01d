"""Scenario 2: a customer's reply arrives while the agent is looking; it shows by itself.

Maria has Paula's conversation open in one tab and My Inbox in another (same
browser, same sign-in). Paula's reply is posted by the test the way Twilio
posts it: a form signed with ``X-Twilio-Signature`` to ``/webhooks/twilio``
(the server runs with test-only Twilio credentials). Within 5 s (plus what a
loaded machine adds; the measured time is printed) the reply is in the open
conversation and at the top of My Inbox with its text, and the tab showing
the conversation does not announce it as news: no "New message from Paula
Proof." toast there, and its unread count does not go up, since she is
reading it.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.scenario import (
    LIVE_MS,
    PAGE_MS,
    SLACK_MS,
    TOAST_LOG_JS,
    demo_ids,
    list_row,
    open_as,
    post_twilio_inbound,
    serve,
    settled_count,
    toasts_seen,
)

PAULA_PHONE = "+14158670990"
REPLY = "Running 10 minutes late, sorry! Is that OK?"


@pytest.fixture(scope="module")
def parley(tmp_path_factory, demo_template):
    def prepare(db):
        from tests import factories as f

        ids = demo_ids(db)
        paula = f.add_contact(db, name="Paula Proof", phone=PAULA_PHONE)
        conv = f.add_conversation(
            db, contact_id=paula, sender_id=ids["sender_sms"], owner_id=ids["user_maria"], inbound_body="Hi there"
        )
        f.mark_read(db, ids["user_maria"], conv)
        sms_number = db.scalar("SELECT phone FROM senders WHERE id = ?", [ids["sender_sms"]])
        return {"conv": conv, "sms_number": sms_number}

    with serve(tmp_path_factory, demo_template, prepare) as running:
        yield running


def test_reply_shows_in_the_open_conversation_and_the_inbox_without_being_announced(parley, browser):
    base, ids = parley.base, parley.ids
    conversation = open_as(browser, base, "maria", f"/conversation?id={ids['conv']}")
    conversation.get_by_role("heading", name="Paula Proof").wait_for(timeout=PAGE_MS)
    inbox = conversation.context.new_page()  # her second tab, same browser and sign-in
    inbox.add_init_script(TOAST_LOG_JS)
    inbox.goto(base + "/inbox")
    paula_row = list_row(inbox, "Paula Proof", "My Inbox")
    paula_row.wait_for(timeout=PAGE_MS)
    conversation.bring_to_front()
    count = settled_count(conversation)
    expect(conversation.locator("[data-testid=stChatMessage]", has_text=REPLY)).to_have_count(0)

    post_twilio_inbound(base, PAULA_PHONE, ids["sms_number"], REPLY)
    started = time.monotonic()
    bubble = conversation.locator("[data-testid=stChatMessage]", has_text=REPLY)
    expect(bubble).to_be_visible(timeout=LIVE_MS + SLACK_MS)
    in_thread = time.monotonic() - started
    # My Inbox: Paula's conversation is the newest, its line is her reply.
    first_row = inbox.locator("[role=listbox][aria-label^='My Inbox'] li.row").first
    expect(first_row.locator(".who")).to_have_text("Paula Proof", timeout=LIVE_MS + SLACK_MS)
    expect(first_row).to_contain_text(REPLY, timeout=LIVE_MS + SLACK_MS)
    in_inbox = time.monotonic() - started
    print(f"reply shown after {in_thread:.1f} s in the conversation, {in_inbox:.1f} s in My Inbox")

    # Not announced where it is on screen; she is reading it, so it is not counted unread.
    assert settled_count(conversation) == count
    assert not [t for t in toasts_seen(conversation) if "Paula Proof" in t], toasts_seen(conversation)
    expect(conversation.get_by_text(re.compile("New message from Paula Proof"))).to_have_count(0)
    conversation.context.close()
