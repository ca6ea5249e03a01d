"""Build a benchmark workspace: 100k conversations, 1M messages, 100k contacts, 20 agents.

    python -m bench.generate --db data/bench.duckdb            # the sizes above
    python -m bench.generate --db /tmp/small.duckdb --conversations 2000 --messages 20000 --contacts 2000

Same generator as the demo workspace, at scale: every rule the demo data
obeys holds here too. Media files go to the directory Parley would use for
that database (``<db folder>/media``) unless ``--media`` says otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core import schema
from core.db import Database
from core.errors import ParleyError
from core.media_store import MediaStore
from generator.write import generate_workspace


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="data/bench.duckdb", help="DuckDB file to create")
    parser.add_argument("--media", default=None, help="media folder (default: <db folder>/media)")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument(
        "--messages",
        type=int,
        default=1_000_000,
        help="messages in conversations, about (campaign messages nobody answered come on top)",
    )
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--campaigns", type=int, default=None, help="default: one per agent")
    parser.add_argument("--big", type=int, default=10_000, help="messages in the one very long conversation")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--force", action="store_true", help="replace the file if it exists")
    return parser.parse_args(argv)


def per_conversation_range(messages: int, conversations: int, big: int) -> tuple[int, int]:
    """A uniform range of messages per conversation whose mean gives ``messages`` in all."""
    average = max(2.0, (messages - big) / max(1, conversations))
    return 2, max(2, round(2 * average - 2))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    path = Path(args.db)
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
        schema.migrate(db)
        last = [-1]

        def progress(fraction: float, text: str) -> None:
            if int(fraction * 10) != last[0]:
                last[0] = int(fraction * 10)
                print(f"  {fraction:4.0%}  {text}", flush=True)

        report = generate_workspace(
            db,
            MediaStore(media_dir),
            agents=args.agents,
            contacts=args.contacts,
            conversations=args.conversations,
            messages_per_conversation=per_conversation_range(args.messages, args.conversations, args.big),
            big_conversation_messages=args.big,
            campaigns=args.campaigns or args.agents,
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
        f"big conversation: id {report.big_conversation_id}; sign in as admin, agent01.. or sam "
        f"with password parley-demo"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
