"""Signing in and out under AppTest: pages/sign_in.py, pages/session.py and ui.py."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from core import auth, queries, sessions
from core.errors import SignInError
from generator.demo import DEMO_PASSWORD, DEMO_SIGN_INS
from pages import session
from pages.format import contact_label
from pages.session import SESSION_KEY
from tests.conftest import ROOT, demo_user

pytestmark = pytest.mark.usefixtures("navigation_only")

SIGN_IN = str(ROOT / "pages" / "sign_in.py")
STATS_PATHS = ("stats-volume", "stats-responsiveness", "stats-delivery", "stats-campaigns", "stats-workload")
EXTRA_PATHS = ("campaigns", "templates", "users", "senders", "providers", "hours", "opt-outs", "audit", "webhooks")
SIGNED_OUT_PATHS = ("", "inbox", "sent", "conversation", "team", "contacts", *STATS_PATHS, *EXTRA_PATHS)
STATS = ["Volume", "Responsiveness", "Delivery", "Campaign results", "Workload now"]
ADMIN = [
    "Users and teams",
    "Sender numbers",
    "Provider setup",
    "Hours and texts",
    "Opt-outs",
    "Audit log",
    "Webhook review",
]
WRONG = "Wrong username or password."
ROLE_PAGES = {
    "maria": ["My Inbox", "Sent Messages", "Contacts", "Campaigns"],
    "admin": ["My Inbox", "Sent Messages", "Team Inbox", *STATS, "Contacts", "Campaigns", "Templates", *ADMIN],
    "sam": ["Team Inbox", *STATS, "Contacts", "Campaigns"],
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


def signed_in_as(at, db) -> int | None:
    """The user of the AppTest's session (None when signed out), as the database sees it."""
    if SESSION_KEY not in at.session_state:
        return None
    user = sessions.check(db, at.session_state[SESSION_KEY], touch=False)
    return user.id if user else None


def offered(at) -> list[str]:
    """Titles of the pages this session's navigation offers (ui.py sets them each run)."""
    assert SESSION_KEY in at.session_state
    return [page.title for key, page in at.session_state[session.PAGES_KEY].items() if key != "conversation"]


def registered_scripts(at) -> set[str]:
    return {str(info.get("script_path")) for info in at._registered_pages.values()}


def ticket_in(at) -> str:
    """The one-time ticket the browser trades for the session cookie."""
    found = [m.group(1) for h in texts(at, "html") if "/auth/session" in h and (m := re.search(r'body: "([^"]+)"', h))]
    assert len(found) == 1, texts(at, "html")
    return found[0]


def attempts(db, username) -> list[bool]:
    return [r[0] for r in db.fetchall("SELECT ok FROM sign_in_attempts WHERE username = ? ORDER BY id", [username])]


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
        assert SESSION_KEY not in at.session_state
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
    assert SESSION_KEY not in at.session_state
    assert has_sign_in_form(at)
    assert attempts(demo_db, username) == [False]
    # The form learned where the attempt came from (AppTest has no client address: this machine).
    assert demo_db.fetchall("SELECT source FROM sign_in_attempts") == [("local",)]


def test_empty_fields_ask_for_both(demo_db):
    at = sign_in(visitor(), "maria", "")
    assert texts(at, "error") == ["Enter your username and password."]
    assert SESSION_KEY not in at.session_state
    assert attempts(demo_db, "maria") == []


@pytest.mark.parametrize("username", ["maria", "admin", "sam"])
def test_right_password_signs_in_with_the_role_pages(demo_db, username):
    user = demo_user(demo_db, username)
    at = sign_in(visitor(), f"  {username.upper()} ", DEMO_PASSWORD)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    assert signed_in_as(at, demo_db) == user.id
    assert offered(at) == ROLE_PAGES[username]
    scripts = registered_scripts(at)
    assert SIGN_IN not in scripts
    assert (str(ROOT / "pages" / "team_inbox.py") in scripts) == (username != "maria")
    assert (str(ROOT / "pages" / "my_inbox.py") in scripts) == (username != "sam")
    home = ROLE_PAGES[username][0]
    assert texts(at, "header")[0].startswith(home), texts(at, "header")
    label = auth.ROLE_LABELS[user.role]
    assert f"**{user.display_name}**  \n{label} · @{user.username}" in texts(at.sidebar, "markdown")
    ticket = auth.tickets.redeem(ticket_in(at))
    assert sessions.from_cookie(demo_db, ticket.session_cookie, b"test-secret")[0].id == user.id
    assert sessions.device_hash(ticket.device_token) is not None
    assert attempts(demo_db, username) == [True]


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
    assert signed_in_as(at, demo_db) == maria.id
    assert contact_label(name, phone) in texts(at, "subheader")[0].replace("\\", "")
    assert at.chat_message


def test_repeated_failures_slow_down_this_browser_and_are_audited(demo_db):
    from core import clock

    clock.freeze(clock.utcnow())  # every attempt at the same instant, however slow the machine
    at = visitor()
    for _ in range(auth.SOURCE_FREE_FAILURES):
        sign_in(at, "maria", "guess-again")
        assert texts(at, "error") == [WRONG]
    # The next try comes within a second of the last failure: wait, and no password is checked.
    sign_in(at, "maria", DEMO_PASSWORD)
    [sentence] = texts(at, "error")
    assert sentence == "Too many failed sign-ins from your network: wait 1 second and try again."
    assert SESSION_KEY not in at.session_state
    assert attempts(demo_db, "maria") == [False] * auth.SOURCE_FREE_FAILURES
    reasons = [
        r[0]
        for r in demo_db.fetchall(
            "SELECT json_extract_string(detail, '$.reason') FROM audit_log WHERE action = 'user.sign_in_failed' "
            "ORDER BY id"
        )
    ]
    assert reasons == ["wrong_password"] * auth.SOURCE_FREE_FAILURES + ["throttled_source"]


def test_a_known_browser_skips_the_username_delay(demo_runtime, monkeypatch):
    """An attacker made many guesses at maria's password; her own browser still signs her in."""
    from core import clock

    clock.freeze(clock.utcnow())  # every attempt at the same instant: the delay cannot run out
    db = demo_runtime.db
    maria = demo_user(db, "maria")
    her_browser = sessions.start(db, maria.id, demo_runtime.config.secret_key).device_token
    for i in range(auth.ACCOUNT_FREE_FAILURES):
        with pytest.raises(SignInError):
            auth.sign_in(db, "maria", f"guess-{i}", source=f"203.0.113.{i}")
    monkeypatch.setattr(session, "device_token", lambda: None)
    at = sign_in(visitor(), "maria", DEMO_PASSWORD)
    assert texts(at, "error")[0].startswith("Too many failed sign-ins for this username")
    monkeypatch.setattr(session, "device_token", lambda: her_browser)
    at = sign_in(visitor(), "maria", DEMO_PASSWORD)
    assert not at.error
    assert signed_in_as(at, db) == maria.id


def test_a_disabled_account_cannot_sign_in(demo_db):
    aiko = demo_user(demo_db, "aiko")
    demo_db.write(lambda tx: tx.execute("UPDATE users SET active = FALSE WHERE id = ?", [aiko.id]))
    at = sign_in(visitor(), "aiko", DEMO_PASSWORD)
    assert texts(at, "error") == ["This account is disabled; ask an admin to enable it."]
    assert SESSION_KEY not in at.session_state


# ---- the session -------------------------------------------------------------------------------


def cookie_for(rt, username) -> tuple[int, str]:
    """A live session of ``username`` in another browser: (session id, its cookie)."""
    started = sessions.start(rt.db, demo_user(rt.db, username).id, rt.config.secret_key)
    return started.session_id, started.cookie


def test_sign_out_ends_the_session_and_clears_the_tab(app_as, demo_runtime, monkeypatch):
    demo_db = demo_runtime.db
    at = app_as("admin", "pages/team_inbox.py")
    session_id = at.session_state[SESSION_KEY]
    at.selectbox(key="team.owner").set_value(demo_user(demo_db, "maria").id).run()
    assert at.session_state["team.owner"] != 0
    # The browser still sends its session cookie until the logout request has cleared it.
    _, cookie = cookie_for(demo_runtime, "admin")
    demo_db.write(lambda tx: tx.execute("UPDATE sessions SET token_hash = 'x' WHERE id = ?", [session_id]))
    monkeypatch.setattr(session, "_cookie", lambda name: cookie if name == sessions.COOKIE_NAME else None)

    at.sidebar.button(key="sign_out").click().run()
    assert not at.exception
    assert SESSION_KEY not in at.session_state
    assert demo_db.scalar("SELECT ended_reason FROM sessions WHERE id = ?", [session_id]) == "signed_out"
    assert not [k for k in at.session_state.keys() if k.startswith("team.")]
    assert at.session_state["signed_out"] is True
    assert has_sign_in_form(at)
    assert registered_scripts(at) == {SIGN_IN}
    assert any('fetch("/auth/logout"' in h and "window.location.replace('/')" in h for h in texts(at, "html"))

    at.run()
    assert SESSION_KEY not in at.session_state, "the cookie still in the browser does not sign the tab back in"
    assert has_sign_in_form(at)


def test_sign_out_everywhere_ends_every_session_of_mine_only(app_as, demo_runtime):
    db = demo_runtime.db
    at = app_as("maria")
    _, her_phone = cookie_for(demo_runtime, "maria")
    _, james = cookie_for(demo_runtime, "james")
    at.sidebar.button(key="sign_out_everywhere").click().run()
    assert not at.exception
    assert has_sign_in_form(at)
    maria = demo_user(db, "maria")
    assert db.scalar("SELECT count(*) FROM sessions WHERE user_id = ? AND ended_at IS NULL", [maria.id]) == 0
    assert sessions.from_cookie(db, her_phone, demo_runtime.config.secret_key) is None
    assert sessions.from_cookie(db, james, demo_runtime.config.secret_key) is not None
    assert (
        db.scalar("SELECT count(*) FROM audit_log WHERE action = 'user.sessions_ended' AND object_id = ?", [maria.id])
        == 1
    )


def test_the_session_cookie_restores_the_user_and_a_bad_one_does_not(demo_runtime, monkeypatch):
    db, secret = demo_runtime.db, demo_runtime.config.secret_key
    maria = demo_user(db, "maria")
    ended_id, ended = cookie_for(demo_runtime, "maria")
    sessions.end(db, ended_id)
    _, good = cookie_for(demo_runtime, "maria")
    forged = sessions.cookie_value(int(good.split(".")[0]), "guessed", b"another-secret")
    for cookie, signed_in in (
        (good, True),
        (good[:-1] + ("0" if good[-1] != "0" else "1"), False),
        (forged, False),
        (ended, False),
        (f"{maria.id}.{2_000_000_000}.0123abcd", False),  # the old stateless format, dated in 2033
        ("\u00b2.a.b", False),  # b"\xb2" as Starlette reads a Cookie header (Latin-1): "²".isdigit() is True
        (None, False),
    ):
        monkeypatch.setattr(
            session, "_cookie", lambda name, value=cookie: value if name == sessions.COOKIE_NAME else None
        )
        at = visitor()
        assert not at.exception
        if signed_in:
            assert signed_in_as(at, db) == maria.id
            assert offered(at) == ROLE_PAGES["maria"]
        else:
            assert SESSION_KEY not in at.session_state and has_sign_in_form(at), cookie
    secret  # noqa: B018 (the cookies above were signed with it)


def test_signing_in_rotates_out_the_browsers_old_session(demo_runtime, monkeypatch):
    db = demo_runtime.db
    old_id, old_cookie = cookie_for(demo_runtime, "james")  # someone else used this browser before
    monkeypatch.setattr(session, "_cookie", lambda name: old_cookie if name == sessions.COOKIE_NAME else None)
    monkeypatch.setattr(session, "sessions", sessions)
    at = visitor()
    assert signed_in_as(at, db) == demo_user(db, "james").id
    # The form is not shown to a signed-in tab; a new tab whose cookie is set signs in as maria:
    monkeypatch.setattr(session, "_cookie", lambda name: old_cookie if name == sessions.COOKIE_NAME else None)
    at2 = AppTest.from_file(str(ROOT / "ui.py"), default_timeout=30)
    at2.session_state["signed_out"] = True  # shows the form even though the browser has the cookie
    at2.run()
    sign_in(at2, "maria", DEMO_PASSWORD)
    assert signed_in_as(at2, db) == demo_user(db, "maria").id
    assert at2.session_state[SESSION_KEY] != old_id
    assert db.scalar("SELECT ended_reason FROM sessions WHERE id = ?", [old_id]) == "replaced"


@pytest.mark.parametrize("how", ["disabled", "password_reset", "signed_out_elsewhere", "idle"])
def test_a_session_ended_elsewhere_signs_the_tab_out(app_as, demo_runtime, how):
    from core import clock
    from core.actions import sessions as session_actions
    from core.actions.users import do_reset_password, do_set_active

    db = demo_runtime.db
    maria, admin = demo_user(db, "maria"), demo_user(db, "admin")
    at = app_as("maria")
    assert offered(at) == ROLE_PAGES["maria"]
    assert queries.unread_count(db, maria.id) > 0
    if how == "disabled":
        do_set_active(db, admin, maria.id, False)
    elif how == "password_reset":
        do_reset_password(db, admin, maria.id, "another-long-password")
    elif how == "signed_out_elsewhere":
        session_actions.do_end_all_sessions(db, maria, maria.id)
    else:
        clock.advance(sessions.dt.timedelta(hours=12, minutes=1))
    at.run()
    assert not at.exception
    assert SESSION_KEY not in at.session_state
    assert has_sign_in_form(at)
    assert not at.sidebar.button


def test_a_page_run_checks_the_session_once(app_as, demo_runtime, monkeypatch):
    """ui.py checks the session and hands its answer to the page it runs (issue 17: one check a run)."""
    at = app_as("maria", "pages/my_inbox.py")
    calls = []
    real_check = sessions.check
    monkeypatch.setattr(sessions, "check", lambda *a, **k: calls.append(a[1]) or real_check(*a, **k))
    at.run()
    assert not at.exception and [h.value for h in at.header][-1].startswith("My Inbox")
    assert calls == [at.session_state[SESSION_KEY]]
    assert session.CHECKED_KEY not in at.session_state, "the page took this run's answer"


def test_an_answer_no_page_took_is_not_trusted_on_the_next_run(app_as, demo_runtime):
    """A hand-off left over from an earlier run (a page that stopped first) is dropped: the next run checks."""
    db = demo_runtime.db
    at = app_as("maria", "pages/my_inbox.py")
    at.session_state[session.CHECKED_KEY] = (at.session_state[SESSION_KEY], demo_user(db, "maria"))
    sessions.end(db, at.session_state[SESSION_KEY])
    at.run()
    assert not at.exception
    assert SESSION_KEY not in at.session_state
    assert has_sign_in_form(at)


def test_a_tab_whose_session_ended_cannot_act_before_its_next_run(app_as, demo_runtime):
    """Callbacks run before the page script: ``session.guarded`` checks the session first."""
    db = demo_runtime.db
    maria = demo_user(db, "maria")
    at = app_as("maria", "pages/my_inbox.py")
    sessions.end(db, at.session_state[SESSION_KEY])
    at.sidebar.button(key="sign_out_everywhere").click().run()  # a guarded callback
    assert not at.exception and has_sign_in_form(at)
    assert (
        db.scalar("SELECT count(*) FROM audit_log WHERE action = 'user.sessions_ended' AND object_id = ?", [maria.id])
        == 0
    )


def test_a_supervisor_following_an_inbox_link_lands_on_team_inbox(app_as, demo_db):
    at = app_as("sam")
    for path in ("inbox", "sent"):
        open_path(at, path)
        assert not at.exception and [h.value for h in at.header][-1] == "Team Inbox", path
    maria = app_as("maria")
    assert [h.value for h in open_path(maria, "sent").header][-1] == "Sent Messages"  # agents keep theirs
