"""The desk's lists in a real browser on a busy machine: one click opens, every time.

Fifty conversations opened in a row from each list (My Inbox, Sent Messages, and Team Inbox right
after choosing someone in *Inbox of*), with a process spinning on every core, and not one blank
page or dead click: each click lands on the clicked conversation, which shows its newest message,
and the browser logs no error. Then the rows' keyboard: arrows move, Enter opens, ``x`` ticks.

A dead click is a click after which the address never becomes the row's conversation; a blank
page is a conversation address whose page never shows its messages (Streamlit's "Bad delta path"
error leaves exactly that). The deadline per open is the product's (400 ms p95 on a quiet
machine) times a margin for a 2-core machine whose cores are both taken by the burner.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in, signed_in_page
from tests.e2e.scenario import LIVE_MS, SLACK_MS, post_twilio_inbound, sidebar_link

OPENS = 50
OPEN_MS = 15_000
LIST_MS = 30_000


def watch_console(page) -> list[str]:
    errors: list[str] = []
    page.on(
        "console", lambda m: errors.append(m.text) if m.type == "error" and "Failed to load" not in m.text else None
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def row_links(page, label: str):
    """The links of the row list labelled ``label`` (rows without a conversation have none)."""
    return page.locator(f"[role=listbox][aria-label^='{label}'] li.row a.main")


def open_and_check(page, link, errors: list[str], what: str) -> None:
    href = link.get_attribute("href")
    cid = re.search(r"/conversation\?id=(\d+)$", href).group(1)
    link.click()
    try:
        page.wait_for_url(re.compile(rf"/conversation\?id={cid}$"), timeout=OPEN_MS)
    except Exception as exc:
        raise AssertionError(f"dead click: {what} (conversation {cid}) never opened") from exc
    try:
        page.locator("[data-testid=stChatMessage]").last.wait_for(state="visible", timeout=OPEN_MS)
        expect(page.get_by_role("link", name=re.compile(r"^Back to "))).to_be_visible(timeout=OPEN_MS)
    except Exception as exc:
        raise AssertionError(f"blank page: {what} (conversation {cid}); browser errors: {errors[-3:]}") from exc
    assert not errors, f"{what}: the browser logged {errors}"


def back_to(page, nav: str, label: str, errors: list[str] | None = None, what: str = "") -> None:
    page.get_by_test_id("stSidebarNavLink").filter(has_text=nav).click()
    try:
        row_links(page, label).first.wait_for(state="visible", timeout=LIST_MS)
    except Exception as exc:
        raise AssertionError(f"no list: back to {nav} {what}; browser errors: {(errors or [])[-3:]}") from exc


@pytest.mark.parametrize(
    "username, nav, label",
    [("maria", "My Inbox", "My Inbox"), ("maria", "Sent Messages", "Sent messages")],
)
def test_fifty_opens_in_a_row_under_load(parley, browser, cpu_burner, username, nav, label):
    base, _, _ = parley
    page = signed_in_page(browser, base, username)
    errors = watch_console(page)
    back_to(page, nav, label)
    for i in range(OPENS):
        links = row_links(page, label)
        open_and_check(page, links.nth(i % min(links.count(), 12)), errors, f"open {i + 1} from {nav}")
        back_to(page, nav, label, errors, f"after open {i + 1}")
    page.context.close()


def test_fifty_opens_from_team_inbox_right_after_choosing_inbox_of(parley, browser, cpu_burner):
    base, _, _ = parley
    page = signed_in_page(browser, base, "admin")
    errors = watch_console(page)
    back_to(page, "Team Inbox", "Conversations")
    pager = page.get_by_text(re.compile(r"^[\d,]+–[\d,]+ of [\d,]+$")).first
    agents = [re.compile(r"James .*\(@james\)"), re.compile(r"María .*\(@maria\)")]
    for i in range(OPENS):
        before = pager.inner_text(timeout=LIST_MS)
        page.locator("[data-testid=stSelectbox]").filter(has_text="Inbox of").click()
        page.get_by_role("option", name=agents[i % 2]).first.click()
        expect(pager).not_to_have_text(before, timeout=LIST_MS)
        # The rows are that agent's now (the whole team's rows name each owner; one agent's do not).
        expect(page.locator("[role=listbox] li.row .owner")).to_have_count(0, timeout=LIST_MS)
        # The very first click after the switch (the one that used to do nothing).
        open_and_check(page, row_links(page, "Conversations").first, errors, f"open {i + 1} from Team Inbox")
        back_to(page, "Team Inbox", "Conversations", errors, f"after open {i + 1}")
    page.context.close()


def test_a_row_click_and_the_keyboard_open_conversations(parley, browser):
    base, _, _ = parley
    page = signed_in_page(browser, base, "maria")
    errors = watch_console(page)
    back_to(page, "My Inbox", "My Inbox")
    # The whole row is the link: a click on its time (far from the name) opens it too.
    link = row_links(page, "My Inbox").nth(1)
    cid = re.search(r"id=(\d+)$", link.get_attribute("href")).group(1)
    link.locator(".when").click()
    page.wait_for_url(re.compile(rf"/conversation\?id={cid}$"), timeout=OPEN_MS)
    back_to(page, "My Inbox", "My Inbox")

    # Keyboard: focus the list, move down twice, tick with x, open with Enter.
    listbox = page.locator("[role=listbox][aria-label^='My Inbox']")
    listbox.focus()
    listbox.press("ArrowDown")
    listbox.press("ArrowDown")
    third = page.locator("[role=listbox][aria-label^='My Inbox'] li.row").nth(2)
    expect(third).to_have_class(re.compile(r"\bfocused\b"))
    listbox.press("x")
    expect(third.locator("input.tick")).to_be_checked()
    expect(page.get_by_text("1 selected", exact=True)).to_be_visible(timeout=LIST_MS)
    expect(page.get_by_role("button", name="Mark read")).to_be_enabled()
    listbox.press("x")
    expect(page.get_by_text("1 selected", exact=True)).to_have_count(0, timeout=LIST_MS)
    cid = re.search(r"id=(\d+)$", third.locator("a.main").get_attribute("href")).group(1)
    listbox.press("Enter")
    page.wait_for_url(re.compile(rf"/conversation\?id={cid}$"), timeout=OPEN_MS)
    page.locator("[data-testid=stChatMessage]").last.wait_for(state="visible", timeout=OPEN_MS)
    assert not errors, errors
    # Back in the browser goes back to the list.
    page.go_back()
    row_links(page, "My Inbox").first.wait_for(state="visible", timeout=LIST_MS)
    page.context.close()


def test_ticking_two_rows_and_marking_them_unread_then_read(parley, browser):
    base, _, _ = parley
    page = signed_in_page(browser, base, "james")
    back_to(page, "My Inbox", "My Inbox")
    rows = page.locator("[role=listbox][aria-label^='My Inbox'] li.row")
    hrefs = [rows.nth(i).locator("a.main").get_attribute("href") for i in range(2)]
    chosen = [rows.filter(has=page.locator(f"a.main[href='{href}']")) for href in hrefs]
    for action, toast, unread in (
        ("Mark unread", "Marked 2 conversations unread.", True),
        ("Mark read", "Marked 2 conversations read.", False),
    ):
        for row in chosen:
            row.locator("input.tick").click()
            expect(row.locator("input.tick")).to_be_checked()
        expect(page.get_by_text("2 selected", exact=True)).to_be_visible(timeout=LIST_MS)
        page.get_by_role("button", name=action).click()
        expect(page.get_by_text(toast)).to_be_visible(timeout=LIST_MS)
        for row in chosen:
            if unread:
                expect(row).to_have_class(re.compile(r"\bunread\b"), timeout=LIST_MS)
            else:
                expect(row).not_to_have_class(re.compile(r"\bunread\b"), timeout=LIST_MS)
            expect(row.locator("input.tick")).not_to_be_checked()
        expect(page.get_by_text("2 selected", exact=True)).to_have_count(0)
    page.context.close()


# ---- ticks survive whatever redraws the list --------------------------------------------------------


class HeldAnswers:
    """Holds what Parley sends this tab over Streamlit's websocket until ``release()`` (Playwright's
    websocket routing): the tab keeps showing the list as it was while the server has already run
    what the tab asked. A run is over once its ``script_finished`` message is held."""

    def __init__(self, page) -> None:
        self.page = page
        self.holding = False
        self.held: list = []
        self.tab = None
        page.route_web_socket(re.compile(r"/_stcore/stream"), self._route)

    def _route(self, tab) -> None:
        server = tab.connect_to_server()
        self.tab = tab
        tab.on_message(server.send)
        server.on_message(self._from_server)

    def _from_server(self, message) -> None:
        if self.holding:
            self.held.append(message)
        else:
            self.tab.send(message)

    def runs_finished(self) -> int:
        """Runs over (a run cut short by ``st.rerun`` is not: the run that follows it is)."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        done = 0
        for message in self.held:
            if isinstance(message, bytes):
                msg = ForwardMsg.FromString(message)
                if (
                    msg.WhichOneof("type") == "script_finished"
                    and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN
                ):
                    done += 1
        return done

    def wait_runs(self, count: int, what: str) -> None:
        deadline = time.monotonic() + LIST_MS / 1000
        while self.runs_finished() < count:
            assert time.monotonic() < deadline, f"the server never finished {what}"
            self.page.wait_for_timeout(50)  # lets Playwright deliver the server's messages meanwhile

    def release(self) -> None:
        self.holding = False
        for message in self.held:
            self.tab.send(message)
        self.held.clear()


def list_host(page, label: str):
    """The element the row list (a component in its own shadow root) is drawn in."""
    return page.get_by_test_id("stBidiComponentIsolated").filter(
        has=page.locator(f"[role=listbox][aria-label^='{label}']")
    )


def test_a_tick_made_while_the_page_reruns_stays_and_the_list_is_not_drawn_anew(parley, browser):
    """The first run after signing in hands the browser its cookie; the next run of the page used to
    have another shape, so the browser drew every block anew: the row list lost the ticks it kept,
    and took the server's selection from a run that started before the tick (issue 19's flaky tick)."""
    base, _, _ = parley
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    held = HeldAnswers(page)
    sign_in(page, base, "james")
    rows = page.locator("[role=listbox][aria-label^='My Inbox'] li.row")
    rows.nth(1).wait_for(state="visible", timeout=LIST_MS)
    list_host(page, "My Inbox").evaluate("host => { host.dataset.drawnBefore = 'yes'; }")
    href = rows.nth(0).locator("a.main").get_attribute("href")
    first = rows.filter(has=page.locator(f"a.main[href='{href}']"))

    # The page runs again (My Inbox in the sidebar); while its answer is on its way, a row is ticked.
    held.holding = True
    sidebar_link(page, "My Inbox").click()
    held.wait_runs(1, "the page's run")
    first.locator("input.tick").click()
    # A tick from a list whose fragment the page's run replaced names a fragment the server no
    # longer has: the server drops it and never runs the list.
    held.wait_runs(2, "the list's run after the tick (the tick was dropped)")
    held.release()

    expect(page.get_by_text("1 selected", exact=True)).to_be_visible(timeout=LIST_MS)
    expect(first.locator("input.tick")).to_be_checked()
    assert list_host(page, "My Inbox").evaluate("host => host.dataset.drawnBefore") == "yes", (
        "the page's second run drew the row list anew (the page's shape changed between runs)"
    )
    second = rows.nth(1)
    second.locator("input.tick").click()
    expect(page.get_by_text("2 selected", exact=True)).to_be_visible(timeout=LIST_MS)
    expect(first.locator("input.tick")).to_be_checked()
    expect(second.locator("input.tick")).to_be_checked()
    context.close()


def test_a_tick_made_while_a_dialog_opens_stays(parley, browser):
    """*Assign…* opens a dialog (a run cut short by ``st.rerun``, then the whole page): a row ticked
    while those runs are on their way stays ticked, with the dialog open and after it is cancelled,
    and the dialog asks about what was ticked when *Assign…* was pressed."""
    base, _, _ = parley
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    held = HeldAnswers(page)
    sign_in(page, base, "admin")
    back_to(page, "Team Inbox", "Conversations")
    rows = page.locator("[role=listbox][aria-label^='Conversations'] li.row")
    rows.nth(1).wait_for(state="visible", timeout=LIST_MS)
    hrefs = [rows.nth(i).locator("a.main").get_attribute("href") for i in range(2)]
    first, second = (rows.filter(has=page.locator(f"a.main[href='{h}']")) for h in hrefs)
    first.locator("input.tick").click()
    expect(page.get_by_text("1 selected", exact=True)).to_be_visible(timeout=LIST_MS)

    held.holding = True
    page.get_by_role("button", name="Assign…").click()
    held.wait_runs(1, "the run that opens the dialog")
    second.locator("input.tick").click()
    held.wait_runs(2, "the list's run after the tick")
    held.release()

    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Assign conversations", timeout=LIST_MS)
    # The question is about what was ticked when Assign… was pressed.
    expect(dialog).to_contain_text("1 conversation will move", timeout=LIST_MS)
    expect(first.locator("input.tick")).to_be_checked()
    expect(second.locator("input.tick")).to_be_checked()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0, timeout=LIST_MS)
    expect(page.get_by_text("2 selected", exact=True)).to_be_visible(timeout=LIST_MS)
    expect(first.locator("input.tick")).to_be_checked()
    expect(second.locator("input.tick")).to_be_checked()
    context.close()


def test_ticks_stay_when_a_new_message_redraws_the_list(parley, browser):
    """Two rows ticked, then a customer writes: the list redraws (the watcher saw the inbox move)
    with the new message at the top, and the two conversations are still the ticked ones."""
    base, _, ids = parley
    conversation_id, contact_phone, sender_phone, _ = ids["maria_sms_conversations"][1]
    page = signed_in_page(browser, base, "maria")
    back_to(page, "My Inbox", "My Inbox")
    rows = page.locator("[role=listbox][aria-label^='My Inbox'] li.row")
    rows.nth(4).wait_for(state="visible", timeout=LIST_MS)
    hrefs = [
        h
        for h in (rows.nth(i).locator("a.main").get_attribute("href") for i in range(5))
        if not h.endswith(f"={conversation_id}")
    ][2:4]
    chosen = [rows.filter(has=page.locator(f"a.main[href='{h}']")) for h in hrefs]
    for row in chosen:
        row.locator("input.tick").click()
    expect(page.get_by_text("2 selected", exact=True)).to_be_visible(timeout=LIST_MS)

    body = f"Are you still there? ({time.monotonic_ns()})"
    post_twilio_inbound(base, contact_phone, sender_phone, body)
    expect(rows.first).to_contain_text(body, timeout=LIVE_MS + SLACK_MS)
    expect(rows.first.locator("a.main")).to_have_attribute("href", re.compile(rf"id={conversation_id}$"))
    for row in chosen:
        expect(row.locator("input.tick")).to_be_checked()
    expect(page.get_by_text("2 selected", exact=True)).to_be_visible()
    expect(rows.first.locator("input.tick")).not_to_be_checked()
    # The ticks still act on those two: Mark unread marks exactly them.
    page.get_by_role("button", name="Mark unread").click()
    expect(page.get_by_text("Marked 2 conversations unread.")).to_be_visible(timeout=LIST_MS)
    for row in chosen:
        expect(row).to_have_class(re.compile(r"\bunread\b"), timeout=LIST_MS)
    page.context.close()
