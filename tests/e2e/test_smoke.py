"""A real browser: sign in, survive a reload, open a conversation, reply and see it tick."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in


def wait_for_reload(page, marker: str, timeout: float = 30) -> None:
    """Wait until the page has loaded afresh: the ``marker`` set on the old document is gone."""
    deadline = time.time() + timeout
    while True:
        try:
            if page.evaluate(f"window.{marker} === undefined"):
                return
        except PlaywrightError:  # the old document went away mid-call: the new one is loading
            pass
        assert time.time() < deadline, "the page never reloaded"
        page.wait_for_timeout(100)


def test_sign_in_survives_reload_and_sign_out_ends_it(parley, page):
    base, _, _ = parley
    sign_in(page, base, "maria")  # returns once the browser holds the session cookie
    expect(page.get_by_text("María López").first).to_be_visible()
    page.reload()
    page.get_by_text("My Inbox").first.wait_for(timeout=30_000)  # still signed in: the cookie worked
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)
    page.evaluate("window.parleyBeforeSignOut = 1")
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
    # The browser clears the cookie (a request of its own), then loads "/" afresh.
    deadline = time.time() + 30
    while any(c["name"] == "parley_session" for c in page.context.cookies(base)):
        assert time.time() < deadline, "sign-out did not clear the session cookie"
        page.wait_for_timeout(100)
    wait_for_reload(page, "parleyBeforeSignOut")
    page.wait_for_load_state("load")
    page.reload()
    page.get_by_role("button", name="Sign in").wait_for(timeout=30_000)  # and the cookie is gone
    expect(page.get_by_text("My Inbox")).to_have_count(0)


def test_wrong_password_shows_one_sentence(parley, page):
    base, _, _ = parley
    page.goto(base + "/")
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password", exact=True).fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Wrong username or password.")).to_be_visible(timeout=15_000)
    expect(page.get_by_text("Traceback")).to_have_count(0)


def test_reply_goes_from_queued_to_delivered_live(parley, page):
    base, work, ids = parley
    sign_in(page, base, "maria")
    page.goto(f"{base}/conversation?id={ids['maria_sms']}")
    page.get_by_placeholder("Write a message…").wait_for(timeout=30_000)
    text = "E2E hello from Maria"
    page.get_by_placeholder("Write a message…").fill(text)
    page.get_by_role("button", name=re.compile("Send")).click()
    bubble = page.locator("[data-testid=stChatMessage]", has_text=text)
    expect(bubble).to_be_visible(timeout=15_000)
    # The simulator (set to fail nothing here) accepts it and reports back over the webhook route;
    # the thread updates by itself: sent, then delivered (SMS has no "read").
    expect(bubble.get_by_text("✓✓ Delivered")).to_be_visible(timeout=30_000)
    page.screenshot(path=str(work / "conversation.png"), full_page=True)
