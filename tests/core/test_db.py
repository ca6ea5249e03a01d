"""The store: migrations, the serialised write path, conflict retry, events after commit."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core import schema
from core.db import Database
from core.errors import ParleyError

# The migration modules on disk (versions are handed out per feature, so numbers may have gaps).
MODULE_VERSIONS = sorted(
    int(m.group(1))
    for f in (Path(__file__).resolve().parents[2] / "core" / "migrations").glob("m*.py")
    if (m := re.fullmatch(r"m(\d{3})_\w+\.py", f.name))
)


def test_migrations_from_empty_reach_latest(tmp_path):
    db = Database(tmp_path / "a.duckdb")
    assert schema.current_version(db) == 0
    applied = schema.migrate(db)
    assert applied == [1, 2, 3, *MODULE_VERSIONS]  # every one, once, in order
    assert schema.current_version(db) == schema.LATEST == applied[-1]
    assert schema.migrate(db) == []  # idempotent


def test_a_migration_module_runs_its_sql_then_its_apply_in_one_transaction(tmp_path, monkeypatch):
    from core.migrations import Migration

    def backfill(tx):
        tx.execute("INSERT INTO demo_facts SELECT id, 'team' FROM teams")

    db = Database(tmp_path / "m.duckdb")
    schema.migrate(db)
    db.write(lambda tx: tx.execute("INSERT INTO teams (name, created_at) VALUES ('Front desk', now())"))
    extra = Migration(schema.LATEST + 1, "demo facts", "CREATE TABLE demo_facts (id INTEGER, kind VARCHAR)", backfill)
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, extra])
    monkeypatch.setattr(schema, "LATEST", extra.version)
    assert schema.migrate(db) == [extra.version]
    assert db.fetchall("SELECT kind FROM demo_facts") == [("team",)]


def test_older_database_is_upgraded_and_keeps_its_data(tmp_path):
    path = tmp_path / "old.duckdb"
    db = Database(path)
    schema.migrate(db, target=1)
    db.write(
        lambda tx: tx.execute(
            "INSERT INTO contacts (phone, name, created_at, updated_at) VALUES ('+14155550123', 'Zoë Ávila', now(), now())"
        )
    )
    db.close()

    db = Database(path)
    assert schema.current_version(db) == 1
    assert schema.migrate(db) == [2, 3, *MODULE_VERSIONS]
    row = db.fetchone("SELECT name, phone_digits, search_name FROM contacts")
    assert row[0] == "Zoë Ávila" and row[1] == "14155550123"  # migration 3 backfilled search columns
    # migration 4 indexed the contact for search
    found = db.fetchall("SELECT DISTINCT contact_id FROM contact_search WHERE key >= 'avi' AND key < 'avj'")
    assert found == [(db.scalar("SELECT id FROM contacts"),)]
    assert db.scalar("SELECT count(*) FROM outbox") == 0  # migration 2 tables exist


def test_an_upgraded_database_has_its_migrations_written_into_the_file(tmp_path):
    """Left in DuckDB's log, a migration's changes slowed every write until the next checkpoint."""
    path = tmp_path / "old.duckdb"
    db = Database(path)
    schema.migrate(db, target=23)
    db.write(lambda tx: tx.execute("INSERT INTO teams (name, created_at) VALUES ('Front desk', now())"))
    db.close()

    db = Database(path)
    assert 24 in schema.migrate(db)
    wal = path.with_name(path.name + ".wal")
    assert (wal.stat().st_size if wal.exists() else 0) == 0
    assert db.fetchall("SELECT name FROM teams WHERE name = 'Front desk'") == [("Front desk",)]
    db.close()


def test_a_migration_merged_after_higher_ones_still_reaches_a_database(tmp_path, monkeypatch):
    # Versions are handed out per piece of work, so one with a lower number can land after a
    # database already has higher ones: it is applied all the same, once.
    db = Database(tmp_path / "late.duckdb")
    later = [m for m in schema.MIGRATIONS if m.version != 4]
    monkeypatch.setattr(schema, "MIGRATIONS", later)
    schema.migrate(db)
    assert 4 not in {r[0] for r in db.fetchall("SELECT version FROM schema_version")}
    monkeypatch.undo()
    assert schema.migrate(db) == [4]
    assert db.scalar("SELECT count(*) FROM duckdb_columns() WHERE column_name = 'inbox_version'") == 1
    assert schema.migrate(db) == []


def test_newer_database_is_refused_with_a_sentence(tmp_path):
    db = Database(tmp_path / "new.duckdb")
    schema.migrate(db)
    db.write(lambda tx: tx.execute("INSERT INTO schema_version VALUES (999, 'future', now())"))
    with pytest.raises(ParleyError, match="newer Parley"):
        schema.migrate(db)


def test_events_are_released_only_after_commit(tmp_path):
    db = Database(tmp_path / "e.duckdb")
    schema.migrate(db)
    heard = []
    db.subscribe("*", lambda e: heard.append((e.name, db.scalar("SELECT count(*) FROM teams"))))

    def ok(tx):
        tx.execute("INSERT INTO teams (name, created_at) VALUES ('a', now())")
        tx.publish("team.created", team_id=1)
        assert heard == []  # nothing released inside the transaction

    db.write(ok)
    assert heard == [("team.created", 1)]  # the listener already sees the committed row
    assert db.scalar("SELECT count(*) FROM events WHERE name = 'team.created'") == 1

    def fails(tx):
        tx.execute("INSERT INTO teams (name, created_at) VALUES ('b', now())")
        tx.publish("team.created", team_id=2)
        raise ValueError("boom")

    with pytest.raises(ValueError):
        db.write(fails)
    assert heard == [("team.created", 1)]  # a rolled-back write publishes nothing
    assert db.scalar("SELECT count(*) FROM teams") == 1
    assert db.scalar("SELECT count(*) FROM events") == 1


def test_write_conflict_is_retried_until_it_succeeds(tmp_path):
    db = Database(tmp_path / "c.duckdb")
    schema.migrate(db)
    db.write(lambda tx: tx.execute("INSERT INTO teams (id, name, created_at) VALUES (1, 'a', now())"))
    # A second cursor (standing in for any other writer) holds an update on the row.
    other = db._conn.cursor()
    other.execute("BEGIN TRANSACTION")
    other.execute("UPDATE teams SET name = 'held' WHERE id = 1")
    attempts = []

    def update(tx):
        attempts.append(1)
        if len(attempts) == 2:
            other.execute("COMMIT")  # the other writer finishes after our first attempt hit its row
        tx.execute("UPDATE teams SET name = 'mine' WHERE id = 1")

    db.write(update)
    assert len(attempts) >= 2  # the first attempt hit the conflict and was retried
    assert db.write_conflicts >= 1
    assert db.scalar("SELECT name FROM teams WHERE id = 1") == "mine"


def test_reads_use_a_cursor_per_thread(tmp_path):
    db = Database(tmp_path / "r.duckdb")
    schema.migrate(db)
    cursors = []
    t = threading.Thread(target=lambda: cursors.append(db.cursor()))
    t.start()
    t.join()
    assert cursors[0] is not db.cursor()


def test_second_process_gets_one_sentence_when_the_file_is_locked(tmp_path):
    path = tmp_path / "locked.duckdb"
    db = Database(path)
    schema.migrate(db)
    code = (
        "import sys\n"
        "from core.db import Database\nfrom core.errors import DatabaseLocked\n"
        "try:\n    Database(%r)\nexcept DatabaseLocked as e:\n    print(e); sys.exit(3)\n"
    ) % (str(path),)
    root = __import__("pathlib").Path(__file__).resolve().parents[2]  # `python -c` imports from its cwd
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=root)
    assert result.returncode == 3
    assert "already running" in result.stdout and "Traceback" not in result.stderr


def order_of_queued_writes(tmp_path, writers: list[tuple[str, dict]]) -> list[str]:
    """Hold the write path, queue ``writers`` (name, Thread kwargs) one after the other, each waiting
    before the next comes, then free the path: the order in which they wrote."""
    db = Database(tmp_path / "p.duckdb")
    schema.migrate(db)
    order, holding, release = [], threading.Event(), threading.Event()

    def hold(tx):
        holding.set()
        release.wait(30)

    def note(tx, who):
        order.append(who)

    def queued(n: int) -> None:
        deadline = time.monotonic() + 30
        while db.writers_waiting < n:
            assert time.monotonic() < deadline, f"{n} writers never queued"
            time.sleep(0.005)  # polling inside a deadline, not a fixed wait

    first = threading.Thread(target=db.write, args=(hold,))
    first.start()
    assert holding.wait(30)
    threads = []
    for n, (who, options) in enumerate(writers, start=1):
        urgent = options.pop("urgent", False)
        threads.append(
            threading.Thread(target=lambda who=who, urgent=urgent: db.write(note, who, urgent=urgent), **options)
        )
        threads[-1].start()
        queued(n)
    release.set()
    for t in (first, *threads):
        t.join(30)
    db.close()
    return order


def test_urgent_writes_go_before_waiting_background_writes(tmp_path):
    """A webhook's acknowledgement does not queue behind the applier's writes (queued first)."""
    assert order_of_queued_writes(tmp_path, [("background", {}), ("urgent", {"urgent": True})]) == [
        "urgent",
        "background",
    ]


def test_a_page_runs_write_goes_before_waiting_background_writes_and_after_urgent_ones(tmp_path):
    """An agent's Send does not wait behind the applier and dispatcher looping under a webhook burst."""
    from core.db_write_lock import PAGE_THREAD_NAME

    writers = [("background", {}), ("page", {"name": PAGE_THREAD_NAME}), ("urgent", {"urgent": True})]
    assert order_of_queued_writes(tmp_path, writers) == ["urgent", "page", "background"]


def test_a_steady_stream_of_urgent_writes_lets_a_page_write_through(tmp_path):
    """The webhook committer, looping through a burst, is queued again before a woken page writer
    runs: under strict order an agent's mark-read waited up to 1 s (29 s on a loaded machine). A
    page write waits through at most one other turn; background writes still go last."""
    from core.db_write_lock import PAGE_THREAD_NAME

    writers = [
        ("urgent", {"urgent": True}),
        ("background", {}),
        ("page", {"name": PAGE_THREAD_NAME}),
        ("urgent", {"urgent": True}),
        ("urgent", {"urgent": True}),
    ]
    assert order_of_queued_writes(tmp_path, writers) == ["urgent", "page", "urgent", "urgent", "background"]


def test_page_writes_and_webhooks_take_turns_when_both_keep_coming(tmp_path):
    # Neither level keeps the path: a page write goes after each webhook commit, and a webhook
    # commit after each page write. (Writers of one level go in no set order among themselves.)
    from core.db_write_lock import PAGE_THREAD_NAME

    writers = [
        ("page", {"name": PAGE_THREAD_NAME}),
        ("page", {"name": PAGE_THREAD_NAME}),
        ("urgent", {"urgent": True}),
        ("urgent", {"urgent": True}),
    ]
    assert order_of_queued_writes(tmp_path, writers) == ["urgent", "page", "urgent", "page"]


def test_the_page_writers_writes_keep_a_pages_place_on_the_write_path(tmp_path):
    """A mark-read a page handed to the page writer (``core.page_writes``) is still someone at a
    screen: it goes through a stream of webhook commits as a page run's own write does, before the
    background workers."""
    from core.db_write_lock import PAGE_WRITER_THREAD_NAME

    writers = [
        ("urgent", {"urgent": True}),
        ("background", {}),
        ("page writer", {"name": PAGE_WRITER_THREAD_NAME}),
        ("urgent", {"urgent": True}),
        ("urgent", {"urgent": True}),
    ]
    assert order_of_queued_writes(tmp_path, writers) == ["urgent", "page writer", "urgent", "urgent", "background"]
