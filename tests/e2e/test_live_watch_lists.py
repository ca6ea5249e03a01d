"""An open My Inbox stays live without redrawing its list while nothing changes.

The browser asks the inbox's version every two seconds (``/api/inbox/version?owner=<id>``) and
reruns the list's fragment only when it moved (``pages/live_watch.py``). Read from the Streamlit
websocket itself: while the inbox is idle the tab asks reruns (``BackMsg.rerun_script``) of no
fragment but the sidebar's notifications; a customer's reply then reruns the list, and its row
shows the reply.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in
from tests.e2e.scenario import (
    CONTEXTS_TO_CLOSE,
    LIVE_MS,
    PAGE_MS,
    SLACK_MS,
    VIEWPORT_DEFAULT,
    demo_ids,
    list_row,
    post_twilio_inbound,
    record_requests,
    record_reruns,
    serve,
)

PHONE = "+14158670992"
REPLY = "Is my inbox row awake? Asking for a friend."
IDLE_S = 9


@pytest.fixture(scope="module")
def parley(tmp_path_factory, demo_template):
    def prepare(db):
        from tests import factories as f

        ids = demo_ids(db)
        contact = f.add_contact(db, name="Ivy Idle", phone=PHONE)
        conv = f.add_conversation(
            db, contact_id=contact, sender_id=ids["sender_sms"], owner_id=ids["user_maria"], inbound_body="Hi there"
        )
        f.mark_read(db, ids["user_maria"], conv)
        sms_number = db.scalar("SELECT phone FROM senders WHERE id = ?", [ids["sender_sms"]])
        return {"conv": conv, "sms_number": sms_number, "maria": ids["user_maria"]}

    with serve(tmp_path_factory, demo_template, prepare) as running:
        yield running


def test_my_inbox_reruns_its_list_only_when_the_inbox_changed(parley, browser):
    base, ids = parley.base, parley.ids
    context = browser.new_context(viewport=VIEWPORT_DEFAULT)
    context.set_default_navigation_timeout(PAGE_MS)
    CONTEXTS_TO_CLOSE.append(context)
    page = context.new_page()
    sign_in(page, base, "maria")

    reruns = record_reruns(page)  # (when, fragment id; "" for a whole-page run)
    version_asks = record_requests(page, "/api/inbox/version")
    page.goto(base + "/inbox")
    row = list_row(page, "Ivy Idle", "My Inbox")
    row.wait_for(timeout=PAGE_MS)
    expect(row).to_contain_text("Hi there", timeout=PAGE_MS)
    page.wait_for_timeout(3_000)  # the first page run and its follow-ups are over

    idle_from = time.monotonic()
    page.wait_for_timeout(IDLE_S * 1000)
    idle_to = time.monotonic()
    idle_fragments = {fid for at, fid in reruns if idle_from <= at <= idle_to}
    asks = [at for at in version_asks if idle_from <= at <= idle_to]
    # The sidebar's notifications fragment ticks every two seconds; the list's must not.
    assert len(idle_fragments) <= 1, f"fragments rerun while nothing changed: {sorted(idle_fragments)}"
    assert "" not in idle_fragments, "the whole page reran while nothing changed"
    assert len(asks) >= 3, f"the page asked the inbox's version {len(asks)} times in {IDLE_S} s"

    post_twilio_inbound(base, PHONE, ids["sms_number"], REPLY)
    first_row = page.locator("[role=listbox][aria-label^='My Inbox'] li.row").first
    expect(first_row.locator(".who")).to_have_text("Ivy Idle", timeout=LIVE_MS + SLACK_MS)
    expect(first_row).to_contain_text(REPLY, timeout=LIVE_MS + SLACK_MS)
    after = {fid for at, fid in reruns if at > idle_to}
    assert after - idle_fragments, "the reply showed without a rerun of the list's fragment"
    context.close()
