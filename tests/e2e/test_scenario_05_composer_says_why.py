"""Scenario 5: the composer says why a message cannot go, or cannot go now.

This Parley's business hours are one hour a day that is not now (UTC), and
recipients' quiet hours never apply, so:

* to Ursula, who opted out, nothing can be sent: the composer quotes the
  reason and Send is disabled (rule 2);
* to Victor, written outside business hours, the composer says when it will
  go, and the sent message waits as 🕓 queued until then (rule 3);
* in Wendy's WhatsApp conversation, whose last message is 30 hours old, the
  composer says the window is closed and offers only the registered
  templates (rule 5): the demo workspace's three approved WhatsApp ones,
  never its unregistered "Directions", "Running late" or "Insurance
  accepted".
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.e2e.scenario import PAGE_MS, demo_ids, open_as, serve, wait_for_text

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)
# Business hours: one hour a day, starting three hours from now (UTC).
OPENS = (NOW.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=3)).hour
CLOSES = "24:00" if OPENS == 23 else f"{OPENS + 1:02d}:00"


def release_at(now: dt.datetime) -> dt.datetime:
    """When a message written ``now`` goes: the next time the clock reads OPENS:00 (UTC)."""
    today = now.replace(hour=OPENS, minute=0, second=0, microsecond=0)
    return today if today > now else today + dt.timedelta(days=1)


def shown_time(value: dt.datetime, tz: str, now: dt.datetime) -> str:
    """How the page writes a time: "8:00 PM" today, "Sat 8:00 AM" within the week."""
    at = value.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz))
    today = now.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz)).date()
    clock = at.strftime("%I:%M %p").lstrip("0")
    return clock if at.date() == today else f"{at:%a} {clock}"


def bubble_time(value: dt.datetime, tz: str, now: dt.datetime) -> str:
    """How a queued bubble says when: "at 8:00 PM" today, "tomorrow at 8:00 AM", "Sat at 8:00 AM"."""
    at = value.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz))
    days = (at.date() - now.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz)).date()).days
    clock = at.strftime("%I:%M %p").lstrip("0")
    return f"at {clock}" if days <= 0 else f"tomorrow at {clock}" if days == 1 else f"{at:%a} at {clock}"


@pytest.fixture(scope="module")
def parley(tmp_path_factory, demo_template):
    def prepare(db):
        from core import settings
        from tests import factories as f

        ids = demo_ids(db)
        maria = ids["user_maria"]
        db.write(
            lambda tx: (
                settings.put(
                    tx,
                    "business_hours",
                    {"timezone": "UTC", "weekly": {str(d): [[f"{OPENS:02d}:00", CLOSES]] for d in range(7)}},
                ),
                settings.put(tx, "quiet_hours", {"start": "00:00", "end": "24:00"}),
            )
        )
        sms = ids["sender_sms"]
        made = {
            "ursula": f.add_conversation(
                db,
                contact_id=f.add_contact(db, name="Ursula Proof", opted_out=True),
                sender_id=sms,
                owner_id=maria,
                inbound_body="STOP",
            ),
            "victor": f.add_conversation(
                db,
                contact_id=f.add_contact(db, name="Victor Proof"),
                sender_id=sms,
                owner_id=maria,
                inbound_body="Can someone call me back?",
            ),
            "wendy": f.add_conversation(
                db,
                contact_id=f.add_contact(db, name="Wendy Proof"),
                sender_id=ids["sender_whatsapp"],
                owner_id=maria,
                last_inbound_at=NOW - dt.timedelta(hours=30),
                inbound_body="Thanks, talk tomorrow",
            ),
        }
        return {**made, "tz": db.scalar("SELECT timezone FROM users WHERE id = ?", [maria])}

    with serve(tmp_path_factory, demo_template, prepare, all_day=False) as running:
        yield running


def test_opted_out_contact_gets_nothing_and_the_composer_says_why(parley, browser):
    page = open_as(browser, parley.base, "maria", f"/conversation?id={parley.ids['ursula']}")
    page.get_by_role("heading", name="Ursula Proof").wait_for(timeout=PAGE_MS)
    wait_for_text(page, "Ursula Proof has opted out (replied STOP): nothing can be sent until they reply START.")
    expect(page.get_by_role("button", name=re.compile("Send"))).to_be_disabled()
    expect(page.get_by_role("textbox", name="Message")).to_be_disabled()
    expect(page.get_by_test_id("stMain").get_by_text(re.compile(r"Opted out$"))).to_be_visible()  # the badge
    page.context.close()


def test_outside_business_hours_the_message_waits_and_says_until_when(parley, browser):
    ids = parley.ids
    page = open_as(browser, parley.base, "maria", f"/conversation?id={ids['victor']}")
    page.get_by_role("heading", name="Victor Proof").wait_for(timeout=PAGE_MS)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    goes = shown_time(release_at(now), ids["tz"], now)
    # The hours are kept in UTC, Maria reads her own clock: the notice names her zone.
    wait_for_text(page, f"Outside business hours: this will be queued until {goes} ({ids['tz']}).")
    page.get_by_placeholder("Write a message…").fill("We will call you when we open")
    page.get_by_role("button", name=re.compile("Send")).click()
    bubble = page.locator("[data-testid=stChatMessage]", has_text="We will call you when we open")
    expect(bubble).to_be_visible(timeout=PAGE_MS)
    bubble_goes = bubble_time(release_at(now), ids["tz"], now)
    expect(bubble).to_contain_text(f"🕓 Queued — outside business hours, goes {bubble_goes}", timeout=PAGE_MS)
    page.context.close()


def test_whatsapp_past_24_hours_offers_only_registered_templates(parley, browser):
    page = open_as(browser, parley.base, "maria", f"/conversation?id={parley.ids['wendy']}")
    page.get_by_role("heading", name="Wendy Proof").wait_for(timeout=PAGE_MS)
    wait_for_text(
        page,
        "The WhatsApp customer care window is closed (24 hours after the customer's last message): "
        "only registered templates can be sent.",
    )
    expect(page.get_by_placeholder("Choose a registered template below")).to_be_disabled()
    expect(page.get_by_role("button", name=re.compile("Send"))).to_be_disabled()
    page.locator("[data-testid=stSelectbox]").filter(has_text="Registered templates").click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible(timeout=PAGE_MS)
    names = sorted(text.split(" · ")[0].split(" — ")[0] for text in options.all_inner_texts())
    assert names == ["Appointment reminder", "Check-up recall", "Recordatorio de cita"]
    page.context.close()
