"""Signed inbound webhooks over loopback, 16 concurrent clients, to the running app.

Starts Parley (`streamlit run app.py`) on a fresh demo workspace, posts
Twilio-signed inbound SMS webhooks from 16 client threads on persistent
connections, then the same load against a no-op route of the same app for
the ratio, stops the server and checks that every acknowledged webhook is in
the database. Targets: ≥ 1,000 webhooks/s, p99 ≤ 100 ms, 0 lost.

    python -m bench.bench_webhooks [--seconds 10] [--clients 16]
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

from bench.common import ROOT, percentile
from core import schema, settings
from core.db import Database
from core.media_store import MediaStore
from generator.demo import create_demo_workspace

TOKEN = "bench-auth-token"
HEALTH_TOKEN = secrets.token_urlsafe(24)  # /healthz details (the database path, webhook counters) for this bench


HEALTH_HEADERS = {"Authorization": f"Bearer {HEALTH_TOKEN}"}


def twilio_signature(url: str, params: list[tuple[str, str]]) -> str:
    payload = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(TOKEN.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def prepare(workdir: Path) -> str:
    db = Database(workdir / "parley.duckdb")
    schema.migrate(db)
    create_demo_workspace(db, MediaStore(workdir / "media"))
    settings.ensure_defaults(db)
    sender = db.scalar("SELECT phone FROM senders WHERE channel = 'sms' ORDER BY id LIMIT 1")
    db.close()
    return sender


def start_server(workdir: Path, port: int) -> subprocess.Popen:
    env = dict(
        os.environ,
        PARLEY_DB=str(workdir / "parley.duckdb"),
        PARLEY_TWILIO_ACCOUNT_SID="ACbench",
        PARLEY_TWILIO_AUTH_TOKEN=TOKEN,
        PARLEY_PORT=str(port),
        PARLEY_HEALTH_TOKEN=HEALTH_TOKEN,
        PARLEY_BENCH_ROUTES="1",  # the /noop baseline; never served otherwise
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    sender = prepare(workdir)
    args.port = args.port or free_port()
    proc = start_server(workdir, args.port)
    try:
        noop = load(args.port, "/noop", sender, args.seconds, args.clients, "N")
        hooks = load(args.port, "/webhooks/twilio", sender, args.seconds, args.clients, "W")
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
        conn.request("GET", "/healthz", headers=HEALTH_HEADERS)
        stats = json.loads(conn.getresponse().read()).get("webhooks") or {}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    db = Database(workdir / "parley.duckdb", read_only=True)
    stored = {
        r[0]
        for r in db.fetchall(
            "SELECT regexp_extract(CAST(body AS VARCHAR), 'MessageSid=([A-Za-z0-9]+)', 1) "
            "FROM webhook_inbox WHERE provider = 'twilio'"
        )
    }
    applied = db.scalar("SELECT count(*) FROM messages WHERE provider_message_id LIKE 'SMW%'")
    lost = [sid for sid in hooks["acked"] if sid not in stored]
    print(f"no-op route      {noop['rate']:8.0f} req/s   p50 {noop['p50']:6.1f} ms   p99 {noop['p99']:6.1f} ms")
    print(
        f"signed webhooks  {hooks['rate']:8.0f} req/s   p50 {hooks['p50']:6.1f} ms   p99 {hooks['p99']:6.1f} ms"
        f"   ({hooks['count']:,} sent, errors {hooks['errors'] or 'none'})"
    )
    print(
        f"webhook/no-op ratio {hooks['rate'] / noop['rate']:.2f}; group commits: {stats.get('commits', 0):,} "
        f"storing {stats.get('stored', 0) / max(1, stats.get('commits', 0)):.1f} webhooks each in "
        f"{stats.get('commit_ms')} ms"
    )
    print(
        f"acknowledged {len(hooks['acked']):,}; stored {len(stored):,}; lost {len(lost)}; "
        f"applied as messages by shutdown {applied:,}"
    )
    ok = hooks["rate"] >= 1000 and hooks["p99"] <= 100 and not lost
    print("targets (≥ 1,000/s, p99 ≤ 100 ms, 0 lost):", "met" if ok else "NOT met")
    return 0 if not lost else 1


if __name__ == "__main__":
    sys.exit(main())
