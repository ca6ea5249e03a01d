"""What checking the session costs every page run, and what a sign-in costs.

A workspace with 60 users and 30,000 sessions (two weeks of sign-ins, a quarter of them
ended). Measured, each a whole call as a page run makes it:

- the session check of a page run (one primary-key read; no write within a minute of the last);
- the same from the browser's cookie (signature, then the read), as a reload or a route does;
- a check that records "last seen" (the first page run after a minute);
- a password sign-in (scrypt dominates) and a refused, throttled one.

    python -m bench.bench_sessions [--runs 200]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import secrets
import sys
import tempfile
from pathlib import Path

import pandas as pd

from bench.common import load_average, measure
from core import auth, clock, schema, sessions, settings
from core.actions.users import do_create_workspace
from core.db import Database
from core.errors import SignInError

KEY = secrets.token_bytes(32)
PASSWORD = "bench-password"


def build(path: Path, users: int, count: int) -> Database:
    db = Database(path)
    schema.migrate(db)
    do_create_workspace(db, name="Bench", demo=False)
    settings.ensure_defaults(db)
    password_hash = auth.hash_password(PASSWORD)
    now = clock.utcnow()
    frame = pd.DataFrame(
        {
            "id": range(1, users + 1),
            "username": [f"user{i}" for i in range(1, users + 1)],
            "display_name": [f"User {i}" for i in range(1, users + 1)],
            "role": ["standard"] * users,
            "team_id": [1] * users,
            "password_hash": [password_hash] * users,
            "created_at": [now] * users,
        }
    )
    db.write(lambda tx: tx.insert_df("users", frame))
    started = [now - dt.timedelta(minutes=i * 14 * 24 * 60 / count) for i in range(count)]
    ids = db.write(lambda tx: tx.next_ids("seq_sessions", count))
    sessions_frame = pd.DataFrame(
        {
            "id": ids,
            "user_id": [1 + i % users for i in range(count)],
            "token_hash": [secrets.token_hex(32) for _ in range(count)],
            "device_hash": [secrets.token_hex(32) for _ in range(count)],
            "created_at": started,
            "last_seen_at": started,
            "user_agent": ["Mozilla/5.0 (X11; Linux x86_64) Chrome/140"] * count,
            "source": [f"203.0.113.{i % 250}" for i in range(count)],
            "ended_at": [s + dt.timedelta(hours=3) if i % 4 == 0 else None for i, s in enumerate(started)],
        }
    )
    db.write(lambda tx: tx.insert_df("sessions", sessions_frame))
    return db


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=30_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parley-bench-sessions-") as work:
        db = build(Path(work) / "parley.duckdb", users=60, count=args.sessions)
        live = sessions.start(db, 7, KEY, user_agent="bench", source="203.0.113.1")
        measure("page run: session check (no write)", lambda: sessions.check(db, live.session_id), runs=args.runs)
        measure(
            "reload or route: session from the cookie",
            lambda: sessions.from_cookie(db, live.cookie, KEY, touch=False),
            runs=args.runs,
        )
        minute = itertools.count(1)
        clock.freeze(dt.datetime(2030, 1, 1))
        busy = sessions.start(db, 8, KEY)  # a session used every minute: each run writes "last seen"

        def first_run_after_a_minute():
            clock.freeze(dt.datetime(2030, 1, 1) + dt.timedelta(minutes=next(minute)))
            sessions.check(db, busy.session_id)

        measure("page run that records 'last seen'", first_run_after_a_minute, runs=args.runs)
        clock.freeze(None)
        names = itertools.count()
        measure(
            "password sign-in (scrypt)",
            lambda: auth.sign_in(db, "user9", PASSWORD, source=f"198.51.100.{next(names) % 250}"),
            runs=max(10, args.runs // 10),
        )

        def throttled():
            try:
                auth.sign_in(db, "user10", "wrong", source="192.0.2.99")
            except SignInError:
                pass

        for _ in range(auth.SOURCE_FREE_FAILURES):
            throttled()
        measure("refused, throttled sign-in (no password check)", throttled, runs=args.runs)
        db.close()
    load = load_average()
    print(f"1-minute load average: {load:.2f}" + ("  (above 1: re-measure on a quiet machine)" if load > 1 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
