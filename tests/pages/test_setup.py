"""First start without the demo: pages/setup.py creates the first admin, then is gone."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from core import auth, queries, runtime, sessions
from pages import session
from pages.session import SESSION_KEY
from tests.conftest import ROOT

pytestmark = pytest.mark.usefixtures("navigation_only")

SETUP = str(ROOT / "pages" / "setup.py")
SIGN_IN = str(ROOT / "pages" / "sign_in.py")
GOOD_PASSWORD = "analytical-engine"


@pytest.fixture
def empty_runtime(tmp_path):
    """A non-demo workspace with no users, as a fresh install without PARLEY_DEMO starts."""
    config = runtime.Config(
        db_path=tmp_path / "ws" / "parley.duckdb",
        media_dir=tmp_path / "ws" / "media",
        demo=False,
        secret_key=b"test-secret",
        public_url=None,
        port=0,
    )
    rt = runtime.start(config)
    assert queries.user_count(rt.db) == 0 and not queries.workspace(rt.db)["demo"]
    yield rt
    runtime.stop()


def texts(at, kind) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def visitor() -> AppTest:
    return AppTest.from_file(str(ROOT / "ui.py"), default_timeout=30).run()


def text_input(at, label):
    found = [t for t in at.text_input if t.label == label]
    assert len(found) == 1, [t.label for t in at.text_input]
    return found[0]


def fill(at, name, username, password, again, timezone=None) -> AppTest:
    text_input(at, "Your name").input(name)
    text_input(at, "Username").input(username)
    text_input(at, "Password").input(password)
    text_input(at, "Password again").input(again)
    if timezone:
        at.selectbox[0].set_value(timezone)
    at.button(key="FormSubmitter:first_admin-Create admin and sign in").click()
    return at.run()


def registered(at) -> dict[str, str]:
    return {str(info.get("url_pathname")): str(info.get("script_path")) for info in at._registered_pages.values()}


def test_first_visitor_gets_create_the_first_admin(empty_runtime):
    at = visitor()
    assert not at.exception, [e.value for e in at.exception]
    assert registered(at) == {"": SETUP}
    assert [i["page_name"] for i in at._registered_pages.values()] == ["Create the first admin"]
    assert texts(at, "title") == ["💬 Welcome to Parley"]
    assert [t.label for t in at.text_input] == ["Your name", "Username", "Password", "Password again"]
    zone = at.selectbox[0]
    assert zone.label == "Your time zone" and zone.value == "America/New_York"
    assert "Europe/London" in zone.options and "localtime" not in zone.options
    assert not at.dataframe, "no demo sign-ins outside the demo"
    assert SESSION_KEY not in at.session_state


@pytest.mark.parametrize(
    "name, username, password, again, sentence",
    [
        (
            "Ada Lovelace",
            "ada",
            GOOD_PASSWORD,
            GOOD_PASSWORD + "!",
            "The two passwords differ; type the same password twice.",
        ),
        ("Ada Lovelace", "ada", "short", "short", "Choose a password of at least 8 characters."),
        (
            "Ada Lovelace",
            "",
            GOOD_PASSWORD,
            GOOD_PASSWORD,
            "Usernames are 2–32 characters: lowercase letters, digits, dots, dashes or underscores.",
        ),
        (
            "Ada Lovelace",
            "ada lovelace",
            GOOD_PASSWORD,
            GOOD_PASSWORD,
            "Usernames are 2–32 characters: lowercase letters, digits, dots, dashes or underscores.",
        ),
        ("   ", "ada", GOOD_PASSWORD, GOOD_PASSWORD, "Enter the person's name."),
    ],
)
def test_bad_input_is_one_sentence_and_creates_nothing(empty_runtime, name, username, password, again, sentence):
    at = fill(visitor(), name, username, password, again)
    assert not at.exception, [e.value for e in at.exception]
    assert texts(at, "error") == [sentence]
    assert queries.user_count(empty_runtime.db) == 0
    assert empty_runtime.db.scalar("SELECT count(*) FROM audit_log") == 0
    assert SESSION_KEY not in at.session_state
    assert registered(at) == {"": SETUP}, "still the setup page"


def test_good_input_creates_an_admin_and_signs_in(empty_runtime):
    db = empty_runtime.db
    at = fill(visitor(), "Ada Lovelace", "  Ada.L ", GOOD_PASSWORD, GOOD_PASSWORD, "Europe/London")
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    row = db.fetchone("SELECT id, username, display_name, role, timezone, active FROM users")
    assert row[1:] == ("ada.l", "Ada Lovelace", "admin", "Europe/London", True)
    assert queries.user_count(db) == 1
    assert sessions.check(db, at.session_state[SESSION_KEY]).id == row[0]
    assert [p.title for k, p in at.session_state[session.PAGES_KEY].items() if k != "conversation"] == [
        "My Inbox",
        "Sent Messages",
        "Team Inbox",
        "Volume",
        "Responsiveness",
        "Delivery",
        "Campaign results",
        "Workload now",
        "Contacts",
        "Campaigns",
        "Templates",
        "Users and teams",
        "Sender numbers",
        "Provider setup",
        "Hours and texts",
        "Opt-outs",
        "Audit log",
        "Webhook review",
    ]
    assert SETUP not in registered(at).values()
    assert "**Ada Lovelace**  \nAdmin · @ada.l" in texts(at.sidebar, "markdown")  # escaped: shown as typed
    assert not [m for m in texts(at, "info") if "Demo workspace" in m]
    [(actor, detail)] = db.fetchall(
        "SELECT actor_id, detail FROM audit_log WHERE action = 'user.created' AND object_id = ?", [row[0]]
    )
    assert actor == row[0] and json.loads(detail) == {"role": "admin"}
    tickets = [
        m.group(1) for h in texts(at, "html") if "/auth/session" in h and (m := re.search(r'body: "([^"]+)"', h))
    ]
    [ticket] = [auth.tickets.redeem(t) for t in tickets]
    assert sessions.from_cookie(db, ticket.session_cookie, b"test-secret")[0].id == row[0], (
        "the cookie hand-off is queued"
    )
    assert auth.sign_in(db, "ada.l", GOOD_PASSWORD).id == row[0], "the password works"


def test_afterwards_setup_is_no_longer_offered(empty_runtime):
    db = empty_runtime.db
    late = visitor()  # opened the setup form before the first admin existed
    assert registered(late) == {"": SETUP}
    fill(visitor(), "Ada Lovelace", "ada", GOOD_PASSWORD, GOOD_PASSWORD)
    assert queries.user_count(db) == 1

    fresh = visitor()
    assert not fresh.exception
    assert set(registered(fresh).values()) == {SIGN_IN}
    assert [t.label for t in fresh.text_input] == ["Username", "Password"]
    assert not fresh.dataframe, "no demo sign-ins outside the demo"
    with pytest.raises(ValueError):
        fresh.switch_page("pages/setup.py")

    # A tab that still shows the setup form gets the sign-in form when it submits.
    fill(late, "Mallory", "mallory", GOOD_PASSWORD, GOOD_PASSWORD)
    assert not late.exception and not late.error
    assert [t.label for t in late.text_input] == ["Username", "Password"]
    assert SESSION_KEY not in late.session_state
    # And the setup script reached directly is refused in core.
    direct = AppTest.from_file(SETUP, default_timeout=30).run()
    fill(direct, "Mallory", "mallory", GOOD_PASSWORD, GOOD_PASSWORD)
    assert texts(direct, "error") == ["The first admin already exists; sign in instead."]
    assert SESSION_KEY not in direct.session_state
    assert db.fetchall("SELECT username FROM users") == [("ada",)]
