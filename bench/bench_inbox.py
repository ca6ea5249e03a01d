"""Read-side bench: My Inbox first page, Team Inbox first page, opening the
latest 200 messages of a 10k-message conversation (targets: p95 ≤ 25 ms).

    python -m bench.generate --db data/bench.duckdb      # once: 100k conversations, 1M messages
    python -m bench.bench_inbox --db data/bench.duckdb
"""

from __future__ import annotations

import argparse
import random
import sys

from bench.common import measure
from core import queries, schema
from core.auth import get_user
from core.db import Database
from core.errors import ParleyError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="data/bench.duckdb")
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    try:
        db = Database(args.db, read_only=True)
    except ParleyError as exc:
        print(exc)
        return 1
    if schema.current_version(db) == 0:
        print(f"{args.db} has no Parley workspace; run bench/generate.py first.")
        return 1
    counts = db.fetchone(
        "SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages), "
        "(SELECT count(*) FROM contacts), (SELECT count(*) FROM users)"
    )
    print(f"workspace: {counts[0]:,} conversations, {counts[1]:,} messages, {counts[2]:,} contacts, {counts[3]} users")
    agents = [get_user(db, r[0]) for r in db.fetchall("SELECT id FROM users WHERE role = 'standard' ORDER BY id")]
    admin = get_user(db, db.scalar("SELECT min(id) FROM users WHERE role = 'admin'"))
    rng = random.Random(1)

    measure(
        "My Inbox first page (random agent)",
        lambda: queries.inbox_page(db, rng.choice(agents)),
        runs=args.runs,
        target_ms=25,
    )
    measure(
        "My Inbox unread count (random agent)",
        lambda: queries.unread_count(db, rng.choice(agents).id),
        runs=args.runs,
        target_ms=25,
    )
    measure(
        "Team Inbox first page (whole team)",
        lambda: queries.inbox_page(db, admin, scope="team"),
        runs=args.runs,
        target_ms=25,
    )
    measure(
        "Team Inbox first page (one agent)",
        lambda: queries.inbox_page(db, admin, scope="team", owner_id=rng.choice(agents).id),
        runs=args.runs,
        target_ms=25,
    )
    big = db.fetchone("SELECT id, owner_id FROM conversations ORDER BY message_count DESC LIMIT 1")
    owner = get_user(db, big[1])
    n = db.scalar("SELECT message_count FROM conversations WHERE id = ?", [big[0]])
    measure(
        f"Open conversation: latest 200 of {n:,} messages",
        lambda: queries.thread(db, owner, big[0]),
        runs=args.runs,
        target_ms=25,
    )
    measure(
        "Sent Messages first page (random agent)",
        lambda: queries.sent_messages(db, rng.choice(agents)),
        runs=args.runs,
        target_ms=25,
    )
    measure(
        "Inbox search by name fragment",
        lambda: queries.inbox_page(db, admin, scope="team", search="mar"),
        runs=args.runs,
        target_ms=50,
    )
    measure(
        "Inbox search by partial number",
        lambda: queries.inbox_page(db, admin, scope="team", search="555-01"),
        runs=args.runs,
        target_ms=50,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
