"""Scenario 9: a supervisor reads every Stats chart, filters, downloads a CSV, and changes nothing.

Sam (supervisor) opens each Stats page and sees each of its charts drawn
with its title. Nina, a new agent, owns Omar's conversation; Omar writes
three messages today through the signed Twilio webhook. Sam filters Volume
to Nina and today, and the CSV he downloads says exactly that: today, 0
conversations started (the conversation is older than the messages' facts
and was never "started" by a reply in this workspace's facts), 3 messages
in, 0 out.

Then Sam opens Omar's conversation, Team Inbox and the contact: no composer,
no action button, no form; "Supervisors can read but not send." is what the
composer's place says, and Nina's unread count is untouched by his reading.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.e2e.scenario import (
    PAGE_MS,
    choose,
    demo_ids,
    downloaded,
    idle,
    open_as,
    post_twilio_inbound,
    serve,
    sidebar_link,
)

OMAR_PHONE = "+14158670996"
CHARTS = {
    "Volume": ["Conversations started per day", "Messages in and out per day", "Incoming messages by weekday and hour"],
    "Responsiveness": ["First response time (hours)", "Reply time (hours)", "Time to close (hours)"],
    "Delivery": ["Sent → delivered → read, by channel", "Most frequent failures", "Opt-outs per day"],
    "Campaign results": ["Reply and opt-out rate per campaign"],
    "Workload now": ["Open, unread and waiting conversations per agent"],
}


@pytest.fixture(scope="module")
def parley(tmp_path_factory, demo_template):
    def prepare(db):
        from tests import factories as f

        ids = demo_ids(db)
        nina = f.add_user(db, "nina", display_name="Nina Proof")
        conv = f.add_conversation(
            db,
            contact_id=f.add_contact(db, name="Omar Proof", phone=OMAR_PHONE),
            sender_id=ids["sender_sms"],
            owner_id=nina,
            last_inbound_at=dt.datetime(2026, 1, 5, 15, 0),
            inbound_body="First message, long ago",
        )
        return {
            "conv": conv,
            "sms_number": db.scalar("SELECT phone FROM senders WHERE id = ?", [ids["sender_sms"]]),
            "sam_tz": db.scalar("SELECT timezone FROM users WHERE username = 'sam'"),
        }

    with serve(tmp_path_factory, demo_template, prepare) as running:
        yield running


def chart_titles(page, count: int) -> list[str]:
    titles = page.locator(".js-plotly-plot .gtitle")
    expect(titles).to_have_count(count, timeout=PAGE_MS)
    return titles.all_text_contents()  # SVG text: no innerText


def test_supervisor_reads_every_chart_filters_and_downloads(parley, browser, tmp_path):
    base, ids = parley.base, parley.ids
    for n in range(3):
        post_twilio_inbound(base, OMAR_PHONE, ids["sms_number"], f"Omar's question number {n + 1}")
    page = open_as(browser, base, "sam", "/stats-volume")
    for name, titles in CHARTS.items():
        sidebar_link(page, name).click()
        page.get_by_role("heading", name=f"Stats · {name}").wait_for(timeout=PAGE_MS)
        assert chart_titles(page, len(titles)) == titles, name
        expect(page.get_by_role("button", name="Download CSV").first).to_be_visible()

    # Volume, for Nina, today (in Sam's time zone).
    sidebar_link(page, "Volume").click()
    page.get_by_role("heading", name="Stats · Volume").wait_for(timeout=PAGE_MS)
    today = dt.datetime.now(ZoneInfo(ids["sam_tz"])).date()
    choose(page, page, "Agent", "Nina Proof")
    # The range field is a row of segments (year / month / day): typing the digits fills them in turn,
    # and leaving the field takes the range.
    for which in ("start", "end"):
        page.get_by_role("spinbutton", name=f"year, Dates {which} date").click()
        page.keyboard.type(f"{today:%Y%m%d}")
    page.get_by_role("heading", name="Stats · Volume").click()
    expect(page.get_by_text(f"{today:%b %d, %Y} – {today:%b %d, %Y} (1 day, {ids['sam_tz']})")).to_be_visible(
        timeout=PAGE_MS
    )
    # The caption of the new range can be on screen while the previous run's Download CSV button
    # (the old range's file, greyed as stale) still waits for its replacement: a loaded run once
    # clicked that one and got volume-<a month ago>-<today>.csv. Click the new run's button.
    idle(page)
    fresh = page.locator("[data-testid=stElementContainer]:has([data-testid=stDownloadButton])").first
    expect(fresh).to_have_attribute("data-stale", "false", timeout=PAGE_MS)
    with page.expect_download(timeout=PAGE_MS) as download:
        fresh.get_by_role("button", name="Download CSV").click()
    assert download.value.suggested_filename == f"volume-{today}-{today}.csv"
    data = downloaded(download.value).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, as every export: Excel reads names right
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [{"day": str(today), "conversations": "0", "messages_in": "3", "messages_out": "0"}], rows


def test_supervisor_can_change_nothing(parley, browser):
    base, ids = parley.base, parley.ids
    page = open_as(browser, base, "sam", f"/conversation?id={ids['conv']}")
    page.get_by_role("heading", name="Omar Proof").wait_for(timeout=PAGE_MS)
    expect(page.get_by_text("Supervisors can read but not send.")).to_be_visible(timeout=PAGE_MS)
    page.wait_for_load_state("networkidle")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("textbox")).to_have_count(0)
    for label in ("Send", "Close", "Reopen", "Mark unread", "Emoji", "Edit contact", "Save as contact"):
        expect(main.get_by_role("button", name=re.compile(label))).to_have_count(0)
    expect(main.get_by_text("Export transcript")).to_have_count(0)

    page.goto(base + "/team")
    page.get_by_role("heading", name="Team Inbox").wait_for(timeout=PAGE_MS)
    expect(
        page.get_by_text("Read-only: supervisors can open and read conversations but cannot change them.")
    ).to_be_visible()
    page.locator("[role=listbox] li.row").first.wait_for(timeout=PAGE_MS)
    expect(page.locator("[role=listbox] input.tick")).to_have_count(0)
    for label in ("Mark read", "Mark unread", "Assign…", "Close", "Reopen"):
        expect(page.get_by_role("button", name=label, exact=True)).to_have_count(0)

    page.goto(base + "/contacts")
    page.get_by_role("heading", name="Contacts").wait_for(timeout=PAGE_MS)
    expect(page.get_by_role("button", name="New contact")).to_have_count(0)
    expect(page.get_by_role("button", name="Import CSV")).to_have_count(0)
    page.get_by_placeholder("Search name or number").fill("Omar Proof")
    page.get_by_placeholder("Search name or number").press("Enter")
    page.locator("[role=listbox] li.row .who", has_text="Omar Proof").click()
    expect(page.get_by_text("Read-only: supervisors can look at contacts but cannot change them.")).to_be_visible(
        timeout=PAGE_MS
    )
    expect(page.get_by_role("button", name=re.compile("Save contact|Archive|Delete"))).to_have_count(0)
