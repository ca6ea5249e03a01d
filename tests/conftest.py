"""Shared fixtures: a migrated store on disk, users, the demo workspace, AppTest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core import clock, runtime, schema, settings
from core.auth import get_user, hash_password
from core.db import Database
from generator.demo import create_demo_workspace

ROOT = Path(__file__).resolve().parent.parent
# As app.py does: a runtime started on an empty database with demo on builds the demo.
runtime.use_demo_builder(create_demo_workspace)

TEST_PASSWORD = "correct-horse"
_HASH = hash_password(TEST_PASSWORD)


@pytest.fixture(autouse=True)
def _reset_clock_and_runtime():
    yield
    clock.freeze(None)
    runtime.stop()


@pytest.fixture
def db(tmp_path):
    """An empty, migrated workspace (no demo data) in a DuckDB file."""
    database = Database(tmp_path / "parley.duckdb")
    schema.migrate(database)
    from core.actions.users import do_create_workspace

    do_create_workspace(database, name="Test workspace", demo=False)
    settings.ensure_defaults(database)
    yield database
    database.close()


@pytest.fixture
def make_user(db):
    """``make_user('ana', role='standard')`` → User, with password TEST_PASSWORD."""

    def make(username: str, role: str = "standard", display_name: str | None = None, active: bool = True):
        def write(tx):
            uid = tx.next_id("seq_users")
            tx.execute(
                "INSERT INTO users (id, username, display_name, role, team_id, password_hash, active, created_at) "
                "VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
                [uid, username, display_name or username.title(), role, _HASH, active, clock.utcnow()],
            )
            return uid

        return get_user(db, db.write(write))

    return make


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory):
    """The demo workspace, generated once per test session; copy it per test."""
    from core.media_store import MediaStore

    root = tmp_path_factory.mktemp("demo")
    database = Database(root / "parley.duckdb")
    schema.migrate(database)
    create_demo_workspace(database, MediaStore(root / "media"))
    settings.ensure_defaults(database)
    database.checkpoint()
    database.close()
    return root


@pytest.fixture
def demo_runtime(tmp_path, demo_template):
    """A Runtime (no workers) over a private copy of the demo workspace."""
    shutil.copytree(demo_template, tmp_path / "ws")
    config = runtime.Config(
        db_path=tmp_path / "ws" / "parley.duckdb",
        media_dir=tmp_path / "ws" / "media",
        demo=True,
        secret_key=b"test-secret",
        public_url=None,
        port=0,
    )
    rt = runtime.start(config)
    yield rt
    runtime.stop()


@pytest.fixture
def demo_db(demo_runtime):
    return demo_runtime.db


def demo_user(db, username: str):
    uid = db.scalar("SELECT id FROM users WHERE username = ?", [username])
    return get_user(db, uid)


def sign_in_apptest(at, rt, username: str) -> int:
    """Sign ``username`` in to an AppTest as the sign-in form does: a session in the database.

    Returns the session id (``pages.session.SESSION_KEY`` in the AppTest's session state)."""
    from core import sessions
    from pages.session import SESSION_KEY

    started = sessions.start(rt.db, demo_user(rt.db, username).id, rt.config.secret_key, source="test")
    at.session_state[SESSION_KEY] = started.session_id
    return started.session_id


@pytest.fixture
def navigation_only(monkeypatch):
    """Run every AppTest run through ``ui.py``'s ``st.navigation``, as the server does.

    Our page scripts live in ``pages/`` beside ``ui.py``, which Streamlit
    takes for an old-style (v1) multipage app until ``st.navigation`` has run
    once in the process. AppTest resets that flag before *every* run, so a
    page whose url path equals its file name (``conversation``, ``contacts``,
    ``setup``) would be run directly, without ``ui.py`` (no sign-in check, no
    frame, the role's navigation replaced by every file in ``pages/``).
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture
def app_as(demo_runtime, navigation_only):
    """``app_as('maria', 'pages/my_inbox.py', query={'id': 3})`` → a run AppTest."""
    from streamlit.testing.v1 import AppTest

    def make(username: str | None, page: str | None = None, query: dict | None = None, timeout: float = 30):
        at = AppTest.from_file(str(ROOT / "ui.py"), default_timeout=timeout)
        if username is not None:
            sign_in_apptest(at, demo_runtime, username)
        if query:
            for key, value in query.items():
                at.query_params[key] = str(value)
        at.run()
        if page is not None:
            at.switch_page(page)
            at.run()
        return at

    return make
