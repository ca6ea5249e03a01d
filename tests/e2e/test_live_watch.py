"""An open conversation stays live without redrawing itself while nothing changes.

The browser asks the conversation's version every two seconds (``/api/conversations/<id>/version``)
and reruns the thread's fragment only when it moved (``pages/live_watch.py``). Read from the
Streamlit websocket itself: while the conversation is idle the tab asks no rerun at all
(``BackMsg.rerun_script``), neither of the thread nor of the sidebar's notifications (which ask
``/api/notifications/version`` the same way: issue 18, ten idle tabs took the CPU webhooks
needed); a customer's reply then reruns the thread, and the reply shows.
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
    post_twilio_inbound,
    record_loads,
    record_requests,
    record_reruns,
    serve,
    toast,
    wait_started_afresh,
)

PHONE = "+14158670991"
REPLY = "Quiet until now: does the thread notice me?"
IDLE_S = 9


@pytest.fixture(scope="module")
def parley(tmp_path_factory, demo_template):
    def prepare(db):
        from tests import factories as f

        ids = demo_ids(db)
        contact = f.add_contact(db, name="Quinn Quiet", phone=PHONE)
        conv = f.add_conversation(
            db, contact_id=contact, sender_id=ids["sender_sms"], owner_id=ids["user_maria"], inbound_body="Hello"
        )
        f.mark_read(db, ids["user_maria"], conv)
        sms_number = db.scalar("SELECT phone FROM senders WHERE id = ?", [ids["sender_sms"]])
        return {"conv": conv, "sms_number": sms_number}

    with serve(tmp_path_factory, demo_template, prepare) as running:
        yield running


def test_the_thread_reruns_only_when_the_conversation_changed(parley, browser):
    base, ids = parley.base, parley.ids
    context = browser.new_context(viewport=VIEWPORT_DEFAULT)
    context.set_default_navigation_timeout(PAGE_MS)
    CONTEXTS_TO_CLOSE.append(context)
    page = context.new_page()
    sign_in(page, base, "maria")

    reruns = record_reruns(page)  # (when, fragment id; "" for a whole-page run)
    version_asks = record_requests(page, f"/api/conversations/{ids['conv']}/version")
    notify_asks = record_requests(page, "/api/notifications/version?user=")
    page.goto(base + f"/conversation?id={ids['conv']}")
    page.get_by_role("heading", name="Quinn Quiet").wait_for(timeout=PAGE_MS)
    expect(page.locator("[data-testid=stChatMessage]", has_text="Hello")).to_be_visible(timeout=PAGE_MS)
    page.wait_for_timeout(3_000)  # the first page run and its follow-ups are over

    idle_from = time.monotonic()
    page.wait_for_timeout(IDLE_S * 1000)
    idle_to = time.monotonic()
    idle_fragments = {fid for at, fid in reruns if idle_from <= at <= idle_to}
    asks = [at for at in version_asks if idle_from <= at <= idle_to]
    assert len(asks) >= 3, f"the page asked the version {len(asks)} times in {IDLE_S} s"
    asks = [at for at in notify_asks if idle_from <= at <= idle_to]
    assert len(asks) >= 3, f"the notifications asked their version {len(asks)} times in {IDLE_S} s"
    assert idle_fragments == set(), f"fragments rerun while nothing changed: {sorted(idle_fragments)}"

    post_twilio_inbound(base, PHONE, ids["sms_number"], REPLY)
    expect(page.locator("[data-testid=stChatMessage]", has_text=REPLY)).to_be_visible(timeout=LIVE_MS + SLACK_MS)
    after = {fid for at, fid in reruns if at > idle_to}
    assert after, "the reply showed without a rerun of the thread's fragment"
    context.close()


def test_signing_out_in_one_tab_shows_the_sign_in_form_in_the_other(parley, browser):
    """The other tab of the same browser has no ticking fragment to find out: its notifications
    watcher sees the cookie it was answered with go away (401 after a 200) and reruns once."""
    base = parley.base
    context = browser.new_context(viewport=VIEWPORT_DEFAULT)
    context.set_default_navigation_timeout(PAGE_MS)
    CONTEXTS_TO_CLOSE.append(context)
    first = context.new_page()
    sign_in(first, base, "james")
    second = context.new_page()
    with second.expect_response(
        lambda r: "/api/notifications/version?user=" in r.url and r.status == 200, timeout=PAGE_MS
    ):
        second.goto(base + "/inbox")
    expect(second.get_by_role("button", name="Sign out", exact=True)).to_be_visible(timeout=PAGE_MS)

    first_loads, second_loads = record_loads(first), record_loads(second)
    first.get_by_role("button", name="Sign out", exact=True).click()
    expect(first.get_by_role("button", name="Sign in")).to_be_visible(timeout=PAGE_MS)
    expect(second.get_by_role("button", name="Sign in")).to_be_visible(timeout=LIVE_MS + SLACK_MS)
    expect(second.get_by_role("button", name="Sign out", exact=True)).to_have_count(0)
    wait_started_afresh(first, first_loads)  # both tabs drop the cookie and start afresh at /
    wait_started_afresh(second, second_loads)
    assert [u.removeprefix(base) for u in first_loads + second_loads] == ["/", "/"]
    context.close()


def test_a_tab_just_signed_in_toasts_news_through_its_watcher(parley, browser):
    """Right after the sign-in form the tab's Streamlit session has no cookie (its websocket opened
    before the cookie was set), so notices come as Streamlit toasts from the sidebar's fragment,
    which nothing ticks any more: the watcher sees maria's version move and reruns it."""
    base, ids = parley.base, parley.ids
    context = browser.new_context(viewport=VIEWPORT_DEFAULT)
    context.set_default_navigation_timeout(PAGE_MS)
    CONTEXTS_TO_CLOSE.append(context)
    page = context.new_page()
    sign_in(page, base, "maria")  # no reload after it
    with page.expect_response(lambda r: "/api/notifications/version?user=" in r.url and r.status == 200):
        pass  # the watcher runs with the cookie the browser now holds
    post_twilio_inbound(base, PHONE, ids["sms_number"], "Still there? A second question.")
    toast(page, "New message from Quinn Quiet.", LIVE_MS + SLACK_MS)
    context.close()
