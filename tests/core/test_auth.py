"""Sign-in: right, wrong, unknown, throttled by source and by username, audited, the ticket."""

from __future__ import annotations

import datetime as dt
import json
import statistics
import threading
import time

import pytest

from core import auth, clock, sessions
from core.errors import SignInError
from tests.conftest import TEST_PASSWORD

SECRET = b"k" * 32
START = dt.datetime(2026, 11, 2, 15, 0)
WRONG = "Wrong username or password."


def failures_audited(db) -> list[tuple]:
    return [
        (r[0], json.loads(r[1])["username"], json.loads(r[1])["source"], json.loads(r[1])["reason"])
        for r in db.fetchall("SELECT object_id, detail FROM audit_log WHERE action = 'user.sign_in_failed' ORDER BY id")
    ]


def attempt(db, username, password, source="203.0.113.9", device=None):
    """The sentence a sign-in ends with ('ok' when it succeeds)."""
    try:
        auth.sign_in(db, username, password, source=source, device_token=device)
    except SignInError as exc:
        return str(exc)
    return "ok"


def test_right_password_signs_in_and_is_audited(db, make_user):
    maria = make_user("maria")
    assert auth.sign_in(db, "Maria ", TEST_PASSWORD, source="203.0.113.9").id == maria.id  # case and spaces forgiven
    row = db.fetchone("SELECT actor_id, object_id, detail FROM audit_log WHERE action = 'user.signed_in'")
    assert row == (maria.id, maria.id, json.dumps({"source": "203.0.113.9"}))


def test_wrong_password_and_unknown_user_get_the_same_sentence_and_are_both_audited(db, make_user):
    maria = make_user("maria")
    assert attempt(db, "maria", "nope") == WRONG
    assert attempt(db, "nobody", "nope") == WRONG
    assert failures_audited(db) == [
        (maria.id, "maria", "203.0.113.9", "wrong_password"),
        (None, "nobody", "203.0.113.9", "unknown_user"),
    ]


def test_empty_form_asks_for_both_fields_and_records_nothing(db):
    assert attempt(db, "", "") == "Enter your username and password."
    assert db.scalar("SELECT count(*) FROM sign_in_attempts") == 0


def test_the_source_is_slowed_down_exponentially(db, make_user):
    make_user("maria")
    clock.freeze(START)
    for _ in range(auth.SOURCE_FREE_FAILURES):
        assert attempt(db, "maria", "bad") == WRONG
    # The next attempt from there waits 1 s after the last failure, then 2 s, then 4 s.
    wait = "Too many failed sign-ins from your network: wait {} and try again."
    assert attempt(db, "maria", TEST_PASSWORD) == wait.format("1 second")
    clock.advance(dt.timedelta(seconds=1))
    assert attempt(db, "nobody", "bad") == WRONG
    assert attempt(db, "maria", "bad") == wait.format("2 seconds")
    clock.advance(dt.timedelta(seconds=2))
    assert attempt(db, "maria", "bad") == WRONG
    assert attempt(db, "maria", "bad") == wait.format("4 seconds")
    # Another address is not slowed down, and the owner signs in from it.
    assert attempt(db, "maria", TEST_PASSWORD, source="198.51.100.4") == "ok"


def test_the_source_delay_is_capped():
    cap = auth.SOURCE_MAX_DELAY
    delays = [auth.throttle_delay(n, 5, cap) for n in (0, 4, 5, 6, 7, 14, 15, 60)]
    seconds = [d.total_seconds() for d in delays]
    assert seconds == [0, 0, 1, 2, 4, 512, 600, 600]


def test_an_unknown_username_is_throttled_exactly_like_a_known_one(db, make_user):
    make_user("maria")
    clock.freeze(START)
    answers = {}
    for username in ("maria", "nobody"):
        sentences = []
        for i in range(auth.ACCOUNT_FREE_FAILURES + 1):
            # A new address each time: only the per-username delay applies.
            sentences.append(attempt(db, username, "bad", source=f"198.51.100.{i}"))
        answers[username] = sentences
    assert answers["maria"] == answers["nobody"]
    assert answers["maria"][-1] == (
        "Too many failed sign-ins for this username: wait 1 second and try again, "
        "or sign in from a browser you have signed in with before."
    )
    reasons = [r[3] for r in failures_audited(db)]
    assert reasons.count("throttled_username") == 2


def test_an_attacker_cannot_keep_the_owner_out_of_a_known_browser(db, make_user):
    admin = make_user("root", "admin")
    clock.freeze(START - dt.timedelta(days=3))
    # The admin signed in from this browser before: it holds a device cookie.
    earlier = sessions.start(db, admin.id, SECRET, device_token=None, source="198.51.100.1")
    device = earlier.device_token
    clock.freeze(START)
    # An attacker hammers the account from many addresses.
    for i in range(40):
        attempt(db, "root", f"guess-{i}", source=f"203.0.113.{i}")
        clock.advance(dt.timedelta(seconds=30))
    assert attempt(db, "root", "guess-again", source="203.0.113.200").startswith("Too many failed sign-ins for this")
    # The right password from another, unknown browser is slowed down like anyone...
    assert attempt(db, "root", TEST_PASSWORD, source="198.51.100.1").startswith("Too many failed sign-ins for this")
    # ... but from the admin's own browser it goes straight in.
    assert attempt(db, "root", TEST_PASSWORD, source="198.51.100.1", device=device) == "ok"
    # A wrong password from that browser is still just wrong.
    assert attempt(db, "root", "nope", source="198.51.100.2", device=device) == WRONG


def test_an_attacker_at_the_owners_address_cannot_keep_the_owner_out_either(db, make_user):
    """Behind one office NAT, one Wi-Fi, or a reverse proxy without PARLEY_TRUST_PROXY, everyone is
    one source: the attacker's guesses slow that address down, but not the owner's own browser."""
    admin = make_user("root", "admin")
    clock.freeze(START - dt.timedelta(days=3))
    device = sessions.start(db, admin.id, SECRET, source="local").device_token  # the admin's browser
    clock.freeze(START)
    # The attacker guesses at the admin's password each time the source delay lets them.
    for i in range(auth.SOURCE_FREE_FAILURES + 10):
        clock.advance(auth.throttle_delay(i, auth.SOURCE_FREE_FAILURES, auth.SOURCE_MAX_DELAY))
        assert attempt(db, "root", f"guess-{i}", source="local") == WRONG
    assert auth.throttle_delay(auth.SOURCE_FREE_FAILURES + 10, auth.SOURCE_FREE_FAILURES, auth.SOURCE_MAX_DELAY) == (
        dt.timedelta(minutes=10)
    )
    clock.advance(dt.timedelta(seconds=5))
    # Anyone else there waits out the delay, even with the right password...
    assert attempt(db, "root", TEST_PASSWORD, source="local") == (
        "Too many failed sign-ins from your network: wait 10 minutes and try again."
    )
    # ... a wrong password from the admin's own browser is still just wrong...
    assert attempt(db, "root", "nope", source="local", device=device) == WRONG
    # ... and the right one signs the admin in.
    assert attempt(db, "root", TEST_PASSWORD, source="local", device=device) == "ok"
    assert [r[3] for r in failures_audited(db)][-2:] == ["throttled_source", "wrong_password"]


def test_guesses_from_a_known_browser_are_slowed_by_that_browsers_own_failures(db, make_user):
    """A stolen laptop holds the owner's device cookie: it skips the delays others' failures
    cause, but its own wrong passwords slow it down like anyone's."""
    admin = make_user("root", "admin")
    clock.freeze(START - dt.timedelta(days=3))
    device = sessions.start(db, admin.id, SECRET, source="198.51.100.1").device_token
    clock.freeze(START)
    for i in range(auth.DEVICE_FREE_FAILURES):
        assert attempt(db, "root", f"guess-{i}", source="198.51.100.1", device=device) == WRONG
    assert attempt(db, "root", "guess-again", source="198.51.100.1", device=device) == (
        "Too many failed sign-ins from this browser: wait 1 second and try again."
    )
    clock.advance(dt.timedelta(seconds=1))
    assert attempt(db, "root", "guess-again", source="198.51.100.1", device=device) == WRONG
    assert attempt(db, "root", TEST_PASSWORD, source="198.51.100.1", device=device) == (
        "Too many failed sign-ins from this browser: wait 2 seconds and try again."
    )
    clock.advance(dt.timedelta(seconds=2))
    assert attempt(db, "root", TEST_PASSWORD, source="198.51.100.1", device=device) == "ok"  # the owner, patient
    assert [r[3] for r in failures_audited(db)].count("throttled_device") == 2
    # A success starts the browser's count again.
    assert attempt(db, "root", "typo", source="198.51.100.1", device=device) == WRONG


def test_a_device_token_of_another_user_does_not_help(db, make_user):
    make_user("root", "admin")
    maria = make_user("maria")
    clock.freeze(START)
    marias_device = sessions.start(db, maria.id, SECRET).device_token
    for i in range(auth.ACCOUNT_FREE_FAILURES):
        attempt(db, "root", "bad", source=f"203.0.113.{i}")
    assert attempt(db, "root", TEST_PASSWORD, device=marias_device, source="198.51.100.7").startswith(
        "Too many failed sign-ins for this"
    )


def test_a_success_resets_the_username_count(db, make_user):
    make_user("maria")
    clock.freeze(START)
    for i in range(auth.ACCOUNT_FREE_FAILURES - 1):
        attempt(db, "maria", "bad", source=f"203.0.113.{i}")
    assert attempt(db, "maria", TEST_PASSWORD, source="198.51.100.1") == "ok"
    for i in range(auth.ACCOUNT_FREE_FAILURES - 1):
        assert attempt(db, "maria", "bad", source=f"192.0.2.{i}") == WRONG


def test_old_failures_are_forgotten(db, make_user):
    make_user("maria")
    clock.freeze(START)
    for i in range(auth.ACCOUNT_FREE_FAILURES + 3):
        attempt(db, "maria", "bad", source=f"203.0.113.{i}")
    clock.advance(auth.THROTTLE_WINDOW + dt.timedelta(seconds=1))
    assert attempt(db, "maria", TEST_PASSWORD, source="203.0.113.1") == "ok"


def test_attempts_sent_together_cannot_slip_past_the_delay(db, make_user):
    """Each attempt is recorded (pending) before its password is checked, so parallel guesses count."""
    make_user("maria")
    clock.freeze(START)  # all at the same instant: none may wait out a delay
    answers: list[str] = []
    go = threading.Barrier(12)

    def guess(i: int) -> None:
        go.wait()
        answers.append(attempt(db, "maria", f"guess-{i}", source="203.0.113.50"))

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers.count(WRONG) == auth.SOURCE_FREE_FAILURES
    assert db.scalar("SELECT count(*) FROM sign_in_attempts WHERE source = '203.0.113.50'") == 5


def test_disabled_user_is_told_only_with_the_right_password(db, make_user):
    make_user("gone", active=False)
    assert attempt(db, "gone", TEST_PASSWORD) == "This account is disabled; ask an admin to enable it."
    assert attempt(db, "gone", "not-the-password") == WRONG  # no account is revealed
    assert [r[3] for r in failures_audited(db)] == ["disabled", "wrong_password"]


def test_unknown_and_known_usernames_do_the_same_work_in_the_same_time(db, make_user, monkeypatch):
    make_user("maria")
    checked: list[str] = []
    real_verify = auth.verify_password

    def counting_verify(password, stored):
        checked.append("dummy" if stored == auth._DUMMY_HASH else "user")
        return real_verify(password, stored)

    monkeypatch.setattr(auth, "verify_password", counting_verify)

    def timed(username: str) -> float:
        started = time.perf_counter()
        attempt(db, username, "wrong-password", source=f"x-{username}-{time.perf_counter_ns()}")
        return time.perf_counter() - started

    timed("maria"), timed("nobody")
    assert checked == ["user", "dummy"], "one password hash is checked either way"
    assert db.fetchall("SELECT username, ok FROM sign_in_attempts ORDER BY id") == [
        ("maria", False),
        ("nobody", False),
    ]
    known, unknown = [], []
    for _ in range(7):  # interleaved, so load on the machine falls on both alike
        known.append(timed("maria"))
        unknown.append(timed("nobody"))
    ratio = statistics.median(unknown) / statistics.median(known)
    # Skipping the hash for unknown names would make them ~20 times faster.
    assert 0.5 < ratio < 2, (statistics.median(known), statistics.median(unknown))


@pytest.mark.parametrize(
    "ip, headers, trust, expected",
    [
        (None, {}, False, "local"),
        ("127.0.0.1", {}, False, "local"),
        ("203.0.113.9", {}, False, "203.0.113.9"),
        ("203.0.113.9", {"X-Forwarded-For": "198.51.100.1"}, False, "203.0.113.9"),  # anyone can send it
        (None, {"X-Forwarded-For": "198.51.100.1, 192.0.2.7"}, True, "192.0.2.7"),  # what our proxy saw
        ("2001:db8::1", {}, False, "2001:db8::1"),
        ("::ffff:127.0.0.1", {}, False, "local"),  # a dual-stack server's view of this machine
        ("::ffff:203.0.113.9", {}, False, "203.0.113.9"),
    ],
)
def test_source_address(ip, headers, trust, expected):
    assert auth.source_address(ip, headers, trust_proxy=trust) == expected


def test_tickets_are_single_use_and_expire():
    book = auth.TicketBook(ttl=0.05)
    ticket = auth.Ticket("1.a.b", "device")
    token = book.issue(ticket)
    assert book.redeem(token) == ticket
    assert book.redeem(token) is None
    late = book.issue(ticket)
    clock_start = time.monotonic()
    while time.monotonic() - clock_start <= 0.05:  # until the ticket's life has passed
        time.sleep(0.01)
    assert book.redeem(late) is None
