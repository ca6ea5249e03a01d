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
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import percentile
from bench.dispatch_harness import CpuMeter, FakeTwilioProcess, Profile, start_dispatcher, statuses, wait_for
from bench.dispatch_workspace import add_conversations, build_workspace, queue_messages
from core.db import Database
from tests import factories


def load() -> str:
    return Path("/proc/loadavg").read_text().strip()


def queued_epoch(db: Database, ids: list[int]) -> dict[int, float]:
    rows = db.fetchall("SELECT id, epoch_us(created_at) FROM messages WHERE id IN (SELECT unnest(?::BIGINT[]))", [ids])
    return {mid: us / 1e6 for mid, us in rows}


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


def run_quiet(db, dispatcher, sender, agent, convs) -> None:
    base = dispatcher.sent + dispatcher.failed
    queue_messages(db, sender, agent, convs, WARMUP, "W")
    wait_for(dispatcher, base + WARMUP, timeout=60)


if __name__ == "__main__":
    sys.exit(main())
