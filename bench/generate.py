"""Build a benchmark workspace as real as the data Parley will hold: two years of history,
nearly every message text distinct, a heavy tail of long threads.

    python -m bench.generate                                  # $PARLEY_BENCH_DIR/100k.duckdb: 1M messages
    python -m bench.generate --conversations 1000000          # $PARLEY_BENCH_DIR/1m.duckdb: 10M (~10 min)
    python -m bench.generate --db /tmp/small.duckdb --conversations 2000 --big 500

Sizes follow ``--conversations N``: 10 messages per conversation on average
(``--messages``), as many contacts (``--contacts``), 20 agents; thread
lengths are log-normal (most a handful, one in a few hundred past 100), plus
``--long`` threads of ``--big`` messages (default: about 3 per 100k
conversations, 10,000 messages each) running through the whole history.
Message texts are composed word by word (``generator.texts``) in the
contacts' languages. Same generator as the demo workspace, so every rule the
demo data obeys holds here too. Media files go to the directory Parley would
use for that database (``<db folder>/media``) unless ``--media`` says otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.common import workspace_path
from core import schema
from core.db import Database
from core.errors import ParleyError
from core.media_store import MediaStore
from generator.write import generate_workspace


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=None, help="DuckDB file to create (default: by size, in PARLEY_BENCH_DIR)")
    parser.add_argument("--media", default=None, help="media folder (default: <db folder>/media)")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument(
        "--messages",
        type=int,
        default=None,
        help="messages in conversations, about (default 10 per conversation; campaign messages nobody "
        "answered come on top)",
    )
    parser.add_argument("--contacts", type=int, default=None, help="default: one per conversation")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--campaigns", type=int, default=None, help="default: one a month of history")
    parser.add_argument("--big", type=int, default=10_000, help="messages in each very long conversation")
    parser.add_argument("--long", type=int, default=None, help="very long conversations (default: by size)")
    parser.add_argument("--days", type=int, default=730, help="days of history")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--memory", default="4GB", help="DuckDB's memory limit while loading")
    parser.add_argument("--force", action="store_true", help="replace the file if it exists")
    return parser.parse_args(argv)


def long_threads(conversations: int) -> int:
    """A few very long threads: 1 at 10k conversations, 3 at 100k, 9 at 1M."""
    return max(1, round(3 * (conversations / 100_000) ** 0.5))


def mean_length(messages: int, conversations: int, big: int, long: int) -> float:
    """Messages per ordinary conversation, so that all of them give ``messages`` in all."""
    return max(2.0, (messages - big * long) / max(1, conversations))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    path = Path(args.db) if args.db else workspace_path(args.conversations)
    if path.exists() and not args.force:
        print(f"{path} already exists; pass --force to replace it.")
        return 1
    if path.exists():
        try:  # never delete a database another process (a running Parley) has open
            Database(path).close()
        except ParleyError as exc:
            print(exc)
            return 1
        for stale in (path, path.with_name(path.name + ".wal")):
            stale.unlink(missing_ok=True)
    media_dir = Path(args.media) if args.media else path.parent / "media"
    try:
        db = Database(path)
    except ParleyError as exc:
        print(exc)
        return 1
    try:
        started = time.perf_counter()
        # DuckDB spills a big load to disk rather than taking most of the machine's memory.
        db.cursor().execute(f"SET memory_limit = '{args.memory}'")
        schema.migrate(db)
        last = [-1]

        def progress(fraction: float, text: str) -> None:
            if int(fraction * 20) != last[0]:
                last[0] = int(fraction * 20)
                print(f"  {fraction:4.0%}  {time.perf_counter() - started:6.1f} s  {text}", flush=True)

        messages = args.messages if args.messages is not None else 10 * args.conversations
        long = args.long if args.long is not None else long_threads(args.conversations)
        report = generate_workspace(
            db,
            MediaStore(media_dir),
            agents=args.agents,
            contacts=args.contacts or args.conversations,
            conversations=args.conversations,
            messages_per_conversation=mean_length(messages, args.conversations, args.big, long),
            big_conversation_messages=args.big,
            long_conversations=long,
            history_days=args.days,
            varied_texts=True,
            unanswered=1.0,
            campaigns=args.campaigns or max(args.agents, args.days // 30),
            seed=args.seed,
            demo_passwords=True,
            demo=False,
            workspace_name="Brightside Dental (benchmark)",
            progress=progress,
        )
        generated = time.perf_counter()
        db.checkpoint()
        finished = time.perf_counter()
    except (ParleyError, ValueError) as exc:
        print(exc)
        return 1
    finally:
        db.close()
    print(f"{path}: {report.summary()}")
    print(
        f"generated in {generated - started:.1f} s (of which the generator {report.seconds:.1f} s), "
        f"checkpointed in {finished - generated:.1f} s; total {finished - started:.1f} s"
    )
    print(
        f"long conversations: ids {', '.join(map(str, report.long_conversation_ids))}; sign in as admin, "
        "agent01.. or sam with password parley-demo"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
