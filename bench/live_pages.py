"""Agents' Conversation pages open in chromium while a bench posts webhooks: each page watches its
thread live, so the burst is measured with the pages' own polling load on the server."""

from __future__ import annotations

import time

from scripts.chromium import CHROMIUM, CHROMIUM_ARGS


def open_live_pages(port: int, count: int, conversations: dict[str, list[int]]):
    """``count`` agent Conversation pages in chromium, each signed in and showing its thread."""
    from playwright.sync_api import sync_playwright

    base = f"http://127.0.0.1:{port}"
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    agents = list(conversations)
    pages = []
    try:
        for n in range(count):
            agent = agents[n % len(agents)]
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(180_000)  # a busy 2-core machine serves the first page slowly
            page.goto(base + "/")
            page.get_by_label("Username").fill(agent)
            page.get_by_label("Password", exact=True).fill("parley-demo")
            page.get_by_role("button", name="Sign in").click()
            page.get_by_text("My Inbox").first.wait_for()
            deadline = time.time() + 30
            while not any(c["name"] == "parley_session" for c in context.cookies(base)) and time.time() < deadline:
                page.wait_for_timeout(100)
            cid = conversations[agent][(n // len(agents)) % len(conversations[agent])]
            page.goto(f"{base}/conversation?id={cid}")
            page.locator('[data-testid="stChatMessage"]').first.wait_for()
            pages.append(page)
    except BaseException:
        browser.close()
        pw.stop()
        raise
    return pw, browser, pages
