"""Issue 17's faults on the data folder: full, read-only, or owned by another process.

- **Full**: a child process whose files may not grow past a limit (``RLIMIT_FSIZE``, with
  SIGXFSZ ignored: the kernel answers EFBIG, as a full disk answers ENOSPC) sends messages
  until a write is refused. The refusal is one sentence (``StorageFailed``), not a retried
  "busy" and not a traceback; a webhook is not acknowledged; once the limit is lifted (space
  returns) the same process writes again without a restart; and reopened afterwards, the
  database holds exactly the messages whose sends returned, none of the refused one.
- **Read-only**: Parley started (``streamlit run app.py``) on a data folder it cannot write
  says so in one sentence and exits non-zero; made writable again, it opens with its data.
  As root, permission bits do not stop writes, so the folder is bind-mounted read-only in a
  private mount namespace (``unshare -m``); as anyone else, ``chmod`` does it.
- **Locked**: ``streamlit run app.py`` on a database another process holds open: one
  sentence, exit 1, no traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core import schema, settings
from core.actions import messaging
from core.actions.users import do_create_user, do_create_workspace
from core.auth import get_user
from core.db import Database
from tests import factories as f
from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
WAIT = 180  # seconds: a Streamlit start on a loaded 2-core machine

FULL = (
    "Parley could not save to its data folder {folder}: the disk is full or the folder cannot be written. "
    "Nothing was changed; free some space (or make the folder writable) and try again."
)


def workspace(path: Path) -> None:
    db = Database(path)
    schema.migrate(db)
    do_create_workspace(db, name="Storage", demo=False)
    settings.ensure_defaults(db)
    f.always_open(db)
    admin = do_create_user(db, None, "ada", "Ada", "admin", "long-enough-pw")
    maria = get_user(db, do_create_user(db, admin, "maria", "Maria", "standard", "long-enough-pw").id)
    sender = f.add_sender(db)
    f.add_conversation(db, contact_id=f.add_contact(db, name="Zoë"), sender_id=sender, owner_id=maria.id)
    db.checkpoint()
    db.close()


FILL = textwrap.dedent(
    """
    import datetime, json, os, resource, signal, sys
    from core import ingest
    from core.auth import get_user
    from core.actions import messaging
    from core.db import Database
    from core.errors import ParleyError

    path = sys.argv[1]
    db = Database(path)
    maria = get_user(db, db.scalar("SELECT id FROM users WHERE username = 'maria'"))
    conv = db.scalar("SELECT min(id) FROM conversations")
    # The limit is per file: the log of committed changes (the WAL, empty after the last checkpoint)
    # may grow by 150 KB, the database file not at all (it is larger than that already).
    used = os.path.getsize(path + ".wal") if os.path.exists(path + ".wal") else 0
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (used + 150_000, resource.RLIM_INFINITY))
    sent, refused = [], None
    for i in range(10_000):
        try:
            sent.append(messaging.do_send(db, maria, conv, f"Reminder {i}: " + "your visit is on Tuesday. " * 55))
        except ParleyError as exc:
            refused = (type(exc).__name__, str(exc))
            break
    committer = ingest.GroupCommitter(db)
    row = {"received_at": datetime.datetime(2026, 12, 1), "provider": "simulator", "state": "pending", "url": "/webhooks/simulator",
           "content_type": "application/json", "body": b"x" * 500_000, "error": None}
    try:
        committer.submit_blocking(row)
        webhook = "stored"
    except ParleyError as exc:
        webhook = type(exc).__name__
    committer.stop()
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))  # space returns
    after = [messaging.do_send(db, maria, conv, f"After the space came back {i}") for i in range(3)]
    db.close()
    print(json.dumps({"sent": sent, "refused": refused, "webhook": webhook, "after": after}))
    """
)


def test_a_full_disk_refuses_one_write_in_a_sentence_keeps_the_rest_and_recovers(tmp_path):
    path = tmp_path / "data" / "parley.duckdb"
    workspace(path)
    child = subprocess.run(
        [sys.executable, "-c", FILL, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=WAIT
    )
    assert child.returncode == 0, child.stderr[-3000:]  # every refusal was a ParleyError the child caught
    told = json.loads(child.stdout.strip().splitlines()[-1])
    assert told["refused"] == ["StorageFailed", FULL.format(folder=tmp_path / "data")]
    assert len(told["sent"]) >= 10  # the limit left room for some
    assert told["webhook"] == "StorageFailed"  # never acknowledged: the provider sends it again
    db = Database(path)  # reopened: replays what was committed, nothing else
    try:
        outgoing = [r[0] for r in db.fetchall("SELECT id FROM messages WHERE direction = 'out' ORDER BY id")]
        assert outgoing == told["sent"] + told["after"]
        assert db.scalar("SELECT count(*) FROM outbox") == len(outgoing)
        assert db.scalar("SELECT count(*) FROM webhook_inbox") == 0
        maria = get_user(db, db.scalar("SELECT id FROM users WHERE username = 'maria'"))
        assert messaging.do_send(db, maria, 1, "And on we go") > max(outgoing)
    finally:
        db.close()


# ---- starting Parley on a folder it cannot use ------------------------------------------------------


def start(db_path: Path, wrapper: list[str] | None = None) -> subprocess.CompletedProcess:
    """``streamlit run app.py`` on ``db_path``; it is expected to refuse and exit by itself."""
    port = free_port()
    env = dict(os.environ, PARLEY_DB=str(db_path), PARLEY_MEDIA_DIR=str(db_path.parent / "media"), PARLEY_DEMO="0",
               PARLEY_SECRET_KEY="storage-test", PARLEY_PORT=str(port))  # fmt: skip
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port),
               "--server.headless", "true", "--browser.gatherUsageStats", "false"]  # fmt: skip
    return subprocess.run((wrapper or []) + command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=WAIT)


def read_only(folder: Path) -> tuple[list[str] | None, callable]:
    """Make ``folder`` read-only for Parley: (a command prefix to run it under, how to undo it)."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.iterdir()]}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        return None, lambda: [p.chmod(m) for p, m in modes.items()]
    if shutil.which("unshare") is None:
        pytest.fail("running as root needs unshare(1) to make a folder read-only (permission bits do not bind root)")
    script = f'mount --bind "{folder}" "{folder}" && mount -o remount,ro,bind "{folder}" && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, "sh"], lambda: None


def test_a_read_only_data_folder_is_one_sentence_at_start_then_recovers(tmp_path):
    path = tmp_path / "data" / "parley.duckdb"
    workspace(path)
    (tmp_path / "data" / "media").mkdir()
    wrapper, undo = read_only(tmp_path / "data")
    try:
        refused = start(path, wrapper)
    finally:
        undo()
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert (
        f"Parley cannot start: Parley cannot open {path} for writing: the file or its folder is read-only, or the "
        "disk is full. Make them writable (or free some space) and start Parley again." in refused.stderr
    )
    db = Database(path)  # writable again: everything is there
    try:
        assert db.scalar("SELECT count(*) FROM conversations") == 1
        assert db.scalar("SELECT name FROM workspace") == "Storage"
    finally:
        db.close()


def test_a_database_another_process_holds_is_one_sentence_at_start(tmp_path):
    path = tmp_path / "data" / "parley.duckdb"
    workspace(path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.read()",
            str(path),
        ],  # fmt: skip
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        refused = start(path)
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert (
        f"Parley cannot start: Parley is already running with {path}: stop it first, or set PARLEY_DB to use "
        "another database file." in refused.stderr
    )
    assert time.monotonic() - started < WAIT
