"""Scenario 4: the admin assigns two conversations to Maria; her tab in the background hears it.

The background tab is a REAL one: Maria's My Inbox is the first page of her
browser context, and a second page of the same context (Contacts) is opened
and brought to the front (``bring_to_front``), as a person opens another tab.
Nothing patches ``document.hidden``. One limit of the machine, not of the
test: Debian's chromium in headless mode keeps reporting every tab as
visible (``document.visibilityState`` stays "visible" for the tab behind, and
a minimised window changes nothing either); the test prints what the
background tab reports. What it proves is what Maria would see: the tab she
is not looking at, which gets no input and no navigation, shows the new
count in its title and the toasts, from the event stream alone.

The admin assigns Sven's and Tara's conversations (Aiko's) to Maria from
Team Inbox in one go: tick both, Assign…, choose Maria, Assign.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.scenario import (
    LIVE_MS,
    PAGE_MS,
    SLACK_MS,
    choose,
    demo_ids,
    list_row,
    open_as,
    serve,
    settled_count,
    toasts_seen,
    wait_title,
)


@pytest.fixture(scope="module")
def parley(tmp_path_factory, demo_template):
    def prepare(db):
        from tests import factories as f

        ids = demo_ids(db)
        made = {}
        for name, said in (("Sven Proof", "Can I pay by card?"), ("Tara Proof", "Is parking free?")):
            made[name] = f.add_conversation(
                db,
                contact_id=f.add_contact(db, name=name),
                sender_id=ids["sender_sms"],
                owner_id=ids["user_aiko"],
                inbound_body=said,
            )
        names = dict(db.fetchall("SELECT username, display_name FROM users"))
        return {"convs": made, "aiko": names["aiko"], "maria": names["maria"]}

    with serve(tmp_path_factory, demo_template, prepare) as running:
        yield running


def test_assignment_reaches_the_agents_background_tab(parley, browser):
    base, ids = parley.base, parley.ids
    inbox = open_as(browser, base, "maria", "/inbox")
    inbox.get_by_role("heading", name=re.compile("My Inbox")).wait_for(timeout=PAGE_MS)
    before = settled_count(inbox)
    expect(list_row(inbox, "Sven Proof", "My Inbox")).to_have_count(0)

    # A second tab of the same browser, brought to the front: My Inbox is now a background tab.
    contacts = inbox.context.new_page()
    contacts.goto(base + "/contacts")
    contacts.get_by_role("heading", name="Contacts").wait_for(timeout=PAGE_MS)
    contacts.bring_to_front()
    print("background tab reports document.visibilityState =", inbox.evaluate("document.visibilityState"))

    admin = open_as(browser, base, "admin", "/team")
    admin.get_by_role("heading", name="Team Inbox").wait_for(timeout=PAGE_MS)
    choose(admin, admin, "Inbox of", re.compile(rf"^{re.escape(ids['aiko'])} \(@aiko\)"))
    expect(admin.locator("[role=listbox] li.row .owner")).to_have_count(0, timeout=PAGE_MS)
    for name in ("Sven Proof", "Tara Proof"):
        box = list_row(admin, name).locator("input.tick")
        box.click()
        expect(box).to_be_checked()
    expect(admin.get_by_text("2 selected", exact=True)).to_be_visible(timeout=PAGE_MS)
    admin.get_by_role("button", name="Assign…").click()
    dialog = admin.get_by_role("dialog")
    expect(dialog.get_by_text("Assign conversations")).to_be_visible(timeout=PAGE_MS)
    expect(dialog).to_contain_text("2 conversations will move to the chosen agent's inbox as unread")
    choose(admin, dialog, "Assign to", re.compile(rf"^{re.escape(ids['maria'])} \(@maria\)"))
    assign = dialog.get_by_role("button", name="Assign", exact=True)
    expect(assign).to_be_enabled(timeout=PAGE_MS)
    assign.click()
    expect(admin.get_by_text(f"Assigned 2 conversations to {ids['maria']}.")).to_be_visible(timeout=PAGE_MS)

    # The background tab: the title counts both, and a toast names each conversation (the page
    # logs every toast it shows: a toast in a tab the browser calls visible goes after 6 s).
    wait_title(inbox, before + 2, LIVE_MS + SLACK_MS)
    expected = [
        "🔔 Conversation with Sven Proof was assigned to you.",
        "🔔 Conversation with Tara Proof was assigned to you.",
    ]
    inbox.wait_for_function(
        "n => (window.__parleyToastLog || []).filter(t => t.includes('was assigned to you')).length >= n",
        arg=2,
        timeout=LIVE_MS + SLACK_MS,
    )
    assert sorted(t for t in toasts_seen(inbox) if "assigned" in t) == expected
    # The tab in front says the same.
    wait_title(contacts, before + 2, LIVE_MS + SLACK_MS)

    # Back to the inbox tab: the two conversations are in her list, unread.
    inbox.bring_to_front()
    for name in ("Sven Proof", "Tara Proof"):
        expect(list_row(inbox, name, "My Inbox")).to_have_class(re.compile(r"\bunread\b"), timeout=PAGE_MS)
    # The tab in front got the same two toasts, from its own stream (within the same budget).
    contacts.wait_for_function(
        "n => (window.__parleyToastLog || []).filter(t => t.includes('was assigned to you')).length >= n",
        arg=2,
        timeout=LIVE_MS + SLACK_MS,
    )
    assert sorted(t for t in toasts_seen(contacts) if "assigned" in t) == expected
    inbox.context.close()
    admin.context.close()
