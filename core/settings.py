"""Workspace settings kept in the ``settings`` table as JSON values.

Business hours, recipient quiet hours, the HELP reply and the opt-out/opt-in
confirmations live here so admins can change them (administration issue)
without a migration. Readers get typed values with defaults.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from core.compliance.hours import BusinessHours, QuietHours
from core.db import Database, Transaction

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

DEFAULTS: dict[str, Any] = {
    "business_hours": {
        "timezone": "America/New_York",
        # 0 = Monday. Each day: list of [open, close] in the workspace's local time.
        "weekly": {
            "0": [["08:00", "20:00"]],
            "1": [["08:00", "20:00"]],
            "2": [["08:00", "20:00"]],
            "3": [["08:00", "20:00"]],
            "4": [["08:00", "20:00"]],
            "5": [["09:00", "14:00"]],
            "6": [],
        },
        "holidays": ["2026-12-25", "2027-01-01", "2027-05-31", "2027-07-05", "2027-09-06", "2027-11-25", "2027-12-24"],
    },
    "quiet_hours": {"start": "08:00", "end": "21:00"},
    "help_reply": (
        "Brightside Dental: appointment reminders and replies from our front desk. "
        "Help: (555) 010-0100. Msg frequency varies. Msg & data rates may apply. Reply STOP to opt out."
    ),
    "optout_confirmation": (
        "You are unsubscribed and will receive no more messages from us. Reply START to resubscribe."
    ),
    "optin_confirmation": "You are subscribed again. Reply STOP to opt out, HELP for help.",
    # A sign-in session ends after this many hours without a page run (core.sessions).
    "session_idle_hours": 12,
}


def get(db: Database, key: str) -> Any:
    raw = db.scalar("SELECT value FROM settings WHERE key = ?", [key])
    if raw is None:
        return DEFAULTS.get(key)
    return json.loads(raw)


def put(tx: Transaction, key: str, value: Any) -> None:
    tx.execute(
        "INSERT INTO settings VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, json.dumps(value)],
    )


def ensure_defaults(db: Database) -> None:
    def write(tx: Transaction) -> None:
        present = {r[0] for r in tx.fetchall("SELECT key FROM settings")}
        for key, value in DEFAULTS.items():
            if key not in present:
                put(tx, key, value)

    db.write(write)


def _time(text: str) -> dt.time:
    if text in ("24:00", "23:59:59"):
        return dt.time(23, 59, 59, 999999)
    hour, minute = text.split(":")
    return dt.time(int(hour), int(minute))


def business_hours(db: Database) -> BusinessHours:
    raw = get(db, "business_hours")
    return business_hours_from_json(raw)


def business_hours_from_json(raw: dict[str, Any]) -> BusinessHours:
    weekly = {
        int(day): [(_time(a), _time(b)) for a, b in intervals] for day, intervals in (raw.get("weekly") or {}).items()
    }
    for day in range(7):
        weekly.setdefault(day, [])
    holidays = {dt.date.fromisoformat(d) for d in raw.get("holidays") or []}
    return BusinessHours(timezone=raw.get("timezone") or "America/New_York", weekly=weekly, holidays=holidays)


def quiet_hours(db: Database) -> QuietHours:
    return quiet_hours_from_json(get(db, "quiet_hours") or DEFAULTS["quiet_hours"])


def quiet_hours_from_json(raw: dict[str, Any]) -> QuietHours:
    return QuietHours(start=_time(raw["start"]), end=_time(raw["end"]))


def get_tx(tx: Transaction, key: str) -> Any:
    """``get`` inside a write transaction (sees the transaction's own changes)."""
    raw = tx.scalar("SELECT value FROM settings WHERE key = ?", [key])
    return DEFAULTS.get(key) if raw is None else json.loads(raw)
