"""Scenario 10: sign-in that survives a reload, sign-out that ends every copy, no forged cookie, lock-out.

* Aiko signs in and reloads: still signed in (the HttpOnly cookie restores
  the session).
* Her cookie is copied into a second browser (as a thief would): it works
  there, until Aiko signs out; then the copy's open tab shows the sign-in
  form by itself, and a reload stays signed out.
* Cookies altered by hand (the signature, the session number, the secret)
  are refused: the sign-in form, nothing else.
* James's username gets wrong passwords from many addresses (the server
  trusts ``X-Forwarded-For`` here, as behind a proxy, so the per-address
  throttle stays out of the way). After enough of them the username is
  locked for browsers that never signed in as James — even with the right
  password — while the browser he signed in with before still gets in.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core import auth
from tests.e2e.conftest import CONTEXTS_TO_CLOSE, VIEWPORT_DEFAULT, sign_in
from tests.e2e.scenario import PAGE_MS, open_as, record_loads, reload_once_signed_out, serve

LOCKED_AT_LEAST_S = 16  # longer than the next sign-in takes on a loaded machine
LOCKED = re.compile(
    r"^Too many failed sign-ins for this username: wait (\d+) (seconds?|minutes?) and try again, "
    r"or sign in from a browser you have signed in with before\.$"
)


@pytest.fixture(scope="module")
def parley(tmp_path_factory, demo_template):
    with serve(tmp_path_factory, demo_template, PARLEY_TRUST_PROXY="1") as running:
        yield running


def fresh_context(browser, address: str | None = None, cookies: list | None = None):
    context = browser.new_context(
        viewport=VIEWPORT_DEFAULT, extra_http_headers={"X-Forwarded-For": address} if address else None
    )
    context.set_default_navigation_timeout(PAGE_MS)
    CONTEXTS_TO_CLOSE.append(context)
    if cookies:
        context.add_cookies(cookies)
    return context


def signed_out(page) -> None:
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=PAGE_MS)
    expect(page.get_by_text("My Inbox")).to_have_count(0)


def test_sign_in_survives_a_reload_and_sign_out_ends_the_copied_cookie(parley, browser):
    base = parley.base
    aiko = open_as(browser, base, "aiko", "/inbox")
    aiko.get_by_role("heading", name=re.compile("My Inbox")).wait_for(timeout=PAGE_MS)
    aiko.reload()
    aiko.get_by_role("heading", name=re.compile("My Inbox")).wait_for(timeout=PAGE_MS)
    expect(aiko.get_by_text("Agent · @aiko")).to_be_visible()

    copied = [c for c in aiko.context.cookies(base) if c["name"] == "parley_session"]
    assert len(copied) == 1 and copied[0]["httpOnly"]
    thief = fresh_context(browser, cookies=copied).new_page()
    thief.goto(base + "/inbox")
    expect(thief.get_by_text("Agent · @aiko")).to_be_visible(timeout=PAGE_MS)

    thief_loads = record_loads(thief)
    aiko.get_by_role("button", name="Sign out", exact=True).click()
    signed_out(aiko)
    signed_out(thief)  # the copy's open tab, at its next live check
    reload_once_signed_out(thief, thief_loads)
    signed_out(thief)


def test_altered_cookies_are_refused(parley, browser):
    base = parley.base
    maria = open_as(browser, base, "maria", "/inbox")
    maria.get_by_role("heading", name=re.compile("My Inbox")).wait_for(timeout=PAGE_MS)
    real = next(c for c in maria.context.cookies(base) if c["name"] == "parley_session")
    session_id, token, signature = real["value"].split(".")
    flipped = "0" if signature[-1] != "0" else "1"
    for value in (
        f"{session_id}.{token}.{signature[:-1]}{flipped}",  # the signature
        f"{int(session_id) + 1}.{token}.{signature}",  # another session's number
        f"{session_id}.{token[:-1]}{'A' if token[-1] != 'A' else 'B'}.{signature}",  # the secret
        f"{session_id}.{token}",  # no signature at all
    ):
        forged = fresh_context(browser, cookies=[{**real, "value": value}]).new_page()
        forged.goto(base + "/inbox")
        signed_out(forged)
        expect(forged.get_by_text("María López")).to_have_count(0)
    # The real cookie still works.
    maria.reload()
    maria.get_by_role("heading", name=re.compile("My Inbox")).wait_for(timeout=PAGE_MS)


def attempt(page, base: str, address: str, password: str) -> str:
    page.set_extra_http_headers({"X-Forwarded-For": address})
    page.goto(base + "/")  # a fresh page: the answer on screen is this attempt's
    page.get_by_label("Username").fill("james")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    answer = page.get_by_text(re.compile(r"^(Wrong username or password\.|Too many failed sign-ins .+)$"))
    answer.wait_for(timeout=PAGE_MS)
    return answer.inner_text()


def test_repeated_failures_lock_the_username_except_for_a_known_browser(parley, browser):
    base = parley.base
    known = fresh_context(browser, "198.51.100.200").new_page()
    sign_in(known, base, "james")  # James's own browser: it keeps a device cookie
    known.get_by_role("button", name="Sign out", exact=True).click()
    known.get_by_role("button", name="Sign in").wait_for(timeout=PAGE_MS)

    # A browser that never signed in as James, its form filled with the right password beforehand,
    # so that its attempt right after the lock is one click (not a page load the lock could outlast).
    stranger = fresh_context(browser, "192.0.2.77").new_page()
    stranger.goto(base + "/")
    stranger.get_by_label("Username").fill("james")
    stranger.get_by_label("Password", exact=True).fill("parley-demo")

    guesser = fresh_context(browser).new_page()
    free = auth.ACCOUNT_FREE_FAILURES
    answers = [attempt(guesser, base, f"203.0.113.{i + 1}", "not-his-password") for i in range(free)]
    assert answers == ["Wrong username or password."] * free, answers
    # From now on each counted failure doubles the wait (1 s, 2 s, 4 s, ...), and an attempt inside
    # the wait is refused with it. Keep guessing (each guess takes a page load) until the wait is
    # longer than a sign-in takes on a loaded machine.
    for i in range(60):
        said = attempt(guesser, base, f"203.0.114.{i + 1}", "not-his-password")
        wait = LOCKED.match(said)
        if wait and wait.group(2).startswith("minute") or wait and int(wait.group(1)) >= LOCKED_AT_LEAST_S:
            break
        assert said == "Wrong username or password." or wait, said
    else:
        raise AssertionError(f"the username was never locked for {LOCKED_AT_LEAST_S} s: {said}")

    # The stranger's browser: refused even with the right password.
    stranger.get_by_role("button", name="Sign in").click()
    answer = stranger.get_by_text(re.compile(r"^Too many failed sign-ins .+$"))
    answer.wait_for(timeout=PAGE_MS)
    assert LOCKED.match(answer.inner_text()), answer.inner_text()
    expect(stranger.get_by_text("My Inbox")).to_have_count(0)

    # James's own browser still gets in.
    known.get_by_label("Username").fill("james")
    known.get_by_label("Password", exact=True).fill("parley-demo")
    known.get_by_role("button", name="Sign in").click()
    known.get_by_text("My Inbox").first.wait_for(timeout=PAGE_MS)
    expect(known.get_by_text("Agent · @james")).to_be_visible()
