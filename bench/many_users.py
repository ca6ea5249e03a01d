"""Many people on one Parley at once: agents' sessions over Streamlit's own websocket protocol,
signed webhooks arriving, the dispatcher sending to a loopback Twilio.

Used by ``bench/bench_many_users.py`` (minutes, p95 idle vs loaded, sessions before p95
doubles), ``tests/e2e/test_many_users.py`` (the same load for 30 s, proving nothing is lost) and,
for its server and webhook helpers, ``tests/e2e/test_crash_whole_burst.py``.

The workspace is a generated one (``bench.many_users_workspace.generate``: the benchmark
generator's history, distinct texts and long-tailed threads, every agent owning open SMS
conversations); ``prepare`` there builds a tiny one with factories for tests that need a single
conversation. The signed webhooks are posted by ``bench.many_users_webhooks``.

A session is what a browser tab does, without the browser: it opens ``/_stcore/stream`` with
the agent's session cookie, asks for a page run (``BackMsg.rerun_script``: My Inbox, then a
conversation by ``?id=``), reads the ForwardMsgs until ``script_finished`` (the time a person
waits for the page to be complete), and replies the way the composer does: the text area's
value and the Send button's trigger in one rerun, as the frontend sends them.
"""

from __future__ import annotations

import http.client
import itertools
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.sync.client import connect

from bench.many_users_webhooks import Webhooks, post_webhooks
from bench.many_users_workspace import SECRET, Workspace

ROOT = Path(__file__).resolve().parent.parent
HEALTH_TOKEN = "many-users-health"  # /healthz details for this machine
START_DEADLINE = 180  # seconds: Streamlit starting on a busy 2-core machine
PAGE_DEADLINE = 300  # seconds for one page run before it counts as an error (25 at once on a loaded 2-core machine)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


# ---- the server -----------------------------------------------------------------------------------------


class Server:
    def __init__(self, work: Path, db_path: Path, twilio, profile: Path | None = None) -> None:
        self.work, self.port, self.proc = work, free_port(), None
        self.profile = profile  # run under bench.sampler, a CPU profile to this file
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            PARLEY_DB=str(db_path),
            PARLEY_MEDIA_DIR=str(work / "media"),
            PARLEY_DEMO="0",
            PARLEY_PORT=str(self.port),
            PARLEY_SECRET_KEY=SECRET,
            PARLEY_PUBLIC_URL=self.base,
            PARLEY_TWILIO_ACCOUNT_SID=twilio.account_sid,
            PARLEY_TWILIO_AUTH_TOKEN=twilio.auth_token,
            PARLEY_TWILIO_BASE_URL=twilio.url,
            PARLEY_HEALTH_TOKEN=HEALTH_TOKEN,
            PARLEY_LOG_RUN_TIMES="1",  # each page run's own time in server.log (bench.server_runs)
        )

    def start(self) -> None:
        log = open(self.log_path, "a")
        runner = ["-m", "bench.sampler", str(self.profile), "--"] if self.profile else ["-m", "streamlit"]
        command = [sys.executable, *runner, "run", str(ROOT / "app.py"), "--server.port", str(self.port),
                   "--server.headless", "true", "--browser.gatherUsageStats", "false"]  # fmt: skip
        self.proc = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("Parley did not start: " + self.log_path.read_text()[-3000:])

    @property
    def log_path(self) -> Path:
        return self.work / "server.log"

    def health(self) -> dict:
        """/healthz with its details (database, workers, webhook counters)."""
        import json

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", "/healthz", headers={"Authorization": f"Bearer {HEALTH_TOKEN}"})
        return json.loads(conn.getresponse().read())

    def wait_applied(self, backlog_before: int, deadline: float) -> bool:
        """Until every webhook stored by this process, and the ``backlog_before`` it started with, is applied."""
        while time.monotonic() < deadline:
            hooks = self.health().get("webhooks") or {}
            if "backlog" in hooks:
                if not hooks["backlog"].get("pending"):
                    return True
            elif (hooks.get("applied") or 0) + (hooks.get("kept_for_review") or 0) >= backlog_before + hooks.get(
                "stored", 0
            ):
                return True
            time.sleep(0.5)
        return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)


# ---- one agent's tab ---------------------------------------------------------------------------------------


# The composer's Send button (``pages/compose_text.send_button_key``), the last thing a Conversation
# page draws: once it is there the agent reads the thread and can write.
SEND_BUTTON = re.compile(r"send_\d+$")


@dataclass
class PageRun:
    seconds: float
    elements: list  # (type, id, label) of every new element the run drew
    errors: list[str]
    composer_seconds: float | None = None  # when the composer's Send button arrived, if it did


class AgentTab:
    """One browser tab's conversation with the server over ``/_stcore/stream``."""

    def __init__(self, base: str, cookie: str) -> None:
        host = base.split("://", 1)[1]
        self.ws = connect(
            f"ws://{host}/_stcore/stream",
            subprotocols=["streamlit"],
            additional_headers={"Cookie": f"parley_session={cookie}", "Origin": base},
            open_timeout=PAGE_DEADLINE,
            max_size=None,
            ping_interval=None,  # a browser sends no pings; the client's own would time out on a busy machine
        ).__enter__()

    def run(self, page: str, query: str = "", widgets: list | None = None) -> PageRun:
        back = BackMsg()
        state = back.rerun_script
        state.query_string = query
        state.page_name = page
        for widget in widgets or []:
            state.widget_states.widgets.append(widget)
        state.context_info.timezone = "America/New_York"
        state.context_info.locale = "en-US"
        started = time.perf_counter()
        self.ws.send(back.SerializeToString())
        elements, errors, composer_at = [], [], None
        deadline = time.monotonic() + PAGE_DEADLINE
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                errors.append(f"{page}?{query}: no script_finished within {PAGE_DEADLINE} s")
                break
            msg = ForwardMsg()
            msg.ParseFromString(self.ws.recv(timeout=remaining))
            kind = msg.WhichOneof("type")
            if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                which = element.WhichOneof("type")
                proto = getattr(element, which)
                if which == "exception":
                    errors.append(f"{page}?{query}: {proto.type}: {proto.message}")
                elements.append((which, getattr(proto, "id", ""), getattr(proto, "label", "")))
                if composer_at is None and which == "button" and SEND_BUTTON.search(proto.id):
                    composer_at = time.perf_counter() - started
            elif kind == "page_not_found":
                errors.append(f"page not found: {page}")
            elif kind == "script_finished":
                if msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    errors.append(f"{page}: compile error")
                if msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    break
        return PageRun(time.perf_counter() - started, elements, errors, composer_at)

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # already gone
            pass


def reply_widgets(run: PageRun, conversation_id: int, text: str) -> list:
    """The composer's text and a press of its Send button, as the frontend sends them."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    area = next(e for e in run.elements if e[0] == "text_area" and e[2] == "Message")
    send = next(e for e in run.elements if e[0] == "button" and e[1].endswith(f"send_{conversation_id}"))
    typed, pressed = WidgetState(), WidgetState()
    typed.id, typed.string_value = area[1], text
    pressed.id, pressed.trigger_value = send[1], True
    return [typed, pressed]


# ---- load ----------------------------------------------------------------------------------------------------


@dataclass
class Results:
    # A tab's first run of a page (a fresh session: sign-in check, the page's first drawing) is kept
    # apart from its later runs: the loaded phase has a first visit for each of its 25 tabs, the
    # idle one a single tab, and mixed together the loaded p95 timed first visits against the idle
    # one's later runs.
    inbox: list[float] = field(default_factory=list)  # My Inbox again, in a tab already open
    conversation: list[float] = field(default_factory=list)  # a conversation, in a tab that opened one before
    # ... until its composer was on screen (the run may go on: the mark-read of one opened unread)
    conversation_composer: list[float] = field(default_factory=list)
    first_inbox: list[float] = field(default_factory=list)  # a new tab's first page: My Inbox
    first_conversation: list[float] = field(default_factory=list)  # that tab's first conversation
    reply: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    replies: list[tuple[int, str]] = field(default_factory=list)  # (conversation id, text) sent
    server_runs: dict[str, list[float]] = field(default_factory=dict)  # the server's own run times, by page
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, run: PageRun) -> None:
        with self.lock:
            getattr(self, kind).append(run.seconds * 1000)
            if kind == "conversation" and run.composer_seconds is not None:
                self.conversation_composer.append(run.composer_seconds * 1000)
            self.errors += run.errors


class Pacer:
    """When an agent clicks next: after a person's pause (exponentially distributed, ``think`` s on
    average; 0 clicks again at once, a stress test rather than people), and never at the phase's end.

    A pause that would run past ``until`` ends the session there (after its first round, which every
    session makes, however slow): the agent is still reading when the phase ends. Cut short to
    ``until`` instead, every pause running past the end ended at the same instant and ~20 sessions
    clicked together: a burst no team makes, which was a sixth of a 30 s phase's Conversation
    samples and all of its p95 (2026-12-07: runs of 1.1-2.1 s, all asked within 10 ms)."""

    def __init__(self, rng: random.Random, think: float, until: float, *, clock=time.monotonic, sleep=time.sleep):
        self.rng, self.think, self.until, self.clock, self.sleep = rng, think, until, clock, sleep

    def pause(self, first_round: bool) -> bool:
        """Wait before the next click; False when the phase ended meanwhile (no more clicks)."""
        if self.think > 0:
            wait = self.rng.expovariate(1.0 / self.think)
            if not first_round and self.clock() + wait >= self.until:
                self.sleep(max(0.0, self.until - self.clock()))
                return False
            self.sleep(wait)
        return first_round or self.clock() < self.until


def agent_loop(base: str, who: tuple[str, str, list[int]], until: float, results: Results, *, reply_every: int,
               seed: int, think: float = 0.0) -> None:  # fmt: skip
    """Read My Inbox, open a conversation, and every ``reply_every``-th time reply, until ``until``
    (one round at least), pausing as ``Pacer`` says between clicks."""
    username, cookie, convs = who
    rng = random.Random(seed)
    pacer = Pacer(rng, think, until)

    try:
        tab = AgentTab(base, cookie)
    except Exception as exc:
        with results.lock:
            results.errors.append(f"{username}: could not connect: {exc}")
        return
    try:
        n = 0
        # A person opens the tab at some moment, not all 25 in the same 100 ms: the session arrives
        # after a pause too. Started together, the 25 first page runs queued behind each other and
        # were a fifth of a 30 s phase's My Inbox samples, so its p95 timed that start, not the load.
        pacer.pause(first_round=True)
        while n == 0 or time.monotonic() < until:  # every session does one round at least, however slow
            results.add("first_inbox" if n == 0 else "inbox", tab.run("inbox"))
            if not pacer.pause(first_round=n == 0):
                break
            cid = rng.choice(convs)
            opened = tab.run("conversation", f"id={cid}")
            results.add("first_conversation" if n == 0 else "conversation", opened)
            if not pacer.pause(first_round=n == 0):
                break
            n += 1
            if reply_every and n % reply_every == 0 and not opened.errors:
                # Unique in the process: two phases' sessions of one agent must not write the same text.
                day = rng.choice(["Monday", "Tuesday", "Friday"])
                text = f"{username} reply {next_reply_number()}: see you on {day} at {rng.randint(8, 17)}:00"
                try:
                    widgets = reply_widgets(opened, cid, text)
                except StopIteration:
                    with results.lock:
                        results.errors.append(f"{username}: no composer on conversation {cid}")
                    continue
                sent = tab.run("conversation", f"id={cid}", widgets)
                results.add("reply", sent)
                if not sent.errors:
                    with results.lock:
                        results.replies.append((cid, text))
    except Exception as exc:
        with results.lock:
            results.errors.append(f"{username}: {type(exc).__name__}: {exc}")
    finally:
        tab.close()


# Reply numbers are unique in a process: two phases' sessions of one agent must not write the same text.
_REPLIES = itertools.count(1)
_REPLIES_LOCK = threading.Lock()


def next_reply_number() -> int:
    with _REPLIES_LOCK:
        return next(_REPLIES)


def first_visits(base: str, ws: Workspace, tabs: int, results: Results) -> None:
    """``tabs`` new tabs one after another, each My Inbox and then one conversation: first visits
    with nothing else running, the idle figure for a loaded phase's first visits."""
    rng = random.Random(0)
    for i in range(tabs):
        username, cookie, convs = ws.agents[i % len(ws.agents)]
        try:
            tab = AgentTab(base, cookie)
        except Exception as exc:
            with results.lock:
                results.errors.append(f"{username}: could not connect: {exc}")
            continue
        try:
            results.add("first_inbox", tab.run("inbox"))
            results.add("first_conversation", tab.run("conversation", f"id={rng.choice(convs)}"))
        finally:
            tab.close()


def run_sessions(base: str, ws: Workspace, sessions: int, seconds: float, results: Results, *, reply_every: int = 3,
                 twilio_token: str | None = None, webhook_rate: float = 0, think: float = 0.0) -> Webhooks:  # fmt: skip
    """``sessions`` agents (cycling through the workspace's) for ``seconds``; webhooks alongside if a rate is given."""
    start = time.monotonic()
    until = start + seconds
    hooks = Webhooks()
    threads = [
        threading.Thread(
            target=agent_loop,
            args=(base, ws.agents[i % len(ws.agents)], until, results),
            kwargs={"reply_every": reply_every, "seed": i, "think": think},
            daemon=True,
        )  # fmt: skip
        for i in range(sessions)
    ]
    if webhook_rate:
        threads.append(
            threading.Thread(
                target=post_webhooks,
                args=(base, twilio_token, ws.sender_phone, webhook_rate, until, hooks),
                kwargs={"customers": ws.customers, "start": start},
                daemon=True,
            )  # fmt: skip
        )
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + PAGE_DEADLINE * 3)
    return hooks


# ---- what the load left behind ------------------------------------------------------------------------------


def wait_sent(twilio, texts: set[str], deadline: float) -> bool:
    """Until Twilio has received every one of ``texts`` (the dispatcher works in the background)."""
    while time.monotonic() < deadline:
        if texts <= {r.value("Body") for r in twilio.sends}:
            return True
        time.sleep(0.5)
    return False


def webhook_messages(db_path: Path) -> dict[str, int]:
    """MessageSid of each webhook posted here → how many messages carry it (read once the server has stopped)."""
    from core.db import Database

    db = Database(db_path)
    try:
        return dict(db.fetchall("SELECT provider_message_id, count(*) FROM messages "
                                "WHERE provider_message_id LIKE 'SMmany%' GROUP BY 1"))  # fmt: skip
    finally:
        db.close()


def recorded_replies(db_path: Path, texts: list[str]) -> list[tuple[int, str]]:
    """(conversation id, body) of every outgoing message whose body is one of ``texts``."""
    from core.db import Database

    db = Database(db_path)
    try:
        return [tuple(r) for r in db.fetchall(
            "SELECT conversation_id, body FROM messages WHERE direction = 'out' AND body IN (SELECT unnest(?))",
            [sorted(set(texts))],
        )]  # fmt: skip
    finally:
        db.close()


def reply_problems(db_path: Path, replies: list[tuple[int, str]], twilio) -> list[str]:
    """Each reply a session sent that is not recorded exactly once in its conversation, or did not reach
    Twilio exactly once."""
    recorded = recorded_replies(db_path, [text for _, text in replies])
    problems = [f"reply recorded {recorded.count(r)} times: {r}" for r in replies if recorded.count(r) != 1]
    problems += [f"message recorded that no session sent: {r}" for r in recorded if r not in replies]
    sent = [r.value("Body") for r in twilio.sends]
    problems += [f"reply reached Twilio {sent.count(t)} times: {t!r}" for _, t in replies if sent.count(t) != 1]
    return problems
