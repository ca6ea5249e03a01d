"""Many people on one Parley at once: agents' sessions over Streamlit's own websocket protocol,
signed webhooks arriving, the dispatcher sending to a loopback Twilio.

Used by ``bench/bench_many_users.py`` (minutes, p95 idle vs loaded, sessions before p95
doubles), ``tests/e2e/test_many_users.py`` (the same load for 30 s, proving nothing is lost) and,
for its server and webhook helpers, ``tests/e2e/test_crash_whole_burst.py``.

The workspace is a generated one (``generate``: the benchmark generator's history, distinct texts
and long-tailed threads, every agent owning open SMS conversations); ``prepare`` builds a tiny one
with factories for tests that need a single conversation.

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
    customers: list[str] = field(default_factory=list)  # numbers of the agents' customers (webhooks come from them too)


def generate(work: Path, agents: int, conversations: int, per_agent: int = 40) -> Workspace:
    """A generated workspace (``generator.write``: 90 days of history, distinct texts, long-tailed
    threads) of ``conversations`` conversations and ``agents`` agents, its SMS sender on Twilio,
    business hours always open, and a live session (cookie) per agent with up to ``per_agent`` of
    their open SMS conversations with customers who have not opted out."""
    from core import schema, sessions, settings
    from core.db import Database
    from core.media_store import MediaStore
    from generator.write import generate_workspace
    from tests import factories as f

    db = Database(work / "parley.duckdb")
    schema.migrate(db)
    # One campaign per agent and month: a campaign's replies are its creator's, so every agent owns some.
    generate_workspace(db, MediaStore(work / "media"), agents=agents, contacts=conversations,
                       conversations=conversations, history_days=90, varied_texts=True, campaigns=3 * agents,
                       demo=False, demo_passwords=False, workspace_name="Many users")  # fmt: skip
    settings.ensure_defaults(db)
    f.always_open(db)
    db.write(
        lambda tx: tx.execute("UPDATE senders SET provider = 'twilio', rate_per_second = 1000 WHERE channel = 'sms'")
    )
    phone = db.scalar("SELECT phone FROM senders WHERE channel = 'sms' ORDER BY id LIMIT 1")
    rows = db.fetchall(
        """SELECT u.id, u.username, list(c.id ORDER BY c.last_message_at DESC), list(ct.phone)
           FROM users u JOIN conversations c ON c.owner_id = u.id JOIN contacts ct ON ct.id = c.contact_id
           JOIN senders s ON s.id = c.sender_id
           WHERE u.role = 'standard' AND u.active AND c.status = 'open' AND s.phone = ? AND s.channel = 'sms'
             AND NOT ct.opted_out AND NOT ct.archived
           GROUP BY ALL ORDER BY u.username""",
        [phone],
    )
    people, customers = [], []
    for user_id, username, convs, phones in rows:
        cookie = sessions.start(db, user_id, SECRET.encode(), source="bench").cookie
        people.append((username, cookie, convs[:per_agent]))
        customers += phones[:per_agent]
    db.checkpoint()
    db.close()
    if len(people) < agents:
        raise RuntimeError(f"only {len(people)} of {agents} agents own an open SMS conversation; generate more")
    return Workspace(work / "parley.duckdb", phone, people, customers)


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
               seed: int, think: float = 0.0) -> None:  # fmt: skip
    """Read My Inbox, open a conversation, and every ``reply_every``-th time reply, until ``until``
    (one round at least). ``think``: the seconds a person reads or types before the next click, on
    average (exponentially distributed); 0 clicks again at once, a stress test rather than people."""
    username, cookie, convs = who
    rng = random.Random(seed)

    def pause() -> None:
        if think > 0:
            time.sleep(min(rng.expovariate(1.0 / think), max(0.0, until - time.monotonic())))

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
            pause()
            cid = rng.choice(convs)
            opened = tab.run("conversation", f"id={cid}")
            results.add("conversation", opened)
            pause()
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


@dataclass
class Webhooks:
    acked: dict[str, int] = field(default_factory=dict)  # MessageSid -> 2xx answers
    failed: list[tuple[str, list, str]] = field(default_factory=list)  # (sid, form, why): no answer or 5xx/429
    refused: list[tuple[str, str]] = field(default_factory=list)  # (sid, why): a 4xx, which no provider sends again
    retried: list[str] = field(default_factory=list)  # why each webhook sent again had failed
    lock: threading.Lock = field(default_factory=threading.Lock)


# MessageSids are unique in a process: a later phase's webhooks are new messages, not replays.
_SIDS = itertools.count()
_SIDS_LOCK = threading.Lock()


_REPLIES = itertools.count(1)


def next_sid() -> str:
    with _SIDS_LOCK:
        return f"SMmany{os.getpid():07d}{next(_SIDS):08d}"


def next_reply_number() -> int:
    with _SIDS_LOCK:
        return next(_REPLIES)


def post_one(conn, host: str, port: int, base: str, token: str, sid: str, params: list, hooks: Webhooks):
    """Post one signed webhook; note it as acknowledged, as failed (to send again, as Twilio does after
    a timeout or a 5xx/429) or as refused (a 4xx). Returns the connection to use next."""
    from core.providers.twilio import compute_signature

    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Twilio-Signature": compute_signature(token, base + "/webhooks/twilio", params)}  # fmt: skip
    status = None
    try:
        conn.request("POST", "/webhooks/twilio", body=urlencode(params), headers=headers)
        response = conn.getresponse()
        answer = response.read()
        status = response.status
        why = None if 200 <= status < 300 else f"HTTP {status}: {answer[:200]!r}"
    except OSError as exc:  # a timeout: the answer may still come; the provider sends it again anyway
        conn.close()
        conn = http.client.HTTPConnection(host, port, timeout=30)
        why = f"{type(exc).__name__}: {exc}"
    with hooks.lock:
        if why is None:
            hooks.acked[sid] = hooks.acked.get(sid, 0) + 1
        elif status is not None and 400 <= status < 500 and status not in (408, 429):
            hooks.refused.append((sid, why))
        else:
            hooks.failed.append((sid, params, why))
    return conn


def resend_failed(base: str, token: str, hooks: Webhooks, deadline: float) -> list[str]:
    """As a provider does: send each webhook that got no answer (or a 5xx/429) again until it gets a 2xx
    or is refused. Returns why each first failed."""
    host, port = base.split("://", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    reasons = [why for _, _, why in hooks.failed]
    while hooks.failed and time.monotonic() < deadline:
        with hooks.lock:
            pending, hooks.failed = hooks.failed, []
            hooks.retried += [why for _, _, why in pending]
        for sid, params, _ in pending:
            conn = post_one(conn, host, int(port), base, token, sid, params, hooks)
        if hooks.failed:
            time.sleep(1)  # a provider backs off between attempts
    conn.close()
    return reasons


def inbound_form(i: int, sid: str, sender_phone: str, customers: list[str]) -> list[tuple[str, str]]:
    """The ``i``-th inbound SMS: every third from one of the agents' customers, the rest from new numbers."""
    if customers and i % 3 == 0:
        sender = customers[(i // 3) % len(customers)]
    else:
        sender = f"+1646{200 + (i // 10_000) % 700:03d}{i % 10_000:04d}"  # valid NANP numbers Parley never saw
    return [("MessageSid", sid), ("AccountSid", "AC1"), ("From", sender), ("To", sender_phone),
            ("Body", f"Message {i} ({sid[-6:]}): is {['9', '10', '11'][i % 3]} am free?"), ("NumMedia", "0")]  # fmt: skip


def post_webhooks(base: str, token: str, sender_phone: str, rate: float, until: float, hooks: Webhooks,
                  clients: int = 8, customers: list[str] | None = None, start: float | None = None) -> None:  # fmt: skip
    """Signed Twilio inbound webhooks at ``rate`` per second (new numbers and customers') from ``start``
    (default: now) until ``until``: ``rate × (until − start)`` of them, however late the last ones go."""
    host, port = base.split("://", 1)[1].split(":")
    counter = iter(range(10**9))
    counter_lock = threading.Lock()
    start = time.monotonic() if start is None else start

    def client(k: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        while True:
            with counter_lock:
                i = next(counter)
            due = start + i / rate
            now = time.monotonic()
            if due >= until:
                conn.close()
                return
            if due > now:
                time.sleep(due - now)
            sid = next_sid()
            params = inbound_form(i, sid, sender_phone, customers or [])
            conn = post_one(conn, host, int(port), base, token, sid, params, hooks)

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


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
