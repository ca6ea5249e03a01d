"""What the end-to-end scenarios (issue 17, ``test_scenario_*.py``) share.

Each scenario module runs its own Parley (``serve``): a copy of the demo
workspace, open around the clock unless the scenario says otherwise, plus
whatever rows the scenario writes with ``tests/factories.py`` before the
server opens the file (DuckDB lets one process write it). Browsers sign in
through the real form; customers and carriers reach Parley over HTTP, the
way providers do.
"""

from __future__ import annotations

import http.client
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests.e2e.conftest import (
    CONTEXTS_TO_CLOSE,
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    VIEWPORT_DEFAULT,
    open_all_day,
    sign_in,
    start_parley,
    stop_parley,
)

# A page's live parts refresh every 2 s; on a 2-core machine shared with other test runs a refresh
# and the browser's work both wait for a core. Waits use these deadlines, never fixed sleeps.
LIVE_MS = 5_000  # product promise: live changes within 5 s
SLACK_MS = 10_000  # what a loaded 2-core machine adds to it
PAGE_MS = 45_000  # a page's first render under load
expect.set_options(timeout=20_000)  # what any expectation allows a loaded machine (Playwright's default: 5 s)

# Keeps every toast text the page ever showed (Parley's own toasts and Streamlit's; toasts go away).
TOAST_LOG_JS = """
(() => {
  window.__parleyToastLog = [];
  const seen = new WeakSet();  // a toast added inside a new container is reported twice by the observer
  const SELECTOR = ".parley-toast, [data-testid=stToast]";
  new MutationObserver((changes) => {
    for (const change of changes) {
      for (const node of change.addedNodes) {
        if (!(node instanceof Element)) continue;
        const found = node.matches(SELECTOR) ? [node] : Array.from(node.querySelectorAll(SELECTOR));
        for (const toast of found) {
          if (seen.has(toast)) continue;
          seen.add(toast);
          window.__parleyToastLog.push(toast.textContent);
        }
      }
    }
  }).observe(document, {childList: true, subtree: true});
})();
"""


@dataclass
class Parley:
    base: str
    work: Path
    ids: dict[str, Any] = field(default_factory=dict)


@contextmanager
def serve(
    tmp_path_factory,
    demo_template: Path,
    prepare: Callable[[Any], dict[str, Any]] | None = None,
    *,
    all_day: bool = True,
    **env: str,
) -> Iterator[Parley]:
    """Parley on a copy of the demo workspace; ``prepare(db)`` writes the scenario's rows first."""
    from core import schema
    from core.db import Database

    work = tmp_path_factory.mktemp("scenario")
    shutil.copytree(demo_template, work / "ws")
    db = Database(work / "ws" / "parley.duckdb")
    try:
        schema.migrate(db)
        if all_day:
            open_all_day(db)
        ids = prepare(db) if prepare is not None else {}
        db.checkpoint()
    finally:
        db.close()
    proc, base = start_parley(work, **env)
    try:
        yield Parley(base, work, ids)
    finally:
        stop_parley(proc)


def demo_ids(db) -> dict[str, int]:
    """The demo workspace's people and senders by name."""
    users = dict(db.fetchall("SELECT username, id FROM users"))
    senders = {channel: sid for sid, channel in db.fetchall("SELECT id, channel FROM senders ORDER BY id DESC")}
    return {**{f"user_{k}": v for k, v in users.items()}, **{f"sender_{k}": v for k, v in senders.items()}}


def open_as(browser, base: str, username: str, path: str = "/", *, log_toasts: bool = True, viewport=None):
    """A fresh browser context signed in as ``username`` (cookie set), then ``path`` loaded afresh.

    Loading afresh matters: right after the form, the tab's session has no cookie yet and the
    notifications come as Streamlit toasts instead of the event stream's.
    """
    context = browser.new_context(viewport=viewport or VIEWPORT_DEFAULT)
    context.set_default_navigation_timeout(PAGE_MS)  # a first page load on a loaded machine
    CONTEXTS_TO_CLOSE.append(context)
    if log_toasts:
        context.add_init_script(TOAST_LOG_JS)
    page = context.new_page()
    sign_in(page, base, username)
    page.goto(base + path)
    return page


def toasts_seen(page) -> list[str]:
    return page.evaluate("window.__parleyToastLog || []")


def visible_text(page, selector: str = "[data-testid=stMain]") -> str:
    """What a reader sees in ``selector``, without the invisible word joiners ``esc()`` adds."""
    return page.eval_on_selector(selector, "el => el.innerText.replaceAll('\\u2060', '')")


def wait_for_text(page, expected: str, selector: str = "[data-testid=stMain]", timeout_ms: int = PAGE_MS) -> None:
    deadline = time.monotonic() + timeout_ms / 1000
    while expected not in (seen := visible_text(page, selector)):
        assert time.monotonic() < deadline, f"never shown: {expected!r}; the page shows:\n{seen[-3000:]}"
        page.wait_for_timeout(100)


def wait_title(page, count: int, timeout_ms: int = LIVE_MS + SLACK_MS) -> None:
    expected = f"({count}) Parley" if count else "Parley"
    page.wait_for_function("t => document.title === t", arg=expected, timeout=timeout_ms)


TITLE_RE = re.compile(r"^\((\d+)\) Parley$")


def settled_count(page, quiet_s: float = 2.5, timeout_s: float = 30) -> int:
    """The unread count in the tab title once it has stayed the same for ``quiet_s`` seconds."""
    page.wait_for_function("() => /^(\\(\\d+\\) )?Parley$/.test(document.title)", timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    title, since = page.title(), time.monotonic()
    while time.monotonic() - since < quiet_s:
        assert time.monotonic() < deadline, f"the tab title never settled (last: {title!r})"
        page.wait_for_timeout(200)
        now = page.title()
        if now != title:
            title, since = now, time.monotonic()
    match = TITLE_RE.match(title)
    return int(match.group(1)) if match else 0


def choose(page, scope, label: str, option, timeout_s: float = PAGE_MS / 1000) -> None:
    """Pick ``option`` (text or regex) in the selectbox labelled ``label``.

    The click that opens the list is tried again until the list shows: a page still in its
    first run under load can draw the selectbox anew after the click, closed (a loaded run
    lost a test that way, right after ``goto``).
    """
    box = scope.locator("[data-testid=stSelectbox]").filter(has_text=label)
    wanted = page.get_by_role("option", name=option).first
    deadline = time.monotonic() + timeout_s
    while True:
        box.click(timeout=max(1.0, deadline - time.monotonic()) * 1000)
        try:
            wanted.wait_for(state="visible", timeout=3000)
            break
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise AssertionError(f"the {label!r} list never offered {option!r}") from None
            page.keyboard.press("Escape")
    wanted.click()


def idle(page, timeout_ms: int = PAGE_MS) -> None:
    """Wait for the page's script run to end (Streamlit shows its status widget while it runs)."""
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=timeout_ms)


def downloaded(download, to: Path | None = None) -> Path:
    """The saved file of a finished download (copied to ``to`` when given); a failed one says why
    (the browser's reason and the address), not the bare "download failed" of ``path()``."""
    failure = download.failure()
    assert failure is None, f"the download of {download.url} failed in the browser: {failure}"
    if to is None:
        return download.path()
    download.save_as(to)
    return to


def toast(page, text, timeout_ms: int = PAGE_MS) -> None:
    """A toast with ``text`` (a string or regex) is on screen."""
    expect(page.get_by_test_id("stToast").filter(has_text=text)).to_be_visible(timeout=timeout_ms)


def type_choice(page, scope, label: str, typed: str, option) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` by typing ``typed`` into it: near the foot of
    the window its dropdown has no room to open, but the one option left by typing is taken by Enter."""
    box = scope.locator("[data-testid=stSelectbox]").filter(has_text=label)
    expect(box).to_be_visible(timeout=PAGE_MS)
    idle(page)
    box.locator("input").click()
    page.keyboard.type(typed)
    expect(page.get_by_role("option", name=option)).to_have_count(1, timeout=PAGE_MS)
    page.keyboard.press("Enter")
    expect(box.locator("input")).to_have_value(option, timeout=PAGE_MS)


def inbox_rows(page, label: str):
    """The rows of a list (pages/row_list.py) whose label starts with ``label``: each links to its conversation."""
    return page.locator(f"[role=listbox][aria-label^='{label}'] li.row")


def sidebar_link(page, name: str):
    return page.get_by_test_id("stSidebarNavLink").filter(has_text=name)


def list_row(page, title: str, list_label: str | None = None):
    """The row (``li.row``) of a Parley list whose title is ``title``."""
    scope = page.locator(f"[role=listbox][aria-label^='{list_label}']") if list_label else page
    return scope.locator("li.row").filter(has=page.locator(".who", has_text=re.compile(rf"^{re.escape(title)}$")))


def post_twilio_form(url: str, params: list[tuple[str, str]]) -> None:
    """A form posted and signed as Twilio posts it (``X-Twilio-Signature`` over ``url`` and the fields)."""
    from core.providers.twilio_webhooks import compute_signature

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)  # loopback: no proxy
    try:
        conn.request(
            "POST",
            parts.path + (f"?{parts.query}" if parts.query else ""),
            body=urlencode(params).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": compute_signature(TWILIO_AUTH_TOKEN, url, params),
            },
        )
        response = conn.getresponse()
        answer = response.read()
        assert response.status == 200, f"webhook answered {response.status}: {answer[:200]!r}"
    finally:
        conn.close()


def post_twilio_inbound(base: str, from_phone: str, to_phone: str, body: str) -> str:
    """An incoming SMS as Twilio posts it: a form signed with the account's auth token. Returns its id."""
    sid = "SM" + uuid.uuid4().hex
    post_twilio_form(
        base + "/webhooks/twilio",
        [
            ("MessageSid", sid),
            ("AccountSid", TWILIO_ACCOUNT_SID),
            ("From", from_phone),
            ("To", to_phone),
            ("Body", body),
            ("NumMedia", "0"),
            ("SmsStatus", "received"),
        ],
    )
    return sid


def post_twilio_status(base: str, twilio, sid: str, status: str) -> None:
    """Twilio's status callback for message ``sid`` of the loopback Twilio ``twilio``
    (``tests/fakes/twilio_server.py``): to the ``StatusCallback`` URL Parley gave, else its webhook."""
    form = dict(twilio.forms[sid])
    post_twilio_form(
        form.get("StatusCallback") or base + "/webhooks/twilio",
        [
            ("MessageSid", sid),
            ("MessageStatus", status),
            ("AccountSid", TWILIO_ACCOUNT_SID),
            ("From", form["From"]),
            ("To", form["To"]),
            ("ApiVersion", "2010-04-01"),
        ],
    )


def http_get(
    base: str, path: str, cookies: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A plain GET on the running server (what a crafted request can reach)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        headers = dict(headers or {})
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def record_reruns(page) -> list[tuple[float, str]]:
    """Every rerun the page asks over Streamlit's websocket (``BackMsg.rerun_script``), as it is
    sent: (monotonic time, fragment id; "" for a whole-page run). Attach before ``goto``."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    reruns: list[tuple[float, str]] = []

    def on_socket(socket) -> None:
        def sent(payload) -> None:
            if isinstance(payload, str):
                return
            msg = BackMsg.FromString(payload)
            if msg.WhichOneof("type") == "rerun_script":
                reruns.append((time.monotonic(), msg.rerun_script.fragment_id))

        socket.on("framesent", sent)

    page.on("websocket", on_socket)
    return reruns


def record_requests(page, part: str) -> list[float]:
    """When the page requested a URL containing ``part`` (monotonic times)."""
    asks: list[float] = []
    page.on("request", lambda r: asks.append(time.monotonic()) if part in r.url else None)
    return asks


def record_loads(page) -> list[str]:
    """Each document ``page`` loads from now on (its URL): a reload, or a navigation the page starts
    itself. Attach before the action that leads to it."""
    loads: list[str] = []
    page.on("load", lambda p: loads.append(p.url))
    return loads


def reload_once_signed_out(page, loads: list[str], timeout_ms: int = PAGE_MS) -> None:
    """Reload a tab whose session ended elsewhere, after the tab's own way out has finished.

    A tab that notices its session ended shows the sign-in form, then drops the cookie and starts
    afresh at "/" (``pages.session.render_pending_cookie_actions``: ``location.replace('/')``). A
    reload sent while that navigation is under way is aborted by it (net::ERR_ABORTED, "Not attached
    to an active page", seen on a loaded machine), so wait for its load first (``record_loads``,
    attached before the sign-out)."""
    wait_started_afresh(page, loads, timeout_ms)
    page.reload()


def wait_started_afresh(page, loads: list[str], timeout_ms: int = PAGE_MS) -> None:
    """Wait until a signed-out tab has started afresh at "/" (``record_loads``, attached before the
    sign-out). Close a context only after that: closing one while its tab was in that navigation
    left chromium hanging in ``BrowserContext.close`` on a loaded machine (test_live_watch.py,
    until the 420 s watcher killed it)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not loads:
        if time.monotonic() > deadline:
            raise AssertionError(f"the signed-out tab never started afresh at / within {timeout_ms} ms")
        page.wait_for_timeout(100)
