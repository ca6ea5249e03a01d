"""Signing in and out under AppTest: pages/sign_in.py, pages/session.py and ui.py."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from core import auth, queries
from generator.demo import DEMO_PASSWORD, DEMO_SIGN_INS
from pages import common, session
from tests.conftest import ROOT, demo_user

pytestmark = pytest.mark.usefixtures("navigation_only")

SIGN_IN = str(ROOT / "pages" / "sign_in.py")
SIGNED_OUT_PATHS = (
    "",
    "inbox",
    "sent",
    "conversation",
    "team",
    "contacts",
    "campaigns",
    "templates",
    "users",
    "senders",
    "providers",
    "hours",
    "opt-outs",
    "audit",
    "webhooks",
)
WRONG = "Wrong username or password."
ROLE_PAGES = {
    "maria": ["My Inbox", "Sent Messages", "Contacts", "Campaigns"],
    "admin": [
        "My Inbox",
        "Sent Messages",
        "Team Inbox",
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
    ],
    "sam": ["Team Inbox", "Contacts", "Campaigns"],
}


def texts(at, kind) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def visitor() -> AppTest:
    return AppTest.from_file(str(ROOT / "ui.py"), default_timeout=30).run()


def open_path(at: AppTest, url_path: str) -> AppTest:
    """Load the page registered at ``/url_path``, as a browser opening that address.

    AppTest's public ``switch_page`` picks a page by file, and every signed-out
    address is the same file, so the page hash is set the way it sets it.
    """
    hashes = [h for h, info in at._registered_pages.items() if info.get("url_pathname") == url_path]
    assert hashes, f"no page at /{url_path}: {[i.get('url_pathname') for i in at._registered_pages.values()]}"
    at._page_hash = hashes[0]
    return at.run()


def has_sign_in_form(at) -> bool:
    return [t.label for t in at.text_input] == ["Username", "Password"] and [b.label for b in at.button] == ["Sign in"]


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    at.button(key="FormSubmitter:sign_in-Sign in").click()
    return at.run()


def offered(at) -> list[str]:
    """Titles of the pages this session's navigation offers (ui.py sets them each run)."""
    assert "user_id" in at.session_state
    return [page.title for key, page in at.session_state[session.PAGES_KEY].items() if key != "conversation"]


def registered_scripts(at) -> set[str]:
    return {str(info.get("script_path")) for info in at._registered_pages.values()}


def ticket_in(at) -> str:
    """The one-time ticket the browser trades for the session cookie."""
    found = [m.group(1) for h in texts(at, "html") if "/auth/session" in h and (m := re.search(r'body: "([^"]+)"', h))]
    assert len(found) == 1, texts(at, "html")
    return found[0]


def attempts(db, user_id) -> list[bool]:
    return [
        r[0] for r in db.fetchall("SELECT ok FROM login_attempts WHERE user_id = ? ORDER BY attempted_at", [user_id])
    ]


# ---- signed out ------------------------------------------------------------------------------


def test_signed_out_visitor_gets_the_sign_in_form_at_every_path(demo_db):
    cid = demo_db.scalar("SELECT min(id) FROM conversations")
    at = visitor()
    assert registered_scripts(at) == {SIGN_IN}
    assert {i.get("url_pathname") for i in at._registered_pages.values()} == set(SIGNED_OUT_PATHS)
    for path in SIGNED_OUT_PATHS:
        at.query_params["id"] = str(cid)
        open_path(at, path)
        assert not at.exception, (path, [e.value for e in at.exception])
        assert has_sign_in_form(at), (path, [t.label for t in at.text_input], [b.label for b in at.button])
        assert "user_id" not in at.session_state
        assert not at.chat_message and not at.sidebar.button, f"/{path} shows nothing but the form"
        assert [list(d.value.columns) for d in at.dataframe] == [["Username", "Password", "Role"]]


def test_demo_sign_ins_are_listed_in_the_demo_workspace(demo_db):
    at = visitor()
    [frame] = [d.value for d in at.dataframe]
    assert list(frame["Username"]) == [u for u, _, _ in DEMO_SIGN_INS]
    assert set(frame["Password"]) == {DEMO_PASSWORD}
    for username, role_label in zip(frame["Username"], frame["Role"]):
        user = demo_user(demo_db, username)
        assert user is not None and user.active and auth.ROLE_LABELS[user.role] == role_label
    assert "**Demo workspace** — sign in as any of these:" in texts(at, "markdown")


# ---- signing in -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "username, password", [("maria", "not-her-password"), ("nobody", DEMO_PASSWORD), ("maria", DEMO_PASSWORD.upper())]
)
def test_wrong_password_and_unknown_user_get_the_same_sentence(demo_db, username, password):
    at = sign_in(visitor(), username, password)
    assert not at.exception
    assert texts(at, "error") == [WRONG]
    assert "user_id" not in at.session_state
    assert has_sign_in_form(at)
    if username == "maria":
        assert attempts(demo_db, demo_user(demo_db, "maria").id) == [False]


def test_empty_fields_ask_for_both(demo_db):
    at = sign_in(visitor(), "maria", "")
    assert texts(at, "error") == ["Enter your username and password."]
    assert "user_id" not in at.session_state
    assert attempts(demo_db, demo_user(demo_db, "maria").id) == []


@pytest.mark.parametrize("username", ["maria", "admin", "sam"])
def test_right_password_signs_in_with_the_role_pages(demo_db, username):
    user = demo_user(demo_db, username)
    at = sign_in(visitor(), f"  {username.upper()} ", DEMO_PASSWORD)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    assert at.session_state["user_id"] == user.id
    assert offered(at) == ROLE_PAGES[username]
    scripts = registered_scripts(at)
    assert SIGN_IN not in scripts
    assert (str(ROOT / "pages" / "team_inbox.py") in scripts) == (username != "maria")
    assert (str(ROOT / "pages" / "my_inbox.py") in scripts) == (username != "sam")
    home = ROLE_PAGES[username][0]
    assert texts(at, "header")[0].startswith(home), texts(at, "header")
    label = auth.ROLE_LABELS[user.role]
    assert f"**{user.display_name}**  \n{label} · @{user.username}" in texts(at.sidebar, "markdown")
    assert auth.tickets.redeem(ticket_in(at)) == user.id
    assert attempts(demo_db, user.id) == [True]


def test_a_bookmarked_conversation_opens_right_after_signing_in(demo_db):
    maria = demo_user(demo_db, "maria")
    cid, name, phone = demo_db.fetchone(
        "SELECT c.id, ct.name, ct.phone FROM conversations c JOIN contacts ct ON ct.id = c.contact_id "
        "WHERE c.owner_id = ? ORDER BY c.id DESC LIMIT 1",
        [maria.id],
    )
    at = visitor()
    at.query_params["id"] = str(cid)
    open_path(at, "conversation")
    assert has_sign_in_form(at)
    sign_in(at, "maria", DEMO_PASSWORD)
    assert not at.exception and not at.error
    assert at.session_state["user_id"] == maria.id
    assert common.contact_label(name, phone) in texts(at, "subheader")[0].replace("\\", "")
    assert at.chat_message


def test_ten_failures_lock_the_user_even_with_the_right_password(demo_db):
    maria = demo_user(demo_db, "maria")
    at = visitor()
    for _ in range(auth.LOCKOUT_FAILURES - 1):
        sign_in(at, "maria", "guess-again")
        assert texts(at, "error") == [WRONG]
    locked = "Too many failed sign-ins: this account is locked for 15 more minutes."
    sign_in(at, "maria", "guess-again")
    assert texts(at, "error") == [locked]
    assert demo_db.scalar("SELECT locked_until IS NOT NULL FROM users WHERE id = ?", [maria.id])
    assert (
        demo_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'user.locked' AND object_id = ?", [maria.id]) == 1
    )

    sign_in(at, "maria", DEMO_PASSWORD)
    assert texts(at, "error") == [locked]
    assert "user_id" not in at.session_state
    assert attempts(demo_db, maria.id) == [False] * auth.LOCKOUT_FAILURES, "a locked account checks no password"
    # Someone else is not affected.
    other = sign_in(visitor(), "james", DEMO_PASSWORD)
    assert other.session_state["user_id"] == demo_user(demo_db, "james").id


def test_a_disabled_account_cannot_sign_in(demo_db):
    aiko = demo_user(demo_db, "aiko")
    demo_db.write(lambda tx: tx.execute("UPDATE users SET active = FALSE WHERE id = ?", [aiko.id]))
    at = sign_in(visitor(), "aiko", DEMO_PASSWORD)
    assert texts(at, "error") == ["This account is disabled; ask an admin to enable it."]
    assert "user_id" not in at.session_state


# ---- the session -------------------------------------------------------------------------------


def test_sign_out_clears_the_session(app_as, demo_db, monkeypatch):
    admin = demo_user(demo_db, "admin")
    at = app_as("admin", "pages/team_inbox.py")
    at.selectbox(key="team.owner").set_value(demo_user(demo_db, "maria").id).run()
    assert at.session_state["team.owner"] != 0
    # The browser still sends the session cookie until the logout request has cleared it.
    cookie = auth.make_session_cookie(admin.id, b"test-secret")
    monkeypatch.setattr(session, "_cookie", lambda: cookie)

    at.sidebar.button(key="sign_out").click().run()
    assert not at.exception
    assert "user_id" not in at.session_state
    assert not [k for k in at.session_state.keys() if k.startswith("team.")]
    assert at.session_state["signed_out"] is True
    assert has_sign_in_form(at)
    assert registered_scripts(at) == {SIGN_IN}
    assert any('fetch("/auth/logout"' in h and "window.location.replace('/')" in h for h in texts(at, "html"))

    at.run()
    assert "user_id" not in at.session_state, "the old cookie does not sign the tab back in"
    assert has_sign_in_form(at)


def test_the_session_cookie_restores_the_user_and_a_bad_one_does_not(demo_runtime, monkeypatch):
    db, secret = demo_runtime.db, demo_runtime.config.secret_key
    maria = demo_user(db, "maria")
    good = auth.make_session_cookie(maria.id, secret)
    for cookie, signed_in in (
        (good, True),
        (good[:-1] + ("0" if good[-1] != "0" else "1"), False),
        (auth.make_session_cookie(maria.id, b"another-secret"), False),
        (None, False),
    ):
        monkeypatch.setattr(session, "_cookie", lambda value=cookie: value)
        at = visitor()
        assert not at.exception
        if signed_in:
            assert at.session_state["user_id"] == maria.id
            assert offered(at) == ROLE_PAGES["maria"]
        else:
            assert "user_id" not in at.session_state and has_sign_in_form(at), cookie


def test_an_account_disabled_mid_session_is_signed_out(app_as, demo_db):
    maria = demo_user(demo_db, "maria")
    at = app_as("maria")
    assert offered(at) == ROLE_PAGES["maria"]
    assert queries.unread_count(demo_db, maria.id) > 0
    demo_db.write(lambda tx: tx.execute("UPDATE users SET active = FALSE WHERE id = ?", [maria.id]))
    at.run()
    assert not at.exception
    assert "user_id" not in at.session_state
    assert has_sign_in_form(at)
    assert not at.sidebar.button


def test_a_supervisor_following_an_inbox_link_lands_on_team_inbox(app_as, demo_db):
    at = app_as("sam")
    for path in ("inbox", "sent"):
        open_path(at, path)
        assert not at.exception and [h.value for h in at.header][-1] == "Team Inbox", path
    maria = app_as("maria")
    assert [h.value for h in open_path(maria, "sent").header][-1] == "Sent Messages"  # agents keep theirs
