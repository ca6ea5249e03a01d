"""Dispatch to a loopback Twilio, with the real dispatcher. Target: ≥ 500 messages/s, rate limits held.

Builds a workspace in a DuckDB file in a temp folder, an SMS sender on the
``twilio`` provider whose base URL is a FakeTwilio loopback server (real
HTTP, run in a subprocess so it does not share this process's GIL), queues
messages in bulk exactly as ``do_send`` records them (message *queued* +
outbox row + ``message.queued`` event), then runs the real ``Dispatcher``
the way the app does (a ``LoopWorker`` over ``Dispatcher.pump``, woken by
``message.queued``) until every message is recorded.

Run 1, throughput: a sender with a high rate limit; prints sends/s, the
latency from queued to provider-acknowledged (all messages are queued at
once, so this mostly measures the backlog) and the provider call time.

Run 2, rate limit: a sender limited to ``--limit`` messages/s with a
backlog, plus a few agent replies on a second, unlimited sender queued
just after: no one-second window may see more sends of the limited sender
start than its limit, its rate must stay within 10 % under that limit, and
the other sender must not wait behind that backlog.

    python -m bench.bench_dispatch [--messages 10000] [--limit 50] [--limited-seconds 10]
    python -m bench.bench_dispatch --provider-latency 0.1 --messages 3000   # a real round trip
    python -m bench.bench_dispatch --batch 64 --threads 8                   # other dispatcher sizes
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import ROOT, percentile
from core import clock, events, schema, settings
from core.actions.users import do_create_workspace
from core.db import Database
from core.delivery import Dispatcher
from core.engine import ProviderBook
from core.phones import normalize_name
from core.workers import LoopWorker
from tests import factories

ACCOUNT_SID = "AC" + "b3" * 16
AUTH_TOKEN = "bench-auth-token"

# The fake runs in a child process; it prints its URL, serves until stdin closes,
# then prints what it received (sends, distinct bodies) as JSON.
FAKE_SCRIPT = f"""
import json, sys
from tests.fakes.twilio_server import FakeTwilio
latency = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
if latency:  # --provider-latency: a real provider's round trip, per request
    import time
    create = FakeTwilio._create_message
    FakeTwilio._create_message = lambda self, h, form: (time.sleep(latency), create(self, h, form))[1]
fake = FakeTwilio(account_sid={ACCOUNT_SID!r}, auth_token={AUTH_TOKEN!r}).start()
print(fake.url, flush=True)
sys.stdin.read()
sends = fake.sends
print(json.dumps({{"sends": len(sends), "distinct": len({{r.value("Body") for r in sends}})}}), flush=True)
"""


class FakeTwilioProcess:
    def __init__(self, latency: float = 0.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", FAKE_SCRIPT, str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.proc.kill()
            raise SystemExit("the fake Twilio server did not start")

    def finish(self) -> dict:
        self.proc.stdin.close()
        line = self.proc.stdout.readline()
        self.proc.wait(timeout=30)
        return json.loads(line)


class Timed:
    """Wraps the real provider: records when each send was acknowledged, how long the call took,
    and when it started (what a carrier's rate limit counts)."""

    def __init__(self, inner, acks: dict) -> None:
        self.inner, self.acks = inner, acks

    def send(self, msg):
        started, began = time.time(), time.perf_counter()
        result = self.inner.send(msg)
        self.acks[msg.message_id] = (time.time(), time.perf_counter() - began, started)
        return result


# ---- the workspace ---------------------------------------------------------------------------


def build_workspace(path: Path, conversations: int) -> tuple[Database, int, list[tuple[int, int]]]:
    db = Database(path)
    schema.migrate(db)
    do_create_workspace(db, name="Dispatch bench", demo=False)
    settings.ensure_defaults(db)
    factories.always_open(db)  # business and quiet hours open all day: everything is due now
    now = clock.utcnow()

    def write(tx):
        agent = tx.next_id("seq_users")
        tx.execute(
            "INSERT INTO users (id, username, display_name, role, team_id, password_hash, active, created_at) "
            "VALUES (?, 'agent', 'Bench Agent', 'standard', 1, 'x', TRUE, ?)",
            [agent, now],
        )
        ids = np.asarray(tx.next_ids("seq_contacts", conversations), dtype=np.int64)
        phones = [f"+1415{867 + i // 10000}{i % 10000:04d}" for i in range(conversations)]
        names = [f"Customer {i}" for i in range(conversations)]
        tx.insert_df(
            "contacts",
            pd.DataFrame(
                {
                    "id": ids,
                    "phone": phones,
                    "name": names,
                    "opted_out": False,
                    "created_at": now,
                    "updated_at": now,
                    "search_name": [normalize_name(n) for n in names],
                    "phone_digits": [p[1:] for p in phones],
                }
            ),
        )
        return agent, ids

    agent, contact_ids = db.write(write)
    return db, agent, contact_ids


def add_conversations(db: Database, sender_id: int, agent: int, contact_ids: np.ndarray) -> list[tuple[int, int]]:
    """One conversation per contact on this sender, each started by the customer's reply (rule 1)."""
    at = clock.utcnow() - dt.timedelta(minutes=5)

    def write(tx):
        conv = np.asarray(tx.next_ids("seq_conversations", len(contact_ids)), dtype=np.int64)
        tx.insert_df(
            "conversations",
            pd.DataFrame(
                {
                    "id": conv,
                    "contact_id": contact_ids,
                    "sender_id": sender_id,
                    "channel": "sms",
                    "owner_id": agent,
                    "status": "open",
                    "created_at": at,
                    "last_message_at": at,
                    "last_message_preview": "Hello",
                    "last_message_direction": "in",
                    "last_inbound_at": at,
                    "message_count": 1,
                }
            ),
        )
        tx.insert_df(
            "messages",
            pd.DataFrame(
                {
                    "id": tx.next_ids("seq_messages", len(conv)),
                    "conversation_id": conv,
                    "contact_id": contact_ids,
                    "sender_id": sender_id,
                    "direction": "in",
                    "body": "Hello",
                    "status": "received",
                    "provider_message_id": [f"IN{c}" for c in conv],
                    "created_at": at,
                    "status_at": at,
                }
            ),
        )
        return list(zip(conv.tolist(), contact_ids.tolist()))

    return db.write(write)


def queue_messages(
    db: Database, sender_id: int, agent: int, convs: list[tuple[int, int]], count: int, tag: str
) -> list[int]:
    """What ``do_send`` writes, ``count`` times in one transaction: messages (queued), outbox rows
    (pending, due now), the conversations' summary columns and the ``message.queued`` events."""
    now = clock.utcnow()
    conv_of = np.array([convs[i % len(convs)][0] for i in range(count)], dtype=np.int64)
    contact_of = np.array([convs[i % len(convs)][1] for i in range(count)], dtype=np.int64)
    bodies = [f"{tag} message {i}: your appointment is confirmed for Tuesday at 3 pm." for i in range(count)]

    def write(tx):
        ids = np.asarray(tx.next_ids("seq_messages", count), dtype=np.int64)
        tx.insert_df(
            "messages",
            pd.DataFrame(
                {
                    "id": ids,
                    "conversation_id": conv_of,
                    "contact_id": contact_of,
                    "sender_id": sender_id,
                    "direction": "out",
                    "author_id": agent,
                    "body": bodies,
                    "status": "queued",
                    "error_reason": pd.Series([None] * count, dtype="object"),
                    "created_at": now,
                    "status_at": now,
                    "has_media": False,
                    "release_at": pd.Series([None] * count, dtype="datetime64[us]"),
                    "template_id": pd.array([None] * count, dtype="Int64"),
                }
            ),
        )
        tx.insert_df(
            "outbox",
            pd.DataFrame(
                {
                    "id": tx.next_ids("seq_outbox", count),
                    "message_id": ids,
                    "sender_id": sender_id,
                    "due_at": now,
                    "created_at": now,
                }
            ),
        )
        per_conv = (
            pd.DataFrame({"id": conv_of, "body": bodies}).groupby("id").agg(n=("body", "size"), last=("body", "last"))
        )
        per_conv = per_conv.reset_index()
        tx.cursor.register("_bench_touch", per_conv)
        try:
            tx.execute(
                """UPDATE conversations SET last_message_at = greatest(last_message_at, ?),
                              last_message_preview = t.last, last_message_direction = 'out',
                              message_count = message_count + t.n
                          FROM _bench_touch t WHERE conversations.id = t.id""",
                [now],
            )
        finally:
            tx.cursor.unregister("_bench_touch")
        for c, m in zip(conv_of.tolist(), ids.tolist()):  # persisted in bulk with the commit, then released
            tx.publish(
                events.MESSAGE_QUEUED,
                conversation_id=c,
                message_id=m,
                user_id=agent,
                author_id=agent,
                channel="sms",
                sender_id=sender_id,
                reason=None,
            )
        return ids.tolist()

    return db.write(write)


# ---- running ---------------------------------------------------------------------------------


def start_dispatcher(db: Database, fake_url: str, acks: dict, *, threads: int | None, batch: int | None):
    env = {
        "PARLEY_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "PARLEY_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "PARLEY_TWILIO_BASE_URL": fake_url,
    }
    book = ProviderBook(
        db, simulator_url="http://127.0.0.1:9/webhooks/simulator", simulator_secret=b"unused", demo=False, env=env
    )
    timed: dict[str, Timed] = {}

    def provider_for(sender):
        if sender["provider"] not in timed:
            timed[sender["provider"]] = Timed(book.for_sender(sender), acks)
        return timed[sender["provider"]]

    options = {k: v for k, v in (("threads", threads), ("batch", batch)) if v}
    dispatcher = Dispatcher(
        db,
        provider_for,
        media_url=lambda token: f"https://parley.example/files/{token}",
        status_callback_url=lambda p: "https://parley.example/webhooks/twilio",
        **options,
    )
    dispatcher.recover()
    worker = LoopWorker("dispatcher", dispatcher.pump, idle=0.25, on_stop=dispatcher.close)  # as engine.build_workers
    dispatcher.on_done = worker.wake
    db.subscribe(events.MESSAGE_QUEUED, lambda _e: worker.wake())
    worker.start()
    return dispatcher, worker, book


class CpuMeter:
    """CPU time per send over a window: the whole process (what a send costs the machine, minus the
    fake's), the dispatcher's loop thread (claim, record, reporting facts: the serial part), the
    sending threads (the HTTP calls) and the rest (DuckDB's own threads). CPU, not wall time: it
    holds under load."""

    def __init__(self, worker: LoopWorker) -> None:
        self.clock = time.pthread_getcpuclockid(worker._thread.ident)
        self.process, self.loop, self.senders = time.process_time(), time.clock_gettime(self.clock), self._senders()

    @staticmethod
    def _senders() -> dict[int, float]:
        found = {}
        for thread in threading.enumerate():
            if thread.name.startswith("parley-send") and thread.ident is not None:
                try:
                    found[thread.ident] = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
                except (OSError, ProcessLookupError):
                    pass
        return found

    def per_send(self, sends: int) -> dict[str, float]:
        process = (time.process_time() - self.process) / sends * 1000
        loop = (time.clock_gettime(self.clock) - self.loop) / sends * 1000
        senders = sum(now - self.senders.get(ident, 0.0) for ident, now in self._senders().items()) / sends * 1000
        return {"process_ms": process, "loop_ms": loop, "send_ms": senders, "other_ms": process - loop - senders}

    @staticmethod
    def line(cpu: dict[str, float]) -> str:
        return (
            f"CPU per send {cpu['process_ms']:.2f} ms: dispatcher loop {cpu['loop_ms']:.2f} (claim, record, facts), "
            f"sending threads {cpu['send_ms']:.2f} (HTTP), DuckDB's threads and the rest {cpu['other_ms']:.2f}"
        )


def load() -> str:
    return Path("/proc/loadavg").read_text().strip()


def wait_for(dispatcher: Dispatcher, total: int, timeout: float) -> float:
    deadline = time.perf_counter() + timeout
    while dispatcher.sent + dispatcher.failed < total:
        if time.perf_counter() > deadline:
            raise SystemExit(f"timed out: {dispatcher.sent} sent, {dispatcher.failed} failed of {total}")
        time.sleep(0.005)
    return time.perf_counter()


def queued_epoch(db: Database, ids: list[int]) -> dict[int, float]:
    rows = db.fetchall("SELECT id, epoch_us(created_at) FROM messages WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids])
    return {mid: us / 1e6 for mid, us in rows}


def statuses(db: Database, ids: list[int]) -> dict[str, int]:
    return dict(
        db.fetchall(
            "SELECT status, count(*) FROM messages WHERE id IN (SELECT unnest(?::BIGINT[])) GROUP BY status", [ids]
        )
    )


def ms(x: float) -> str:
    return f"{x * 1000:7.1f} ms"


def run_throughput(db, dispatcher, worker, acks, sender, agent, convs, n, profile=None) -> dict:
    base = dispatcher.sent + dispatcher.failed
    began = time.perf_counter()
    ids = queue_messages(db, sender, agent, convs, n, "T")
    queued = time.perf_counter()
    if profile is not None:
        profile.reset()
    meter, rounds = CpuMeter(worker), dispatcher.rounds
    done = wait_for(dispatcher, base + n, timeout=max(120, n / 20))
    cpu = meter.per_send(n)
    rounds = dispatcher.rounds - rounds
    if profile is not None:
        profile.write()
    elapsed = done - queued
    q = queued_epoch(db, ids)
    lat = [acks[m][0] - q[m] for m in ids if m in acks]
    call = [acks[m][1] for m in ids if m in acks]
    st = statuses(db, ids)
    rate = n / elapsed
    print(f"queue {n:,} messages in bulk (one transaction)     {queued - began:6.2f} s")
    print(
        f"dispatch {n:,} to loopback Twilio                 {elapsed:6.2f} s   {rate:8.0f} sends/s"
        f"   {'OK' if rate >= 500 else 'UNDER TARGET (500/s)'}"
    )
    print(
        f"  queued → provider-acknowledged   p50 {ms(percentile(lat, 50))}   p95 {ms(percentile(lat, 95))}"
        f"   (all queued at once: this is the backlog)"
    )
    print(
        f"  provider call (HTTP round trip)  p50 {ms(percentile(call, 50))}   p95 {ms(percentile(call, 95))}"
        f"   mean {statistics.mean(call) * 1000:.1f} ms"
    )
    print(f"  {CpuMeter.line(cpu)}")
    print(f"  {rounds:,} rounds (transactions recording and claiming): {n / max(1, rounds):.0f} sends a round")
    print(f"  statuses after the run: {st}")
    return {"rate": rate, "statuses": st, "ids": ids, "cpu": cpu}


def run_rate_limit(db, dispatcher, acks, limited, other, agent, convs_l, convs_o, limit, seconds, others) -> dict:
    n = int(limit * seconds)
    base = dispatcher.sent + dispatcher.failed
    ids = queue_messages(db, limited, agent, convs_l, n, "L")
    time.sleep(0.5)  # the backlog is being worked when the agent replies arrive
    other_queued = time.time()
    other_ids = queue_messages(db, other, agent, convs_o, others, "O")
    wait_for(dispatcher, base + n + others, timeout=seconds * 3 + 60)
    times = sorted(acks[m][2] for m in ids)  # when each send started
    span = times[-1] - times[0]
    overall = (n - 1) / span
    # At most `limit` sends start in any one-second window; the long-run rate is what
    # a second's worth at a time gives (a little under the limit: each second counts
    # from when the last send of the previous second's worth went out).
    last_second = n - int(limit)  # the first claim of the last second's worth
    rate = last_second / (times[last_second] - times[0]) if n > limit else overall
    windows = [np.searchsorted(times, t + 1.0, side="left") - i for i, t in enumerate(times) if t + 1.0 <= times[-1]]
    most = max(windows) if windows else n
    other_wait = [acks[m][0] - other_queued for m in other_ids]
    off = abs(rate - limit) / limit
    held = most <= limit and rate >= 0.9 * limit
    print(
        f"sender limited to {limit:g}/s, {n:,} queued             {span:6.2f} s   "
        f"{rate:8.1f} sends/s ({off:.1%} under the limit); most started in any 1 s window {most}   "
        f"{'OK' if held else 'NOT HELD'}"
    )
    print(
        f"  {others} replies on another sender, queued behind that backlog: "
        f"sent within p50 {ms(percentile(other_wait, 50))}   max {ms(max(other_wait))}"
        f"   {'OK' if max(other_wait) < 2.0 else 'STARVED by the limited sender'}"
    )
    print(f"  statuses: limited {statuses(db, ids)}, other {statuses(db, other_ids)}")
    return {"steady_rate": rate, "off": off, "most": most, "held": held, "other_max": max(other_wait)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--conversations", type=int, default=2_000)
    parser.add_argument("--limit", type=float, default=50, help="per-sender rate limit for run 2 (messages/s)")
    parser.add_argument("--limited-seconds", type=float, default=10)
    parser.add_argument("--others", type=int, default=20, help="replies on the unlimited sender in run 2")
    parser.add_argument("--threads", type=int, default=None, help="dispatcher threads (default: the app's)")
    parser.add_argument("--batch", type=int, default=None, help="dispatcher batch (default: the app's)")
    parser.add_argument(
        "--provider-latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="the fake waits this long before each answer (a real provider's round trip)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    parser.add_argument("--profile", metavar="OUT", help="write a CPU profile of run 1 (bench.sampler) to OUT")
    args = parser.parse_args()
    print(f"load average at the start: {load()}", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="parley-dispatch-"))
    fake = FakeTwilioProcess(args.provider_latency)
    worker = None
    try:
        db, agent, contacts = build_workspace(workdir / "parley.duckdb", args.conversations + 2 * 500)
        fast = factories.add_sender(db, provider="twilio", phone="+14155550100", rate=100_000, label="Fast")
        slow = factories.add_sender(db, provider="twilio", phone="+14155550101", rate=args.limit, label="Limited")
        other = factories.add_sender(db, provider="twilio", phone="+14155550102", rate=100_000, label="Other")
        convs_fast = add_conversations(db, fast, agent, contacts[: args.conversations])
        convs_slow = add_conversations(db, slow, agent, contacts[args.conversations : args.conversations + 500])
        convs_other = add_conversations(db, other, agent, contacts[args.conversations + 500 :])
        acks: dict[int, tuple[float, float]] = {}
        dispatcher, worker, book = start_dispatcher(db, fake.url, acks, threads=args.threads, batch=args.batch)
        print(
            f"dispatcher: {dispatcher.batch} per batch, {dispatcher.threads} threads per provider (at most {dispatcher.sender_cap} in flight per sender); "
            f"fake Twilio at {fake.url} (own process"
            + (f", answers after {args.provider_latency * 1000:g} ms)" if args.provider_latency else ")")
        )
        # Warm-up: connections, caches (not measured).
        run_quiet(db, dispatcher, fast, agent, convs_fast)
        profile = Profile(Path(args.profile)) if args.profile else None
        first = run_throughput(db, dispatcher, worker, acks, fast, agent, convs_fast, args.messages, profile)
        second = run_rate_limit(
            db,
            dispatcher,
            acks,
            slow,
            other,
            agent,
            convs_slow,
            convs_other,
            args.limit,
            args.limited_seconds,
            args.others,
        )
        worker.stop(timeout=30)
        worker = None
        book.close()
        received = fake.finish()
        expected = args.messages + int(args.limit * args.limited_seconds) + args.others + WARMUP
        print(
            f"fake Twilio received {received['sends']:,} sends ({received['distinct']:,} distinct bodies); "
            f"expected {expected:,}"
        )
        ok = (
            first["rate"] >= 500
            and first["statuses"] == {"sending": args.messages}
            and second["held"]
            and second["other_max"] < 2.0
            and received["sends"] == received["distinct"] == expected
        )
        print(f"load average at the end: {load()}")
        print(
            "targets (≥ 500 sends/s, rate limit held, no sender starved, each message sent once):",
            "met" if ok else "NOT met",
        )
        db.close()
        return 0 if ok else 1
    finally:
        if worker is not None:
            worker.stop(timeout=30)
        if fake.proc.poll() is None:
            fake.proc.kill()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


WARMUP = 200


class Profile:
    """bench.sampler in this process, over one window: where the dispatcher's CPU goes."""

    def __init__(self, out: Path) -> None:
        from bench.sampler import Sampler

        self.sampler = Sampler(out)
        self.sampler.thread.start()

    def reset(self) -> None:
        with self.sampler.lock:
            self.sampler._reset()

    def write(self) -> None:
        self.sampler.write()
        print(f"  profile written to {self.sampler.out}")


def run_quiet(db, dispatcher, sender, agent, convs) -> None:
    base = dispatcher.sent + dispatcher.failed
    queue_messages(db, sender, agent, convs, WARMUP, "W")
    wait_for(dispatcher, base + WARMUP, timeout=60)


if __name__ == "__main__":
    sys.exit(main())
