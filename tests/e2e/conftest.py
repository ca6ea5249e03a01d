"""A real Parley server and Debian's chromium, driven by Playwright."""

from __future__ import annotations

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

import pytest

from scripts.chromium import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
VIEWPORT_DEFAULT = {"width": 1400, "height": 900}
TWILIO_ACCOUNT_SID = "AC00000000000000000000000000e2e000"
TWILIO_AUTH_TOKEN = "e2e-test-twilio-auth-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_parley(work: Path, **env_extra: str) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` on the workspace in ``work/ws`` and a free port; waits until it answers."""
    port = free_port()
    env = dict(
        os.environ,
        PARLEY_DB=str(work / "ws" / "parley.duckdb"),
        PARLEY_MEDIA_DIR=str(work / "ws" / "media"),
        PARLEY_PORT=str(port),
        # Twilio credentials that exist only for these tests: with them the server verifies a
        # Twilio-signed inbound webhook the tests post (the simulator's key is random per process).
        PARLEY_TWILIO_ACCOUNT_SID=TWILIO_ACCOUNT_SID,
        PARLEY_TWILIO_AUTH_TOKEN=TWILIO_AUTH_TOKEN,
        # Every message reaches the handset: a test that waits for "Delivered" gets it or fails.
        PARLEY_SIMULATOR_FAILURE_RATE="0",
        # No made-up customer replies: the demo's queued messages go out when the server starts, and
        # a reply to one of them (15% each) once raised James's unread count in the middle of
        # scenario 3. The tests post every reply they expect.
        PARLEY_SIMULATOR_REPLY_RATE="0",
        # One line per page run (its page and time) in server.log, which a failing test leaves
        # beside its screenshots: what the server ran while the browser showed what it showed.
        PARLEY_LOG_RUN_TIMES="1",
    )
    env.update(env_extra)  # a test may set any of these its own way
    log = open(work / "server.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("Parley did not start: " + (work / "server.log").read_text()[-2000:])
    _RUNNING_SERVERS[proc.pid] = work / "server.log"
    return proc, f"http://127.0.0.1:{port}"


_RUNNING_SERVERS: dict[int, Path] = {}  # pid: server.log, of the servers started and not yet stopped


BLANK_PAGES: list[str] = []  # every "blank page" line of the servers stopped (pages/blank_guard.py)


def stop_parley(proc: subprocess.Popen) -> None:
    log = _RUNNING_SERVERS.pop(proc.pid, None)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    if log is not None:
        try:
            BLANK_PAGES.extend(
                line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if "blank page:" in line
            )
        except OSError:
            pass


def pytest_terminal_summary(terminalreporter):
    """A page that went blank and drew itself again passes its test; the run says how many did."""
    if BLANK_PAGES:
        terminalreporter.section("pages that stayed blank after a run and reloaded themselves")
        for line in BLANK_PAGES:
            terminalreporter.write_line(line)


def open_all_day(db) -> None:
    """Business and quiet hours around the clock, so sends go at once."""
    from core import settings

    db.write(
        lambda tx: (
            settings.put(
                tx,
                "business_hours",
                {"timezone": "UTC", "weekly": {str(d): [["00:00", "24:00"]] for d in range(7)}, "holidays": []},
            ),
            settings.put(tx, "quiet_hours", {"start": "00:00", "end": "24:00"}),
        )
    )


@pytest.fixture(scope="module")
def parley(tmp_path_factory, demo_template):
    """Parley on a copy of the demo workspace, open around the clock (so sends go at once)."""
    from core import schema
    from core.db import Database

    work = tmp_path_factory.mktemp("e2e")
    shutil.copytree(demo_template, work / "ws")
    db = Database(work / "ws" / "parley.duckdb")
    schema.migrate(db)
    open_all_day(db)
    # Conversations Maria can answer at once: hers, SMS, contact named and not opted out, newest first.
    maria_sms = db.fetchall(
        "SELECT c.id, ct.phone, s.phone, ct.name FROM conversations c JOIN users u ON u.id = c.owner_id "
        "JOIN senders s ON s.id = c.sender_id JOIN contacts ct ON ct.id = c.contact_id "
        "WHERE u.username = 'maria' AND s.channel = 'sms' AND NOT ct.opted_out AND c.status = 'open' "
        "AND ct.name IS NOT NULL ORDER BY c.last_message_at DESC LIMIT 2"
    )
    db.close()
    ids = {
        "maria_sms": maria_sms[0][0],
        # For inbound webhooks (tests/e2e/test_team_workflow.py): (id, contact phone, sender phone, name).
        "maria_sms_conversations": [tuple(row) for row in maria_sms],
    }
    proc, base = start_parley(work)
    yield base, work, ids
    stop_parley(proc)


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -r requirements-dev.txt)"
    return None


def skip_or_fail_without_browser() -> None:
    """Skip with a printed reason; with ``PARLEY_REQUIRE_BROWSER=1`` (CI) fail instead."""
    reason = browser_missing()
    if reason is None:
        return
    if os.environ.get("PARLEY_REQUIRE_BROWSER") == "1":
        pytest.fail(f"PARLEY_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    print(f"\nbrowser tests skipped: {reason}")
    pytest.skip(reason)


# The browsers open in this process, so a failing test's pages can be saved (see the hook below).
_OPEN_BROWSERS: list = []


class _Chromium:
    """One chromium per test module, launched again if it went away.

    In a loaded run (issue 16) a chromium once closed itself 30 s into a module, with nothing in
    its log, and every later test of the module failed on the dead browser. Now the test it went
    away in fails, the next test gets a fresh chromium, and when and where it went is written to
    ``chromium-went-away.txt`` in the artifacts folder (and printed), to be looked into.
    """

    def __init__(self, playwright) -> None:
        self.playwright, self.current, self.test = playwright, None, ""

    def for_test(self, test: str):
        self.test = test
        if self.current is None or not self.current.is_connected():
            if self.current is not None:
                _OPEN_BROWSERS.remove(self.current)
            self.current = self.playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            self.current.on("disconnected", self._went_away)
            _OPEN_BROWSERS.append(self.current)
        return self.current

    def _went_away(self, browser) -> None:
        if browser is not self.current or getattr(self, "closing", False):
            return
        line = f"{time.strftime('%H:%M:%S')} chromium went away (not closed by the tests) during {self.test}\n"
        print(f"\n{line}", end="")
        with open(artifacts_dir() / "chromium-went-away.txt", "a") as out:
            out.write(line)

    def close(self) -> None:
        self.closing = True
        if self.current is not None:
            _OPEN_BROWSERS.remove(self.current)
            self.current.close()


@pytest.fixture(scope="module")
def _chromium():
    skip_or_fail_without_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = _Chromium(p)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def browser(_chromium, request):
    """The module's chromium (a fresh one if the last went away)."""
    return _chromium.for_test(request.node.nodeid)


# Browser contexts a test opened through a helper (tests/e2e/scenario.py): closed when the test ends,
# passed or failed, so a failed test leaves no signed-in tab polling the server for the next one.
CONTEXTS_TO_CLOSE: list = []


# A browser call that never returns (a wedged chromium: seen once in a CI run, in
# test_live_watch.py, the run then sat idle until CI's limit) must fail the test, not hang the
# suite: past this many seconds the test's chromium is killed, so the waiting call raises.
BROWSER_TEST_LIMIT_S = 420


def _kill_our_chromium() -> int:
    """SIGKILL every chromium started under this process (through Playwright's driver)."""
    me, killed = os.getpid(), 0
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor and ancestor != me:
            ancestor = parents.get(ancestor)
        if ancestor != me:
            continue
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if "chromium" in exe:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed


@pytest.fixture(autouse=True)
def _browser_test_deadline(request):
    import threading

    done = threading.Event()

    def watch() -> None:
        if not done.wait(BROWSER_TEST_LIMIT_S):
            killed = _kill_our_chromium()
            print(f"\n{request.node.nodeid} ran past {BROWSER_TEST_LIMIT_S} s: killed {killed} chromium processes")

    threading.Thread(target=watch, name="browser-test-deadline", daemon=True).start()
    yield
    done.set()


@pytest.fixture(autouse=True)
def _close_helper_contexts():
    yield
    while CONTEXTS_TO_CLOSE:
        context = CONTEXTS_TO_CLOSE.pop()
        try:
            context.close()
        except Exception:  # already closed by the test, or its browser went away
            pass


# ---- what a failing browser test leaves behind ---------------------------------------------------


def artifacts_dir() -> Path:
    """Where failing browser tests leave their screenshots and page text (``PARLEY_E2E_ARTIFACTS`` or a temp dir)."""
    chosen = os.environ.get("PARLEY_E2E_ARTIFACTS")
    path = Path(chosen) if chosen else Path(tempfile.gettempdir()) / f"parley-e2e-artifacts-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_open_pages(test_name: str) -> list[Path]:
    """A screenshot and the visible text of every page still open in the test's browsers."""
    saved: list[Path] = []
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)[:120]
    out = artifacts_dir()
    for b in list(_OPEN_BROWSERS):
        for ci, context in enumerate(b.contexts):
            for pi, pg in enumerate(context.pages):
                shot, words = out / f"{stem}-context{ci}-page{pi}.png", out / f"{stem}-context{ci}-page{pi}.txt"
                try:
                    pg.screenshot(path=str(shot), full_page=True, timeout=15_000)
                    saved.append(shot)
                except Exception as exc:  # a crashed or closing page: say so, keep going
                    shot.with_suffix(".png.error").write_text(str(exc))
                try:
                    text = f"URL: {pg.url}\nTitle: {pg.title()}\n\n" + pg.inner_text("body", timeout=15_000)
                except Exception as exc:
                    text = f"URL: {pg.url}\n(the page's text could not be read: {exc})"
                words.write_text(text + _console_of(pg) + _watch_trace_of(pg), encoding="utf-8")
                saved.append(words)
    return saved


def _console_of(pg) -> str:
    """The page's last console messages and script errors (Playwright keeps the last 200)."""
    try:
        lines = [f"[{m.type}] {m.text}" for m in pg.console_messages()]
        lines += [f"[page error] {e.message}" for e in pg.page_errors()]
    except Exception as exc:
        return f"\n\n(the console could not be read: {exc})"
    return "\n\n---- console ----\n" + "\n".join(lines) + _failed_requests_of(pg)


def _watch_trace_of(pg) -> str:
    """What the page's live watchers did lately (pages/live_watch.js keeps it, page clock in ms), and
    the page's clock now: whether a late live update was asked late or asked and not run."""
    try:
        now, lines = pg.evaluate("[Math.round(performance.now()), window.__parleyWatchTrace || []]")
    except Exception as exc:
        return f"\n\n(the watchers' trace could not be read: {exc})"
    return f"\n\n---- live watchers (page clock now {now} ms) ----\n" + "\n".join(lines)


def _failed_requests_of(pg) -> str:
    """Which of the page's last requests (Playwright keeps 100) failed or got 4xx/5xx: a console
    line "Failed to load resource: 404" does not name its address."""
    lines = []
    try:
        for req in pg.requests():
            response = req.response()
            if req.failure or (response is not None and response.status >= 400):
                lines.append(f"{req.method} {req.url} -> {req.failure or response.status}")
    except Exception as exc:
        return f"\n\n(the requests could not be read: {exc})"
    return "\n\n---- failed requests ----\n" + "\n".join(lines)


def save_failure(test_name: str, report) -> list[Path]:
    """The failure's traceback, written now: pytest prints it only at the end of the session, and a
    long loaded run stopped before its end would otherwise keep the screenshot but not the why."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)[:120]
    path = artifacts_dir() / f"{stem}-failure.txt"
    try:
        path.write_text(report.longreprtext, encoding="utf-8")
    except OSError:
        return []
    return [path]


def save_server_logs(test_name: str, keep_lines: int = 400) -> list[Path]:
    """The last lines of every running Parley server's log (page runs, warnings, tracebacks)."""
    saved = []
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)[:120]
    for i, log in enumerate(list(_RUNNING_SERVERS.values())):
        try:
            lines = log.read_text(encoding="utf-8", errors="replace").splitlines()[-keep_lines:]
        except OSError:
            continue
        out = artifacts_dir() / f"{stem}-server{i}.log"
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        saved.append(out)
    return saved


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and call.when in ("setup", "call") and _OPEN_BROWSERS:
        saved = save_open_pages(item.nodeid) + save_server_logs(item.nodeid) + save_failure(item.nodeid, report)
        if saved:
            lines = "\n".join(str(p) for p in saved)
            report.sections.append(("browser artifacts", f"saved in {artifacts_dir()}:\n{lines}"))
            print(f"\nbrowser artifacts of {item.nodeid}: {artifacts_dir()}")
    return report


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT_DEFAULT)
    pg = context.new_page()
    yield pg
    context.close()


def sign_in(page, base: str, username: str, password: str = "parley-demo") -> None:
    page.goto(base + "/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    # Signed in: every role's sidebar has the Sign out button (supervisors have no My Inbox).
    page.get_by_role("button", name="Sign out", exact=True).wait_for(timeout=30_000)
    # The browser trades the sign-in ticket for the HttpOnly cookie just after the first signed-in
    # run; navigating before that lands on the sign-in form again. Wait for the cookie.
    deadline = time.time() + 15
    while not any(c["name"] == "parley_session" for c in page.context.cookies(base)):
        if time.time() > deadline:
            raise AssertionError("the sign-in cookie was never set")
        page.wait_for_timeout(100)


# ---- a busy machine -----------------------------------------------------------------------------

BURN_SECONDS = 900  # a burner never outlives this, even if a test run is killed before its teardown

_BURN = "import time, sys\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"


@pytest.fixture
def cpu_burner():
    """One process spinning on each core for the length of the test: a loaded 2-core machine.

    The processes are ours (started here, ended here by their ids) and stop by themselves after
    ``BURN_SECONDS`` whatever happens to the test run.
    """
    burners = [subprocess.Popen([sys.executable, "-c", _BURN, str(BURN_SECONDS)]) for _ in range(os.cpu_count() or 2)]
    try:
        yield burners
    finally:
        for proc in burners:
            proc.kill()
        for proc in burners:
            proc.wait(timeout=10)


def signed_in_page(browser, base: str, username: str, viewport: dict | None = None):
    """A fresh browser context signed in as ``username`` (its cookie set), on the home page."""
    context = browser.new_context(viewport=viewport or {"width": 1400, "height": 900})
    page = context.new_page()
    sign_in(page, base, username)
    return page
