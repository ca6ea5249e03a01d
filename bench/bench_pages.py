"""Page render bench: a whole page script run (ui.py, the frame, the page) through Streamlit's
AppTest, as a user waits for it: the **first visit** in a fresh session, and a **rerun** of it.

    python -m bench.generate --conversations 100000        # once per size
    python -m bench.bench_pages --conversations 100000 1000000

- *first visit*: a new session (nothing in its state, no page data kept from
  a previous run) rendering the page for the first time. My Inbox is an
  agent's home page, so its first visit is the session's first run; the
  other pages are reached the only way AppTest allows, after one untimed
  run of the home page, exactly as a user clicking through: that page's
  data is fetched for the first time in the timed run. Each sample is a
  different agent or conversation.
  Streamlit's scan of the installed packages for custom components, which
  the server makes once when it starts, is made once for the whole bench
  (AppTest would repeat it in each session's first run: ~60 ms).
- *rerun*: the same session running the page again (a click elsewhere on it):
  lists compare their version with the database and reuse what they hold;
  the conversation page asks core again.

Each sample is one ``AppTest.run()``, which includes AppTest's own decoding
of every element, so the figures are on the high side. Runs on a private
copy of each workspace (the runtime opens it for writing, as the server does).
Targets (issue 13, p95, quiet machine): first visit of My Inbox ≤ 120 ms at
100k (150 ms at 1M), of a conversation ≤ 150 ms (200 ms).
"""

from __future__ import annotations

import argparse
import logging
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, add_workspace_arguments, announce, private_copy, report, workspaces
from core import runtime
from core.db import Database

TARGETS = {"My Inbox": (120, 150), "Conversation": (150, 200)}


def run_size(label: str, path: Path, runs: int) -> None:
    from streamlit.testing.v1 import AppTest

    big = label.endswith("m")
    folder = Path(tempfile.mkdtemp(prefix="parley-bench-pages-"))
    try:
        copy = private_copy(path, folder)
        probe = Database(copy, read_only=True)
        agents = [r[0] for r in probe.fetchall("SELECT id FROM users WHERE role = 'standard' ORDER BY id")]
        admin = probe.scalar("SELECT min(id) FROM users WHERE role = 'admin'")
        typical = probe.fetchall(
            "SELECT id, owner_id FROM conversations WHERE message_count BETWEEN 5 AND 10 AND owner_id IN "
            "(SELECT id FROM users WHERE role = 'standard') USING SAMPLE 2000 ROWS"
        )
        longest = probe.fetchone("SELECT id, owner_id, message_count FROM conversations ORDER BY message_count DESC")
        probe.close()
        rt = runtime.start(
            runtime.Config(
                db_path=copy, media_dir=folder / "media", demo=False, secret_key=b"bench", public_url=None, port=0
            )
        )
        from core import sessions
        from pages.session import SESSION_KEY

        rng = random.Random(1)
        announce(f"{label}: {path}")

        components = _components_found_once()

        def session(user_id: int, query: dict | None = None) -> AppTest:
            at = AppTest.from_file(str(ROOT / "ui.py"), default_timeout=120)
            at._bidi_component_manager = components  # as the server holds it (see _components_found_once)
            # Signed in as the sign-in form does: a live session in the database.
            at.session_state[SESSION_KEY] = sessions.start(rt.db, user_id, rt.config.secret_key).session_id
            for key, value in (query or {}).items():
                at.query_params[key] = str(value)
            return at

        def timed(at: AppTest) -> float:
            started = time.perf_counter()
            at.run()
            elapsed = (time.perf_counter() - started) * 1000
            if at.exception:
                raise SystemExit(f"the page failed: {at.exception[0].value}")
            return elapsed

        def first_and_rerun(name: str, make, target: float | None) -> None:
            make()  # imports and the first connection, once per process, as a running server has them
            first, again = [], []
            for _ in range(runs):
                at, warm = make()
                if warm:
                    at.run()
                    at.switch_page(warm)
                first.append(timed(at))
                again.append(timed(at))
            report(f"{name}: first visit (fresh session)", first, target)
            report(f"{name}: rerun (same session)", again)

        def my_inbox():
            return session(rng.choice(agents)), None

        def team_inbox():
            return session(admin), "pages/team_inbox.py"

        def sent():
            return session(rng.choice(agents)), "pages/sent_messages.py"

        def conversation():
            cid, owner = rng.choice(typical)
            return session(owner, {"id": cid}), "pages/conversation.py"

        def long_conversation():
            return session(longest[1], {"id": longest[0]}), "pages/conversation.py"

        t = {k: v[1] if big else v[0] for k, v in TARGETS.items()}
        first_and_rerun("My Inbox (agent)", my_inbox, t["My Inbox"])
        first_and_rerun("Team Inbox (admin, whole team)", team_inbox, None)
        first_and_rerun("Sent Messages (agent)", sent, None)
        first_and_rerun("Conversation (typical, 5-10 messages)", conversation, t["Conversation"])
        first_and_rerun(f"Conversation ({longest[2]:,} messages, latest 200)", long_conversation, None)
    finally:
        runtime.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _components_found_once():
    """Streamlit's custom-component registry, with the installed packages scanned once.

    The server scans every installed package's metadata for components once, when it starts
    (``streamlit.runtime.Runtime``); AppTest does it again in each new AppTest's first run,
    about 60 ms here (170 ms under cProfile, most of it parsing package metadata). A fresh
    session on the server never pays that, so the bench hands each AppTest the registry it
    would have found, and a first visit times what a user's first page waits for."""
    from streamlit.components.v2.component_manager import BidiComponentManager

    manager = BidiComponentManager()
    manager.discover_and_register_components(start_file_watching=False)
    return manager


def _navigation_only():
    """Pages are chosen by ui.py's st.navigation, as in app.py (AppTest resets the flag per run)."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_workspace_arguments(parser)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    _navigation_only()
    # Setting up each fresh session from the bench's thread logs "missing ScriptRunContext"
    # several times; it says nothing about the timings and buries them.
    # (A filter, not a level: Streamlit sets its loggers' levels again when AppTest starts.)
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
        lambda record: "missing ScriptRunContext" not in record.getMessage()
    )
    for label, path in workspaces(args):
        run_size(label, path, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
