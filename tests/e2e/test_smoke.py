"""A real browser: sign in, survive a reload, open a conversation, reply and see it tick."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from tests.e2e.conftest import sign_in


def test_sign_in_survives_reload_and_sign_out_ends_it(parley, page):
    base, _, _ = parley
    sign_in(page, base, "maria")
    expect(page.get_by_text("María López").first).to_be_visible()
    page.wait_for_timeout(1500)  # the cookie hand-off runs in the browser after sign-in
    page.reload()
    page.get_by_text("My Inbox").first.wait_for(timeout=30_000)  # still signed in: the cookie worked
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
    # The browser clears the cookie just after the signed-out run (a request of its own), then
    # reloads the page itself: wait for both, so our reload does not cut them short.
    deadline = time.time() + 15
    while any(c["name"] == "parley_session" for c in page.context.cookies(base)):
        assert time.time() < deadline, "sign-out did not clear the session cookie"
        page.wait_for_timeout(100)
    page.wait_for_timeout(500)
    page.wait_for_load_state("load")
    page.reload()
    page.get_by_role("button", name="Sign in").wait_for(timeout=30_000)  # and the cookie is gone


def test_wrong_password_shows_one_sentence(parley, page):
    base, _, _ = parley
    page.goto(base + "/")
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password", exact=True).fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Wrong username or password.")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("Traceback")).to_have_count(0)


def test_reply_goes_from_queued_to_sent_live(parley, page):
    base, work, ids = parley
    sign_in(page, base, "maria")
    page.goto(f"{base}/conversation?id={ids['maria_sms']}")
    page.get_by_placeholder("Write a message…").wait_for(timeout=30_000)
    text = "E2E hello from Maria"
    page.get_by_placeholder("Write a message…").fill(text)
    page.get_by_role("button", name=re.compile("Send")).click()
    bubble = page.locator("[data-testid=stChatMessage]", has_text=text)
    expect(bubble).to_be_visible(timeout=15_000)
    # The simulator accepts it and reports back over the webhook route; the thread updates by itself.
    # Like a carrier, it fails the odd message (e.g. 30003, unreachable handset): that is a report too.
    expect(bubble.get_by_text(re.compile(r"✓✓ Delivered|Read|⚠ (Undelivered|Failed) — .+"))).to_be_visible(
        timeout=30_000
    )
    page.screenshot(path=str(work / "conversation.png"), full_page=True)
