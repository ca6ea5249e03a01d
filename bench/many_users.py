"""Many people on one Parley at once: agents' sessions over Streamlit's own websocket protocol,
signed webhooks arriving, the dispatcher sending to a loopback Twilio.

Used by ``bench/bench_many_users.py`` (minutes, p95 idle vs loaded, sessions before p95
doubles) and, for its server and webhook helpers, ``tests/e2e/test_crash_whole_burst.py``.

A session is what a browser tab does, without the browser: it opens ``/_stcore/stream`` with
the agent's session cookie, asks for a page run (``BackMsg.rerun_script``: My Inbox, then a
conversation by ``?id=``), reads the ForwardMsgs until ``script_finished`` (the time a person
waits for the page to be complete), and replies the way the composer does: the text area's
value and the Send button's trigger in one rerun, as the frontend sends them.
"""

from __future__ import annotations

import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent
SECRET = "many-users-secret"
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


def load_average() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


# ---- the workspace ------------------------------------------------------------------------------------


@dataclass
class Workspace:
    db_path: Path
    sender_phone: str
    agents: list[tuple[str, str, list[int]]]  # (username, session cookie, conversation ids)


def prepare(work: Path, agents: int, conversations_each: int, twilio_token: str) -> Workspace:
    """A workspace with ``agents`` agents owning ``conversations_each`` conversations each, a Twilio
    sender, business hours always open, and a live session (cookie) per agent."""
    from core import schema, sessions, settings
    from core.actions.users import do_create_user, do_create_workspace
    from core.db import Database
    from tests import factories as f

    db = Database(work / "parley.duckdb")
    schema.migrate(db)
    do_create_workspace(db, name="Many users", demo=False)
    settings.ensure_defaults(db)
    f.always_open(db)
    admin = do_create_user(db, None, "ada", "Ada", "admin", "long-enough-pw")
    sender = f.add_sender(db, provider="twilio", rate=1000)
    people = []
    rng = random.Random(7)
    words = ["Tuesday", "cleaning", "invoice", "x-ray", "Friday", "parking", "insurance", "crown", "reschedule"]
    for a in range(agents):
        agent = do_create_user(db, admin, f"agent{a:02d}", f"Agent {a:02d}", "standard", "long-enough-pw")
        convs = []
        for c in range(conversations_each):
            contact = f.add_contact(db, phone=f"+1415867{a:02d}{c:02d}", name=f"Customer {a}-{c}")
            text = f"Hi, about my {rng.choice(words)} on {rng.choice(words)} ({a}-{c})"
            convs.append(f.add_conversation(db, contact_id=contact, sender_id=sender, owner_id=agent.id,
                                            inbound_body=text))  # fmt: skip
        cookie = sessions.start(db, agent.id, SECRET.encode(), source="bench").cookie
        people.append((agent.username, cookie, convs))
    phone = db.scalar("SELECT phone FROM senders WHERE id = ?", [sender])
    db.checkpoint()
    db.close()
    return Workspace(work / "parley.duckdb", phone, people)


# ---- the server -----------------------------------------------------------------------------------------


class Server:
    def __init__(self, work: Path, db_path: Path, twilio) -> None:
        self.work, self.port, self.proc = work, free_port(), None
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
        )

    def start(self) -> None:
        log = open(self.work / "server.log", "a")
        command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(self.port),
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
        raise RuntimeError("Parley did not start: " + (self.work / "server.log").read_text()[-3000:])

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


@dataclass
class PageRun:
    seconds: float
    elements: list  # (type, id, label) of every new element the run drew
    errors: list[str]


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
        elements, errors = [], []
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
            elif kind == "page_not_found":
                errors.append(f"page not found: {page}")
            elif kind == "script_finished":
                if msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    errors.append(f"{page}: compile error")
                if msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    break
        return PageRun(time.perf_counter() - started, elements, errors)

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
    inbox: list[float] = field(default_factory=list)
    conversation: list[float] = field(default_factory=list)
    reply: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    replies: list[tuple[int, str]] = field(default_factory=list)  # (conversation id, text) sent
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, run: PageRun) -> None:
        with self.lock:
            getattr(self, kind).append(run.seconds * 1000)
            self.errors += run.errors


def agent_loop(base: str, who: tuple[str, str, list[int]], until: float, results: Results, *, reply_every: int,
               seed: int) -> None:  # fmt: skip
    """Read My Inbox, open a conversation, and every ``reply_every``-th time reply, until ``until``
    (one round at least)."""
    username, cookie, convs = who
    rng = random.Random(seed)
    try:
        tab = AgentTab(base, cookie)
    except Exception as exc:
        with results.lock:
            results.errors.append(f"{username}: could not connect: {exc}")
        return
    try:
        n = 0
        while n == 0 or time.monotonic() < until:  # every session does one round at least, however slow
            results.add("inbox", tab.run("inbox"))
            cid = rng.choice(convs)
            opened = tab.run("conversation", f"id={cid}")
            results.add("conversation", opened)
            n += 1
            if reply_every and n % reply_every == 0 and not opened.errors:
                text = (
                    f"{username} reply {n}: see you on {rng.choice(['Monday', 'Tuesday', 'Friday'])} {rng.random():.6f}"
                )
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


@dataclass
class Webhooks:
    acked: dict[str, int] = field(default_factory=dict)  # MessageSid -> 2xx answers
    failed: list[tuple[str, list, str]] = field(default_factory=list)  # (sid, form, why): sent again later
    lock: threading.Lock = field(default_factory=threading.Lock)


def post_one(conn, host: str, port: int, base: str, token: str, sid: str, params: list, hooks: Webhooks):
    """Post one signed webhook; note it as acknowledged or as failed (to send again). Returns the connection."""
    from core.providers.twilio import compute_signature

    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Twilio-Signature": compute_signature(token, base + "/webhooks/twilio", params)}  # fmt: skip
    try:
        conn.request("POST", "/webhooks/twilio", body=urlencode(params), headers=headers)
        response = conn.getresponse()
        response.read()
        why = None if response.status == 200 else f"HTTP {response.status}"
    except OSError as exc:  # a timeout: the answer may still come; the provider sends it again anyway
        conn = http.client.HTTPConnection(host, port, timeout=30)
        why = f"{type(exc).__name__}: {exc}"
    with hooks.lock:
        if why is None:
            hooks.acked[sid] = hooks.acked.get(sid, 0) + 1
        else:
            hooks.failed.append((sid, params, why))
    return conn


def resend_failed(base: str, token: str, hooks: Webhooks, deadline: float) -> list[str]:
    """As a provider does: send each webhook that got no 2xx again until it does. Returns why each first failed."""
    host, port = base.split("://", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    reasons = [why for _, _, why in hooks.failed]
    while hooks.failed and time.monotonic() < deadline:
        with hooks.lock:
            pending, hooks.failed = hooks.failed, []
        for sid, params, _ in pending:
            conn = post_one(conn, host, int(port), base, token, sid, params, hooks)
    return reasons


def post_webhooks(base: str, token: str, sender_phone: str, rate: float, until: float, hooks: Webhooks,
                  clients: int = 8) -> None:  # fmt: skip
    """Signed Twilio inbound webhooks at ``rate`` per second (new numbers and known ones) until ``until``."""
    host, port = base.split("://", 1)[1].split(":")
    counter = iter(range(10**9))
    counter_lock = threading.Lock()
    start = time.monotonic()

    def client(k: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        while True:
            with counter_lock:
                i = next(counter)
            due = start + i / rate
            now = time.monotonic()
            if due >= until:
                return
            if due > now:
                time.sleep(due - now)
            sid = f"SMmany{i:08d}"
            params = [("MessageSid", sid), ("AccountSid", "AC1"), ("From", f"+1646{i % 1_000_000:07d}"),
                      ("To", sender_phone), ("Body", f"Message {i}: is {['9', '10', '11'][i % 3]} am free?"),
                      ("NumMedia", "0")]  # fmt: skip
            conn = post_one(conn, host, int(port), base, token, sid, params, hooks)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def run_sessions(base: str, ws: Workspace, sessions: int, seconds: float, results: Results, *, reply_every: int = 3,
                 twilio_token: str | None = None, webhook_rate: float = 0) -> Webhooks:  # fmt: skip
    """``sessions`` agents (cycling through the workspace's) for ``seconds``; webhooks alongside if a rate is given."""
    until = time.monotonic() + seconds
    hooks = Webhooks()
    threads = [
        threading.Thread(
            target=agent_loop,
            args=(base, ws.agents[i % len(ws.agents)], until, results),
            kwargs={"reply_every": reply_every, "seed": i},
            daemon=True,
        )  # fmt: skip
        for i in range(sessions)
    ]
    if webhook_rate:
        threads.append(
            threading.Thread(
                target=post_webhooks,
                args=(base, twilio_token, ws.sender_phone, webhook_rate, until, hooks),
                daemon=True,
            )  # fmt: skip
        )
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + PAGE_DEADLINE * 3)
    return hooks
