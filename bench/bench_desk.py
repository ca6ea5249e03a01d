"""Desk bench: what an agent waits for in the browser, on the 100k-conversation workspace.

    python -m bench.generate --conversations 100000      # once, into $PARLEY_BENCH_DIR/100k.duckdb
    python -m bench.bench_desk                            # or --db FILE; --opens 10 --bulk 4 for a smoke run

* **open**: from the click on a My Inbox row to the conversation's newest message visible on
  screen (the last bubble of the thread inside the viewport), over 50 opens of different rows:
  rows 1–50 of the first page, then those of the next page (*Next*), each from the list (the
  list is reopened between opens, not timed). Target p95 ≤ 400 ms.
* **bulk**: from the click on *Mark read* (or *Mark unread*) with two rows ticked to both rows
  showing their new state in the list. Target p95 ≤ 300 ms. Also printed: ticking the two rows
  until the page says "2 selected".

A real Parley server (``streamlit run app.py``, workers and simulator on) runs on a private
copy of the workspace, driven by Debian's chromium through Playwright at 1366×768. Figures
depend on the machine's load: the 1-minute load average is printed with them; quote it, and
re-measure on a quiet machine.

Every step has a deadline (``Steps``): a step that misses it stops the bench with a message
naming the step and leaves a screenshot and the page's text in ``--artifacts``; the bench never
waits silently. Waits look for the rows again on every animation frame (the row list redraws a
changed row as a new element, so a wait holding the old element would never end).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, load_average, percentile, private_copy, workspace_path
from core import schema
from core.db import Database
from core.errors import ParleyError
from scripts.chromium import CHROMIUM, CHROMIUM_ARGS

OPEN_TARGET_MS = 400
BULK_TARGET_MS = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def report(label: str, samples: list[float], target: float | None = None) -> None:
    p50, p95 = percentile(samples, 50), percentile(samples, 95)
    verdict = "" if target is None else ("  OK" if p95 <= target else f"  OVER TARGET ({target:g} ms)")
    print(f"{label:<52} p50 {p50:7.0f} ms   p95 {p95:7.0f} ms   (n={len(samples)}){verdict}", flush=True)


def start_server(db_path: Path, media: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(
        os.environ, PARLEY_DB=str(db_path), PARLEY_MEDIA_DIR=str(media), PARLEY_PORT=str(port), PARLEY_LOG_RUN_TIMES="1"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.time() + 180
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
    raise SystemExit("Parley did not start: " + log.read_text()[-2000:])


# ---- every step has a deadline, and a failure leaves what the page showed -------------------------


class StepFailed(Exception):
    """A step of the bench missed its deadline or failed."""


class Steps:
    """Runs the bench as named steps, each with a deadline.

    Every Playwright call inside a step gets the step's deadline as its default timeout, waits are
    Playwright's own (``wait_for_function`` / locators, which re-find their elements, never a
    promise on an element the list may replace), and a SIGALRM a little after the deadline
    interrupts whatever still blocks. A failed step stops the bench with one message naming the
    step, and leaves a screenshot and the page's text (URL, the page, the list rows inside the row
    component's shadow root, the browser's console errors) in ``folder``.
    """

    GRACE_S = 15  # the alarm fires this long after the step's own deadline

    def __init__(self, page, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.console: list[str] = []
        page.on(
            "console", lambda m: self.console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        )
        page.on("pageerror", lambda exc: self.console.append(f"pageerror: {exc}"))

    @contextlib.contextmanager
    def step(self, name: str, seconds: float):
        def alarm(signum, frame):
            raise StepFailed(f"still blocked {seconds + self.GRACE_S:g} s after it started")

        self.page.set_default_timeout(seconds * 1000)
        previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds + self.GRACE_S)
        started = time.monotonic()
        try:
            yield
        except Exception as exc:
            signal.setitimer(signal.ITIMER_REAL, 0)
            elapsed = time.monotonic() - started
            saved = self.save(name)
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            # Said now: closing a browser that hangs must not swallow the reason.
            print(
                f"bench_desk: step “{name}” failed after {elapsed:.1f} s (deadline {seconds:g} s): {reason}\n{saved}",
                file=sys.stderr,
                flush=True,
            )
            raise SystemExit(2) from exc
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def save(self, name: str) -> str:
        """A screenshot and the page's text, each allowed 20 s (the page may be what hangs)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80]
        shot, words = self.folder / f"{stem}.png", self.folder / f"{stem}.txt"

        def alarm(signum, frame):
            raise StepFailed("gave up after 20 s")

        signal.signal(signal.SIGALRM, alarm)
        lines = []
        try:
            signal.setitimer(signal.ITIMER_REAL, 20)
            self.page.screenshot(path=str(shot), timeout=15_000)
            lines.append(f"  screenshot: {shot}")
        except Exception as exc:
            lines.append(f"  screenshot: none ({exc})")
        text = [f"URL: {self.page.url}"]
        try:
            signal.setitimer(signal.ITIMER_REAL, 20)
            text += ["", self.page.inner_text("body", timeout=10_000)]
            rows = self.page.locator(f"{ROWS} li.row").all_inner_texts()
            text += ["", f"Rows of the list ({len(rows)}):"] + [" | ".join(r.split("\n")) for r in rows]
        except Exception as exc:
            text.append(f"(the page's text could not be read: {exc})")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        text += ["", "Browser console (errors, warnings):"] + self.console[-30:]
        words.write_text("\n".join(text), encoding="utf-8")
        lines.append(f"  page text: {words}")
        return "\n".join(lines)


# ---- the user's path ---------------------------------------------------------------------------------

ROWS = "[role=listbox][aria-label^='My Inbox']"
LINKS = f"{ROWS} li.row a.main"
PAGE_SIZE = 50  # My Inbox's rows per page (core.queries.PAGE_SIZE)
STEP_S = 60  # a step's deadline: a page under heavy load still answers within it

# The row list draws inside its component's shadow root: look there (document.querySelector does not).
FIND_JS = """const rowsOf = (href) => {
  for (const host of document.querySelectorAll('[data-testid=stBidiComponentIsolated]')) {
    const root = host.shadowRoot;
    if (!root) continue;
    const list = root.querySelector("[role=listbox][aria-label^='My Inbox']");
    if (!list) continue;
    if (href === undefined) return Array.from(list.querySelectorAll('li.row'));
    return Array.from(list.querySelectorAll('li.row')).filter((li) => { const a = li.querySelector('a.main'); return a && a.getAttribute('href') === href; });
  }
  return [];
};"""
# True once the list's first row opens another conversation than ``before``.
NEXT_PAGE_JS = (
    FIND_JS
    + """
const first = rowsOf()[0];
const a = first && first.querySelector('a.main');
return !!a && a.getAttribute('href') !== arg;"""
)
# True once every row in ``arg.hrefs`` shows ``arg.unread`` (rows are found again each frame: the
# list redraws a changed row as a new element).
ROWS_STATE_JS = (
    FIND_JS
    + """
return arg.hrefs.every((href) => { const li = rowsOf(href)[0]; return !!li && li.classList.contains('unread') === arg.unread; });"""
)
# True once the conversation's newest message (the last bubble showing ``arg``, the first line its
# list row showed; any last bubble when that is empty) is inside the visible part of the thread's
# scroll area and of the window. The thread arrives in several deltas: the last bubble of a half-drawn
# thread is not the newest message.
NEWEST_IN_VIEW_JS = """
const norm = (t) => t.replace(/\\s+/g, ' ').trim();
const bubbles = Array.from(document.querySelectorAll('[data-testid=stChatMessage]'));
const e = arg ? bubbles.filter((b) => norm(b.innerText).includes(arg)).pop() : bubbles[bubbles.length - 1];
if (!e) return false;
const r = e.getBoundingClientRect();
const box = e.closest('.st-key-thread_box') || document.documentElement;
const c = box.getBoundingClientRect();
const top = Math.max(0, c.top), bottom = Math.min(innerHeight, c.bottom || innerHeight);
return r.height > 0 && r.top < bottom && r.bottom > top;"""


def as_function(body: str) -> str:
    return "(arg) => { " + body + " }"


def sign_in(steps: Steps, base: str, username: str, password: str) -> None:
    page = steps.page
    with steps.step(f"sign in as {username}", 180):
        page.goto(base + "/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Sign out", exact=True).wait_for()
    with steps.step("wait for the sign-in cookie", 30):
        deadline = time.monotonic() + 30
        while not any(c["name"] == "parley_session" for c in page.context.cookies(base)):
            if time.monotonic() > deadline:
                raise StepFailed("the sign-in cookie was never set")
            page.wait_for_timeout(50)


def to_my_inbox(steps: Steps, what: str, row: int) -> None:
    page = steps.page
    with steps.step(f"{what}: back to My Inbox until row {row + 1} shows", STEP_S):
        page.get_by_test_id("stSidebarNavLink").filter(has_text="My Inbox").click()
        page.locator(LINKS).nth(row).wait_for(state="visible")


def bench_opens(steps: Steps, opens: int) -> list[float]:
    """Open ``opens`` rows in turn: rows 1–50 of page 1, then (Next) those of page 2, and so on."""
    page = steps.page
    samples: list[float] = []
    for i in range(opens):
        row = i % PAGE_SIZE
        what = f"open {i + 1}/{opens} (page {i // PAGE_SIZE + 1}, row {row + 1})"
        to_my_inbox(steps, what, 0)
        if row == 0 and i > 0:
            with steps.step(f"{what}: Next page", STEP_S):
                before = page.locator(LINKS).first.get_attribute("href")
                page.get_by_role("button", name="Next").click()
                page.wait_for_function(as_function(NEXT_PAGE_JS), arg=before, polling="raf")
        with steps.step(f"{what}: find the row", STEP_S):
            href = page.locator(LINKS).nth(row).get_attribute("href")
            cid = re.search(r"id=(\d+)$", href).group(1)
            link = page.locator(f"{LINKS}[href='{href}']")
            preview = " ".join(link.locator(".text .body").inner_text().split())
            # The mouse goes to the row first (scrolled into view), as a hand does before the click; a
            # hover finds the row again if the list redrew it meanwhile.
            link.hover()
        with steps.step(f"{what}: click conversation {cid} → its newest message in view", STEP_S):
            start = time.perf_counter()
            link.click()
            page.wait_for_url(re.compile(rf"/conversation\?id={cid}$"))
            page.wait_for_function(as_function(NEWEST_IN_VIEW_JS), arg=preview, polling="raf")
            samples.append((time.perf_counter() - start) * 1000)
        if (i + 1) % 10 == 0 or i + 1 == opens:
            print(f"  {i + 1}/{opens} opens, last {samples[-1]:.0f} ms", flush=True)
    return samples


def bench_bulk(steps: Steps, rounds: int) -> tuple[list[float], list[float]]:
    page = steps.page
    ticks, actions = [], []
    to_my_inbox(steps, "bulk", 3)
    with steps.step("bulk: choose rows 3 and 4", STEP_S):
        hrefs = [page.locator(LINKS).nth(i).get_attribute("href") for i in (2, 3)]
        boxes = [
            page.locator(f"{ROWS} li.row").filter(has=page.locator(f"a.main[href='{h}']")).locator("input.tick")
            for h in hrefs
        ]
    for i in range(rounds):
        action, unread = ("Mark unread", True) if i % 2 == 0 else ("Mark read", False)
        with steps.step(f"bulk {i + 1}/{rounds}: tick 2 rows → '2 selected'", STEP_S):
            start = time.perf_counter()
            for box in boxes:
                box.click()
            page.get_by_text("2 selected", exact=True).wait_for()
            ticks.append((time.perf_counter() - start) * 1000)
        with steps.step(f"bulk {i + 1}/{rounds}: {action} → both rows {'unread' if unread else 'read'}", STEP_S):
            button = page.get_by_role("button", name=action)
            start = time.perf_counter()
            button.click()
            page.wait_for_function(as_function(ROWS_STATE_JS), arg={"hrefs": hrefs, "unread": unread}, polling="raf")
            actions.append((time.perf_counter() - start) * 1000)
        with steps.step(f"bulk {i + 1}/{rounds}: the ticks cleared", STEP_S):
            page.get_by_text("2 selected", exact=True).wait_for(state="detached")
    return ticks, actions


RUN_TIME_RE = re.compile(r"parley\.pages INFO run (\S+) ([\d.]+) ms$")


def server_run_times(log: Path, page: str) -> list[float]:
    """How long the server's script runs of ``page`` took (ui.py logs each with PARLEY_LOG_RUN_TIMES=1)."""
    times = []
    for line in log.read_text(errors="replace").splitlines():
        found = RUN_TIME_RE.search(line)
        if found and found.group(1) == page:
            times.append(float(found.group(2)))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=str(workspace_path(100_000)), help="a generated workspace (bench.generate)")
    parser.add_argument("--opens", type=int, default=50)
    parser.add_argument("--bulk", type=int, default=30)
    parser.add_argument("--password", default="parley-demo", help="the generated agents' password")
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=Path(tempfile.gettempdir()) / f"parley-bench-desk-{os.getpid()}",
        help="where a failed step leaves its screenshot and page text",
    )
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print("Debian's chromium is needed: apt-get install chromium")
        return 1
    try:
        probe = Database(args.db, read_only=True)
    except ParleyError as exc:
        print(exc)
        return 1
    if schema.current_version(probe) == 0:
        print(f"{args.db} has no Parley workspace; run python -m bench.generate first.")
        return 1
    username, count = probe.fetchone(
        "SELECT u.username, count(*) FROM conversations c JOIN users u ON u.id = c.owner_id "
        "WHERE c.status = 'open' AND u.role = 'standard' GROUP BY u.username ORDER BY 2 DESC LIMIT 1"
    )
    probe.close()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="parley-bench-desk-") as tmp:
        work = Path(tmp)
        db_path = private_copy(Path(args.db), work)
        media = Path(args.db).parent / "media"
        if media.is_dir():
            shutil.copytree(media, work / "media")
        proc, base = start_server(db_path, work / "media", work / "server.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
                    steps = Steps(page, args.artifacts)
                    sign_in(steps, base, username, args.password)
                    print(f"workspace {args.db}: agent {username} with {count:,} open conversations", flush=True)
                    load_before = load_average()
                    opens = bench_opens(steps, args.opens)
                    ticks, actions = bench_bulk(steps, args.bulk)
                    load_after = load_average()
                finally:
                    browser.close()
            runs = server_run_times(work / "server.log", "conversation")
        except SystemExit:
            server_log = work / "server.log"
            tail = server_log.read_text(errors="replace")[-3000:] if server_log.exists() else ""
            print(f"Parley's log (last lines):\n{tail}", file=sys.stderr, flush=True)
            raise
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    report("click a row → newest message visible", opens, OPEN_TARGET_MS)
    if runs:  # the rest of a click is the browser's: the page switch's messages and drawing
        report("  of which the server's run of the Conversation page", runs)
    report("tick 2 rows → '2 selected'", ticks)
    report("Mark read/unread on 2 ticked rows → list updated", actions, BULK_TARGET_MS)
    load = max(load_before, load_after)
    print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after", flush=True)
    if load > 1:
        print("WARNING: the machine was busy (load average above 1): re-measure on a quiet machine.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
