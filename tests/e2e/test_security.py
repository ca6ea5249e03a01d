"""Security in a real browser: hostile names stay text and fetch nothing, sign-in learns its
source, and a copied session cookie dies with the sign-out.

The workspace holds a contact, an agent, a sender and two attachments whose names are written
in Markdown — bold, a ``javascript:`` link, and an image hosted on a loopback "tracker" this
module runs — plus a WhatsApp contact whose profile name carries the same and who replied
STOP (the composer's opt-out warning quotes the name). The browser opens the conversations:
every name reads exactly as typed, no link or image is made of it, and the tracker never hears
from the browser.

The server trusts ``X-Forwarded-For`` (``PARLEY_TRUST_PROXY=1``, as behind a reverse proxy), so
each browser context can come "from" its own address and the sign-in throttle is seen to key
on the address the sign-in form learned from ``st.context``.
"""

from __future__ import annotations

import http.server
import io
import re
import shutil
import threading
import time

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import VIEWPORT_DEFAULT, open_all_day, sign_in, start_parley, stop_parley
from tests.e2e.scenario import record_loads, reload_once_signed_out


class Tracker:
    """A loopback web server that records every request: the image a hostile name points at."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        tracker = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                tracker.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                self.wfile.write(png())

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (30, 120, 200)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def tracker():
    t = Tracker()
    yield t
    t.close()


def hostile_name(port: int) -> str:
    return f"**x** [y](javascript:alert(1)) ![t](http://127.0.0.1:{port}/t)"


def build_hostile_workspace(path, media_dir, name: str) -> dict:
    """Write the hostile names into a copy of the demo workspace (before the server opens it)."""
    from core import clock, schema
    from core.db import Database
    from core.media_store import MediaStore
    from tests import factories as f

    db = Database(path)
    schema.migrate(db)
    open_all_day(db)
    media = MediaStore(media_dir)
    maria = db.scalar("SELECT id FROM users WHERE username = 'maria'")
    db.write(lambda tx: tx.execute("UPDATE users SET display_name = ? WHERE id = ?", [name, maria]))
    wa = f.add_sender(db, channel="whatsapp", phone="+14155550178", label=name)
    contact = f.add_contact(db, name=name)
    conv = f.add_conversation(
        db, contact_id=contact, sender_id=wa, owner_id=maria, last_inbound_at=clock.utcnow(), inbound_body=name
    )
    image_sha, doc_sha = media.put(png()), media.put(b"%PDF-1.4 hostile")

    def write(tx):
        now = clock.utcnow()
        inbound = tx.scalar("SELECT id FROM messages WHERE conversation_id = ?", [conv])
        tx.execute("UPDATE messages SET has_media = TRUE WHERE id = ?", [inbound])
        tx.execute(
            "INSERT INTO media (message_id, sha256, content_type, filename, size, token, created_at) VALUES "
            "(?, ?, 'image/png', ?, 70, 'tok-e2e-1', ?), (?, ?, 'application/pdf', ?, 16, 'tok-e2e-2', ?)",
            [inbound, image_sha, name + ".png", now, inbound, doc_sha, name + ".pdf", now],
        )
        tx.execute(
            "INSERT INTO messages (conversation_id, contact_id, sender_id, direction, author_id, body, status, "
            "error_code, error_reason, created_at, status_at) VALUES (?, ?, ?, 'out', ?, 'Hello', 'failed', "
            "'131026', ?, ?, ?)",
            [conv, contact, wa, maria, name, now, now],
        )
        tx.execute("UPDATE conversations SET optout_flag = ? WHERE id = ?", [name, conv])

    db.write(write)
    stopped = f.add_contact(db, name=name + " STOP", opted_out=True)
    blocked = f.add_conversation(
        db, contact_id=stopped, sender_id=wa, owner_id=maria, last_inbound_at=clock.utcnow(), inbound_body="STOP"
    )
    db.close()
    return {"conv": conv, "blocked": blocked}


@pytest.fixture(scope="module")
def hostile_parley(tmp_path_factory, demo_template, tracker):
    work = tmp_path_factory.mktemp("e2e-security")
    shutil.copytree(demo_template, work / "ws")
    name = hostile_name(tracker.port)
    ids = build_hostile_workspace(work / "ws" / "parley.duckdb", work / "ws" / "media", name)
    proc, base = start_parley(work, PARLEY_TRUST_PROXY="1")
    yield base, work, ids, name
    stop_parley(proc)


@pytest.fixture
def context_from(browser):
    """``context_from("203.0.113.7")``: a browser context whose requests come through our 'proxy' from there."""
    made = []

    def make(address: str):
        context = browser.new_context(viewport=VIEWPORT_DEFAULT, extra_http_headers={"X-Forwarded-For": address})
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


def watch_requests(page, port: int) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url) if f"127.0.0.1:{port}" in request.url else None)
    return seen


def no_live_markup(page, base: str) -> None:
    """No element made of the name: no link or image anywhere but Parley itself, no bold "x"."""
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    srcs = page.eval_on_selector_all("img[src]", "els => els.map(e => e.src)")
    foreign = [u for u in hrefs + srcs if not u.startswith((base, "data:", "blob:")) and u != "about:blank"]
    assert foreign == []
    assert page.locator("[data-testid=stMain] strong", has_text=re.compile(r"^x$")).count() == 0


def visible_text(page, selector: str = "[data-testid=stMain]") -> str:
    """What a reader sees in ``selector``: its text, without the invisible word joiners esc() adds."""
    return page.eval_on_selector(selector, "el => el.innerText.replaceAll('\\u2060', '')")


def wait_for_text(page, expected: str, selector: str = "[data-testid=stMain]", timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while expected not in visible_text(page, selector):
        assert time.monotonic() < deadline, f"never shown: {expected!r} in {visible_text(page, selector)!r}"
        page.wait_for_timeout(100)


def test_hostile_names_show_as_typed_and_fetch_nothing(hostile_parley, tracker, context_from):
    base, work, ids, name = hostile_parley
    page = context_from("198.51.100.10").new_page()
    seen = watch_requests(page, tracker.port)
    sign_in(page, base, "maria")
    wait_for_text(page, f"{name}\nAgent · @maria", "[data-testid=stSidebarUserContent]")
    page.goto(f"{base}/conversation?id={ids['conv']}")
    # Everything that carries the name is on screen: header, owner and sender, opt-out request,
    # the image's caption, the document's download label, the failed message's reason.
    page.get_by_test_id("stChatMessage").first.wait_for(timeout=30_000)
    heading = page.get_by_test_id("stMain").get_by_role("heading").first
    assert heading.inner_text().replace("\u2060", "") == name
    for line in (
        f"via {name} · owner: {name}",
        f"Possible opt-out request: “{name}”",
        name + ".png",
        name + ".pdf · application/pdf",
        f"Failed — {name} (error 131026)",
    ):
        wait_for_text(page, line)
    no_live_markup(page, base)
    page.screenshot(path=str(work / "hostile-conversation.png"), full_page=True)

    # The composer's opt-out warning quotes the (WhatsApp profile) name.
    page.goto(f"{base}/conversation?id={ids['blocked']}")
    wait_for_text(page, f"{name} STOP has opted out (replied STOP): nothing can be sent until they reply START.")
    no_live_markup(page, base)
    page.goto(f"{base}/contacts")
    wait_for_text(page, "Click a contact to open it.")
    page.wait_for_load_state("networkidle")
    assert seen == [] and tracker.requests == [], (seen, tracker.requests)


def test_the_sign_in_form_throttles_by_the_address_it_learned(hostile_parley, context_from):
    base, _, _, _ = hostile_parley
    from core import auth

    noisy = context_from("203.0.113.66").new_page()
    answer = re.compile(r"Wrong username or password\.|Too many failed sign-ins from your network: wait .+")

    def attempt(password: str) -> str:
        noisy.goto(base + "/")  # a fresh page each time: the answer on screen is this attempt's
        noisy.get_by_label("Username").fill("james")
        noisy.get_by_label("Password", exact=True).fill(password)
        noisy.get_by_role("button", name="Sign in").click()
        said = noisy.get_by_text(answer)
        expect(said).to_be_visible(timeout=30_000)
        return said.inner_text()

    answers = [attempt("not-his-password") for _ in range(auth.SOURCE_FREE_FAILURES)]
    assert answers == ["Wrong username or password."] * auth.SOURCE_FREE_FAILURES
    # From then on each failure doubles the wait (1 s, 2 s, 4 s, ...): a page load or two later,
    # this address is told to wait.
    for _ in range(8):
        if attempt("not-his-password").startswith("Too many"):
            break
    else:
        raise AssertionError("the address was never slowed down")
    # Another address is not slowed down, for the same account.
    quiet = context_from("198.51.100.20").new_page()
    sign_in(quiet, base, "james")


def test_a_copied_session_cookie_stops_working_after_sign_out(hostile_parley, context_from):
    base, _, _, _ = hostile_parley
    owner = context_from("198.51.100.30").new_page()
    sign_in(owner, base, "aiko")
    stolen = [c for c in owner.context.cookies(base) if c["name"] == "parley_session"]
    thief = context_from("203.0.113.31")
    thief.add_cookies(stolen)
    thief_page = thief.new_page()
    thief_page.goto(base + "/")
    expect(thief_page.get_by_role("button", name="Sign out", exact=True)).to_be_visible(timeout=30_000)
    thief_loads = record_loads(thief_page)
    owner.get_by_role("button", name="Sign out", exact=True).click()
    owner.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
    # The thief's open tab is signed out within its next live check, and a reload stays out.
    expect(thief_page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
    reload_once_signed_out(thief_page, thief_loads, 30_000)
    expect(thief_page.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
    expect(thief_page.get_by_text("My Inbox")).to_have_count(0)


def test_sign_out_everywhere_ends_the_other_browsers(hostile_parley, context_from):
    base, _, _, _ = hostile_parley
    laptop = context_from("198.51.100.40").new_page()
    phone = context_from("198.51.100.41").new_page()
    sign_in(laptop, base, "admin")
    sign_in(phone, base, "admin")
    phone_loads = record_loads(phone)
    laptop.get_by_role("button", name="Sign out everywhere").click()
    laptop.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
    # The other browser's open tab notices at its next live check (every 2 s) and shows the form.
    expect(phone.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
    reload_once_signed_out(phone, phone_loads, 30_000)
    expect(phone.get_by_role("button", name="Sign in")).to_be_visible(timeout=30_000)
