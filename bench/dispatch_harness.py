"""The real dispatcher sending to a loopback Twilio in its own process, timed: what
``bench.bench_dispatch`` and ``bench.bench_campaign`` share.

``FakeTwilioProcess`` runs the fake in a child process (real HTTP, not this process's GIL);
``start_dispatcher`` wires the ``Dispatcher`` as the app does, with every send timed
(``Timed``); ``CpuMeter`` and ``Profile`` say where its CPU goes; ``wait_for`` and ``statuses``
follow a run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.common import ROOT
from core import events
from core.db import Database
from core.delivery import Dispatcher
from core.engine import ProviderBook
from core.workers import LoopWorker

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


def wait_for(dispatcher: Dispatcher, total: int, timeout: float) -> float:
    deadline = time.perf_counter() + timeout
    while dispatcher.sent + dispatcher.failed < total:
        if time.perf_counter() > deadline:
            raise SystemExit(f"timed out: {dispatcher.sent} sent, {dispatcher.failed} failed of {total}")
        time.sleep(0.005)
    return time.perf_counter()


def statuses(db: Database, ids: list[int]) -> dict[str, int]:
    return dict(
        db.fetchall(
            "SELECT status, count(*) FROM messages WHERE id IN (SELECT unnest(?::BIGINT[])) GROUP BY status", [ids]
        )
    )


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
