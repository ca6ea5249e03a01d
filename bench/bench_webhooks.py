"""Signed inbound webhooks over loopback, 16 concurrent clients, to the running app.

Starts Parley (`streamlit run app.py`) on a fresh demo workspace, posts
Twilio-signed inbound SMS webhooks from 16 client threads on persistent
connections (each client's n-th webhook comes from ``+1415867`` and n: the
clients write from the same numbers, so a 10 s burst is a first message from
each of ~700 numbers and ~11,000 replies in their conversations, several at
once in each). Before them it runs the same load against a no-op route of the
same app, for the ratio (``/noop``, served only because this bench sets
``PARLEY_BENCH_ROUTES=1``). After each burst it prints the backlog the
applier was left with (how many, the oldest's age) and waits until it is
applied, printing how long that took; then it stops the server and checks
that every acknowledged webhook is in the database. Targets: ≥ 1,000
webhooks/s, p99 ≤ 100 ms, 0 lost, and no webhook older than 5 s left
unapplied at the burst's end (issue 18).

``--live-pages N`` then opens N agent Conversation pages in Debian's chromium
(signed in as the demo agents, each page refreshing live) and runs the same
load again: target ≥ 500/s with p99 ≤ 200 ms (issue 18). ``--large-payload``
posts one signed 3,000-message WhatsApp payload at the start of a run and
reports the acknowledgement p99 while it is applied, and how long applying
took.

    python -m bench.bench_webhooks [--seconds 10] [--clients 16] [--live-pages 10] [--large-payload]
        [--profile FILE]

``--profile FILE`` runs the server under ``bench.sampler`` and saves where its CPU went during
each load run (FILE-noop.txt, FILE-webhooks.txt, FILE-live.txt).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from bench.common import ROOT, load_average, percentile
from bench.live_pages import open_live_pages
from core import schema, settings
from core.db import Database
from core.media_store import MediaStore
from generator.demo import create_demo_workspace

TOKEN = "bench-auth-token"
WA_SECRET = "bench-app-secret"
HEALTH_TOKEN = secrets.token_urlsafe(24)  # /healthz details (the database path, webhook counters) for this bench
HEALTH_HEADERS = {"Authorization": f"Bearer {HEALTH_TOKEN}"}


def twilio_signature(url: str, params: list[tuple[str, str]]) -> str:
    payload = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(TOKEN.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def prepare(workdir: Path) -> tuple[str, str, dict[str, list[int]]]:
    db = Database(workdir / "parley.duckdb")
    schema.migrate(db)
    create_demo_workspace(db, MediaStore(workdir / "media"))
    settings.ensure_defaults(db)
    sender = db.scalar("SELECT phone FROM senders WHERE channel = 'sms' ORDER BY id LIMIT 1")
    wa_sender = db.scalar("SELECT phone FROM senders WHERE channel = 'whatsapp' ORDER BY id LIMIT 1")
    conversations = {
        name: [
            r[0]
            for r in db.fetchall(
                "SELECT c.id FROM conversations c JOIN users u ON u.id = c.owner_id WHERE u.username = ? "
                "ORDER BY c.last_message_at DESC LIMIT 10",
                [name],
            )
        ]  # fmt: skip
        for name in ("maria", "james", "aiko")
    }
    db.close()
    return sender, wa_sender, conversations


def start_server(workdir: Path, port: int, profile: Path | None = None) -> subprocess.Popen:
    env = dict(
        os.environ,
        PARLEY_DB=str(workdir / "parley.duckdb"),
        PARLEY_TWILIO_ACCOUNT_SID="ACbench",
        PARLEY_TWILIO_AUTH_TOKEN=TOKEN,
        PARLEY_WHATSAPP_TOKEN="bench-token",
        PARLEY_WHATSAPP_APP_SECRET=WA_SECRET,
        PARLEY_WHATSAPP_VERIFY_TOKEN="bench-verify",
        PARLEY_PORT=str(port),
        PARLEY_HEALTH_TOKEN=HEALTH_TOKEN,
        PARLEY_BENCH_ROUTES="1",  # the /noop baseline; never served otherwise
    )
    runner = ["-m", "bench.sampler", str(profile), "--"] if profile else ["-m", "streamlit"]
    proc = subprocess.Popen(
        [
            sys.executable,
            *runner,
            "run",
            str(ROOT / "app.py"),
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--logger.level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "server.log", "w"),
    )
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz", headers=HEALTH_HEADERS)
            response = conn.getresponse()
            health = json.loads(response.read() or b"{}")
            if response.status == 200:
                if health.get("database", {}).get("path") != str(workdir / "parley.duckdb"):
                    break  # another server holds the port: its answers would measure nothing of ours
                return proc
        except (OSError, ValueError):
            pass
        time.sleep(0.3)
    if proc.poll() is None:
        proc.kill()
    raise SystemExit(f"Parley did not start on port {port} (is another server using it?); see {workdir / 'server.log'}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load(port: int, path: str, sender: str, seconds: float, clients: int, prefix: str) -> dict:
    url = f"http://127.0.0.1:{port}{path}"
    latencies: list[float] = []
    acked: list[str] = []
    errors: dict[int, int] = {}
    lock = threading.Lock()
    stop_at = time.time() + seconds

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, ok, errs, i = [], [], {}, 0
        while time.time() < stop_at:
            i += 1
            sid = f"SM{prefix}{n:02d}{i:08d}"
            params = [
                ("MessageSid", sid),
                ("SmsSid", sid),
                ("AccountSid", "ACbench"),
                ("From", f"+1415867{i % 10000:04d}"),
                ("To", sender),
                ("Body", f"Load test message {i} from client {n}"),
                ("NumMedia", "0"),
            ]
            body = urllib.parse.urlencode(params)
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": twilio_signature(url, params),
            }
            start = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except OSError:
                status = -1
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            mine.append((time.perf_counter() - start) * 1000)
            if status == 200:
                ok.append(sid)
            else:
                errs[status] = errs.get(status, 0) + 1
        with lock:
            latencies.extend(mine)
            acked.extend(ok)
            for k, v in errs.items():
                errors[k] = errors.get(k, 0) + v

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - began
    return {
        "rate": len(latencies) / elapsed,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "count": len(latencies),
        "acked": acked,
        "errors": errors,
    }


def whatsapp_payload(wa_sender: str, n: int) -> bytes:
    stamp = str(int(time.time()))
    messages = [
        {"from": f"1917555{i:04d}", "id": f"wamid.bench{i}", "timestamp": stamp, "type": "text",
         "text": {"body": f"Reply {i}: is {['Monday', 'Tuesday', 'Friday'][i % 3]} at {9 + i % 8} still free?"}}
        for i in range(n)
    ]  # fmt: skip
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": wa_sender.lstrip("+"), "phone_number_id": "bench-pnid"},
        "contacts": [{"profile": {"name": f"Guest {i}"}, "wa_id": f"1917555{i:04d}"} for i in range(n)],
        "messages": messages,
    }
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "W", "changes": [{"field": "messages", "value": value}]}],
        }
    ).encode()


def post_large(port: int, payload: bytes, out: dict) -> None:
    signature = "sha256=" + hmac.new(WA_SECRET.encode(), payload, hashlib.sha256).hexdigest()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    conn.request(
        "POST", "/webhooks/whatsapp", body=payload,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )  # fmt: skip
    response = conn.getresponse()
    response.read()
    out["status"], out["ack_ms"], out["posted_at"] = (
        response.status,
        (time.perf_counter() - started) * 1000,
        time.time(),
    )


def health(port: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/healthz", headers=HEALTH_HEADERS)
    return json.loads(conn.getresponse().read())


def report_drain(port: int) -> None:
    """After a burst: how long the applier takes to apply what the burst left, so that "applied as
    messages" counts everything acknowledged, and the lag a burst builds is printed (issue 18)."""
    pending = ((health(port).get("webhooks") or {}).get("backlog") or {}).get("pending") or 0
    started = time.time()
    drained = wait_drained(port, DRAIN_SECONDS, poll=0.2)
    took = time.time() - started
    if not drained:
        print(f"  backlog NOT drained {DRAIN_SECONDS} s after the burst")
    elif pending:
        print(f"  backlog drained {took:.1f} s after the burst ({pending / max(took, 1e-9):,.0f} webhooks/s applied)")


DRAIN_SECONDS = 300


def wait_drained(port: int, timeout_s: float, poll: float = 1.0) -> bool:
    """Wait until every stored webhook has been applied (``/healthz``'s backlog is empty)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        backlog = (health(port).get("webhooks") or {}).get("backlog") or {}
        if not backlog.get("pending"):
            return True
        time.sleep(poll)
    return False


class Profile:
    """Marks the sampled windows of a server run under ``bench.sampler``: one report per load run."""

    def __init__(self, out: Path | None) -> None:
        self.out = out

    def start(self) -> None:
        if self.out:
            self.out.with_suffix(".reset").touch()
            while self.out.with_suffix(".reset").exists():
                time.sleep(0.01)

    def save(self, label: str) -> None:
        if not self.out:
            return
        self.out.with_suffix(".dump").touch()
        while self.out.with_suffix(".dump").exists():
            time.sleep(0.05)
        saved = self.out.with_name(f"{self.out.stem}-{label}.txt")
        saved.write_text(self.out.read_text())
        print(f"  CPU profile of the server: {saved}")


def report(label: str, result: dict) -> None:
    print(
        f"{label:<34} {result['rate']:8.0f} req/s   p50 {result['p50']:6.1f} ms   p99 {result['p99']:6.1f} ms"
        f"   ({result['count']:,} sent, errors {result['errors'] or 'none'})",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--live-pages", type=int, default=0, help="then run again with this many live agent pages")
    parser.add_argument("--large-payload", action="store_true", help="a 3,000-message WhatsApp payload mid-run")
    parser.add_argument(
        "--profile", type=Path, help="run the server under bench.sampler: a CPU profile per load run, FILE-<run>.txt"
    )
    args = parser.parse_args()
    start_load = load_average()
    print(f"load average (1 min) at start: {start_load:.2f}" + ("  WARNING: machine busy" if start_load > 1 else ""))
    workdir = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    sender, wa_sender, conversations = prepare(workdir)
    args.port = args.port or free_port()
    proc = start_server(workdir, args.port, args.profile and args.profile.resolve())
    profile = Profile(args.profile and args.profile.resolve())
    acked_all: list[str] = []
    browser_parts = None
    try:
        profile.start()
        noop = load(args.port, "/noop", sender, args.seconds, args.clients, "N")
        report("no-op route", noop)
        profile.save("noop")
        large: dict = {}
        if args.large_payload:
            threading.Timer(1.0, post_large, args=(args.port, whatsapp_payload(wa_sender, 3000), large)).start()
        profile.start()
        hooks = load(args.port, "/webhooks/twilio", sender, args.seconds, args.clients, "W")
        report("signed webhooks" + (" + 3,000-msg payload" if args.large_payload else ""), hooks)
        profile.save("webhooks")
        acked_all += hooks["acked"]
        if args.large_payload:
            deadline = time.time() + 120
            while time.time() < deadline and health(args.port)["webhooks"]["backlog"]["pending"]:
                time.sleep(0.2)
            print(
                f"  the large payload: answered {large.get('status')} in {large.get('ack_ms', 0):.0f} ms; "
                f"everything applied {time.time() - large.get('posted_at', time.time()):.1f} s after it was posted"
            )
        stats = health(args.port).get("webhooks") or {}
        print(
            f"webhook/no-op ratio {hooks['rate'] / noop['rate']:.2f}; group commits: {stats.get('commits', 0):,} "
            f"storing {stats.get('stored', 0) / max(1, stats.get('commits', 0)):.1f} webhooks each in "
            f"{stats.get('commit_ms')} ms; backlog at the burst's end {stats.get('backlog')}"
        )
        report_drain(args.port)
        live = None
        if args.live_pages:
            browser_parts = open_live_pages(args.port, args.live_pages, conversations)
            # Start from where the first run started: nothing left to apply (the first run's webhooks
            # are applied in the background meanwhile) and the pages done loading; only then is the
            # difference the live pages' own cost.
            drained = wait_drained(args.port, 300)
            time.sleep(5)
            print(
                f"{args.live_pages} live agent Conversation pages open (load average {load_average():.2f}; "
                f"backlog {'drained' if drained else 'NOT drained after 300 s'})"
            )
            profile.start()
            live = load(args.port, "/webhooks/twilio", sender, args.seconds, args.clients, "L")
            report(f"signed webhooks, {args.live_pages} live pages", live)
            profile.save("live")
            acked_all += live["acked"]
            report_drain(args.port)
    finally:
        if browser_parts is not None:
            pw, browser, _pages = browser_parts
            browser.close()
            pw.stop()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            print("the server did not stop within 120 s; killed (what it acknowledged is stored)")
            proc.kill()
            proc.wait(timeout=30)
    db = Database(workdir / "parley.duckdb", read_only=True)
    stored = {
        r[0]
        for r in db.fetchall(
            "SELECT regexp_extract(CAST(body AS VARCHAR), 'MessageSid=([A-Za-z0-9]+)', 1) "
            "FROM webhook_inbox WHERE provider = 'twilio'"
        )
    }
    applied = db.scalar("SELECT count(*) FROM messages WHERE provider_message_id LIKE 'SMW%'")
    lost = [sid for sid in acked_all if sid not in stored]
    print(f"acknowledged {len(acked_all):,}; stored {len(stored):,}; lost {len(lost)}; applied as messages {applied:,}")
    ok = hooks["rate"] >= 1000 and hooks["p99"] <= 100 and not lost
    print("targets (≥ 1,000/s, p99 ≤ 100 ms, 0 lost):", "met" if ok else "NOT met")
    if live is not None:
        print(
            f"with {args.live_pages} live pages (≥ 500/s, p99 ≤ 200 ms):",
            "met" if live["rate"] >= 500 and live["p99"] <= 200 else "NOT met",
        )
    end_load = load_average()
    print(f"load average (1 min) at end: {end_load:.2f}" + ("  WARNING: machine busy" if end_load > 1 else ""))
    return 0 if not lost else 1


if __name__ == "__main__":
    sys.exit(main())
