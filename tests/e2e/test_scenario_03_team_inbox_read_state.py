"""Scenario 3: an admin reads an agent's conversation in Team Inbox; the read state stays the agent's.

James has My Inbox open in his own browser. The admin, in another, opens
James's unread conversation with Quinn from Team Inbox: it is marked
"Unread for James …" to the admin, and James's tab title and row do not
move (rule 6). Then the admin ticks James's read conversation with Rita,
clicks Mark unread, is asked "Change another agent's read state?", confirms,
and James's tab title counts one more and Rita's row turns unread, without
James doing anything.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.scenario import PAGE_MS, choose, demo_ids, list_row, open_as, serve, settled_count, wait_title


@pytest.fixture(scope="module")
def parley(tmp_path_factory, demo_template):
    def prepare(db):
        from tests import factories as f

        ids = demo_ids(db)
        james = ids["user_james"]
        quinn = f.add_conversation(
            db,
            contact_id=f.add_contact(db, name="Quinn Proof"),
            sender_id=ids["sender_sms"],
            owner_id=james,
            inbound_body="Do you open on Saturdays?",
        )
        rita = f.add_conversation(
            db,
            contact_id=f.add_contact(db, name="Rita Proof"),
            sender_id=ids["sender_sms"],
            owner_id=james,
            inbound_body="Thanks for fitting me in",
        )
        f.mark_read(db, james, rita)
        return {
            "quinn": quinn,
            "rita": rita,
            "james": db.scalar("SELECT display_name FROM users WHERE id = ?", [james]),
        }

    with serve(tmp_path_factory, demo_template, prepare) as running:
        yield running


def team_inbox_of(page, base: str, who: str) -> None:
    page.goto(base + "/team")
    page.get_by_role("heading", name="Team Inbox").wait_for(timeout=PAGE_MS)
    choose(page, page, "Inbox of", re.compile(rf"^{re.escape(who)} \(@james\)"))
    # The rows are one agent's now (the whole team's rows name each owner; one agent's do not).
    expect(page.locator("[role=listbox] li.row .owner")).to_have_count(0, timeout=PAGE_MS)


def test_admin_reads_without_touching_and_marks_unread_for_the_agent_after_confirming(parley, browser):
    base, ids = parley.base, parley.ids
    james_name = ids["james"]
    james = open_as(browser, base, "james", "/inbox")
    quinn_row, rita_row = list_row(james, "Quinn Proof", "My Inbox"), list_row(james, "Rita Proof", "My Inbox")
    expect(quinn_row).to_have_class(re.compile(r"\bunread\b"), timeout=PAGE_MS)
    expect(rita_row).not_to_have_class(re.compile(r"\bunread\b"))
    before = settled_count(james)

    # The admin opens Quinn's conversation from Team Inbox and reads it.
    admin = open_as(browser, base, "admin", "/team")
    team_inbox_of(admin, base, james_name)
    list_row(admin, "Quinn Proof").locator("a.main").click()
    admin.wait_for_url(re.compile(rf"/conversation\?id={ids['quinn']}$"), timeout=PAGE_MS)
    admin.get_by_role("heading", name="Quinn Proof").wait_for(timeout=PAGE_MS)
    expect(admin.get_by_text(f"Unread for {james_name}", exact=True)).to_be_visible(timeout=PAGE_MS)
    expect(admin.locator("[data-testid=stChatMessage]", has_text="Do you open on Saturdays?")).to_be_visible()
    # James's state is unchanged: same count, Quinn still unread.
    assert settled_count(james) == before
    expect(quinn_row).to_have_class(re.compile(r"\bunread\b"))

    # The admin marks Rita's conversation unread for James, after confirming.
    team_inbox_of(admin, base, james_name)
    box = list_row(admin, "Rita Proof").locator("input.tick")
    box.click()
    expect(box).to_be_checked()
    expect(admin.get_by_text("1 selected", exact=True)).to_be_visible(timeout=PAGE_MS)
    admin.get_by_role("button", name="Mark unread").click()
    dialog = admin.get_by_role("dialog")
    expect(dialog.get_by_text("Change another agent's read state?")).to_be_visible(timeout=PAGE_MS)
    expect(dialog).to_contain_text(
        f"This marks 1 conversation unread in {james_name}'s inbox. They will see it as unread."
    )
    assert settled_count(james) == before  # nothing happens before the admin confirms
    dialog.get_by_role("button", name="Confirm").click()
    expect(admin.get_by_text(f"Marked 1 conversation unread for {james_name}.")).to_be_visible(timeout=PAGE_MS)

    wait_title(james, before + 1)
    expect(rita_row).to_have_class(re.compile(r"\bunread\b"), timeout=PAGE_MS)
    james.context.close()
    admin.context.close()
