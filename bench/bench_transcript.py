"""Transcript of a 10,000-message conversation: TXT ≤ 0.5 s, PDF ≤ 5 s (the whole export path).

    python -m bench.bench_transcript                 # mixed languages (most in English), 3 runs each
    python -m bench.bench_transcript --rtl           # every message in Arabic: the slowest case (shaping)
    python -m bench.bench_transcript --messages 2000

The conversation is written into a temporary workspace with texts from the
generator's multilingual pool (each made distinct), delivery statuses, a
failure with a reason and media markers; each run is a fresh export as the
Conversation page does it (load, TXT, PDF with fonts loaded anew, audit).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.common import load_average
from core import schema, settings, transcripts
from core.actions.users import do_create_workspace
from core.auth import get_user
from core.db import Database
from core.media_store import MediaStore
from core.transcripts import load
from core.transcripts.txt import render_txt
from generator.content import TEXTS


def build(db: Database, messages: int, rtl: bool, seed: int = 7) -> tuple[int, int]:
    rng = random.Random(seed)
    languages = ["ar"] if rtl else ["en"] * 14 + [lang for lang in TEXTS if lang != "en"]
    now = dt.datetime(2026, 3, 1, 12, 0)

    def write(tx):
        tx.execute(
            "INSERT INTO users (id, username, display_name, role, password_hash, created_at) "
            "VALUES (1, 'maria', 'María López', 'standard', 'x', ?)",
            [now],
        )
        tx.execute(
            "INSERT INTO senders (id, phone, channel, provider, label, created_at) "
            "VALUES (1, '+14155550100', 'sms', 'simulator', 'Front desk', ?)",
            [now],
        )
        tx.execute(
            "INSERT INTO contacts (id, phone, name, created_at, updated_at) VALUES (1, '+14158670100', ?, ?, ?)",
            ["أحمد العلي" if rtl else "Zoë Ávila", now, now],
        )
        tx.execute(
            "INSERT INTO conversations (id, contact_id, sender_id, channel, owner_id, created_at, last_message_at, "
            "message_count) VALUES (1, 1, 1, 'sms', 1, ?, ?, ?)",
            [now, now, messages],
        )
        rows = []
        for i in range(messages):
            lang = rng.choice(languages)
            inbound = i % 2 == 0
            pool = TEXTS[lang]["in" if inbound else "out"]
            # Distinct texts, as real traffic: a pool sentence or two, and a number that differs each time.
            body = rng.choice(pool) if rng.random() < 0.5 else rng.choice(pool) + " " + rng.choice(pool)
            body = f"{body} #{i}"
            status = "received" if inbound else rng.choice(["delivered"] * 8 + ["read", "failed"])
            rows.append(
                {
                    "id": i + 1,
                    "conversation_id": 1,
                    "contact_id": 1,
                    "sender_id": 1,
                    "direction": "in" if inbound else "out",
                    "author_id": None if inbound else 1,
                    "body": body,
                    "status": status,
                    "error_code": "30003" if status == "failed" else None,
                    "error_reason": "Unreachable handset (error 30003)" if status == "failed" else None,
                    "created_at": now + dt.timedelta(minutes=7 * i),
                    "has_media": i % 500 == 0,
                }
            )
        frame = pd.DataFrame(rows)
        frame["author_id"] = frame["author_id"].astype("Int64")
        tx.insert_df("messages", frame)
        media = frame[frame["has_media"]]
        tx.insert_df(
            "media",
            pd.DataFrame(
                {
                    "id": range(1, len(media) + 1),
                    "message_id": media["id"].to_numpy(),
                    "sha256": ["ab" * 32] * len(media),
                    "content_type": "image/jpeg",
                    "filename": [f"photo-{i}.jpg" for i in range(len(media))],
                    "size": 120_000,
                    "token": [f"t{i}" for i in range(len(media))],
                    "created_at": now,
                }
            ),
        )

    db.write(write)
    return 1, 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rtl", action="store_true", help="every message in Arabic")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Path(tmp) / "t.duckdb")
        schema.migrate(db)
        do_create_workspace(db, name="Transcript bench", demo=False)
        settings.ensure_defaults(db)
        cid, uid = build(db, args.messages, args.rtl)
        user = get_user(db, uid)
        media = MediaStore(Path(tmp) / "media")
        detail = transcripts.check_export(db, user, cid)
        txt_times, txt_cpu, pdf_times, pdf_cpu, pages = [], [], [], [], 0
        for _ in range(args.runs):
            start, cpu = time.perf_counter(), time.process_time()
            render_txt(load(db, media, user, detail, dt.datetime(2026, 6, 1)))
            txt_times.append(time.perf_counter() - start)
            txt_cpu.append(time.process_time() - cpu)
            start, cpu = time.perf_counter(), time.process_time()
            result = transcripts.export_transcript(db, media, user, cid)  # load + TXT + PDF + audit
            pdf_times.append(time.perf_counter() - start)
            pdf_cpu.append(time.process_time() - cpu)
            pages = result.pages
        db.close()
    load_avg = load_average()
    kind = "all Arabic (shaped)" if args.rtl else "mixed languages"
    print(f"{args.messages:,} messages, {kind}, {pages} PDF pages, {args.runs} runs")
    print(
        f"TXT (load + text)         p50 {statistics.median(txt_times):6.2f} s   max {max(txt_times):6.2f} s   target 0.5 s"
    )
    print(f"TXT CPU time              p50 {statistics.median(txt_cpu):6.2f} s")
    print(
        f"PDF (whole export)        p50 {statistics.median(pdf_times):6.2f} s   max {max(pdf_times):6.2f} s   target 5 s"
    )
    print(f"PDF CPU time              p50 {statistics.median(pdf_cpu):6.2f} s   (about what a quiet machine takes)")
    print(
        f"load average {load_avg:.2f}" + ("  WARNING: machine busy, re-measure on a quiet one" if load_avg > 1 else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
