"""Page render bench: a whole page script run (ui.py, the frame, the page) on a 100k-conversation
workspace, through Streamlit's AppTest. Target (DESIGN.md): My Inbox renders in ≤ 300 ms.

    python -m bench.generate --db data/bench.duckdb      # once: 100k conversations, 1M messages
    python -m bench.bench_pages --db data/bench.duckdb

Runs on a private copy of the workspace (the runtime opens it for writing, as the server
does). Each sample is one ``AppTest.run()``: the script as the server runs it on a rerun,
plus AppTest's own decoding of every element, so the figure is on the high side.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, measure
from core import runtime, schema
from core.db import Database
from core.errors import ParleyError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="data/bench.duckdb")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    try:
        probe = Database(args.db, read_only=True)
    except ParleyError as exc:
        print(exc)
        return 1
    if schema.current_version(probe) == 0:
        print(f"{args.db} has no Parley workspace; run bench/generate.py first.")
        return 1
    agent = probe.fetchone(
        "SELECT u.id, u.username, count(*) n FROM conversations c JOIN users u ON u.id = c.owner_id "
        "WHERE u.role = 'standard' GROUP BY ALL ORDER BY n DESC LIMIT 1"
    )
    admin = probe.scalar("SELECT min(id) FROM users WHERE role = 'admin'")
    biggest = probe.fetchone(
        "SELECT id, owner_id, message_count FROM conversations ORDER BY message_count DESC LIMIT 1"
    )
    probe.close()
    work = Path(tempfile.mkdtemp(prefix="parley-pages-"))
    try:
        shutil.copy(args.db, work / "parley.duckdb")
        rt = runtime.start(
            runtime.Config(
                db_path=work / "parley.duckdb",
                media_dir=work / "media",
                demo=False,
                secret_key=b"bench",
                public_url=None,
                port=0,
            )
        )
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.testing.v1 import AppTest

        from core import sessions
        from pages.session import SESSION_KEY

        PagesManager.__init__ = _navigation_only(PagesManager.__init__)
        print(f"{agent[1]} owns {agent[2]:,} conversations; the longest conversation has {biggest[2]:,} messages")

        def page(user_id: int, script: str, query: dict | None = None):
            at = AppTest.from_file(str(ROOT / "ui.py"), default_timeout=60)
            # Signed in as the sign-in form does: a live session in the database.
            at.session_state[SESSION_KEY] = sessions.start(rt.db, user_id, rt.config.secret_key).session_id
            for key, value in (query or {}).items():
                at.query_params[key] = str(value)
            at.run()
            at.switch_page(script)
            at.run()
            if at.exception:
                raise SystemExit(f"{script} failed: {at.exception[0].value}")
            return at

        inbox = page(agent[0], "pages/my_inbox.py")
        measure("My Inbox page (agent, first page of 50)", inbox.run, runs=args.runs, target_ms=300)
        team = page(admin, "pages/team_inbox.py")
        measure("Team Inbox page (admin, whole team)", team.run, runs=args.runs, target_ms=300)
        sent = page(agent[0], "pages/sent_messages.py")
        measure("Sent Messages page (agent)", sent.run, runs=args.runs, target_ms=300)
        thread = page(biggest[1], "pages/conversation.py", {"id": biggest[0]})
        measure(f"Conversation page ({biggest[2]:,} messages, latest 200)", thread.run, runs=args.runs, target_ms=300)
        runtime.stop()
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _navigation_only(original):
    """Pages are chosen by ui.py's st.navigation, as in app.py (AppTest resets the flag per run)."""
    from streamlit.runtime.pages_manager import PagesManager

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    return init


if __name__ == "__main__":
    sys.exit(main())
