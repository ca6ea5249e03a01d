"""A campaign from the page, in a real browser, and a reply that becomes a conversation in the right inbox.

The admin uploads a CSV of two numbers Parley has never seen, chooses James
to own the replies, previews and sends; the dispatcher hands both messages
to the built-in simulator (real HTTP, status callbacks back to Parley). One
recipient answers (a Twilio-signed webhook, as a carrier posts it): the
campaign page counts the reply, and the conversation it started is in
James's My Inbox, not the admin's (rule 1).
"""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import expect

from tests.e2e.conftest import sign_in
from tests.e2e.scenario import choose, idle, inbox_rows, post_twilio_inbound, type_choice

FRONT_DESK = "+14155550100"  # the demo's SMS sender (generator/plan_shared.py SMS_SENDER)
TIMEOUT = 30_000  # a loaded 2-core machine: page runs, the dispatcher, the simulator's callbacks


def test_admin_sends_a_campaign_and_a_reply_lands_in_the_chosen_owners_inbox(parley, browser, tmp_path):
    base, _work, _ids = parley
    tag = uuid.uuid4().hex[:6]
    first, second = "+14158679901", "+14158679902"
    listing = tmp_path / "spring.csv"
    listing.write_text(f"phone,first_name\n{first},Olga {tag}\n{second},Pavel {tag}\n")

    admin = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    sign_in(admin, base, "admin")
    admin.goto(base + "/campaigns")
    admin.get_by_role("button", name="New campaign").click()
    admin.get_by_label("Name", exact=True).fill(f"Spring recall {tag}")
    admin.get_by_label("Name", exact=True).press("Enter")
    choose(admin, admin, "Template", re.compile(r"^Whitening offer"))
    admin.get_by_text("A CSV of numbers").click()
    idle(admin)
    admin.locator("input[type=file]").set_input_files(str(listing))
    expect(admin.get_by_text("numbers from the column “phone”")).to_be_visible(timeout=TIMEOUT)
    admin.get_by_text("One person").click()
    type_choice(admin, admin, "Owner", "James", "James Carter")
    admin.get_by_role("button", name="Preview").click()

    preview = admin.get_by_test_id("stMetric").filter(has_text="Recipients")
    expect(preview).to_contain_text("2", timeout=TIMEOUT)
    expect(admin.get_by_text(f"Hi Olga {tag}, this month teeth whitening is 20% off")).to_be_visible()
    admin.get_by_role("button", name="Send").click()

    # The campaign's own page: both messages leave through the simulator.
    expect(admin.get_by_role("heading", name=f"Spring recall {tag}")).to_be_visible(timeout=TIMEOUT)
    expect(admin.get_by_text("replies go to James Carter")).to_be_visible()
    expect(admin.get_by_text("2 of 2 handled")).to_be_visible(timeout=TIMEOUT)

    # Olga answers, as a carrier posts it.
    post_twilio_inbound(base, first, FRONT_DESK, f"Yes please, Tuesday works {tag}")
    replied = admin.get_by_test_id("stMetric").filter(has_text="Replied")
    expect(replied).to_contain_text("1", timeout=TIMEOUT)

    # James finds it in his My Inbox and opens it: the campaign message first, then her reply.
    james = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    sign_in(james, base, "james")
    james.goto(base + "/inbox")
    row = inbox_rows(james, "My Inbox").filter(has_text=f"Yes please, Tuesday works {tag}")
    expect(row).to_have_count(1, timeout=TIMEOUT)
    expect(row).not_to_contain_text("Olga")  # a number new to Parley: the contact is its number
    row.locator("a.main").click()
    expect(james.get_by_text(f"Yes please, Tuesday works {tag}").last).to_be_visible(timeout=TIMEOUT)
    expect(james.get_by_text(f"Hi Olga {tag}, this month teeth whitening is 20% off")).to_be_visible(timeout=TIMEOUT)

    # Not in the admin's own inbox.
    admin.goto(base + "/inbox")
    expect(inbox_rows(admin, "My Inbox").first).to_be_visible(timeout=TIMEOUT)
    expect(inbox_rows(admin, "My Inbox").filter(has_text=f"Tuesday works {tag}")).to_have_count(0)
