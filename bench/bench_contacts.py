"""Contacts bench: search by name and by partial number at 100k contacts
(target p95 ≤ 50 ms) and a CSV import of 100k rows (target ≤ 10 s).

    python -m bench.bench_contacts                          # generates its own 100k-contact workspace
    python -m bench.bench_contacts --db data/bench.duckdb   # or copies a workspace made by bench/generate.py

Everything runs on a private copy in a temporary folder, so the import can
be repeated on the same starting data (each import run gets a fresh copy).
The import file has 100k rows: half update contacts that exist, 49k are new
numbers typed in several ways, 1k are bad numbers, with a few duplicates.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import measure
from core import contacts, contacts_csv, phones, schema
from core.auth import get_user
from core.db import Database
from core.errors import ParleyError
from core.media_store import MediaStore
from generator.write import generate_workspace


def build(folder: Path, source: str | None, n: int) -> Path:
    path = folder / "contacts.duckdb"
    if source:
        db = Database(source, read_only=True)  # refuses, in one sentence, a file a running Parley owns
        db.close()
        shutil.copy(source, path)
        return path
    db = Database(path)
    schema.migrate(db)
    started = time.perf_counter()
    generate_workspace(
        db,
        MediaStore(folder / "media"),
        agents=3,
        contacts=n,
        conversations=2_000,
        messages_per_conversation=(2, 4),
        campaigns=3,
        demo=False,
        workspace_name="Contacts bench",
    )
    db.checkpoint()
    db.close()
    print(f"generated {n:,} contacts in {time.perf_counter() - started:.1f} s")
    return path


def import_file(db: Database, rows: int, rng: random.Random) -> bytes:
    known = [r[0] for r in db.fetchall("SELECT phone FROM contacts ORDER BY id")]
    taken = set(known)
    lines = ["First Name,Last Name,Mobile,Email,Tags"]
    updates = rng.sample(known, min(len(known), rows // 2))
    for i, phone in enumerate(updates):
        lines.append(f"Updated{i},Person,{phone},updated{i}@example.com,imported")
    forms = ["+1 {a} {e} {l}", "({a}) {e}-{l}", "{a}{e}{l}", "1-{a}-{e}-{l}"]
    areas = [212, 312, 415, 503, 617, 646, 702, 718, 917]
    fresh = 0
    while fresh < rows - len(updates) - rows // 100:
        a, e, line = rng.choice(areas), rng.randint(234, 899), rng.randint(0, 9999)
        if e % 100 == 11 or f"+1{a}{e}{line:04d}" in taken:
            continue
        taken.add(f"+1{a}{e}{line:04d}")
        number = rng.choice(forms).format(a=a, e=e, l=f"{line:04d}")
        lines.append(f"Nuevo{fresh},Núñez,{number},,new")
        fresh += 1
    for i in range(rows // 100 - 20):
        lines.append(f"Bad{i},Number,12{i},,")
    lines += [lines[-1 - i] for i in range(20)]  # duplicates of earlier rows
    return ("\n".join(lines) + "\n").encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=None, help="copy this workspace instead of generating one")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the import file")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--import-runs", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="parley-bench-contacts-"))
    try:
        try:
            base = build(folder, args.db, args.contacts)
        except ParleyError as exc:
            print(exc)
            return 1
        db = Database(base)
        admin = get_user(db, db.scalar("SELECT min(id) FROM users WHERE role = 'admin'"))
        agent = get_user(db, db.scalar("SELECT min(id) FROM users WHERE role = 'standard'"))
        print(f"workspace: {db.scalar('SELECT count(*) FROM contacts'):,} contacts")
        rng = random.Random(1)
        names = [r[0] for r in db.fetchall("SELECT name FROM contacts WHERE name IS NOT NULL USING SAMPLE 500 ROWS")]
        numbers = [r[0] for r in db.fetchall("SELECT phone FROM contacts USING SAMPLE 500 ROWS")]

        def fragment() -> str:
            word = rng.choice(rng.choice(names).split())
            start = rng.randrange(max(1, len(word) - 3))
            return word[start : start + 4]

        def typed(phone: str) -> str:
            national = phone[2:]
            return rng.choice(
                [
                    f"({national[:3]}) {national[3:6]}-{national[6:]}",
                    national,
                    national[-7:],
                    f"+1 {national[:3]} {national[3:6]} {national[6:]}",
                    national[3:8],
                ]
            )

        measure("Contacts first page (agent)", lambda: contacts.list_contacts(db, agent), runs=args.runs, target_ms=50)
        measure(
            "Contacts search by name fragment",
            lambda: contacts.list_contacts(db, agent, search=fragment()),
            runs=args.runs,
            target_ms=50,
        )
        measure(
            "Contacts search by whole name, accents off",
            lambda: contacts.list_contacts(db, admin, search=phones.normalize_name(rng.choice(names))),
            runs=args.runs,
            target_ms=50,
        )
        measure(
            "Contacts search by partial number",
            lambda: contacts.list_contacts(db, agent, search=typed(rng.choice(numbers))),
            runs=args.runs,
            target_ms=50,
        )
        measure(
            "Contacts search, archived + all filter",
            lambda: contacts.list_contacts(db, admin, search=fragment(), archived="all"),
            runs=args.runs,
            target_ms=50,
        )
        detail_ids = [r[0] for r in db.fetchall("SELECT DISTINCT contact_id FROM conversations LIMIT 200")]
        measure(
            "Contact detail (with conversations)",
            lambda: contacts.contact_detail(db, admin, rng.choice(detail_ids)),
            runs=args.runs,
            target_ms=50,
        )
        started = time.perf_counter()
        exported = contacts_csv.export_contacts(db, admin, archived="all")
        print(
            f"{'Export all contacts to CSV':<48} {(time.perf_counter() - started) * 1000:7.0f} ms "
            f"({len(exported) / 1e6:.1f} MB)"
        )
        data = import_file(db, args.rows, rng)
        db.checkpoint()
        db.close()

        timings = []
        for run in range(args.import_runs):
            copy = folder / f"import-{run}.duckdb"
            shutil.copy(base, copy)
            target = Database(copy)
            actor = get_user(target, admin.id)
            started = time.perf_counter()
            parsed = contacts_csv.read_csv(data)
            report = contacts_csv.import_contacts(target, actor, parsed, contacts_csv.guess_mapping(parsed.columns))
            timings.append(time.perf_counter() - started)
            target.close()
            copy.unlink()
            print(f"  import run {run + 1}: {timings[-1]:.2f} s — {report.summary}", flush=True)
        median = statistics.median(timings)
        verdict = "OK" if median <= 10 else "OVER TARGET (10 s)"
        print(
            f"{f'CSV import of {args.rows:,} rows ({len(data) / 1e6:.1f} MB)':<48} median {median:.2f} s  "
            f"(n={len(timings)})  {verdict}"
        )
        return 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
