"""README screenshots, taken from the demo workspace so they show what Parley looks like today.

    python -m scripts.screenshots            # writes docs/inbox.png, docs/conversation.png, docs/assign.png

Starts Parley on a fresh demo workspace in a temporary folder (a free port, the built-in
simulator playing the carrier), signs in as the demo users in Debian's chromium at
1366×768, and saves:

* ``docs/inbox.png`` — María's My Inbox;
* ``docs/conversation.png`` — one of her SMS conversations, opened from the list;
* ``docs/assign.png`` — the admin's Team Inbox with two rows ticked and the assign dialog.

Names in the demo are in many scripts and the rows carry emoji: install
``fonts-noto-color-emoji`` and ``fonts-noto-cjk`` (Debian) for pictures without empty boxes.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.chromium import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent
VIEWPORT = {"width": 1366, "height": 768}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(work: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(
        os.environ,
        PARLEY_DB=str(work / "parley.duckdb"),
        PARLEY_MEDIA_DIR=str(work / "media"),
        PARLEY_PORT=str(port),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=(work / "server.log").open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("Parley did not start: " + (work / "server.log").read_text()[-2000:])


def signed_in(browser, base: str, username: str):
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(base + "/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill("parley-demo")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out", exact=True).wait_for(timeout=120_000)
    deadline = time.time() + 30
    while not any(c["name"] == "parley_session" for c in page.context.cookies(base)):
        if time.time() > deadline:
            raise SystemExit("the sign-in cookie was never set")
        time.sleep(0.05)
    return page


def settle(page) -> None:
    """Wait until the page stops running (Streamlit's status widget gone) and fonts are in."""
    page.wait_for_function("document.fonts.status === 'loaded'")
    page.wait_for_function("!document.querySelector('[data-testid=stStatusWidget]')", timeout=30_000)


def shoot(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="parley-shots-") as tmp:
        proc, base = start(Path(tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                inbox = signed_in(browser, base, "maria")
                inbox.goto(base + "/inbox")
                rows = inbox.locator("[role=listbox] li.row")
                rows.nth(8).wait_for(state="visible", timeout=60_000)
                settle(inbox)
                inbox.screenshot(path=str(out / "inbox.png"))

                # A conversation opened from the list: the first SMS row whose thread has a few messages.
                links = inbox.locator("[role=listbox] li.row a.main")
                for i in range(links.count()):
                    if "SMS" in (links.nth(i).locator(".chan").get_attribute("title") or ""):
                        links.nth(i).click()
                        break
                inbox.wait_for_url(re.compile(r"/conversation\?id=\d+"), timeout=60_000)
                inbox.locator("[data-testid=stChatMessage]").last.wait_for(state="visible", timeout=60_000)
                inbox.locator("[data-testid=stTextArea] textarea").wait_for(state="visible", timeout=60_000)
                inbox.locator("[data-testid=stSelectbox] input").first.wait_for(state="visible", timeout=60_000)
                settle(inbox)
                # The thread scrolls itself to its newest message (smoothly): picture it once there.
                inbox.wait_for_function(
                    "() => { const a = document.querySelector('.st-key-thread_box');"
                    " return a && a.scrollTop + a.clientHeight >= a.scrollHeight - 2; }",
                    timeout=30_000,
                )
                inbox.screenshot(path=str(out / "conversation.png"))

                team = signed_in(browser, base, "admin")
                team.goto(base + "/team")
                ticks = team.locator("[role=listbox] li.row input.tick")
                ticks.nth(2).wait_for(state="visible", timeout=60_000)
                ticks.nth(1).click()
                ticks.nth(2).click()
                team.get_by_text("2 selected", exact=True).wait_for(timeout=30_000)
                team.get_by_role("button", name="Assign…").click()
                dialog = team.get_by_role("dialog")
                dialog.get_by_text("Assign conversations").wait_for(timeout=30_000)
                dialog.locator("[data-testid=stSelectbox]").click()
                team.get_by_role("option", name=re.compile(r"James .*\(@james\)")).first.click()
                assign = dialog.get_by_role("button", name="Assign", exact=True)
                assign.wait_for(state="visible")
                settle(team)
                team.wait_for_function("(b) => !b.disabled", arg=assign.element_handle(), timeout=30_000)
                team.screenshot(path=str(out / "assign.png"))
                browser.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    for name in ("inbox.png", "conversation.png", "assign.png"):
        print(out / name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "docs"), help="folder for the PNGs (default: docs/)")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print("Debian's chromium is needed: apt-get install chromium")
        return 1
    shoot(Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
