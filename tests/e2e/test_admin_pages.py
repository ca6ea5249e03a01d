"""The admin pages in a real browser: what an admin clicks, and what it does to others.

* Users: an agent's sign-in session is listed and ended (their next page is the sign-in
  form), then the agent is disabled and their conversations handed over to the person chosen.
* Opt-outs and the audit log: a number added with a reason is on the list, with its history,
  and both the opt-out and the sign-ins are found in the audit log and its CSV export.
* Sender numbers and webhook review: a text to a number Parley does not have yet is kept; the
  admin adds the number, retries the webhook, and the message is in Team Inbox.
* Templates and provider setup: a new Campaign template with its preview and segment count;
  a test message through the built-in simulator reports what it answered.
"""

from __future__ import annotations

import csv
import http.client
import io
import re
import time
import uuid
from urllib.parse import urlencode, urlsplit

from playwright.sync_api import expect

from tests.e2e.conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, signed_in_page
from tests.e2e.scenario import choose, downloaded, idle, record_loads, toast, wait_started_afresh

TIMEOUT = 45_000  # a loaded 2-core machine: every click is a script run


def click_once_drawn(button) -> None:
    """Click ``button`` once the rerun has settled to one copy of it: while Streamlit redraws the tabs, the
    stale panel and the new one both hold it for a moment."""
    expect(button).to_have_count(1, timeout=TIMEOUT)
    button.click()


def grid_row(page, text: str):
    """A dataframe row by its text (the grid is drawn on a canvas; its accessible table holds the cells)."""
    return page.locator("[data-testid=stDataFrame] tbody tr", has_text=text)


def cell_texts(row) -> list[str]:
    return [c.strip() for c in row.locator("td").all_inner_texts()]


# ---- users: sessions, disabling with a hand-over ----------------------------------------------------


def test_an_admin_ends_an_agents_session_then_disables_them_handing_over_their_conversations(parley, browser):
    base, _work, _ids = parley
    aiko = signed_in_page(browser, base, "aiko")
    admin = signed_in_page(browser, base, "admin", viewport={"width": 1400, "height": 1600})
    admin.goto(base + "/users")
    expect(grid_row(admin, "aiko").first).to_be_attached(timeout=TIMEOUT)
    before = {cell_texts(r)[1]: cell_texts(r) for r in admin.locator("[data-testid=stDataFrame] tbody tr").all()}
    aiko_owned = int(before["aiko"][4].replace(",", ""))
    maria_owned = int(before["maria"][4].replace(",", ""))
    assert aiko_owned > 0 and before["aiko"][6] == "1"  # the demo gives Aiko conversations; one browser signed in

    choose(admin, admin, "User", re.compile(r"^Aiko Tanaka"))
    idle(admin)
    signed_in = admin.get_by_test_id("stCaptionContainer").filter(has_text=re.compile(r"signed in .* last seen"))
    expect(signed_in).to_have_count(1, timeout=TIMEOUT)
    expect(signed_in).to_contain_text("Headless Chrome on Linux · from local")
    aiko_loads = record_loads(aiko)
    admin.get_by_role("button", name="End", exact=True).click()
    toast(admin, "Session ended.")
    expect(admin.get_by_text("No live sign-in sessions.")).to_be_visible(timeout=TIMEOUT)

    # Aiko's open tab notices by itself: it shows the sign-in form, drops the cookie and starts
    # afresh at "/" (a goto sent while that navigation was under way was aborted by it, in CI).
    wait_started_afresh(aiko, aiko_loads)
    expect(aiko.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT)
    # And her next page asks her to sign in again.
    aiko.goto(base + "/inbox")
    expect(aiko.get_by_role("button", name="Sign in")).to_be_visible(timeout=TIMEOUT)

    # Disabling asks who takes her conversations; without a choice it refuses in one sentence.
    expect(
        admin.get_by_text(f"Aiko Tanaka owns {aiko_owned:,} conversations: choose who takes them over.")
    ).to_be_visible(timeout=TIMEOUT)
    click_once_drawn(admin.get_by_role("button", name="Disable…"))
    expect(
        admin.get_by_text(f"Aiko Tanaka owns {aiko_owned:,} conversations; choose who takes them over.")
    ).to_be_visible(timeout=TIMEOUT)
    choose(admin, admin, "Hand them over to", "María López")
    idle(admin)
    click_once_drawn(admin.get_by_role("button", name="Disable…"))
    toast(admin, f"Disabled; {aiko_owned:,} conversations handed over.")
    expect(admin.get_by_role("button", name="Enable")).to_be_visible(timeout=TIMEOUT)
    expect(grid_row(admin, "aiko").locator("td").nth(4)).to_have_text("0", timeout=TIMEOUT)
    expect(grid_row(admin, "aiko").locator("td").nth(5)).to_have_text("Disabled")
    expect(grid_row(admin, "maria").locator("td").nth(4)).to_have_text(f"{aiko_owned + maria_owned:,}")

    # And she cannot sign in any more.
    aiko.get_by_label("Username").fill("aiko")
    aiko.get_by_label("Password", exact=True).fill("parley-demo")
    aiko.get_by_role("button", name="Sign in").click()
    expect(aiko.get_by_text(re.compile("disabled", re.I)).first).to_be_visible(timeout=TIMEOUT)
    aiko.context.close()
    admin.context.close()


# ---- opt-outs and the audit log ---------------------------------------------------------------------


def test_an_opt_out_added_with_its_reason_is_listed_and_in_the_audit_log_and_its_export(parley, browser):
    base, _work, _ids = parley
    number = "+1415867" + str(uuid.uuid4().int % 10_000).zfill(4)
    reason = f"Asked at the desk not to be texted {uuid.uuid4().hex[:6]}"
    admin = signed_in_page(browser, base, "admin", viewport={"width": 1400, "height": 1600})
    admin.goto(base + "/opt-outs")
    admin.get_by_text("Add a number").click()
    admin.get_by_label("Number").fill(number)
    admin.get_by_label("Reason", exact=True).fill(reason)
    admin.get_by_label("Reason", exact=True).press("Tab")
    idle(admin)
    admin.get_by_role("button", name="Opt out", exact=True).click()
    toast(admin, "Opted out.")

    shown = f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    search = admin.get_by_role("textbox", name="Search")
    search.fill(number[-4:])
    search.press("Enter")
    expect(grid_row(admin, shown)).to_have_count(1, timeout=TIMEOUT)
    expect(grid_row(admin, shown)).to_contain_text("Added by Alex Rivera")
    expect(grid_row(admin, reason).filter(has_text="opt out")).to_have_count(1)  # the history of the one found

    admin.goto(base + "/audit")
    choose(admin, admin, "Action", "Opt-out: added")
    # The one opt-out of this module's workspace: the list is filtered (the entry is there unfiltered too).
    expect(admin.get_by_text("1 entry (dates in UTC)", exact=True)).to_be_visible(timeout=TIMEOUT)
    expect(grid_row(admin, reason)).to_have_count(1, timeout=TIMEOUT)
    expect(grid_row(admin, reason)).to_contain_text("Alex Rivera")
    admin.get_by_role("button", name="Export these entries as CSV").click()
    with admin.expect_download(timeout=TIMEOUT) as download:
        admin.get_by_role("button", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(downloaded(download.value).read_text(encoding="utf-8-sig"))))
    assert [(r["Action"], r["User"]) for r in rows] == [("optout.added", "admin")]
    assert reason in rows[0]["Detail"] and number in rows[0]["Detail"]
    admin.context.close()


# ---- sender numbers and webhook review --------------------------------------------------------------


def post_unknown_number_text(base: str, from_phone: str, to_phone: str, body: str) -> int:
    """A Twilio-signed text to a number Parley has no sender for: stored, answered 404."""
    from core.providers.twilio_webhooks import compute_signature

    url = base + "/webhooks/twilio"
    params = [
        ("MessageSid", "SM" + uuid.uuid4().hex),
        ("AccountSid", TWILIO_ACCOUNT_SID),
        ("From", from_phone),
        ("To", to_phone),
        ("Body", body),
        ("NumMedia", "0"),
        ("SmsStatus", "received"),
    ]
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(
            "POST",
            parts.path,
            body=urlencode(params).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": compute_signature(TWILIO_AUTH_TOKEN, url, params),
            },
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def tick_first_grid_row(page, grid) -> None:
    """Tick the first row's selection box, drawn on the grid's canvas (35-px header and rows), until
    the page counts it. A click that lands while the grid redraws selects nothing; a second click while
    the first one's run is still going would untick it, so each try waits for the page to be idle."""
    deadline = time.monotonic() + 2 * TIMEOUT / 1000
    while True:
        idle(page)
        if page.get_by_text("1 selected").count():
            return
        assert time.monotonic() < deadline, "the row was never selected"
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)
        try:
            expect(page.get_by_text("1 selected")).to_be_visible(timeout=10_000)
            return
        except AssertionError:
            continue


def test_a_text_to_a_new_number_is_kept_until_the_admin_adds_the_number_and_retries_it(parley, browser):
    base, _work, _ids = parley
    new_line = "+1415555" + str(uuid.uuid4().int % 10_000).zfill(4)
    body = f"Is this the new booking line? {uuid.uuid4().hex[:6]}"
    assert post_unknown_number_text(base, "+14158670199", new_line, body) == 404

    admin = signed_in_page(browser, base, "admin", viewport={"width": 1400, "height": 1600})
    admin.goto(base + "/webhooks")
    expect(grid_row(admin, f"No sender for {new_line}")).to_have_count(1, timeout=TIMEOUT)

    admin.goto(base + "/senders")
    idle(admin)
    admin.get_by_role("textbox", name="Number", exact=True).fill(new_line)
    admin.get_by_label("Display name").fill("Booking line")
    choose(admin, admin, "Provider", "Twilio")
    choose(admin, admin, "Brand", "Approved")
    choose(admin, admin, "Campaign", "Approved")
    idle(admin)
    admin.get_by_role("button", name="Add sender").click()
    toast(admin, "Sender added.")
    expect(grid_row(admin, "Booking line")).to_contain_text("US long code (10DLC): registered", timeout=TIMEOUT)

    admin.goto(base + "/webhooks")
    grid = admin.get_by_test_id("stDataFrame").filter(has_text="Kept as")  # the review grid, not the backlog table
    expect(grid_row(admin, f"No sender for {new_line}")).to_have_count(1, timeout=TIMEOUT)
    idle(admin)
    tick_first_grid_row(admin, grid)
    admin.get_by_role("button", name="Retry selected").click()
    toast(admin, "1 webhook sent back to be applied.")
    expect(admin.get_by_text("Nothing is waiting for review.")).to_be_visible(timeout=TIMEOUT)

    admin.goto(base + "/team")
    row = admin.locator("[role=listbox] li.row").filter(has_text=body)
    expect(row).to_have_count(1, timeout=TIMEOUT)
    admin.context.close()


# ---- templates and provider setup ---------------------------------------------------------------------


def test_a_new_campaign_template_with_its_preview_and_a_test_message(parley, browser):
    base, _work, _ids = parley
    name = f"Autumn recall {uuid.uuid4().hex[:6]}"
    admin = signed_in_page(browser, base, "admin", viewport={"width": 1400, "height": 1600})
    admin.goto(base + "/templates")
    admin.get_by_role("button", name="New template").click()
    admin.get_by_label("Name", exact=True).fill(name)
    choose(admin, admin, "Type", "Campaign")
    choose(admin, admin, "Channel", "SMS")
    idle(admin)
    admin.get_by_label("Text", exact=True).fill("Hi {{first_name}}, your check-up is due. Reply YES to book.")
    admin.get_by_label("Text", exact=True).press("Tab")
    idle(admin)
    admin.get_by_label("first name", exact=True).fill("Olga")
    admin.get_by_label("first name", exact=True).press("Tab")
    idle(admin)
    preview = admin.get_by_test_id("stText").filter(has_text="Hi Olga, your check-up is due. Reply YES to book.")
    expect(preview).to_be_visible(timeout=TIMEOUT)
    expect(admin.get_by_text(re.compile(r"1 segment"))).to_be_visible()
    admin.get_by_role("button", name="Save").click()
    toast(admin, "Template saved.")
    admin.get_by_role("button", name="All templates").click()
    expect(grid_row(admin, name)).to_contain_text("Campaign", timeout=TIMEOUT)

    admin.goto(base + "/providers")
    choose(admin, admin, "From", re.compile(r"^Front desk SMS"))
    admin.get_by_label("To", exact=True).fill("+14158670142")
    admin.get_by_label("To", exact=True).press("Tab")
    idle(admin)
    admin.get_by_role("button", name="Send test message").click()
    expect(admin.get_by_test_id("stAlertContentSuccess")).to_contain_text("SIM", timeout=TIMEOUT)
    admin.context.close()
