"""Sign-in: right, wrong, unknown, lock-out, cookies (tampered, expired, disabled user)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from core import auth, clock
from core.errors import SignInError
from tests.conftest import TEST_PASSWORD

SECRET = b"k" * 32


def test_right_password_signs_in(db, make_user):
    maria = make_user("maria")
    assert auth.sign_in(db, "Maria ", TEST_PASSWORD).id == maria.id  # case and spaces forgiven


def test_wrong_password_and_unknown_user_get_the_same_sentence(db, make_user):
    make_user("maria")
    with pytest.raises(SignInError) as wrong:
        auth.sign_in(db, "maria", "nope")
    with pytest.raises(SignInError) as unknown:
        auth.sign_in(db, "nobody", "nope")
    assert str(wrong.value) == str(unknown.value) == "Wrong username or password."


def test_empty_form_asks_for_both_fields(db):
    with pytest.raises(SignInError, match="Enter your username and password"):
        auth.sign_in(db, "", "")


def test_ten_failures_lock_the_user_for_fifteen_minutes(db, make_user):
    make_user("maria")
    start = dt.datetime(2026, 11, 2, 15, 0)
    clock.freeze(start)
    for _ in range(9):
        with pytest.raises(SignInError, match="Wrong username"):
            auth.sign_in(db, "maria", "bad")
    with pytest.raises(SignInError, match="locked for 15 more minutes"):
        auth.sign_in(db, "maria", "bad")
    # Even the right password is refused while locked, and nothing is recorded.
    clock.freeze(start + dt.timedelta(minutes=5))
    with pytest.raises(SignInError, match="locked for 10 more minutes"):
        auth.sign_in(db, "maria", TEST_PASSWORD)
    clock.freeze(start + dt.timedelta(minutes=15, seconds=1))
    assert auth.sign_in(db, "maria", TEST_PASSWORD).username == "maria"
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action = 'user.locked'") == 1


def test_failures_spread_over_more_than_fifteen_minutes_do_not_lock(db, make_user):
    make_user("maria")
    start = dt.datetime(2026, 11, 2, 15, 0)
    for i in range(12):
        clock.freeze(start + dt.timedelta(minutes=2 * i))
        with pytest.raises(SignInError, match="Wrong username"):
            auth.sign_in(db, "maria", "bad")


def test_a_success_resets_the_failure_count(db, make_user):
    make_user("maria")
    clock.freeze(dt.datetime(2026, 11, 2, 15, 0))
    for _ in range(9):
        with pytest.raises(SignInError):
            auth.sign_in(db, "maria", "bad")
    auth.sign_in(db, "maria", TEST_PASSWORD)
    with pytest.raises(SignInError, match="Wrong username"):
        auth.sign_in(db, "maria", "bad")


def test_disabled_user_cannot_sign_in(db, make_user):
    make_user("gone", active=False)
    with pytest.raises(SignInError, match="disabled"):
        auth.sign_in(db, "gone", TEST_PASSWORD)
    with pytest.raises(SignInError, match="^Wrong username or password"):  # no account is revealed
        auth.sign_in(db, "gone", "not-the-password")


def test_session_cookie_round_trip(db, make_user):
    maria = make_user("maria")
    cookie = auth.make_session_cookie(maria.id, SECRET)
    assert auth.user_from_cookie(db, cookie, SECRET).id == maria.id


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c.replace(c.split(".")[0], "999", 1),  # another user id
        lambda c: c[:-1] + ("0" if c[-1] != "0" else "1"),  # signature changed
        lambda c: c.rsplit(".", 1)[0],  # signature removed
        lambda c: "garbage",
        lambda c: "",
    ],
)
def test_tampered_cookie_is_rejected(db, make_user, tamper):
    maria = make_user("maria")
    cookie = auth.make_session_cookie(maria.id, SECRET)
    assert auth.user_from_cookie(db, tamper(cookie), SECRET) is None


def test_cookie_signed_with_another_key_or_expired_is_rejected(db, make_user):
    maria = make_user("maria")
    assert auth.user_from_cookie(db, auth.make_session_cookie(maria.id, b"other"), SECRET) is None
    old = auth.make_session_cookie(maria.id, SECRET, issued=int(time.time()) - auth.COOKIE_MAX_AGE - 10)
    assert auth.user_from_cookie(db, old, SECRET) is None


def test_cookie_of_a_disabled_user_is_rejected(db, make_user):
    gone = make_user("gone", active=False)
    assert auth.user_from_cookie(db, auth.make_session_cookie(gone.id, SECRET), SECRET) is None


def test_tickets_are_single_use_and_expire():
    book = auth.TicketBook(ttl=0.05)
    ticket = book.issue(7)
    assert book.redeem(ticket) == 7
    assert book.redeem(ticket) is None
    late = book.issue(8)
    time.sleep(0.08)
    assert book.redeem(late) is None
