"""Sign-in sessions: one database row per sign-in, checked on every request and page run.

A session starts when a password sign-in succeeds (a new row every time:
signing in never reuses an earlier session's id or secret) and ends on
sign-out, on a password reset, when the user is disabled, on "sign out
everywhere", or after ``session_idle_hours`` (a workspace setting, default
12) without a page run, and at the latest ``MAX_AGE`` after it began.

The browser holds it in an HttpOnly cookie ``<id>.<secret>.<signature>``:
the signature (HMAC with the install's key) refuses a tampered cookie before
the database is asked, the database keeps only a hash of the secret, and the
row says whether the session still lives. So a cookie copied before
sign-out stops working with it.

A page run records "last seen" at most once a minute per session
(``TOUCH_EVERY``): the check itself is one primary-key read; the write
happens only when the stored time is older than that.

The browser also keeps a long-lived *device* cookie (a random token, hashed
into each session it starts): a browser that has signed in as a user before
is known for that user, which lets a correct password from it skip the
per-account sign-in delay (``core.auth``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from core import audit, clock, events
from core.auth import USER_COLUMNS, User, user_from_row
from core.db import Database, Transaction

COOKIE_NAME = "parley_session"
DEVICE_COOKIE_NAME = "parley_device"
MAX_AGE = dt.timedelta(days=14)  # a session's whole life, however active
COOKIE_MAX_AGE = int(MAX_AGE.total_seconds())
DEVICE_COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest a browser keeps a cookie
KNOWN_DEVICE_FOR = dt.timedelta(days=180)
TOUCH_EVERY = dt.timedelta(minutes=1)
IDLE_SETTING = "session_idle_hours"
DEFAULT_IDLE_HOURS = 12
USER_AGENT_MAX = 300

# Why a session ended (sessions.ended_reason).
SIGNED_OUT = "signed_out"
SIGNED_OUT_EVERYWHERE = "signed_out_everywhere"
REPLACED = "replaced"  # the same browser signed in again
PASSWORD_RESET = "password_reset"
USER_DISABLED = "user_disabled"
ENDED_BY_ADMIN = "ended_by_admin"
EXPIRED = "expired"

_COOKIE_CONTEXT = b"parley-session-v2."


@dataclass(frozen=True)
class Session:
    id: int
    user_id: int
    created_at: dt.datetime
    last_seen_at: dt.datetime
    user_agent: str | None
    source: str | None
    ended_at: dt.datetime | None = None
    ended_reason: str | None = None


# (token in the User-Agent, the name people know), first match wins: Edge and Opera say "Chrome" too,
# Chrome says "Safari" too.
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("HeadlessChrome/", "Headless Chrome"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def browser_label(user_agent: str | None) -> str:
    """'Firefox on Windows' from a User-Agent header: what an admin recognises in a list of sessions."""
    ua = (user_agent or "").strip()
    if not ua:
        return "Unknown browser"
    if "/" not in ua:  # not a User-Agent header at all: keep what was given
        return ua[:60]
    browser = next((name for token, name in _BROWSERS if token in ua), None)
    system = next((name for token, name in _SYSTEMS if token in ua), None)
    if browser is None and system is None:
        return ua[:60] + ("…" if len(ua) > 60 else "")
    return f"{browser or 'A browser'} on {system}" if system else (browser or "Unknown browser")


@dataclass(frozen=True)
class Started:
    """A new session: its id, the cookie that carries it, and the browser's device token."""

    session_id: int
    cookie: str
    device_token: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _signature(key: bytes, session_id: int, token: str) -> str:
    return hmac.new(key, _COOKIE_CONTEXT + f"{session_id}.{token}".encode(), hashlib.sha256).hexdigest()


def cookie_value(session_id: int, token: str, key: bytes) -> str:
    return f"{session_id}.{token}.{_signature(key, session_id, token)}"


def parse_cookie(value: str | None, key: bytes) -> tuple[int, str] | None:
    """(session id, secret) from a cookie this install signed; None for anything else."""
    if not value or len(value) > 256:
        return None
    parts = value.split(".")
    # ASCII digits only: "²".isdigit() is True but int("²") raises (Starlette reads header bytes as
    # Latin-1, so b"\xb2" in a Cookie header arrives as "²").
    if len(parts) != 3 or not (parts[0].isascii() and parts[0].isdigit()) or not parts[1]:
        return None
    session_id, token, signature = int(parts[0]), parts[1], parts[2]
    if not hmac.compare_digest(_signature(key, session_id, token), signature):
        return None
    return session_id, token


def device_hash(device_token: str | None) -> str | None:
    """The stored form of a browser's device cookie; None when it is missing or not one of ours."""
    if not device_token or len(device_token) > 128 or not device_token.replace("-", "").replace("_", "").isalnum():
        return None
    return _hash("device." + device_token)


def idle_limit(db: Database) -> dt.timedelta:
    """How long a session may go without a page run (workspace setting ``session_idle_hours``)."""
    return _idle(db.scalar("SELECT value FROM settings WHERE key = ?", [IDLE_SETTING]))


# ---- starting -----------------------------------------------------------------------------


def start(
    db: Database,
    user_id: int,
    key: bytes,
    *,
    user_agent: str | None = None,
    source: str | None = None,
    device_token: str | None = None,
    replaces: list[int] | tuple[int, ...] = (),
) -> Started:
    """A new session for a user who just proved who they are.

    ``replaces``: sessions this browser held until now (its previous cookie, an
    earlier sign-in in the same tab); they end, so a sign-in always leaves
    exactly one live session per browser.
    """
    if device_hash(device_token) is None:
        device_token = secrets.token_urlsafe(32)
    token = secrets.token_urlsafe(32)

    def write(tx: Transaction) -> int:
        now = clock.utcnow()
        old = [int(s) for s in replaces if s is not None]
        if old:
            _end_where(tx, "id IN (SELECT unnest(?::BIGINT[])) AND user_id IS NOT NULL", [old], REPLACED, now)
        session_id = tx.next_id("seq_sessions")
        tx.execute(
            "INSERT INTO sessions (id, user_id, token_hash, device_hash, created_at, last_seen_at, user_agent, source) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                session_id,
                user_id,
                _hash(token),
                device_hash(device_token),
                now,
                now,
                (user_agent or "")[:USER_AGENT_MAX] or None,
                source,
            ],
        )
        return session_id

    session_id = db.write(write)
    return Started(session_id, cookie_value(session_id, token, key), device_token)


# ---- checking -------------------------------------------------------------------------------


# One read by primary key; the user and the idle limit come from the small tables kept in memory
# until a write changes them (``Database.small_table_cache``: any statement that could change
# ``users`` or ``settings``, a role or an account disabled, makes the next check load them again).
# Joining users and settings cost three times that read: the check runs on every page run, every
# live fragment's own run and every second of each notification stream.
SESSION_SQL = "SELECT user_id, token_hash, created_at, last_seen_at, ended_at FROM sessions WHERE id = ?"


@dataclass(frozen=True)
class _People:
    users: dict[int, User]
    idle: dt.timedelta


def _load_people(db: Database) -> _People:
    users = {row[0]: user_from_row(row) for row in db.fetchall(f"SELECT {USER_COLUMNS} FROM users")}
    return _People(users, _idle(db.scalar("SELECT value FROM settings WHERE key = ?", [IDLE_SETTING])))


def check(db: Database, session_id: Any, *, token: str | None = None, touch: bool = True) -> User | None:
    """The signed-in user of a live session, or None (ended, expired, unknown, user disabled).

    ``token``: the secret from a cookie (required when the id came from a
    browser). ``touch``: record the visit as "last seen" (a page run; the
    notification stream and the live fragments only look).
    """
    try:
        session_id = int(session_id)
    except (TypeError, ValueError):
        return None
    row = db.fetchone(SESSION_SQL, [session_id])
    if row is None:
        return None
    user_id, token_hash, created_at, last_seen_at, ended_at = row
    people = db.small_table_cache("sessions.people", _load_people)
    user = people.users.get(user_id)
    if token is not None and not hmac.compare_digest(token_hash, _hash(token)):
        return None
    if ended_at is not None or user is None or not user.active:
        return None
    now = clock.utcnow()
    if created_at > now + dt.timedelta(minutes=5):  # started "in the future": not a row we wrote
        return None
    if now - last_seen_at > people.idle or now - created_at > MAX_AGE:
        db.write(_end_where_id, session_id, EXPIRED, now)
        return None
    if touch and now - last_seen_at >= TOUCH_EVERY:
        db.write(_touch, session_id, now)
    return user


def _idle(raw: Any) -> dt.timedelta:
    import json

    try:
        hours = float(json.loads(raw)) if raw is not None else DEFAULT_IDLE_HOURS
    except (TypeError, ValueError):
        hours = DEFAULT_IDLE_HOURS
    return dt.timedelta(hours=hours if hours > 0 else DEFAULT_IDLE_HOURS)


def _touch(tx: Transaction, session_id: int, now: dt.datetime) -> None:
    tx.execute(
        "UPDATE sessions SET last_seen_at = ? WHERE id = ? AND ended_at IS NULL AND last_seen_at < ?",
        [now, session_id, now],
    )


def from_cookie(db: Database, value: str | None, key: bytes, *, touch: bool = True) -> tuple[User, int] | None:
    """(user, session id) for a cookie of a live session; None for anything else."""
    parsed = parse_cookie(value, key)
    if parsed is None:
        return None
    session_id, token = parsed
    user = check(db, session_id, token=token, touch=touch)
    return (user, session_id) if user is not None else None


# ---- ending ---------------------------------------------------------------------------------


def _end_where(tx: Transaction, where: str, params: list[Any], reason: str, now: dt.datetime) -> list[tuple[int, int]]:
    """End the live sessions matching ``where``; returns (session id, user id) of each one ended."""
    ended = tx.fetchall(
        f"UPDATE sessions SET ended_at = ?, ended_reason = ? WHERE ended_at IS NULL AND {where} RETURNING id, user_id",
        [now, reason, *params],
    )
    for user_id in sorted({u for _, u in ended}):
        tx.publish(events.SESSIONS_ENDED, user_id=user_id, reason=reason, sessions=len(ended))
    return ended


def _end_where_id(tx: Transaction, session_id: int, reason: str, now: dt.datetime) -> int:
    return len(_end_where(tx, "id = ?", [session_id], reason, now))


def end_one(tx: Transaction, session_id: int, reason: str) -> bool:
    """Inside a write: end one session. True if it was live."""
    return bool(_end_where_id(tx, session_id, reason, clock.utcnow()))


def end(db: Database, session_id: Any, reason: str = SIGNED_OUT) -> bool:
    """End one session (sign-out). True if it was live."""
    try:
        session_id = int(session_id)
    except (TypeError, ValueError):
        return False
    return bool(db.write(_end_where_id, session_id, reason, clock.utcnow()))


def end_cookie(db: Database, value: str | None, key: bytes, reason: str = SIGNED_OUT) -> bool:
    """End the session a (genuine) cookie names: signing out from the browser."""
    parsed = parse_cookie(value, key)
    if parsed is None:
        return False
    session_id, token = parsed
    row = db.fetchone("SELECT token_hash FROM sessions WHERE id = ?", [session_id])
    if row is None or not hmac.compare_digest(row[0], _hash(token)):
        return False
    return end(db, session_id, reason)


def end_all_for_user(
    tx: Transaction, user_id: int, reason: str, *, actor_id: int | None = None, keep: int | None = None
) -> int:
    """Inside a write: end every live session of a user (``keep``: one to leave alive). Returns how many."""
    where, params = "user_id = ?", [user_id]
    if keep is not None:
        where += " AND id <> ?"
        params.append(keep)
    ended = _end_where(tx, where, params, reason, clock.utcnow())
    if ended and actor_id is not None:
        audit.record(tx, actor_id, "user.sessions_ended", "user", user_id, sessions=len(ended), reason=reason)
    return len(ended)


# ---- reading ----------------------------------------------------------------------------------


def live_sessions(db: Database, user_id: int) -> list[Session]:
    """A user's sessions that are still live (newest first), idle ones past the limit excluded."""
    now = clock.utcnow()
    rows = db.fetchall(
        "SELECT id, user_id, created_at, last_seen_at, user_agent, source, ended_at, ended_reason FROM sessions "
        "WHERE user_id = ? AND ended_at IS NULL AND last_seen_at >= ? AND created_at >= ? "
        "ORDER BY last_seen_at DESC, id DESC",
        [user_id, now - idle_limit(db), now - MAX_AGE],
    )
    return [Session(*r) for r in rows]


def live_counts(db: Database) -> dict[int, int]:
    """How many live sessions each user has (the admin's list of users)."""
    now = clock.utcnow()
    rows = db.fetchall(
        "SELECT user_id, count(*) FROM sessions WHERE ended_at IS NULL AND last_seen_at >= ? AND created_at >= ? "
        "GROUP BY user_id",
        [now - idle_limit(db), now - MAX_AGE],
    )
    return {user_id: n for user_id, n in rows}


def is_known_device(tx_or_db: Database | Transaction, user_id: int | None, device_token: str | None) -> bool:
    """Has this browser signed in as this user before (within ``KNOWN_DEVICE_FOR``)?"""
    hashed = device_hash(device_token)
    return bool(
        tx_or_db.scalar(
            "SELECT EXISTS (SELECT 1 FROM sessions WHERE user_id = ? AND device_hash = ? AND created_at >= ?)",
            [user_id, hashed, clock.utcnow() - KNOWN_DEVICE_FOR],
        )
    )
