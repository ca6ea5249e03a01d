"""Desk bench: what an agent waits for in the browser, on the 100k-conversation workspace.

    python -m bench.generate --db /work/data-bench/desk-100k.duckdb     # once, if none exists
    python -m bench.bench_desk --db /work/data-bench/desk-100k.duckdb

* **open**: from the click on a My Inbox row to the conversation's newest message visible on
  screen (the last bubble of the thread inside the viewport), over 50 opens of different rows,
  each from the list (the list is reopened between opens, not timed). Target p95 ≤ 400 ms.
* **bulk**: from the click on *Mark read* (or *Mark unread*) with two rows ticked to both rows
  showing their new state in the list. Target p95 ≤ 300 ms. Also printed: ticking the two rows
  until the page says "2 selected".

A real Parley server (``streamlit run app.py``, workers and simulator on) runs on a private
copy of the workspace, driven by Debian's chromium through Playwright at 1366×768. Figures
depend on the machine's load: the 1-minute load average is printed with them; quote it, and
re-measure on a quiet machine.
"""

from __future__ import annotations

import argparse
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

from bench.common import ROOT, percentile
from core import schema
from core.db import Database
from core.errors import ParleyError

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OPEN_TARGET_MS = 400
BULK_TARGET_MS = 300


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


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
    env = dict(os.environ, PARLEY_DB=str(db_path), PARLEY_MEDIA_DIR=str(media), PARLEY_PORT=str(port))
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


def sign_in(page, base: str, username: str, password: str) -> None:
    page.goto(base + "/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out", exact=True).wait_for(timeout=120_000)
    deadline = time.time() + 30
    while not any(c["name"] == "parley_session" for c in page.context.cookies(base)):
        if time.time() > deadline:
            raise SystemExit("the sign-in cookie was never set")
        time.sleep(0.05)


# Resolves once the element is (at least partly) inside the viewport; rejects after the deadline.
IN_VIEW_JS = """(e, ms) => new Promise((done, fail) => {
  const end = performance.now() + ms;
  const look = () => {
    const r = e.getBoundingClientRect();
    if (r.height > 0 && r.top < innerHeight && r.bottom > 0) return done(true);
    if (performance.now() > end) return fail(new Error("not in view"));
    requestAnimationFrame(look);
  };
  look();
})"""


def bench_opens(page, base: str, opens: int) -> list[float]:
    samples = []
    rows = "[role=listbox][aria-label^='My Inbox'] li.row a.main"
    links = page.locator(rows)
    for i in range(opens):
        page.get_by_test_id("stSidebarNavLink").filter(has_text="My Inbox").click()
        links.nth(min(i % 25, 49)).wait_for(state="visible", timeout=60_000)
        if i >= 25:  # the second half opens rows of the next page: different conversations
            first = links.first.get_attribute("href")
            page.get_by_role("button", name="Next").click()
            # The next page is drawn once its first row is another conversation (the pager's caption
            # carries esc()'s invisible joiners, so its text is no handle).
            page.wait_for_function(
                "([sel, before]) => { const a = document.querySelector(sel); return a && a.getAttribute('href') !== before; }",
                arg=[rows, first],
                timeout=60_000,
            )
        link = links.nth(i % 25)
        cid = re.search(r"id=(\d+)$", link.get_attribute("href")).group(1)
        start = time.perf_counter()
        link.click()
        page.wait_for_url(re.compile(rf"/conversation\?id={cid}$"), timeout=60_000)
        newest = page.locator("[data-testid=stChatMessage]").last
        newest.wait_for(state="visible", timeout=60_000)
        try:
            newest.evaluate(IN_VIEW_JS, 30_000)
        except Exception as exc:
            raise SystemExit(f"open {i + 1}: conversation {cid}'s newest message never came into view") from exc
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def bench_bulk(page, rounds: int) -> tuple[list[float], list[float]]:
    ticks, actions = [], []
    page.get_by_test_id("stSidebarNavLink").filter(has_text="My Inbox").click()
    rows = page.locator("[role=listbox][aria-label^='My Inbox'] li.row")
    rows.nth(3).wait_for(state="visible", timeout=60_000)
    hrefs = [rows.nth(i).locator("a.main").get_attribute("href") for i in (2, 3)]
    chosen = [rows.filter(has=page.locator(f"a.main[href='{h}']")) for h in hrefs]
    for i in range(rounds):
        action, unread = ("Mark unread", True) if i % 2 == 0 else ("Mark read", False)
        start = time.perf_counter()
        for row in chosen:
            row.locator("input.tick").click()
        page.get_by_text("2 selected", exact=True).wait_for(timeout=60_000)
        ticks.append((time.perf_counter() - start) * 1000)
        button = page.get_by_role("button", name=action)
        start = time.perf_counter()
        button.click()
        for row in chosen:
            want = "true" if unread else "false"
            row.evaluate(
                "(e, want) => new Promise(done => { const ok = () => e.classList.contains('unread') === want;"
                " if (ok()) return done(); const t = setInterval(() => { if (ok()) { clearInterval(t); done(); } }, 5); })",
                want == "true",
            )
        actions.append((time.perf_counter() - start) * 1000)
    return ticks, actions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="/work/data-bench/desk-100k.duckdb")
    parser.add_argument("--opens", type=int, default=50)
    parser.add_argument("--bulk", type=int, default=30)
    parser.add_argument("--password", default="parley-demo", help="the generated agents' password")
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
        shutil.copy(args.db, work / "parley.duckdb")
        media = Path(args.db).parent / "media"
        if media.is_dir():
            shutil.copytree(media, work / "media")
        proc, base = start_server(work / "parley.duckdb", work / "media", work / "server.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
                sign_in(page, base, username, args.password)
                print(f"workspace {args.db}: agent {username} with {count:,} open conversations", flush=True)
                load_before = load_average()
                opens = bench_opens(page, base, args.opens)
                ticks, actions = bench_bulk(page, args.bulk)
                load_after = load_average()
                browser.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    report("click a row → newest message visible", opens, OPEN_TARGET_MS)
    report("tick 2 rows → '2 selected'", ticks)
    report("Mark read/unread on 2 ticked rows → list updated", actions, BULK_TARGET_MS)
    load = max(load_before, load_after)
    print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after", flush=True)
    if load > 1:
        print("WARNING: the machine was busy (load average above 1): re-measure on a quiet machine.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
