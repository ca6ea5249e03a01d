"""Issue 3: kill the dispatcher between the provider call and the commit — for real.

A dispatcher runs in a child process (the repo's own code, on the test's
DuckDB file) and sends to a loopback Twilio over real HTTP. The child is
SIGKILLed at a point the test controls, with no sleeps:

- ``held``: the fake has received and recorded the Create Message request
  but holds its answer; the test kills the child while it waits for it;
- ``answered``: the fake answered 201 and the provider call returned; a hook
  in the child reports the provider's id and blocks, and the test kills the
  child there, before the dispatcher records the result.

Then the test reopens the file, runs the recovery the app's startup runs
(``Dispatcher.recover()``, called by ``core.engine.build_workers``) and
checks DESIGN "Sending never repeats blindly": the message is shown as
*interrupted* while Parley checks with the provider, never sent again on
its own before that; the lookup (Twilio's List Messages) finds it, and it is
settled with the provider's id, sent exactly once.

A message claimed in the same batch that never reached the provider (its
thread had not started its call) cannot be told apart at restart: a claim
marks the whole batch before any call. It is looked up too; the provider
has no such message, and after the lookups it is sent, once.
``test_a_claimed_message_that_never_reached_the_provider_is_looked_up_then_sent_once``
pins that down.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core import clock, queries
from core.actions import messaging
from core.db import Database
from core.delivery import CHECKING_REASON, Dispatcher
from core.engine import ProviderBook
from tests import factories as f
from tests.fakes.twilio_server import FakeTwilio

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60  # seconds; generous for a loaded machine, only reached when something is broken

CHILD = r"""
import json, sys, threading
args = json.loads(sys.argv[1])
from core.db import Database
from core.delivery import Dispatcher
from core.engine import ProviderBook

db = Database(args["db"])
book = ProviderBook(db, simulator_url="http://127.0.0.1:9/unused", simulator_secret=b"unused", demo=False,
                    env=args["env"])

class AnsweredThenStuck:
    # The provider answered; report its id, then never return: the record is never committed.
    def __init__(self, inner):
        self.inner = inner
    def send(self, msg):
        result = self.inner.send(msg)
        print("answered", msg.message_id, result.provider_message_id, flush=True)
        threading.Event().wait()

class StuckBefore:
    # A thread that was claimed a message but never got to call the provider.
    def __init__(self, inner):
        self.inner = inner
    def send(self, msg):
        if msg.body == args["stuck_before"]:
            print("stuck", msg.message_id, flush=True)
            threading.Event().wait()
        return self.inner.send(msg)

def provider_for(sender):
    provider = book.for_sender(sender)
    if args["stuck_before"]:
        provider = StuckBefore(provider)
    return AnsweredThenStuck(provider) if args["mode"] == "answered" else provider

dispatcher = Dispatcher(db, provider_for, media_url=lambda token: None, status_callback_url=lambda p: None,
                        threads=args["threads"])
dispatcher.recover()  # as at startup
print("ready", flush=True)
dispatcher.step()
print("recorded", flush=True)  # never reached: the test kills this process first
"""


class HoldingTwilio(FakeTwilio):
    """FakeTwilio that creates the first message as Twilio does, says so, and holds its answer."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()
        self.release = threading.Event()
        self._held = False
        self.holding = False

    def hold(self, seconds: float) -> bool:  # called once the message is created, before the answer
        with self._lock:
            hold = self.holding and not self._held
            self._held = self._held or hold
        if hold:
            self.arrived.set()
            self.release.wait(WAIT)
        return super().hold(seconds)


@pytest.fixture
def fake():
    server = HoldingTwilio().start()
    yield server
    server.release.set()
    server.stop()


@pytest.fixture
def ws(db, make_user, fake):
    f.always_open(db)
    maria = make_user("maria")
    sms = f.add_sender(db, provider="twilio", rate=100)
    contact = f.add_contact(db, name="Ana")
    conv = f.add_conversation(db, contact_id=contact, sender_id=sms, owner_id=maria.id)
    env = {
        "PARLEY_TWILIO_ACCOUNT_SID": fake.account_sid,
        "PARLEY_TWILIO_AUTH_TOKEN": fake.auth_token,
        "PARLEY_TWILIO_BASE_URL": fake.url,
    }
    return dict(maria=maria, sms=sms, contact=contact, conv=conv, env=env, path=db.path)


def run_child_and_kill(ws, fake, mode: str, *, threads: int = 4, stuck_before: str | None = None) -> str:
    """Start a dispatcher in a child process, SIGKILL it at the chosen point; return what it said."""
    args = {
        "root": str(ROOT),
        "db": ws["path"],
        "env": ws["env"],
        "mode": mode,
        "threads": threads,
        "stuck_before": stuck_before,
    }
    fake.holding = mode == "held"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read() if child.poll() is not None else ""
        if stuck_before:
            assert child.stdout.readline().startswith("stuck "), "the other thread never took its message"
        if mode == "held":
            said = ""
            assert fake.arrived.wait(WAIT), "the dispatcher never called the provider"
        else:
            said = child.stdout.readline().strip()  # printed after the provider answered, then it blocks
            assert said.startswith("answered "), said + (child.stderr.read() if child.poll() is not None else "")
        assert child.poll() is None, "the child finished on its own"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(WAIT) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(WAIT)
        child.stdout.close()
        child.stderr.close()
        fake.release.set()  # the held answer now goes to a dead socket
    return said


def dispatcher_for(db, env) -> tuple[Dispatcher, ProviderBook]:
    book = ProviderBook(db, simulator_url="http://127.0.0.1:9/unused", simulator_secret=b"unused", demo=False, env=env)
    return Dispatcher(db, book.for_sender, media_url=lambda token: None, status_callback_url=lambda p: None), book


def state(db, mid):
    return db.dicts(
        "SELECT m.status, m.error_reason, m.provider_message_id, o.state, o.attempts, o.due_at "
        "FROM messages m JOIN outbox o ON o.message_id = m.id WHERE m.id = ? ORDER BY o.id",
        [mid],
    )


def run_lookups(db, dispatcher) -> None:
    """Let the dispatcher look up what is due, as time passes (the clock jumps to each due time)."""
    for _ in range(10):
        due = db.scalar("SELECT min(due_at) FROM outbox WHERE state IN ('unknown', 'pending')")
        if due is None:
            return
        clock.freeze(max(clock.utcnow(), due) + dt.timedelta(seconds=1))
        dispatcher.step()


@pytest.mark.parametrize("mode", ["held", "answered"])
def test_a_send_killed_between_the_provider_call_and_the_commit_is_looked_up_and_settled(db, ws, fake, mode):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "Your crown is ready for pick-up")
    db.close()  # the child process becomes the file's only owner, as the server would be

    said = run_child_and_kill(ws, fake, mode)

    # The provider got exactly one request for it and created the message.
    assert len(fake.sends) == 1 and fake.sends[0].value("Body") == "Your crown is ready for pick-up"
    [created] = fake.created
    if mode == "answered":
        assert said.split()[1] == str(mid) and said.split()[2] == created["sid"]

    db2 = Database(ws["path"])  # restart: the killed process left its lock and WAL behind
    try:
        # The claim was committed before the call; the result never was.
        assert [(r["status"], r["state"], r["provider_message_id"]) for r in state(db2, mid)] == [
            ("sending", "claimed", None)
        ]

        dispatcher, book = dispatcher_for(db2, ws["env"])
        assert dispatcher.recover() == 1  # what core.engine.build_workers does at startup
        [row] = state(db2, mid)
        assert (row["status"], row["state"], row["error_reason"]) == ("interrupted", "unknown", CHECKING_REASON)
        shown = [m for m in queries.thread(db2, ws["maria"], ws["conv"]).messages if m["id"] == mid]
        assert [(m["status"], m["error_reason"]) for m in shown] == [("interrupted", CHECKING_REASON)]
        assert (
            db2.scalar("SELECT count(*) FROM events WHERE name = 'message.interrupted' AND message_id = ?", [mid]) == 1
        )
        # Nothing happens before the provider had time to finish what it was doing.
        assert dispatcher.step() is False and dispatcher.recover() == 0 and fake.lookups == []

        run_lookups(db2, dispatcher)
        assert len(fake.lookups) == 1 and len(fake.sends) == 1  # found at the first lookup: never sent again
        [row] = state(db2, mid)
        assert (row["status"], row["state"], row["provider_message_id"], row["error_reason"]) == (
            "sending",
            "done",
            created["sid"],
            None,
        )
        assert dispatcher.step() is False and len(fake.sends) == 1
        dispatcher.close()
        book.close()
    finally:
        db2.close()


def test_a_claimed_message_that_never_reached_the_provider_is_looked_up_then_sent_once(db, ws, fake):
    first = messaging.do_send(db, ws["maria"], ws["conv"], "first")
    second = messaging.do_send(db, ws["maria"], ws["conv"], "second")
    db.close()

    # "first" is held at the provider while "second", claimed in the same batch, has not been
    # handed to the provider by its thread yet; then the process dies.
    run_child_and_kill(ws, fake, "held", stuck_before="second")
    assert [s.value("Body") for s in fake.sends] == ["first"]

    db2 = Database(ws["path"])
    try:
        dispatcher, book = dispatcher_for(db2, ws["env"])
        assert dispatcher.recover() == 2
        for mid in (first, second):
            [row] = state(db2, mid)
            assert (row["status"], row["state"], row["error_reason"]) == ("interrupted", "unknown", CHECKING_REASON)
        assert dispatcher.step() is False and len(fake.sends) == 1
        run_lookups(db2, dispatcher)
        # "first" was found and settled; "second" was looked up twice, not found, and sent: once each.
        assert sorted(s.value("Body") for s in fake.sends) == ["first", "second"]
        assert sorted(fake.created_bodies()) == ["first", "second"]
        assert [r["state"] for r in state(db2, first)] == ["done"]
        assert [r["state"] for r in state(db2, second)] == ["done"]
        assert {db2.scalar("SELECT status FROM messages WHERE id = ?", [m]) for m in (first, second)} == {"sending"}
        assert len(fake.lookups) == 3
        dispatcher.close()
        book.close()
    finally:
        db2.close()


def test_a_claim_that_never_committed_is_simply_sent(db, ws, fake):
    """The other side of the line: killed before the claim commits, nothing is ambiguous."""
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "hello")
    db.close()
    code = (
        "import os, signal\n"
        "from core.db import Database\n"
        "db = Database(%r)\n"
        "def claim_then_die(tx):\n"
        "    tx.execute(\"UPDATE outbox SET state = 'claimed' WHERE state = 'pending'\")\n"
        "    tx.execute(\"UPDATE messages SET status = 'sending' WHERE status = 'queued'\")\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "db.write(claim_then_die)\n"
    ) % (ws["path"],)
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=WAIT).returncode == -signal.SIGKILL
    db2 = Database(ws["path"])
    try:
        assert [(r["status"], r["state"]) for r in state(db2, mid)] == [("queued", "pending")]
        dispatcher, book = dispatcher_for(db2, ws["env"])
        assert dispatcher.recover() == 0
        assert dispatcher.step() is True and len(fake.sends) == 1
        assert state(db2, mid)[0]["status"] == "sending"
        dispatcher.close()
        book.close()
    finally:
        db2.close()
