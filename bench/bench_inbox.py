"""Core bench: the whole core path each page takes, at each workspace size.

    python -m bench.generate --conversations 100000            # once per size (1000000: ~10 min)
    python -m bench.bench_inbox --conversations 100000 1000000

Every sample is what the page asks core for on a first visit, with a
different agent, conversation or search each time (nothing is served from
the previous sample):

- My Inbox: ``inbox_view`` (first page, total, unread badge, version);
- Team Inbox: ``team_members`` and ``inbox_view`` for the whole team;
- Sent Messages: ``sent_view``;
- Conversation: ``conversation_view`` of a typical conversation (5–10
  messages) and of the longest ones (latest 200), and the 200 before them
  (scrolling back). About a third are unread for their owner: the page
  shows them read at once and marks them read (a write) once the thread is
  drawn (``finish_open``); that write is timed on its own line, since the
  agent does not wait for it;
- the live check each open page makes every two seconds: one version read;
- conversation search by name fragment and by 7 digits.

Before timing, it scans the tables the pages read, as the server does in
the background when it starts (``core.prewarm``; the time it took is
printed). It runs on a private copy of each workspace (opening conversations marks
them read). Targets (issue 13, p95 on a quiet machine) are printed beside
each line; the conversation cases must grow less than 2× from the smallest
to the largest size run.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import add_workspace_arguments, announce, growth, measure, private_copy, report, workspaces
from core import queries, schema, threads, versions
from core.auth import get_user
from core.conversation_view import conversation_view, finish_open
from core.db import Database
from core.prewarm import prewarm

TARGETS = {  # (100k, 1M) p95 in ms
    "My Inbox (inbox_view, agent)": (25, 40),
    "Team Inbox (members + inbox_view, whole team)": (25, 40),
    "Sent Messages (sent_view, agent)": (25, 40),
    "Conversation, typical (conversation_view)": (5, 8),
    "Conversation, 10k messages, latest 200": (15, 15),
    "Conversation, 10k messages, scroll back 200": (15, 15),
    "Live check (conversation version)": (1, 1),
    "Conversation search, name fragment": (25, 40),
    "Conversation search, 7 digits": (25, 40),
}
GROWTH_CASES = [
    "Conversation, typical (conversation_view)",
    "Conversation, 10k messages, latest 200",
    "Conversation, 10k messages, scroll back 200",
]


def run(db: Database, label: str, runs: int, rng: random.Random) -> dict[str, dict[str, float]]:
    big = label.endswith("m")
    target = {case: t[1] if big else t[0] for case, t in TARGETS.items()}
    counts = db.fetchone(
        "SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages), "
        "(SELECT count(*) FROM contacts), (SELECT count(*) FROM users)"
    )
    print(f"workspace: {counts[0]:,} conversations, {counts[1]:,} messages, {counts[2]:,} contacts, {counts[3]} users")
    agents = [get_user(db, r[0]) for r in db.fetchall("SELECT id FROM users WHERE role = 'standard' ORDER BY id")]
    admin = get_user(db, db.scalar("SELECT min(id) FROM users WHERE role = 'admin'"))
    users = {u.id: u for u in [*agents, admin]}
    typical = db.fetchall(
        "SELECT id, owner_id FROM conversations WHERE message_count BETWEEN 5 AND 10 USING SAMPLE 5000 ROWS"
    )
    longest = db.fetchall("SELECT id, owner_id, message_count FROM conversations ORDER BY message_count DESC LIMIT 5")
    longest = [r for r in longest if r[2] >= 5000] or longest[:1]
    names = [r[0] for r in db.fetchall("SELECT name FROM contacts WHERE name IS NOT NULL USING SAMPLE 500 ROWS")]
    numbers = [r[0] for r in db.fetchall("SELECT phone_digits FROM contacts USING SAMPLE 500 ROWS")]
    results: dict[str, dict[str, float]] = {}

    def case(name: str, fn) -> None:
        results[name] = measure(name, fn, runs=runs, target_ms=target.get(name))

    case("My Inbox (inbox_view, agent)", lambda: _my_inbox(db, rng.choice(agents)))
    case(
        "Team Inbox (members + inbox_view, whole team)",
        lambda: (queries.team_members(db, admin), queries.inbox_view(db, admin, scope="team")),
    )
    case("Sent Messages (sent_view, agent)", lambda: queries.sent_view(db, rng.choice(agents)))

    # Timed by hand: the mark-read write that follows an open is not part of what the agent waits
    # for (the page makes it once the thread is drawn), so it is timed on its own line.
    opens, opens_cpu, marks = [], [], []
    for i in range(runs + 3):
        cid, owner = rng.choice(typical)
        start, cpu_start = time.perf_counter(), time.process_time()
        view = conversation_view(db, users[owner], cid, defer_mark=True)
        elapsed, cpu = (time.perf_counter() - start) * 1000, (time.process_time() - cpu_start) * 1000
        if i >= 3:  # as measure(): three warm-up samples
            opens.append(elapsed)
            opens_cpu.append(cpu)
        if view.mark_pending:
            start = time.perf_counter()
            finish_open(db, users[owner], view)
            marks.append((time.perf_counter() - start) * 1000)
    name = "Conversation, typical (conversation_view)"
    results[name] = report(name, opens, target.get(name), cpu=opens_cpu)
    if marks:
        name = "Mark read once drawn (finish_open, a write)"
        results[name] = report(name, marks)
    n = longest[0][2]
    print(f"(the longest conversations have {', '.join(f'{r[2]:,}' for r in longest)} messages)")

    def open_long():
        cid, owner, _ = rng.choice(longest)
        conversation_view(db, users[owner], cid)

    case(f"Conversation, 10k messages, latest 200{'' if n >= 10_000 else f' ({n:,})'}", open_long)
    starts = {}
    for cid, owner, count in longest:
        page = threads.read_page(db, cid, count)
        starts[cid] = (owner, count, page.messages[0]["id"])

    def scroll_back():
        cid = rng.choice(list(starts))
        owner, count, before = starts[cid]
        threads.read_page(db, cid, count, before_id=before)

    case("Conversation, 10k messages, scroll back 200", scroll_back)
    case("Live check (conversation version)", lambda: versions.conversation_version(db, rng.choice(typical)[0]))

    def fragment() -> str:
        word = rng.choice(rng.choice(names).split())
        start = rng.randrange(max(1, len(word) - 3))
        return word[start : start + 4]

    case(
        "Conversation search, name fragment",
        lambda: queries.inbox_view(db, admin, scope="team", search=fragment()),
    )
    case(
        "Conversation search, 7 digits",
        lambda: queries.inbox_view(db, admin, scope="team", search=rng.choice(numbers)[-7:]),
    )
    return results


def _my_inbox(db: Database, agent) -> None:
    queries.inbox_view(db, agent, unread_for=agent.id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_workspace_arguments(parser)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args(argv)
    results = {}
    for label, path in workspaces(args):
        folder = Path(tempfile.mkdtemp(prefix="parley-bench-inbox-"))
        try:
            db = Database(private_copy(path, folder))
            schema.migrate(db)
            announce(f"{label}: {path}")
            # As the server does right after it starts (core.prewarm), in the background there.
            print(f"prewarm (the server's start-up scan of the tables pages read): {prewarm(db):.1f} s")
            results[label] = run(db, label, args.runs, random.Random(1))
            db.close()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    growth(results, GROWTH_CASES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
