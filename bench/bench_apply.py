"""Applying stored webhooks (the applier worker, after the 2xx): how fast a backlog becomes
messages and statuses. Targets (DESIGN.md, issue 18): ≥ 2,000 replies/s and ≥ 1,000 first
messages from new numbers/s, so that a burst at the acknowledgement rate never builds a
backlog older than a few seconds. Each step applies sets of up to ``APPLY_CHUNK_INBOUND``
messages per transaction (``core.actions.inbound_batch``).

    python -m bench.bench_apply [--statuses 3000] [--replies 1000] [--new 1000]
    python -m bench.bench_apply --db data/bench.duckdb    # on a copy of a 1M-message workspace

Builds a small workspace in a temporary folder, stores webhooks the way the routes do
(``webhook_inbox`` rows, simulator format), then runs ``WebhookApplier.step`` until the
backlog is empty, for three kinds of backlog: status callbacks (sent, then delivered) for
messages Parley sent, replies from contacts who have a conversation, and messages from
numbers Parley has never seen (each makes a contact and a conversation).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import load_average
from core import clock, schema, settings
from core.actions.users import do_create_user, do_create_workspace
from core.auth import get_user
from core.db import Database
from core.engine import ProviderBook
from core.ingest import _insert_rows
from core.ingest_apply import WebhookApplier
from core.media_store import MediaStore

OURS = "+14155550100"  # the bench's SMS sender (a copied workspace uses its first SMS sender)


def store(db: Database, payloads: list[dict]) -> None:
    rows = [
        {
            "received_at": clock.utcnow(),
            "provider": "simulator",
            "state": "pending",
            "url": "/webhooks/simulator",
            "content_type": "application/json",
            "body": json.dumps(p).encode(),
            "error": None,
        }
        for p in payloads
    ]
    for k in range(0, len(rows), 500):
        db.write(_insert_rows, rows[k : k + 500])


def drain(label: str, applier: WebhookApplier, target: float | None = None) -> None:
    before, started = applier.applied, time.perf_counter()
    while applier.step():
        pass
    n, elapsed = applier.applied - before, time.perf_counter() - started
    verdict = "" if target is None else ("  OK" if n / elapsed >= target else f"  UNDER TARGET ({target:,.0f}/s)")
    print(f"{label:<58} {n:7,} in {elapsed:6.2f} s   {n / elapsed:8,.0f}/s{verdict}", flush=True)


PHRASES = [
    "Yes, {d} works for me",
    "Can we move it to {d} at {h}?",
    "Who is this? I don't remember booking anything for {d}",
    "Thanks! See you {d} 👍",
    "I'm running {h} minutes late, sorry",
    "¿Puedo cambiar la cita al {d}?",
    "Ok",
    "Is parking available near the office on {d}?",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


def inbound(pid: str, phone: str, ours: str) -> dict:
    n = sum(map(ord, pid))  # distinct, varied texts, as real replies are
    body = PHRASES[n % len(PHRASES)].format(d=DAYS[n % len(DAYS)], h=10 + n % 50) + f" (#{pid[-6:]})"
    return {
        "type": "inbound",
        "id": pid,
        "channel": "sms",
        "from": phone,
        "to": ours,
        "body": body,
        "at": clock.utcnow().isoformat(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statuses", type=int, default=3000, help="messages, each getting 'sent' and 'delivered'")
    parser.add_argument("--replies", type=int, default=1000)
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--db", default=None, help="apply on a copy of this workspace (made by bench/generate.py)")
    args = parser.parse_args()
    load = load_average()
    print(f"load average (1 min): {load:.2f}" + ("  WARNING: machine busy, figures are low" if load > 1 else ""))
    work = Path(tempfile.mkdtemp(prefix="parley-apply-"))
    try:
        if args.db:
            shutil.copy(args.db, work / "parley.duckdb")
            db = Database(work / "parley.duckdb")
            schema.migrate(db)
            admin = get_user(db, db.scalar("SELECT min(id) FROM users WHERE role = 'admin'"))
            ours = db.scalar("SELECT phone FROM senders WHERE channel = 'sms' AND provider = 'simulator' ORDER BY id")
            print(f"on a copy of {args.db}: {db.scalar('SELECT count(*) FROM messages'):,} messages")
        else:
            db = Database(work / "parley.duckdb")
            schema.migrate(db)
            do_create_workspace(db, name="Apply bench", demo=False)
            settings.ensure_defaults(db)
            admin = do_create_user(db, None, "ada", "Ada", "admin", "long-enough-password")
            ours = OURS
            db.write(
                lambda tx: tx.execute(
                    "INSERT INTO senders (id, label, phone, channel, provider, rate_per_second, enabled, "
                    "registration_status, created_at) VALUES (nextval('seq_senders'), 'Bench SMS', ?, 'sms', "
                    "'simulator', 100, TRUE, 'registered', ?)",
                    [ours, clock.utcnow()],
                )
            )
        applier = WebhookApplier(
            db,
            ProviderBook(
                db, simulator_url="http://127.0.0.1:9/webhooks/simulator", simulator_secret=b"bench", demo=False
            ),
            MediaStore(work / "media"),
        )
        phones = [f"+1415867{i:04d}" for i in range(max(args.replies, 1))]
        store(db, [inbound(f"SIMfirst{i}", p, ours) for i, p in enumerate(phones)])  # set-up: their conversations
        while applier.step():
            pass
        store(db, [inbound(f"SIMreply{i}", p, ours) for i, p in enumerate(phones[: args.replies])])
        drain("replies in conversations that exist", applier, 2000)
        store(db, [inbound(f"SIMnew{i}", f"+1646555{i:04d}", ours) for i in range(args.new)])
        drain("first messages from new numbers (contact + conversation)", applier, 1000)
        cid = db.scalar("SELECT min(id) FROM conversations")
        sent = db.write(
            lambda tx: [
                r[0]
                for r in tx.fetchall(
                    "INSERT INTO messages (conversation_id, contact_id, sender_id, author_id, direction, body, status, "
                    "provider_message_id, created_at, status_at) SELECT ?, c.contact_id, c.sender_id, ?, 'out', 'Reminder', "
                    "'sending', 'SIMout' || i, now()::TIMESTAMP, now()::TIMESTAMP FROM range(?) t(i), conversations c "
                    "WHERE c.id = ? RETURNING provider_message_id",
                    [cid, admin.id, args.statuses, cid],
                )
            ]
        )
        at = clock.utcnow().isoformat()
        store(db, [{"type": "status", "id": pid, "status": s, "at": at} for s in ("sent", "delivered") for pid in sent])
        drain("status callbacks (sent, delivered) for sent messages", applier)
        left = db.fetchall("SELECT state, count(*) FROM webhook_inbox GROUP BY 1 ORDER BY 1")
        print("webhook rows by state:", dict(left))
        print(f"load average (1 min) at end: {load_average():.2f}")
        db.close()
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
