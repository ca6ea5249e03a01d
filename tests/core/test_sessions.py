"""Sessions in the database: cookies, ending, rotation, idle expiry, "last seen", admin functions."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest

from core import clock, events, sessions, settings
from core.actions import sessions as session_actions
from core.actions.users import do_reset_password, do_set_active
from core.errors import NotFound, PermissionDenied, ValidationError

KEY = b"k" * 32
START = dt.datetime(2026, 11, 2, 15, 0)


@pytest.fixture(autouse=True)
def _frozen():
    clock.freeze(START)


def user_of(db, cookie, **kw):
    found = sessions.from_cookie(db, cookie, KEY, **kw)
    return found[0].id if found else None


def row(db, session_id):
    return db.fetchone(
        "SELECT created_at, last_seen_at, ended_at, ended_reason, user_agent, source FROM sessions WHERE id = ?",
        [session_id],
    )


def test_a_session_cookie_signs_its_user_in(db, make_user):
    maria = make_user("maria")
    started = sessions.start(db, maria.id, KEY, user_agent="Firefox/140", source="203.0.113.9")
    assert user_of(db, started.cookie) == maria.id
    assert row(db, started.session_id) == (START, START, None, None, "Firefox/140", "203.0.113.9")
    assert started.cookie.startswith(f"{started.session_id}.")
    secret = started.cookie.split(".")[1]
    stored = db.scalar("SELECT token_hash FROM sessions WHERE id = ?", [started.session_id])
    assert secret not in stored, "the database keeps only a hash of the cookie's secret"


def _resign(session_id, token, key=KEY):
    sig = hmac.new(key, b"parley-session-v2." + f"{session_id}.{token}".encode(), hashlib.sha256).hexdigest()
    return f"{session_id}.{token}.{sig}"


def _old_format(user_id, issued, key=KEY):
    """A cookie of the stateless format before sessions were rows (user id, issue time, HMAC of both),
    signed as its code signed it."""
    sig = hmac.new(key, f"{user_id}.{issued}".encode(), hashlib.sha256).hexdigest()
    return f"{user_id}.{issued}.{sig}"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c.replace(c.split(".")[0], "999", 1),  # another session's id
        lambda c: c[:-1] + ("0" if c[-1] != "0" else "1"),  # signature changed
        lambda c: c.rsplit(".", 1)[0],  # signature removed
        lambda c: _resign(c.split(".")[0], c.split(".")[1], b"another-key"),  # signed with another key
        lambda c: _resign(c.split(".")[0], "guessed-secret"),  # right key (leaked), wrong secret
        lambda c: _old_format(c.split(".")[0], int(START.timestamp()) + 86400),  # the old format, right key
        lambda c: "garbage",
        lambda c: "",
        lambda c: c + "x" * 300,
    ],
)
def test_a_tampered_cookie_is_refused(db, make_user, tamper):
    maria = make_user("maria")
    cookie = sessions.start(db, maria.id, KEY).cookie
    assert user_of(db, tamper(cookie)) is None
    assert user_of(db, cookie) == maria.id


def test_the_old_stateless_format_signed_with_the_right_key_is_no_cookie_of_ours(db, make_user):
    maria = make_user("maria")
    started = sessions.start(db, maria.id, KEY)
    assert started.session_id == maria.id  # so the old cookie names a session that exists
    old = _old_format(maria.id, int(START.timestamp()) + 86400)  # dated tomorrow, as its code wrote it
    assert sessions.parse_cookie(old, KEY) is None  # the session format's own HMAC context refuses it
    assert user_of(db, old) is None
    assert user_of(db, started.cookie) == maria.id


@pytest.mark.parametrize(
    "value",
    [
        "\u00b2.a.b",  # b"\xb2" as Starlette reads a Cookie header (Latin-1): "²".isdigit() is True
        "\u00b9\u00b2.x.y",
        "1\u00b3.a.b",
    ],
)
def test_a_cookie_id_of_superscript_digits_is_refused_not_raised(db, value):
    assert sessions.parse_cookie(value, KEY) is None
    assert sessions.from_cookie(db, value, KEY) is None
    assert sessions.end_cookie(db, value, KEY) is False


def test_a_session_id_is_ascii_digits_only(db, make_user):
    maria = make_user("maria")
    cookie = sessions.start(db, maria.id, KEY).cookie
    session_id, token, signature = cookie.split(".")
    assert session_id == "1"
    # The same id in Arabic-Indic digits, which int() reads as 1, with the genuine secret and signature.
    assert sessions.parse_cookie(f"\u0661.{token}.{signature}", KEY) is None
    assert sessions.parse_cookie(cookie, KEY) == (1, token)


def test_a_session_started_in_the_future_is_refused(db, make_user):
    maria = make_user("maria")
    started = sessions.start(db, maria.id, KEY)
    db.write(
        lambda tx: tx.execute(
            "UPDATE sessions SET created_at = ?, last_seen_at = ? WHERE id = ?",
            [START + dt.timedelta(days=1), START + dt.timedelta(days=1), started.session_id],
        )
    )
    assert user_of(db, started.cookie) is None


def test_sign_out_ends_the_session_and_a_copied_cookie_with_it(db, make_user):
    maria = make_user("maria")
    started = sessions.start(db, maria.id, KEY)
    copy = str(started.cookie)
    assert sessions.end_cookie(db, started.cookie, KEY) is True
    assert user_of(db, copy) is None
    assert row(db, started.session_id)[2:4] == (START, "signed_out")
    assert sessions.end_cookie(db, copy, KEY) is False  # already ended


def test_a_forged_cookie_cannot_end_someone_elses_session(db, make_user):
    maria = make_user("maria")
    started = sessions.start(db, maria.id, KEY)
    assert sessions.end_cookie(db, _resign(started.session_id, "guessed", b"wrong"), KEY) is False
    assert sessions.end_cookie(db, _resign(started.session_id, "guessed"), KEY) is False
    assert user_of(db, started.cookie) == maria.id


def test_signing_in_again_rotates_the_session(db, make_user):
    maria = make_user("maria")
    first = sessions.start(db, maria.id, KEY)
    second = sessions.start(db, maria.id, KEY, device_token=first.device_token, replaces=[first.session_id])
    assert second.session_id != first.session_id
    assert second.cookie.split(".")[1] != first.cookie.split(".")[1]
    assert second.device_token == first.device_token, "the browser keeps its device cookie"
    assert user_of(db, first.cookie) is None
    assert row(db, first.session_id)[3] == "replaced"
    assert user_of(db, second.cookie) == maria.id


def test_sessions_of_other_browsers_survive_a_sign_in(db, make_user):
    maria = make_user("maria")
    laptop = sessions.start(db, maria.id, KEY)
    sessions.start(db, maria.id, KEY)  # her phone
    assert user_of(db, laptop.cookie) == maria.id


def test_idle_sessions_expire_after_twelve_hours_by_default(db, make_user):
    maria = make_user("maria")
    started = sessions.start(db, maria.id, KEY)
    clock.advance(dt.timedelta(hours=11, minutes=59))
    assert user_of(db, started.cookie) == maria.id  # a page run: last seen now
    clock.advance(dt.timedelta(hours=11, minutes=59))
    assert user_of(db, started.cookie) == maria.id
    clock.advance(dt.timedelta(hours=12, minutes=1))
    assert user_of(db, started.cookie) is None
    assert row(db, started.session_id)[3] == "expired"


def test_the_idle_limit_is_a_workspace_setting(db, make_user):
    maria = make_user("maria")
    db.write(lambda tx: settings.put(tx, sessions.IDLE_SETTING, 1))
    started = sessions.start(db, maria.id, KEY)
    clock.advance(dt.timedelta(minutes=59))
    assert user_of(db, started.cookie) == maria.id
    clock.advance(dt.timedelta(minutes=61))
    assert user_of(db, started.cookie) is None


def test_a_check_sees_at_once_what_changed_since_the_last_one(db, make_user):
    """The check keeps the users and the idle limit in memory until a write changes them: a role
    changed, an account disabled (even without its sessions ended), a name edited, a shorter idle
    limit, each shows at the very next check."""
    maria = make_user("maria")
    started = sessions.start(db, maria.id, KEY)
    assert sessions.check(db, started.session_id, touch=False).role == "standard"
    db.write(
        lambda tx: tx.execute("UPDATE users SET role = 'admin', display_name = 'María L.' WHERE id = ?", [maria.id])
    )
    user = sessions.check(db, started.session_id, touch=False)
    assert (user.role, user.display_name) == ("admin", "María L.")
    clock.advance(dt.timedelta(hours=2))
    assert sessions.check(db, started.session_id, touch=False).id == maria.id
    db.write(lambda tx: settings.put(tx, sessions.IDLE_SETTING, 1))
    assert sessions.check(db, started.session_id, touch=False) is None
    assert row(db, started.session_id)[3] == "expired"
    james = make_user("james")  # added after the users were read: his session is checked too
    other = sessions.start(db, james.id, KEY)
    assert sessions.check(db, other.session_id, touch=False).username == "james"
    db.write(lambda tx: tx.execute("UPDATE users SET active = FALSE WHERE id = ?", [james.id]))
    assert sessions.check(db, other.session_id, touch=False) is None
    assert row(db, other.session_id)[2] is None  # not ended: refused because the account is disabled


def test_looking_without_a_page_run_does_not_keep_a_session_alive(db, make_user):
    """The notification stream and live fragments check with touch=False: an open tab alone is idle."""
    maria = make_user("maria")
    started = sessions.start(db, maria.id, KEY)
    for _ in range(12):
        clock.advance(dt.timedelta(hours=1))
        assert user_of(db, started.cookie, touch=False) == maria.id
    clock.advance(dt.timedelta(minutes=1))
    assert user_of(db, started.cookie, touch=False) is None


def test_last_seen_is_written_at_most_once_a_minute(db, make_user):
    maria = make_user("maria")
    started = sessions.start(db, maria.id, KEY)
    for seconds in (10, 20, 59):
        clock.freeze(START + dt.timedelta(seconds=seconds))
        assert user_of(db, started.cookie) == maria.id
        assert row(db, started.session_id)[1] == START
    clock.freeze(START + dt.timedelta(seconds=61))
    assert user_of(db, started.cookie) == maria.id
    assert row(db, started.session_id)[1] == START + dt.timedelta(seconds=61)


def test_a_session_lives_fourteen_days_at_most(db, make_user):
    maria = make_user("maria")
    started = sessions.start(db, maria.id, KEY)
    for _ in range(14 * 4):  # a page run every 6 hours, day and night
        clock.advance(dt.timedelta(hours=6))
        assert user_of(db, started.cookie) == maria.id
    clock.advance(dt.timedelta(hours=6))
    assert user_of(db, started.cookie) is None
    assert row(db, started.session_id)[3] == "expired"


def test_a_disabled_user_has_no_session(db, make_user):
    gone = make_user("gone", active=False)
    started = sessions.start(db, gone.id, KEY)
    assert user_of(db, started.cookie) is None


# ---- ending them all --------------------------------------------------------------------------


def test_a_password_reset_ends_every_session_of_that_user(db, make_user):
    admin, maria, james = make_user("root", "admin"), make_user("maria"), make_user("james")
    cookies = [sessions.start(db, maria.id, KEY).cookie for _ in range(3)]
    other = sessions.start(db, james.id, KEY).cookie
    assert do_reset_password(db, admin, maria.id, "a-brand-new-password") == 3
    assert [user_of(db, c) for c in cookies] == [None, None, None]
    assert user_of(db, other) == james.id
    assert db.fetchall("SELECT DISTINCT ended_reason FROM sessions WHERE user_id = ?", [maria.id]) == [
        ("password_reset",)
    ]
    audit = db.fetchall("SELECT actor_id, action, object_id FROM audit_log WHERE action = 'user.password_reset'")
    assert audit == [(admin.id, "user.password_reset", maria.id)]
    from core import auth

    assert auth.sign_in(db, "maria", "a-brand-new-password").id == maria.id


def test_only_admins_reset_passwords_and_the_new_one_must_be_long_enough(db, make_user):
    admin, maria = make_user("root", "admin"), make_user("maria")
    with pytest.raises(PermissionDenied, match="Only an admin can reset passwords"):
        do_reset_password(db, maria, admin.id, "a-brand-new-password")
    with pytest.raises(ValidationError, match="at least 8 characters"):
        do_reset_password(db, admin, maria.id, "short")


def test_disabling_a_user_ends_their_sessions(db, make_user):
    admin, maria = make_user("root", "admin"), make_user("maria")
    cookie = sessions.start(db, maria.id, KEY).cookie
    heard = []
    db.subscribe(events.SESSIONS_ENDED, heard.append)
    assert do_set_active(db, admin, maria.id, False) is True
    assert db.scalar("SELECT ended_reason FROM sessions WHERE user_id = ?", [maria.id]) == "user_disabled"
    assert [(e.payload["user_id"], e.payload["reason"]) for e in heard] == [(maria.id, "user_disabled")]
    # Enabled again, the old cookie stays dead: she signs in anew.
    assert do_set_active(db, admin, maria.id, True) is True
    assert user_of(db, cookie) is None
    actions = [r[0] for r in db.fetchall("SELECT action FROM audit_log WHERE object_id = ? ORDER BY id", [maria.id])]
    assert actions == ["user.disabled", "user.enabled"]


def test_no_one_disables_themselves_so_an_admin_always_remains(db, make_user):
    admin = make_user("root", "admin")
    with pytest.raises(ValidationError, match="your own account"):
        do_set_active(db, admin, admin.id, False)
    other = make_user("second", "admin")
    do_set_active(db, other, admin.id, False)
    with pytest.raises(ValidationError, match="your own account"):
        do_set_active(db, other, other.id, False)
    # The admin disabled a moment ago still has the page open: refused inside the write.
    with pytest.raises(PermissionDenied):
        do_set_active(db, admin, other.id, False)
    assert db.fetchall("SELECT username FROM users WHERE role = 'admin' AND active") == [("second",)]


def test_an_admin_who_lost_the_role_meanwhile_cannot_disable_anyone(db, make_user):
    admin, maria = make_user("root", "admin"), make_user("maria")
    make_user("second", "admin")
    db.write(lambda tx: tx.execute("UPDATE users SET role = 'standard' WHERE id = ?", [admin.id]))
    with pytest.raises(PermissionDenied):
        do_set_active(db, admin, maria.id, False)  # ``admin`` is the stale object the page held
    assert db.scalar("SELECT active FROM users WHERE id = ?", [maria.id]) is True


# ---- what an admin page uses ------------------------------------------------------------------------


def test_everyone_lists_their_own_live_sessions(db, make_user):
    maria = make_user("maria")
    laptop = sessions.start(db, maria.id, KEY, user_agent="Firefox", source="203.0.113.9")
    clock.advance(dt.timedelta(minutes=5))
    phone = sessions.start(db, maria.id, KEY, user_agent="Safari", source="198.51.100.2")
    sessions.end(db, sessions.start(db, maria.id, KEY).session_id)  # ended: not listed
    listed = session_actions.list_sessions(db, maria, maria.id)
    assert [(s.id, s.user_agent, s.source) for s in listed] == [
        (phone.session_id, "Safari", "198.51.100.2"),
        (laptop.session_id, "Firefox", "203.0.113.9"),
    ]


def test_agents_cannot_see_or_end_anyone_elses_sessions(db, make_user):
    maria, james = make_user("maria"), make_user("james")
    theirs = sessions.start(db, james.id, KEY)
    with pytest.raises(PermissionDenied, match="Only an admin"):
        session_actions.list_sessions(db, maria, james.id)
    with pytest.raises(PermissionDenied, match="Only an admin"):
        session_actions.do_end_session(db, maria, theirs.session_id)
    with pytest.raises(PermissionDenied, match="Only an admin"):
        session_actions.do_end_all_sessions(db, maria, james.id)
    assert user_of(db, theirs.cookie) == james.id


def test_an_admin_ends_one_session_and_it_is_audited(db, make_user):
    admin, maria = make_user("root", "admin"), make_user("maria")
    lost_phone = sessions.start(db, maria.id, KEY)
    laptop = sessions.start(db, maria.id, KEY)
    assert [s.id for s in session_actions.list_sessions(db, admin, maria.id)] == [
        laptop.session_id,
        lost_phone.session_id,
    ]
    assert session_actions.do_end_session(db, admin, lost_phone.session_id) is True
    assert session_actions.do_end_session(db, admin, lost_phone.session_id) is False
    assert user_of(db, lost_phone.cookie) is None and user_of(db, laptop.cookie) == maria.id
    audit = db.fetchall("SELECT actor_id, action, object_id, detail FROM audit_log WHERE action LIKE 'user.session%'")
    assert audit == [
        (
            admin.id,
            "user.session_ended",
            maria.id,
            json.dumps({"session_id": lost_phone.session_id, "reason": "ended_by_admin"}),
        )
    ]
    with pytest.raises(NotFound):
        session_actions.do_end_session(db, admin, 987654)


def test_sign_out_everywhere_ends_all_of_ones_own_sessions(db, make_user):
    maria, james = make_user("maria"), make_user("james")
    cookies = [sessions.start(db, maria.id, KEY).cookie for _ in range(2)]
    other = sessions.start(db, james.id, KEY).cookie
    assert session_actions.do_end_all_sessions(db, maria, maria.id) == 2
    assert [user_of(db, c) for c in cookies] == [None, None]
    assert user_of(db, other) == james.id
    assert db.fetchall("SELECT actor_id, action, object_id, detail FROM audit_log") == [
        (maria.id, "user.sessions_ended", maria.id, json.dumps({"sessions": 2, "reason": "signed_out_everywhere"}))
    ]


@pytest.mark.parametrize(
    "user_agent, label",
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "Edge on Windows",
        ),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0", "Firefox on macOS"),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari on iPhone",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/156.0.0.0 Safari/537.36",
            "Headless Chrome on Linux",
        ),
        ("curl/8.5.0", "curl/8.5.0"),
        ("Safari on an iPhone", "Safari on an iPhone"),
        (None, "Unknown browser"),
    ],
)
def test_a_sessions_browser_is_named_as_people_know_it(user_agent, label):
    assert sessions.browser_label(user_agent) == label
