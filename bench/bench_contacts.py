"""Contacts bench: search by name and by number fragment, from the search index, at each size;
first page, detail, export and a CSV import of 100k rows (target ≤ 10 s).

    python -m bench.generate --conversations 100000        # once per size
    python -m bench.bench_contacts --conversations 100000 1000000

Targets (issue 13, p95 on a quiet machine): a name fragment or 4-7 digits in
≤ 5 ms at 100k contacts, ≤ 15 ms at 1M, growing less than 2× between them.
The search cases run again with 20k contacts changed since the index was
last compacted (their keys in the recent table, as after an import).
Each sample searches a different fragment or number (nothing is served
from the previous sample); the tables are first scanned once as the server
does when it starts (``core.prewarm``, the time printed), which is what an
agent's search meets on a running server.
Bad input (``%``, ``_``, ``'``, ``\\``, ``.*``, 1,000 characters, one digit)
gets its answer as fast: it never scans every contact. Everything runs on a
private copy, and each import run gets a fresh copy of the starting data.
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

from bench.common import add_workspace_arguments, announce, growth, measure, private_copy, workspaces
from core import contact_search, contacts, contacts_csv, contacts_csv_mapping, phones, schema
from core.actions import contacts as contact_actions
from core.auth import get_user
from core.db import Database
from core.errors import ValidationError
from core.prewarm import prewarm

TARGETS = {"name fragment": (5, 15), "4 digits": (5, 15), "7 digits": (5, 15)}
GROWTH_CASES = ["Contacts search by name fragment", "Contacts search by 4 digits", "Contacts search by 7 digits"]
BAD_INPUT = ["%", "_", "'", "\\", ".*", "x" * 1000, "' OR 1=1 --", "5"]


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


def search(db: Database, user, query: str) -> None:
    try:
        contacts.list_contacts(db, user, search=query)
    except ValidationError:  # one digit, one letter: a sentence, at once
        pass


def run(base: Path, folder: Path, label: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    big = label.endswith("m")
    db = Database(base)
    schema.migrate(db)
    admin = get_user(db, db.scalar("SELECT min(id) FROM users WHERE role = 'admin'"))
    agent = get_user(db, db.scalar("SELECT min(id) FROM users WHERE role = 'standard'"))
    print(
        f"workspace: {db.scalar('SELECT count(*) FROM contacts'):,} contacts, "
        f"{db.scalar('SELECT count(*) FROM contact_search'):,} index keys "
        f"(+{contact_search.recent_rows(db):,} recent)"
    )
    # As the server does right after it starts (core.prewarm), in the background there.
    print(f"prewarm (the server's start-up scan of the tables pages read): {prewarm(db):.1f} s")
    rng = random.Random(1)
    names = [r[0] for r in db.fetchall("SELECT name FROM contacts WHERE name IS NOT NULL USING SAMPLE 500 ROWS")]
    numbers = [r[0] for r in db.fetchall("SELECT phone FROM contacts USING SAMPLE 500 ROWS")]
    results: dict[str, dict[str, float]] = {}
    target = {k: v[1] if big else v[0] for k, v in TARGETS.items()}

    def case(name: str, fn, goal: float | None = None) -> None:
        results[name] = measure(name, fn, runs=args.runs, target_ms=goal)

    def fragment() -> str:
        word = rng.choice(rng.choice(names).split())
        start = rng.randrange(max(1, len(word) - 3))
        return word[start : start + 4]

    def digits(n: int) -> str:
        national = rng.choice(numbers)[2:]
        start = rng.randrange(len(national) - n + 1)
        return national[start : start + n]

    def typed(phone: str) -> str:
        national = phone[2:]
        return rng.choice(
            [
                f"({national[:3]}) {national[3:6]}-{national[6:]}",
                national,
                f"+1 {national[:3]} {national[3:6]} {national[6:]}",
            ]
        )

    case("Contacts first page (agent)", lambda: contacts.list_contacts(db, agent))
    case(
        "Contacts search by name fragment",
        lambda: contacts.list_contacts(db, agent, search=fragment()),
        target["name fragment"],
    )
    case(
        "Contacts search by whole name, accents off",
        lambda: contacts.list_contacts(db, admin, search=phones.normalize_name(rng.choice(names))),
    )
    case("Contacts search by 4 digits", lambda: contacts.list_contacts(db, agent, search=digits(4)), target["4 digits"])
    case("Contacts search by 7 digits", lambda: contacts.list_contacts(db, agent, search=digits(7)), target["7 digits"])
    case(
        "Contacts search by a number typed any way",
        lambda: contacts.list_contacts(db, agent, search=typed(rng.choice(numbers))),
    )
    case(
        "Contacts search, archived + all filter",
        lambda: contacts.list_contacts(db, admin, search=fragment(), archived="all"),
    )
    case("Contacts search, bad input (each in turn)", lambda: search(db, agent, rng.choice(BAD_INPUT)))
    for query in BAD_INPUT:
        shown = query if len(query) < 12 else f"{query[:3]}… ({len(query):,} characters)"
        case(f"  bad input {shown!r}", lambda query=query: search(db, agent, query))
    detail_ids = [r[0] for r in db.fetchall("SELECT DISTINCT contact_id FROM conversations LIMIT 200")]
    case("Contact detail (with conversations)", lambda: contacts.contact_detail(db, admin, rng.choice(detail_ids)))
    edited = rng.sample(detail_ids, min(20, len(detail_ids)))

    def edit_then_find() -> None:
        cid = edited.pop() if edited else rng.choice(detail_ids)
        name = f"Benchmark Renamed {rng.randrange(10**6)}"
        contact_actions.do_update_contact(db, admin, cid, name=name)
        assert contacts.list_contacts(db, admin, search=name).total == 1

    results["Edit a contact, then find it"] = measure(
        "Edit a contact, then find it", edit_then_find, runs=min(args.runs, 15), warmup=0
    )
    # Between compactions the changed contacts' keys sit in the recent table (up to
    # COMPACT_AFTER rows): 20k contacts re-indexed at once, as an import of 20k rows does.
    changed = [r[0] for r in db.fetchall("SELECT id FROM contacts USING SAMPLE 20000 ROWS")]
    started = time.perf_counter()
    db.write(lambda tx: contact_search.refresh(tx, changed))
    print(
        f"{'Re-index 20k contacts (as an import does)':<52} {(time.perf_counter() - started) * 1000:7.0f} ms "
        f"({contact_search.recent_rows(db):,} recent rows)"
    )
    for what, query in [("name fragment", fragment), ("4 digits", lambda: digits(4)), ("7 digits", lambda: digits(7))]:
        case(
            f"  the same, 20k changed, not compacted: {what}",
            lambda query=query: contacts.list_contacts(db, agent, search=query()),
        )
    started = time.perf_counter()
    contact_search.compact(db)
    print(f"{'Compact the index (off the write path)':<52} {(time.perf_counter() - started) * 1000:7.0f} ms")
    started = time.perf_counter()
    exported = contacts_csv.export_contacts(db, admin, archived="all")
    print(
        f"{'Export all contacts to CSV':<52} {(time.perf_counter() - started) * 1000:7.0f} ms "
        f"({len(exported) / 1e6:.1f} MB)"
    )
    data = import_file(db, args.rows, rng)
    db.checkpoint()
    db.close()
    timings = []
    for run_no in range(args.import_runs):
        copy = folder / f"import-{run_no}.duckdb"
        shutil.copy(base, copy)
        target_db = Database(copy)
        actor = get_user(target_db, admin.id)
        started = time.perf_counter()
        parsed = contacts_csv.read_csv(data)
        outcome = contacts_csv.import_contacts(
            target_db, actor, parsed, contacts_csv_mapping.guess_mapping(parsed.columns)
        )
        timings.append(time.perf_counter() - started)
        found = contacts.list_contacts(target_db, actor, search="Nuevo0 ").total
        target_db.close()
        copy.unlink()
        print(
            f"  import run {run_no + 1}: {timings[-1]:.2f} s — {outcome.summary}; "
            f"an imported contact found by the next search: {found == 1}",
            flush=True,
        )
    if timings:
        median = statistics.median(timings)
        verdict = "OK" if median <= 10 else "OVER TARGET (10 s)"
        print(
            f"{f'CSV import of {args.rows:,} rows ({len(data) / 1e6:.1f} MB)':<52} median {median:.2f} s  "
            f"(n={len(timings)})  {verdict}"
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_workspace_arguments(parser)
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the import file")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--import-runs", type=int, default=1)
    args = parser.parse_args(argv)
    results = {}
    for label, path in workspaces(args):
        folder = Path(tempfile.mkdtemp(prefix="parley-bench-contacts-"))
        try:
            base = private_copy(path, folder)
            announce(f"{label}: {path}")
            results[label] = run(base, folder, label, args)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    growth(results, GROWTH_CASES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
