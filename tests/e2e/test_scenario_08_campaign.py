"""Scenario 8: an admin sends a small campaign; replies become conversations in the right inboxes;
an unregistered sender's banner shows and the workspace's rule gates its sending, both ways.

The workspace (a copy of the demo's) gets two Twilio senders, "Recall line" and "Promo line"
(both with their 10DLC brand and campaign approved), a Campaign template, four contacts tagged
``spring-recall`` (one of them opted out), and a team "Recall team" of James and Aiko. Parley
sends through Twilio's API to a loopback fake (``tests/fakes/twilio_server.py``) over real HTTP,
so the test reads what the provider received.

1. The admin builds the campaign on the Campaigns page (tag audience, replies to the Recall team
   in turn), sees the estimate (3 recipients, 1 left out, 6 segments: each text is 171–173
   GSM-7 characters, two parts) and sends it; Twilio receives exactly the three texts.
2. Two recipients answer (Twilio-signed webhooks): the first reply is a conversation in James's
   My Inbox, the second in Aiko's (round-robin from the team's first member by id), each seen
   in a browser signed in as that agent.
3. The carrier suspends Promo line's 10DLC campaign: the admin records it on the Sender numbers
   page, and the unregistered-sender banner names Promo line on the Campaigns page. With the
   rule "Do not send from them" a campaign from Promo line has nobody to send to and no Send
   button, and Twilio receives nothing; with "Send, and warn admins" the preview warns, and the
   three texts go from Promo line.

What tests/e2e/test_campaign.py proves (a CSV audience, one person owning the replies, the
simulator's callbacks) is not repeated here.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from tests.e2e.scenario import (
    PAGE_MS,
    choose,
    demo_ids,
    http_get,
    idle,
    list_row,
    open_as,
    post_twilio_inbound,
    post_twilio_status,
    serve,
    toast,
    type_choice,
    visible_text,
)
from tests.fakes.twilio_server import FakeTwilio

RECALL_LINE = "+14155550123"
PROMO_LINE = "+14155550124"
TAG = "spring-recall"
BODY = (
    "Hi {{first_name}}, it has been six months since your last visit to Brightside Dental. Spring check-ups "
    "are open Monday to Saturday; reply YES and we will find a time that suits you."
)
OLIVIA, NOAH, EMMA, LIAM = "+14158677701", "+14158677702", "+14158677703", "+14158677704"


def text_for(first_name: str) -> str:
    return (
        f"Hi {first_name}, it has been six months since your last visit to Brightside Dental. Spring check-ups "
        "are open Monday to Saturday; reply YES and we will find a time that suits you."
    )


HEALTH_TOKEN = "scenario-8-health"  # /healthz details, said when Twilio did not get what was expected
TALL = {"width": 1400, "height": 1800}  # the whole campaign form and its preview in view


@pytest.fixture(scope="module")
def twilio():
    # The server's Twilio credentials (tests/e2e/conftest.py) are this fake account's.
    with FakeTwilio(account_sid=TWILIO_ACCOUNT_SID, auth_token=TWILIO_AUTH_TOKEN) as fake:
        yield fake


@pytest.fixture(scope="module")
def parley(tmp_path_factory, demo_template, twilio):
    def prepare(db):
        from tests import factories as f

        ids = demo_ids(db)
        f.add_sender(db, provider="twilio", phone=RECALL_LINE, label="Recall line", registration_status="registered")
        f.add_sender(db, provider="twilio", phone=PROMO_LINE, label="Promo line", registration_status="registered")
        f.add_template(db, name="Spring check-up", kind="campaign", channel="sms", body=BODY)
        people = {
            OLIVIA: f.add_contact(db, phone=OLIVIA, name="Olivia Park"),
            NOAH: f.add_contact(db, phone=NOAH, name="Noah Quinn"),
            EMMA: f.add_contact(db, phone=EMMA, name="Emma Reyes"),
            LIAM: f.add_contact(db, phone=LIAM, name="Liam Stone", opted_out=True),
        }

        def write(tx):
            tx.execute("UPDATE contacts SET tags = ? WHERE id IN (SELECT unnest(?))", [TAG, list(people.values())])
            tx.execute(
                "UPDATE senders SET brand_status = 'approved', campaign_status = 'approved' WHERE phone IN (?, ?)",
                [RECALL_LINE, PROMO_LINE],
            )
            team = tx.next_id("seq_teams")
            tx.execute("INSERT INTO teams (id, name, created_at) VALUES (?, 'Recall team', now())", [team])
            tx.execute("UPDATE users SET team_id = ? WHERE id IN (?, ?)", [team, ids["user_james"], ids["user_aiko"]])

        db.write(write)
        # The round-robin starts with the team's first member by id: James before Aiko.
        assert ids["user_james"] < ids["user_aiko"]
        return ids

    with serve(
        tmp_path_factory, demo_template, prepare, PARLEY_TWILIO_BASE_URL=twilio.url, PARLEY_HEALTH_TOKEN=HEALTH_TOKEN
    ) as running:
        yield running


def sent(twilio) -> list[tuple[str, str, str]]:
    """(To, From, Body) of every Create Message call Twilio received, sorted."""
    return sorted((r.value("To"), r.value("From"), r.value("Body")) for r in twilio.sends)


def wait_sent(base: str, twilio, count: int, timeout_s: float = PAGE_MS / 1000) -> list[tuple[str, str, str]]:
    # ``created`` grows once a request has made its message (``sends`` as soon as it arrives): a status
    # callback can only name a message Twilio has made.
    if not twilio.wait_created(count, timeout_s):
        status, _, details = http_get(base, "/healthz", headers={"Authorization": f"Bearer {HEALTH_TOKEN}"})
        raise AssertionError(
            f"Twilio received {len(twilio.sends)} messages, not {count}; requests "
            f"{[(r.method, r.path) for r in twilio.requests]}; /healthz ({status}): {details[:1500]!r}"
        )
    return sent(twilio)


def deliver(base: str, twilio, first: int) -> None:
    """Twilio's "delivered" callback for each message it created, from the ``first``-th on."""
    for message in twilio.created[first:]:
        post_twilio_status(base, twilio, message["sid"], "delivered")


def new_campaign(page, base: str, name: str, sender: str) -> None:
    """The New campaign form filled: ``name``, ``sender``, the Spring check-up template, the tag's contacts."""
    page.goto(base + "/campaigns")
    page.get_by_role("button", name="New campaign").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Name", exact=True).press("Enter")
    idle(page)
    choose(page, page, "Sender", f"{sender} (SMS)")
    idle(page)
    choose(page, page, "Template", re.compile(r"^Spring check-up · SMS$"))
    idle(page)
    page.get_by_text("Contacts with a tag").click()  # the first choice already; clicking it changes nothing
    type_choice(page, page, "Tag", TAG, TAG)
    idle(page)


def metric(page, label: str):
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def test_a_campaign_goes_out_replies_reach_the_team_in_turn_and_the_unregistered_rule_gates_sending(
    parley, browser, twilio
):
    base = parley.base
    admin = open_as(browser, base, "admin", "/campaigns", viewport=TALL)

    # ---- 1. the campaign, its estimate, and what Twilio receives ------------------------------------
    new_campaign(admin, base, "Spring check-ups", "Recall line")
    admin.get_by_text("A team, in turn").click()
    idle(admin)
    type_choice(admin, admin, "Team (in turn", "Recall", "Recall team")
    admin.get_by_role("button", name="Preview").click()
    expect(metric(admin, "Recipients")).to_have_text("3", timeout=PAGE_MS)
    expect(metric(admin, "Left out")).to_have_text("1")
    expect(metric(admin, "Segments")).to_have_text("6")
    expect(metric(admin, "Cost units")).to_have_text("6")
    expect(admin.get_by_test_id("stDataFrame").filter(has_text="Left out because")).to_contain_text("Opted out")
    expect(admin.get_by_test_id("stText").filter(has_text="Hi Olivia,")).to_have_text(text_for("Olivia"))
    expect(admin.get_by_text("has no completed")).to_have_count(0)  # a registered sender: no warning
    assert twilio.sends == []  # a preview sends nothing
    admin.get_by_role("button", name="Send").click()

    expect(admin.get_by_role("heading", name="Spring check-ups")).to_be_visible(timeout=PAGE_MS)
    expect(admin.get_by_text("replies go to Recall team")).to_be_visible()
    assert wait_sent(base, twilio, 3) == [
        (OLIVIA, RECALL_LINE, text_for("Olivia")),
        (NOAH, RECALL_LINE, text_for("Noah")),
        (EMMA, RECALL_LINE, text_for("Emma")),
    ]
    # Twilio reports each one delivered (its status callback, signed): the campaign's page counts them.
    deliver(base, twilio, 0)
    expect(admin.get_by_text("3 of 3 handled")).to_be_visible(timeout=PAGE_MS)
    expect(metric(admin, "Delivered")).to_have_text("3")

    # ---- 2. two replies: one conversation each, the team's members in turn ---------------------------
    post_twilio_inbound(base, OLIVIA, RECALL_LINE, "YES please, any Tuesday morning works for me")
    expect(metric(admin, "Replied")).to_have_text("1", timeout=PAGE_MS)
    post_twilio_inbound(base, NOAH, RECALL_LINE, "Could I come on Saturday at 10?")
    expect(metric(admin, "Replied")).to_have_text("2", timeout=PAGE_MS)

    james = open_as(browser, base, "james", "/inbox")
    olivia_row = list_row(james, "Olivia Park", "My Inbox")
    expect(olivia_row).to_have_count(1, timeout=PAGE_MS)
    expect(olivia_row).to_contain_text("YES please, any Tuesday morning works for me")
    expect(list_row(james, "Noah Quinn", "My Inbox")).to_have_count(0)
    olivia_row.locator("a.main").click()
    thread = james.locator("[data-testid=stChatMessage]")
    expect(thread.filter(has_text="YES please, any Tuesday morning works for me")).to_have_count(1, timeout=PAGE_MS)
    expect(thread.filter(has_text="Hi Olivia, it has been six months")).to_have_count(1)

    aiko = open_as(browser, base, "aiko", "/inbox")
    noah_row = list_row(aiko, "Noah Quinn", "My Inbox")
    expect(noah_row).to_have_count(1, timeout=PAGE_MS)
    expect(noah_row).to_contain_text("Could I come on Saturday at 10?")
    expect(list_row(aiko, "Olivia Park", "My Inbox")).to_have_count(0)

    # ---- 3. a sender no longer registered: its banner, then the rule both ways -----------------------
    banner = admin.get_by_test_id("stAlertContentWarning").filter(has_text="URGENT! Please register")
    expect(banner).to_contain_text("Toll-free (verification pending) · (888) 555-0142")  # the demo's own
    expect(banner).not_to_contain_text("Promo line")
    admin.goto(base + "/senders")
    choose(admin, admin, "Edit", "Promo line ((415) 555-0124)")
    # The form holds Promo line's values once that run is drawn (a click before it would send the empty form's).
    expect(admin.get_by_role("textbox", name="Number", exact=True)).to_have_value(PROMO_LINE, timeout=PAGE_MS)
    idle(admin)
    choose(admin, admin, "Campaign", "Suspended")
    idle(admin)
    admin.get_by_role("button", name="Save sender").click()
    toast(admin, "Sender saved.")
    promo_row = admin.locator("[data-testid=stDataFrame] tbody tr", has_text="Promo line")
    expect(promo_row).to_contain_text("US long code (10DLC): rejected", timeout=PAGE_MS)
    admin.goto(base + "/campaigns")
    expect(banner).to_contain_text("Promo line · (415) 555-0124", timeout=PAGE_MS)
    expect(banner).not_to_contain_text("Recall line")

    set_rule(admin, base, "Do not send from them")
    new_campaign(admin, base, "Spring promo", "Promo line")
    blocked = (
        "Parley does not send from Promo line to US numbers until it is registered (Sender not registered (10DLC); "
        "the workspace's rule for unregistered senders): its US recipients will be left out."
    )
    expect(admin.get_by_text(blocked)).to_have_count(1)  # on the form, before Preview
    admin.get_by_role("button", name="Preview").click()
    expect(metric(admin, "Recipients")).to_have_text("0", timeout=PAGE_MS)
    expect(metric(admin, "Left out")).to_have_text("4")
    left_out = admin.get_by_test_id("stDataFrame").filter(has_text="Left out because")
    expect(left_out).to_contain_text("US number, and the sender is not registered")
    expect(admin.get_by_text("Nobody would receive this campaign.")).to_be_visible()
    expect(admin.get_by_role("button", name="Send")).to_have_count(0)
    assert len(twilio.sends) == 3

    warning = "Promo line has no completed 10DLC brand and campaign registration (status: rejected)"
    set_rule(admin, base, "Send, and warn admins")
    new_campaign(admin, base, "Spring promo", "Promo line")
    admin.get_by_role("button", name="Preview").click()
    expect(metric(admin, "Recipients")).to_have_text("3", timeout=PAGE_MS)
    expect(admin.get_by_text(warning)).to_have_count(2)  # on the form, and in the preview
    admin.get_by_role("button", name="Send").click()
    expect(admin.get_by_role("heading", name="Spring promo")).to_be_visible(timeout=PAGE_MS)
    from_promo = [s for s in wait_sent(base, twilio, 6) if s[1] == PROMO_LINE]
    assert from_promo == [
        (OLIVIA, PROMO_LINE, text_for("Olivia")),
        (NOAH, PROMO_LINE, text_for("Noah")),
        (EMMA, PROMO_LINE, text_for("Emma")),
    ]
    deliver(base, twilio, 3)
    expect(admin.get_by_text("3 of 3 handled")).to_be_visible(timeout=PAGE_MS)
    banner = admin.get_by_test_id("stAlertContentWarning").filter(has_text="URGENT! Please register")
    expect(banner).to_contain_text("Promo line · (415) 555-0124")  # sending allowed, still flagged


def set_rule(page, base: str, choice: str) -> None:
    """The workspace's rule for unregistered US numbers, chosen on the Sender numbers page."""
    page.goto(base + "/senders")
    page.get_by_text(choice, exact=True).click()
    toast(page, "Rule saved.")
    expect(page.get_by_role("radio", name=choice)).to_be_checked()
    assert choice in visible_text(page)
