"""Local sign-in: scrypt password hashes, lock-out, signed session cookies.

The cookie is set by an HTTP route (``routes.py``), not by the page script:
the sign-in form verifies the password here, receives a one-time ticket,
and the browser trades the ticket for an HttpOnly cookie. On reload the
page script reads the cookie from ``st.context.cookies`` and calls
``user_from_cookie``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from core import clock, events
from core.db import Database, Transaction
from core.errors import SignInError, ValidationError

ROLES = ("standard", "admin", "supervisor")
ROLE_LABELS = {"standard": "Agent", "admin": "Admin", "supervisor": "Supervisor"}

LOCKOUT_FAILURES = 10
LOCKOUT_WINDOW = dt.timedelta(minutes=15)
LOCKOUT_DURATION = dt.timedelta(minutes=15)
COOKIE_NAME = "parley_session"
COOKIE_MAX_AGE = 14 * 24 * 3600
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


def sign_in(db: Database, username: str, password: str) -> User:
    """Return the user, or raise SignInError with one sentence.

    Wrong password and unknown user get the same sentence, so the form does
    not reveal which usernames exist. Ten failures for one user within 15
    minutes lock that user for 15 minutes (even with the right password).
    """
    username = (username or "").strip().lower()
    if not username or not password:
        raise SignInError("Enter your username and password.")
    row = db.fetchone(
        f"SELECT {USER_COLUMNS}, password_hash, locked_until FROM users WHERE lower(username) = ?",
        [username],
    )
    if row is None:
        # Spend the same time as a real check so timing does not reveal users.
        verify_password(password, _DUMMY_HASH)
        raise SignInError("Wrong username or password.")
    user = user_from_row(row[:7])
    password_hash, locked_until = row[7], row[8]
    now = clock.utcnow()
    if locked_until is not None and locked_until > now:
        raise SignInError(_locked_sentence(locked_until - now))
    ok = verify_password(password, password_hash)
    if not user.active:  # said only to whoever knows the password: the form reveals no accounts
        raise SignInError(
            "This account is disabled; ask an admin to enable it." if ok else "Wrong username or password."
        )
    locked = db.write(_record_attempt, user.id, ok, now)
    if ok:
        return user
    if locked is not None:
        raise SignInError(_locked_sentence(locked - now))
    raise SignInError("Wrong username or password.")


def _record_attempt(tx: Transaction, user_id: int, ok: bool, now: dt.datetime) -> dt.datetime | None:
    tx.execute("INSERT INTO login_attempts VALUES (?, ?, ?)", [user_id, now, ok])
    if ok:
        tx.execute("UPDATE users SET locked_until = NULL WHERE id = ? AND locked_until IS NOT NULL", [user_id])
        tx.publish(events.USER_SIGNED_IN, user_id=user_id)
        return None
    # Count failures since the later of: the window start, the last success,
    # and the end of the previous lock (a new lock needs ten new failures).
    failures = tx.scalar(
        """
        SELECT count(*) FROM login_attempts
        WHERE user_id = ? AND NOT ok AND attempted_at > greatest(
            ?::TIMESTAMP,
            coalesce((SELECT max(attempted_at) FROM login_attempts WHERE user_id = ? AND ok), '-infinity'::TIMESTAMP),
            coalesce((SELECT locked_until FROM users WHERE id = ?), '-infinity'::TIMESTAMP))
        """,
        [user_id, now - LOCKOUT_WINDOW, user_id, user_id],
    )
    if failures >= LOCKOUT_FAILURES:
        until = now + LOCKOUT_DURATION
        tx.execute("UPDATE users SET locked_until = ? WHERE id = ?", [until, user_id])
        tx.execute(
            "INSERT INTO audit_log (occurred_at, actor_id, action, object_type, object_id, detail) "
            "VALUES (?, NULL, 'user.locked', 'user', ?, ?)",
            [now, user_id, f"{failures} failed sign-ins"],
        )
        return until
    return None


def _locked_sentence(remaining: dt.timedelta) -> str:
    minutes = max(1, int(remaining.total_seconds() // 60) + (1 if remaining.total_seconds() % 60 else 0))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed sign-ins: this account is locked for {minutes} more {unit}."


_DUMMY_HASH = hash_password(secrets.token_hex(8))


# ---- session cookie --------------------------------------------------------------


def make_session_cookie(user_id: int, secret: bytes, *, issued: int | None = None) -> str:
    issued = int(time.time()) if issued is None else issued
    payload = f"{user_id}.{issued}"
    sig = hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{sig}"


def read_session_cookie(value: str | None, secret: bytes, *, max_age: int = COOKIE_MAX_AGE) -> int | None:
    """The user id in a valid, unexpired cookie; None for anything tampered."""
    if not value:
        return None
    parts = value.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    expected = hmac.new(secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts[2]):
        return None
    if int(parts[1]) + max_age < time.time():
        return None
    return int(parts[0])


def user_from_cookie(db: Database, value: str | None, secret: bytes) -> User | None:
    user_id = read_session_cookie(value, secret)
    if user_id is None:
        return None
    user = get_user(db, user_id)
    if user is None or not user.active:
        return None
    return user


class TicketBook:
    """One-time, short-lived tickets the browser trades for a session cookie."""

    def __init__(self, ttl: float = 60.0) -> None:
        self._ttl = ttl
        self._tickets: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def issue(self, user_id: int) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._tickets = {k: v for k, v in self._tickets.items() if v[1] > now}
            self._tickets[token] = (user_id, now + self._ttl)
        return token

    def redeem(self, token: str) -> int | None:
        with self._lock:
            entry = self._tickets.pop(token, None)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]


tickets = TicketBook()
