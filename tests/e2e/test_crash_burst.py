"""Issue 18 on a real server (``streamlit run app.py``), no browser.

- Killed (SIGKILL) in the middle of a mixed burst — inbound messages, status callbacks and
  sends to a loopback Twilio — and started again: every acknowledged webhook is applied
  exactly once, every send reaches the provider at most once (and, since Twilio can be
  asked, exactly once in the end).
- Four concurrent oversize POSTs (256 MiB each, streamed without a length) are refused
  without the server's memory growing by their size.
- ``/noop`` (the webhook bench's baseline) is not served unless a bench turns it on.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from core import schema, settings
from core.actions import messaging
from core.actions.users import do_create_user, do_create_workspace
from core.auth import get_user
from core.db import Database
from core.providers.base import STATUS_RANK
from core.providers.twilio_webhooks import compute_signature
from tests import factories as f
from tests.e2e.conftest import free_port
from tests.fakes.twilio_server import FakeTwilio

ROOT = Path(__file__).resolve().parents[2]
START_DEADLINE = 120  # seconds; a busy 2-core machine starts Streamlit slowly
SETTLE_DEADLINE = 180


class Server:
    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.work, self.env, self.proc = work, env, None
        self.port = int(env["PARLEY_PORT"])

    def start(self) -> None:
        log = open(self.work / "server.log", "a")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(ROOT / "app.py"),
                "--server.port",
                str(self.port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],  # fmt: skip
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + START_DEADLINE
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        self.kill()
        pytest.fail("Parley did not start: " + (self.work / "server.log").read_text()[-3000:])

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()

    def rss_mb(self) -> float:
        # The server is the streamlit process itself (python -m streamlit).
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


@pytest.fixture
def twilio():
    with FakeTwilio() as fake:
        yield fake


def workspace(work: Path, twilio: FakeTwilio, *, queued: int, sent_before: int):
    db = Database(work / "parley.duckdb")
    schema.migrate(db)
    do_create_workspace(db, name="Crash test", demo=False)
    settings.ensure_defaults(db)
    f.always_open(db)
    admin = do_create_user(db, None, "ada", "Ada", "admin", "long-enough-pw")
    agent = get_user(db, do_create_user(db, admin, "maria", "Maria", "standard", "long-enough-pw").id)
    sender = f.add_sender(db, provider="twilio", rate=1000)
    sender_phone = db.scalar("SELECT phone FROM senders WHERE id = ?", [sender])
    to_send = []
    for i in range(queued):
        conv = f.add_conversation(db, contact_id=f.add_contact(db), sender_id=sender, owner_id=agent.id)
        to_send.append(messaging.do_send(db, agent, conv, f"Queued before the burst #{i}"))
    sent = []
    for i in range(sent_before):  # messages the provider already took: the burst's status callbacks name them
        conv = f.add_conversation(db, contact_id=f.add_contact(db), sender_id=sender, owner_id=agent.id)
        mid = messaging.do_send(db, agent, conv, f"Sent before the burst #{i}")
        db.write(
            lambda tx, m=mid, n=i: (
                tx.execute(
                    "UPDATE messages SET status = 'sending', provider_message_id = ? WHERE id = ?", [f"SMprev{n}", m]
                ),
                tx.execute("UPDATE outbox SET state = 'done' WHERE message_id = ?", [m]),
            )
        )
        sent.append((mid, f"SMprev{i}"))
    db.close()
    return sender_phone, to_send, sent


def burst_items(sender_phone: str, sent: list[tuple[int, str]], inbound: int) -> list[tuple[str, list]]:
    items = []
    for n in range(inbound):
        body = "HELP" if n % 10 == 0 else f"Inbound during the burst #{n}"  # HELP queues an automatic reply
        items.append(
            (
                f"SMin{n:04d}",
                [
                    ("MessageSid", f"SMin{n:04d}"),
                    ("AccountSid", "AC1"),
                    ("From", f"+1646555{n:04d}"),
                    ("To", sender_phone),
                    ("Body", body),
                    ("NumMedia", "0"),
                ],
            )  # fmt: skip
        )
        if n < len(sent):
            _, sid = sent[n]
            for status in ("sent", "delivered"):
                items.append(
                    (f"{sid}:{status}", [("MessageSid", sid), ("MessageStatus", status), ("AccountSid", "AC1")])
                )
    return items


def post_all(port: int, base: str, token: str, items, acked: dict, stop: threading.Event, clients: int = 6) -> None:
    path = "/webhooks/twilio"
    queue = list(items)
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while not stop.is_set():
            with lock:
                if not queue:
                    return
                key, params = queue.pop(0)
            body = urlencode(params)
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": compute_signature(token, base + path, params),
            }
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    with lock:
                        acked[key] = acked.get(key, 0) + 1
                    continue
            except (OSError, http.client.HTTPException):
                # Refused, reset, or the answer cut short by the kill (IncompleteRead): not
                # acknowledged, so sent again. (An HTTPException that got away killed its thread
                # and dropped the item it held, in L19: the test passed without resending it.)
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            with lock:  # not acknowledged: it is sent again, as a provider would
                queue.append((key, params))
            time.sleep(0.05)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_a_kill_mid_burst_loses_nothing_and_sends_nothing_twice(tmp_path, twilio):
    sender_phone, to_send, sent = workspace(tmp_path, twilio, queued=150, sent_before=60)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        PARLEY_DB=str(tmp_path / "parley.duckdb"),
        PARLEY_MEDIA_DIR=str(tmp_path / "media"),
        PARLEY_DEMO="0",
        PARLEY_PORT=str(port),
        PARLEY_PUBLIC_URL=base,  # status callbacks carry Parley's id; signatures use this URL
        PARLEY_TWILIO_ACCOUNT_SID=twilio.account_sid,
        PARLEY_TWILIO_AUTH_TOKEN=twilio.auth_token,
        PARLEY_TWILIO_BASE_URL=twilio.url,
        PARLEY_SEND_LOOKUP_SECONDS="2",
        PARLEY_HEALTH_TOKEN="crash-test-health-token",  # /healthz details for this test (it runs locally)
    )
    server = Server(tmp_path, env)
    items = burst_items(sender_phone, sent, inbound=240)
    acked: dict[str, int] = {}
    twilio.delay_answers(1.0)  # sends take a while: the kill lands while some are in flight
    server.start()
    try:
        stop = threading.Event()
        poster = threading.Thread(target=post_all, args=(port, base, twilio.auth_token, items, acked, stop))
        poster.start()
        deadline = time.time() + SETTLE_DEADLINE
        while (len(acked) < len(items) // 3 or len(twilio.created) < 20) and time.time() < deadline:
            time.sleep(0.02)
        server.kill()  # mid-burst, mid-send
        killed_with = (len(acked), len(twilio.created))
        stop.set()
        poster.join()
        assert killed_with[0] < len(items) and killed_with[1] < len(to_send), "the kill came after the burst"
        twilio.heal()
        server.start()
        rest = [(k, p) for k, p in items if k not in acked]
        post_all(port, base, twilio.auth_token, rest, acked, threading.Event())
        assert len(acked) == len(items)
        # Wait until everything is applied and every send settled.
        deadline = time.time() + SETTLE_DEADLINE
        while time.time() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/healthz", headers={"Authorization": "Bearer crash-test-health-token"})
            health = json.loads(conn.getresponse().read())
            backlog = health["webhooks"]["backlog"]["pending"]
            if backlog == 0 and len(twilio.created) >= len(to_send) + 24 and health["delivery"]["in_flight"] == {}:
                break
            time.sleep(0.5)
    finally:
        server.stop()
    db = Database(tmp_path / "parley.duckdb")
    try:
        # Every acknowledged inbound message applied exactly once.
        inbound = dict(db.fetchall("SELECT provider_message_id, count(*) FROM messages WHERE direction = 'in' "
                                   "AND provider_message_id LIKE 'SMin%' GROUP BY 1"))  # fmt: skip
        expected_in = {k for k in acked if k.startswith("SMin")}
        assert set(inbound) == expected_in and set(inbound.values()) == {1}
        # Every acknowledged status applied (the latest, delivered, wins; never moved back).
        statuses = dict(
            db.fetchall("SELECT provider_message_id, status FROM messages WHERE provider_message_id LIKE 'SMprev%'")
        )
        assert {statuses[sid] for _, sid in sent} == {"delivered"}
        assert db.scalar("SELECT count(*) FROM webhook_inbox WHERE state <> 'applied'") == 0
        # Every send at most once at the provider, and in the end exactly once.
        per_message: dict[str, int] = {}
        for form in twilio.forms.values():
            ref = dict(form)["StatusCallback"].rsplit("parley_msg=", 1)[1]
            per_message[ref] = per_message.get(ref, 0) + 1
        assert max(per_message.values()) == 1, {k: v for k, v in per_message.items() if v > 1}
        before = [mid for mid, _ in sent]
        outgoing = [r[0] for r in db.fetchall("SELECT id FROM messages WHERE direction = 'out' "
                                              "AND id NOT IN (SELECT unnest(?))", [before])]  # fmt: skip
        assert sorted(map(int, per_message)) == sorted(outgoing)
        assert len(outgoing) == len(to_send) + 24  # the queued ones and one HELP reply per tenth inbound
        states = dict(db.fetchall("SELECT state, count(*) FROM outbox WHERE message_id IN (SELECT unnest(?)) GROUP BY 1",
                                  [outgoing]))  # fmt: skip
        assert states == {"done": len(outgoing)}
        assert twilio.lookups  # the sends in flight at the kill were looked up, not sent again blindly
        assert STATUS_RANK["sending"] <= min(
            STATUS_RANK[s]
            for (s,) in db.fetchall("SELECT status FROM messages WHERE id IN (SELECT unnest(?))", [outgoing])
        )
    finally:
        db.close()


def test_oversize_bodies_are_refused_without_holding_them(tmp_path, twilio):
    workspace(tmp_path, twilio, queued=0, sent_before=0)
    port = free_port()
    env = dict(
        os.environ,
        PARLEY_DB=str(tmp_path / "parley.duckdb"),
        PARLEY_MEDIA_DIR=str(tmp_path / "media"),
        PARLEY_DEMO="0",
        PARLEY_PORT=str(port),
        PARLEY_TWILIO_ACCOUNT_SID=twilio.account_sid,
        PARLEY_TWILIO_AUTH_TOKEN=twilio.auth_token,
    )
    env.pop("PARLEY_BENCH_ROUTES", None)
    server = Server(tmp_path, env)
    server.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/noop", body=b"")
        response = conn.getresponse()
        # A bench route, not served in production (Streamlit's own catch-all refuses the POST).
        assert (response.status, response.read()) != (200, b"ok") and response.status in (404, 405)
        before = server.rss_mb()
        answers = []

        def huge() -> None:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                c.putrequest("POST", "/webhooks/twilio")
                c.putheader("Content-Type", "application/x-www-form-urlencoded")
                c.putheader("Transfer-Encoding", "chunked")
                c.endheaders()
                chunk = b"x" * (1 << 20)
                for _ in range(256):
                    c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                c.send(b"0\r\n\r\n")
                answers.append(c.getresponse().status)
            except OSError:  # the server answered 413 and closed while we were still sending
                answers.append(413)

        threads = [threading.Thread(target=huge) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        after = server.rss_mb()
        assert answers == [413] * 4
        assert after - before < 100, f"RSS grew from {before:.0f} MB to {after:.0f} MB"
    finally:
        server.stop()
    db = Database(tmp_path / "parley.duckdb")
    try:
        assert db.scalar("SELECT count(*) FROM webhook_inbox") == 0
    finally:
        db.close()
