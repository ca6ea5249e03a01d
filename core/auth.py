"""Local sign-in: scrypt password hashes, throttled attempts, the one-time cookie ticket.

The sign-in form checks the password here (``sign_in``), then starts a
session (``core.sessions``) and receives a one-time ticket; the browser
trades the ticket at ``/auth/session`` (``routes.py``) for the HttpOnly
session cookie, so no script in the page ever sees the cookie's value.
Every attempt, refused or not, is written to the audit log (``core.audit``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from core import audit, clock, events
from core.db import Database, Transaction
from core.errors import SignInError, ValidationError

ROLES = ("standard", "admin", "supervisor")
ROLE_LABELS = {"standard": "Agent", "admin": "Admin", "supervisor": "Supervisor"}

MIN_PASSWORD_LENGTH = 8

# scrypt cost: n=2**14 keeps a sign-in near 50 ms on the 2-core machine.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    role: str
    team_id: int | None
    timezone: str
    active: bool = True

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"

    @property
    def can_send(self) -> bool:
        return self.role in ("standard", "admin")

    @property
    def sees_team(self) -> bool:
        return self.role in ("admin", "supervisor")


USER_COLUMNS = "id, username, display_name, role, team_id, timezone, active"


def user_from_row(row: tuple) -> User:
    return User(*row)


def get_user(db: Database, user_id: int) -> User | None:
    row = db.fetchone(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", [user_id])
    return user_from_row(row) if row else None


# ---- passwords -------------------------------------------------------------------


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.")


# ---- sign-in ---------------------------------------------------------------------

# Throttling (slow down, never lock out): failures within THROTTLE_WINDOW count.
# From one source (address), the first SOURCE_FREE_FAILURES are free, then each
# next attempt waits twice as long as the one before, up to SOURCE_MAX_DELAY.
# For one username (existing or not: the answers must not tell), the first
# ACCOUNT_FREE_FAILURES since its last successful sign-in are free, then the same
# doubling up to ACCOUNT_MAX_DELAY. A browser that has signed in as that user
# before skips both delays (its password is still checked), so an attacker
# guessing the admin's password cannot keep the admin out: not from elsewhere
# (the account delay), and not from the admin's own address either (the source
# delay), which behind an office NAT, one Wi-Fi, or a reverse proxy without
# PARLEY_TRUST_PROXY is everyone's. Its own failures for that username still
# count (a stolen laptop holds the device cookie): after DEVICE_FREE_FAILURES,
# the same doubling up to ACCOUNT_MAX_DELAY.
THROTTLE_WINDOW = dt.timedelta(hours=1)
SOURCE_FREE_FAILURES = 5
SOURCE_MAX_DELAY = dt.timedelta(minutes=10)
ACCOUNT_FREE_FAILURES = 10
ACCOUNT_MAX_DELAY = dt.timedelta(minutes=15)
DEVICE_FREE_FAILURES = 5
ATTEMPTS_KEPT = dt.timedelta(days=1)

WRONG = "Wrong username or password."


@dataclass(frozen=True)
class _Attempt:
    id: int | None  # None: refused before any password was checked
    refusal: str | None
    user_row: tuple | None


def throttle_delay(failures: int, free: int, cap: dt.timedelta) -> dt.timedelta:
    """How long after the last failure the next attempt must wait: 0, then 1 s, 2 s, 4 s, ... up to ``cap``."""
    if failures < free:
        return dt.timedelta(0)
    return min(cap, dt.timedelta(seconds=2 ** min(failures - free, 20)))


def _wait_words(remaining: dt.timedelta) -> str:
    seconds = max(1, int(-(-remaining.total_seconds() // 1)))
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def source_address(ip: str | None, headers: Any = None, *, trust_proxy: bool = False) -> str:
    """Where a sign-in comes from, for throttling and the audit log.

    ``ip``: the connection's peer (None or a loopback address for this machine).
    Behind a reverse proxy every request comes from the proxy, so with
    ``trust_proxy`` (``PARLEY_TRUST_PROXY=1``) the address the nearest proxy
    saw — the last ``X-Forwarded-For`` entry — is used instead; without it that
    header is ignored, since anyone can send it.
    """
    if trust_proxy and headers is not None:
        forwarded = headers.get("x-forwarded-for") or headers.get("X-Forwarded-For")
        if forwarded:
            last = forwarded.split(",")[-1].strip()
            if last:
                return last[:64]
    if not ip:
        return "local"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return str(ip)[:64]
    address = getattr(address, "ipv4_mapped", None) or address  # a dual-stack server's view of IPv4
    return "local" if address.is_loopback else str(address)


def sign_in(
    db: Database, username: str, password: str, *, source: str = "local", device_token: str | None = None
) -> User:
    """Return the user, or raise SignInError with one sentence.

    Unknown usernames and wrong passwords get the same sentence and take the
    same time (a password hash is checked either way), and both are throttled
    and audited alike, so nothing here tells which usernames exist. A disabled
    account says so only to someone who typed its password.
    """
    username = (username or "").strip().lower()[:64]
    if not username or not password:
        raise SignInError("Enter your username and password.")
    source = (source or "unknown")[:64]
    attempt = db.write(_begin_attempt, username, source, device_token, clock.utcnow())
    if attempt.refusal is not None:
        raise SignInError(attempt.refusal)
    row = attempt.user_row
    # Spend the same time on an unknown username as on a real check.
    ok = verify_password(password, row[7] if row else _DUMMY_HASH)
    user = user_from_row(row[:7]) if row else None
    if user is None:
        outcome = "unknown_user"
    elif not ok:
        outcome = "wrong_password"
    elif not user.active:
        outcome = "disabled"
    else:
        outcome = "ok"
    db.write(_finish_attempt, attempt.id, username, source, user.id if user else None, outcome)
    if outcome == "ok":
        return user
    if outcome == "disabled":
        raise SignInError("This account is disabled; ask an admin to enable it.")
    raise SignInError(WRONG)


def _begin_attempt(tx: Transaction, username: str, source: str, device_token: str | None, now: dt.datetime) -> _Attempt:
    """Refuse a throttled attempt (audited), or record it as pending before the password is checked.

    Counted as a failure while pending, so attempts sent in parallel cannot
    slip past the delay together.
    """
    from core import sessions

    tx.execute("DELETE FROM sign_in_attempts WHERE attempted_at < ?", [now - ATTEMPTS_KEPT])
    since = now - THROTTLE_WINDOW
    src_failures, src_last = tx.fetchone(
        "SELECT count(*), max(attempted_at) FROM sign_in_attempts "
        "WHERE source = ? AND ok IS NOT TRUE AND attempted_at >= ?",
        [source, since],
    )
    acct_failures, acct_last = tx.fetchone(
        """
        SELECT count(*), max(attempted_at) FROM sign_in_attempts
        WHERE username = ? AND ok IS NOT TRUE AND attempted_at >= ?
          AND id > coalesce((SELECT max(id) FROM sign_in_attempts WHERE username = ? AND ok), 0)
        """,
        [username, since, username],
    )
    row = tx.fetchone(f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE lower(username) = ?", [username])
    known = sessions.is_known_device(tx, row[0] if row else None, device_token)
    device = sessions.device_hash(device_token)
    device_wait = None
    if known:  # its own failures for this username since its last success here
        dev_failures, dev_last = tx.fetchone(
            """
            SELECT count(*), max(attempted_at) FROM sign_in_attempts
            WHERE username = ? AND device_hash = ? AND ok IS NOT TRUE AND attempted_at >= ?
              AND id > coalesce((SELECT max(id) FROM sign_in_attempts WHERE username = ? AND device_hash = ? AND ok), 0)
            """,
            [username, device, since, username, device],
        )
        if dev_last:
            device_wait = dev_last + throttle_delay(dev_failures, DEVICE_FREE_FAILURES, ACCOUNT_MAX_DELAY) - now
    refusal = reason = None
    source_wait = (
        (src_last + throttle_delay(src_failures, SOURCE_FREE_FAILURES, SOURCE_MAX_DELAY) - now) if src_last else None
    )
    account_wait = (
        (acct_last + throttle_delay(acct_failures, ACCOUNT_FREE_FAILURES, ACCOUNT_MAX_DELAY) - now)
        if acct_last
        else None
    )
    if device_wait is not None and device_wait > dt.timedelta(0):
        reason = "throttled_device"
        refusal = f"Too many failed sign-ins from this browser: wait {_wait_words(device_wait)} and try again."
    elif source_wait is not None and source_wait > dt.timedelta(0) and not known:
        reason = "throttled_source"
        refusal = f"Too many failed sign-ins from your network: wait {_wait_words(source_wait)} and try again."
    elif account_wait is not None and account_wait > dt.timedelta(0) and not known:
        reason = "throttled_username"
        refusal = (
            f"Too many failed sign-ins for this username: wait {_wait_words(account_wait)} and try again, "
            "or sign in from a browser you have signed in with before."
        )
    if refusal is not None:
        audit.record(
            tx,
            None,
            "user.sign_in_failed",
            "user",
            row[0] if row else None,
            username=username,
            source=source,
            reason=reason,
        )
        return _Attempt(None, refusal, None)
    attempt_id = tx.next_id("seq_sign_in_attempts")
    tx.execute(
        "INSERT INTO sign_in_attempts (id, attempted_at, username, source, user_id, ok, device_hash) "
        "VALUES (?, ?, ?, ?, ?, NULL, ?)",
        [attempt_id, now, username, source, row[0] if row else None, device],
    )
    return _Attempt(attempt_id, None, row)


def _finish_attempt(
    tx: Transaction, attempt_id: int, username: str, source: str, user_id: int | None, outcome: str
) -> None:
    ok = outcome == "ok"
    tx.execute("UPDATE sign_in_attempts SET ok = ? WHERE id = ?", [ok, attempt_id])
    if ok:
        audit.record(tx, user_id, "user.signed_in", "user", user_id, source=source)
        tx.publish(events.USER_SIGNED_IN, user_id=user_id)
    else:
        audit.record(tx, None, "user.sign_in_failed", "user", user_id, username=username, source=source, reason=outcome)


_DUMMY_HASH = hash_password(secrets.token_hex(8))


# ---- the sign-in ticket ------------------------------------------------------------


@dataclass(frozen=True)
class Ticket:
    """What the browser's one-time ticket stands for: the cookies the route sets."""

    session_cookie: str
    device_token: str


class TicketBook:
    """One-time, short-lived tickets the browser trades for a session cookie."""

    def __init__(self, ttl: float = 60.0) -> None:
        self._ttl = ttl
        self._tickets: dict[str, tuple[Ticket, float]] = {}
        self._lock = threading.Lock()

    def issue(self, ticket: Ticket) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._tickets = {k: v for k, v in self._tickets.items() if v[1] > now}
            self._tickets[token] = (ticket, now + self._ttl)
        return token

    def redeem(self, token: str) -> Ticket | None:
        with self._lock:
            entry = self._tickets.pop(token, None)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]


tickets = TicketBook()
