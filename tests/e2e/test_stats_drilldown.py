"""In a real browser: a supervisor clicks a bar of a Stats chart and gets the conversations behind it."""

from __future__ import annotations

from playwright.sync_api import expect


def test_one_click_on_a_bar_lists_its_conversations(parley, page):
    base, _work, _ids = parley
    page.goto(base + "/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password", exact=True).fill("parley-demo")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Team Inbox").first.wait_for(timeout=30_000)
    deadline_ms = 15_000  # the browser trades the sign-in ticket for the cookie just after the first run
    while not any(c["name"] == "parley_session" for c in page.context.cookies(base)) and deadline_ms > 0:
        page.wait_for_timeout(100)
        deadline_ms -= 100
    page.goto(base + "/stats-workload")
    bar = page.locator(".js-plotly-plot").first.locator("g.point path").first
    bar.wait_for(timeout=60_000)
    behind = page.get_by_text("Conversations behind:").first
    deadline_ms = 60_000
    while not behind.is_visible() and deadline_ms > 0:
        box = bar.bounding_box()  # read again each time: the chart lays itself out after it appears
        # Plotly's drag layer sits over the bars and takes the pointer, as it does for a person's click.
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] - 3)
        for _ in range(150):  # a rerun on a loaded machine can take seconds
            if behind.is_visible():
                break
            page.wait_for_timeout(100)
        deadline_ms -= 15_000
    expect(behind).to_be_visible()
    expect(page.get_by_text("Opening one is read-only for supervisors").first).to_be_visible()
