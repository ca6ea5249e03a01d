"""Delivery under provider faults, with the real dispatcher and a loopback Twilio (issue 18).

Each scenario queues messages on a Twilio sender whose base URL is a FakeTwilio over real
HTTP, runs the dispatcher the way the app does (a ``LoopWorker`` over ``Dispatcher.pump``),
breaks the provider for a while, heals it, and waits until every message is settled. It
prints, from the provider's own records, how many messages were sent once, sent twice
(or more), failed, and are still queued, and the time from recovery until the last one
was settled.

- ``timeout``: the provider creates each message at once but answers after the read
  timeout (``--answer-delay`` > ``--read-timeout``) for ``--fault-seconds``;
- ``outage``: the provider answers 500 and does nothing for ``--fault-seconds``;
- ``refused``: connections are refused for ``--fault-seconds``;
- ``hanging``: a second provider (WhatsApp) hangs for the whole run while Twilio is
  healthy: prints the healthy sender's rate against its limit.

    python -m bench.bench_faults [--messages 300] [--fault-seconds 60] [--scenario outage]
    python -m bench.bench_faults --scenario timeout --read-timeout 10 --answer-delay 15

The issue's figures (before this work): timeout, 300 queued → 486 created, 185 sent twice;
outage of 60 s → 84 of 300 failed ("gave up after 6 attempts").
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import load_average
from core import clock, events, schema, settings
from core.actions import messaging
from core.actions.users import do_create_user, do_create_workspace
from core.auth import get_user
from core.delivery import Dispatcher
from core.delivery_pacing import RetryPolicy
from core.engine import ProviderBook
from core.workers import LoopWorker
from tests import factories
from tests.fakes.graph_server import FakeGraph
from tests.fakes.twilio_server import FakeTwilio

SETTLED = ("done", "failed", "cancelled", "interrupted")


def setup(work: Path, messages: int, twilio: FakeTwilio, graph: FakeGraph, read_timeout: float):
    from core.db import Database

    db = Database(work / "parley.duckdb")
    schema.migrate(db)
    do_create_workspace(db, name="Fault bench", demo=False)
    settings.ensure_defaults(db)
    factories.always_open(db)
    admin = do_create_user(db, None, "ada", "Ada", "admin", "long-enough-password")
    agent = get_user(db, do_create_user(db, admin, "maria", "Maria", "standard", "long-enough-password").id)
    sms = factories.add_sender(db, provider="twilio", rate=50)
    wa = factories.add_sender(db, channel="whatsapp", provider="whatsapp_cloud", provider_ref="1065403522", rate=50)
    env = {
        "PARLEY_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "PARLEY_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "PARLEY_TWILIO_BASE_URL": twilio.url,
        "PARLEY_WHATSAPP_TOKEN": graph.access_token,
        "PARLEY_WHATSAPP_APP_SECRET": "bench",
        "PARLEY_WHATSAPP_VERIFY_TOKEN": "bench",
        "PARLEY_WHATSAPP_BASE_URL": graph.url,
    }
    book = ProviderBook(db, simulator_url="http://127.0.0.1:9/unused", simulator_secret=b"x", demo=False, env=env)
    for name in ("twilio", "whatsapp_cloud"):
        book.provider(name).timeout = (2.0, read_timeout)
    convs = [
        factories.add_conversation(db, contact_id=factories.add_contact(db), sender_id=sms, owner_id=agent.id)
        for _ in range(messages)
    ]
    return db, book, agent, convs, wa


def run(args: argparse.Namespace, scenario: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="parley-faults-"))
    twilio, graph = FakeTwilio().start(), FakeGraph().start()
    try:
        db, book, agent, convs, wa = setup(work, args.messages, twilio, graph, args.read_timeout)
        policy = RetryPolicy(lookup_delay=args.lookup_delay)
        dispatcher = Dispatcher(
            db,
            book.for_sender,
            media_url=lambda t: None,
            status_callback_url=lambda p: "https://parley.example/webhooks/twilio" if p == "twilio" else None,
            policy=policy,
        )
        worker = LoopWorker("dispatcher", dispatcher.pump, idle=0.25, on_stop=dispatcher.close)
        dispatcher.on_done = worker.wake
        db.subscribe(events.MESSAGE_QUEUED, lambda _e: worker.wake())
        if scenario == "timeout":
            twilio.delay_answers(args.answer_delay)
        elif scenario == "outage":
            twilio.fail_for(3600, 500)
        elif scenario == "refused":
            twilio.refuse_connections()
        elif scenario == "hanging":
            graph.delay_answers(3600)
            for i in range(args.messages // 3):
                conv = factories.add_conversation(
                    db, contact_id=factories.add_contact(db), sender_id=wa, owner_id=agent.id
                )
                messaging.do_send(db, agent, conv, f"WhatsApp {i}")
        bodies = {f"Reminder {i}: your visit is on Tuesday at {9 + i % 8}:00" for i in range(len(convs))}
        for conv, body in zip(convs, sorted(bodies)):
            messaging.do_send(db, agent, conv, body)
        began = time.monotonic()
        worker.start()
        if scenario == "hanging":
            while len(twilio.created) < len(convs) and time.monotonic() - began < 600:
                time.sleep(0.05)
            elapsed = time.monotonic() - began
            print(
                f"hanging   healthy Twilio sender: {len(twilio.created)} sent in {elapsed:.1f} s = "
                f"{len(twilio.created) / elapsed:.1f}/s (its limit: 50/s); WhatsApp answered "
                f"{db.scalar('SELECT count(*) FROM messages WHERE provider_message_id LIKE ?', ['wamid%'])} "
                f"of {len(graph.sent)} sends"
            )
            worker.stop()
            return
        time.sleep(args.fault_seconds)
        twilio.heal()
        if scenario == "refused":
            twilio.accept_connections()
        healed = time.monotonic()
        # From here the clock may run ahead: lookups and retries due later are simply due now.
        deadline = healed + args.max_wait
        while time.monotonic() < deadline:
            left = db.scalar("SELECT count(*) FROM outbox WHERE state NOT IN ('done', 'failed', 'cancelled', "
                             "'interrupted', 'superseded')")  # fmt: skip
            if not left and dispatcher.idle():
                break
            due = db.scalar("SELECT min(due_at) FROM outbox WHERE state IN ('pending', 'unknown')")
            if due is not None and due > clock.utcnow() + dt.timedelta(seconds=1) and args.fast_forward:
                clock.advance(due - clock.utcnow())
                worker.wake()
            time.sleep(0.05)
        drained = time.monotonic() - healed
        worker.stop()
        created = Counter(twilio.created_bodies())
        once = sum(1 for b in bodies if created.get(b) == 1)
        twice = sum(1 for b in bodies if created.get(b, 0) >= 2)
        states = dict(db.fetchall("SELECT status, count(*) FROM messages WHERE direction = 'out' GROUP BY 1"))
        queued = db.scalar("SELECT count(*) FROM outbox WHERE state IN ('pending', 'unknown', 'checking', 'claimed')")
        print(
            f"{scenario:<9} {len(bodies)} queued; provider created {sum(created.values())}: sent once {once}, "
            f"sent twice {twice}, failed {states.get('failed', 0)}, interrupted {states.get('interrupted', 0)}, "
            f"still queued {queued}; drained {drained:.1f} s after recovery "
            f"({args.fault_seconds:g} s fault, {len(twilio.lookups)} lookups)",
            flush=True,
        )
        db.close()
    finally:
        twilio.stop()
        graph.stop()
        clock.freeze(None)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["timeout", "outage", "refused", "hanging", "all"], default="all")
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--fault-seconds", type=float, default=60)
    parser.add_argument("--read-timeout", type=float, default=10.0)
    parser.add_argument("--answer-delay", type=float, default=15.0)
    parser.add_argument("--lookup-delay", type=float, default=RetryPolicy.lookup_delay)
    parser.add_argument("--max-wait", type=float, default=900)
    parser.add_argument(
        "--fast-forward",
        action="store_true",
        help="after recovery, jump Parley's clock to each next due time (skips backoff waits)",
    )
    args = parser.parse_args()
    before = load_average()
    print(f"load average (1 min) at start: {before:.2f}" + ("  WARNING: machine busy" if before > 1 else ""))
    for scenario in ["timeout", "outage", "refused", "hanging"] if args.scenario == "all" else [args.scenario]:
        run(args, scenario)
    after = load_average()
    print(f"load average (1 min) at end: {after:.2f}" + ("  WARNING: machine busy" if after > 1 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
