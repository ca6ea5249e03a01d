"""Workspace settings (admins): business hours, recipient quiet hours, and the automatic texts.

Hours are checked before they are saved (each day's intervals, a real time
zone, holidays as dates, and hours that open at least once in the coming
weeks so that nothing waits forever), and saving them re-times every queued
message in the same transaction (``core.release.retime_queued``): what the
new hours allow now goes now, what they hold waits with its new time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from core import audit, clock, events, permissions, release, settings
from core.auth import User
from core.compliance import hours as hours_rules
from core.db import Database, Transaction
from core.errors import Conflict, ValidationError

MAX_TEXT = 480  # three SMS segments
_STALE = (
    "Someone else saved {what} while you were editing; nothing was changed. "
    "Their version is shown now: make your change again and save."
)
MAX_HOLIDAYS = 200
TEXT_KEYS = {
    "help_reply": "The HELP reply",
    "optout_confirmation": "The opt-out confirmation",
    "optin_confirmation": "The opt-in confirmation",
}


def _clock_text(value: Any, what: str) -> str:
    if isinstance(value, dt.time):
        value = value.strftime("%H:%M")
    text = str(value or "").strip()
    try:
        hour, minute = (int(p) for p in text.split(":"))
    except ValueError:
        raise ValidationError(f"“{text}” is not a time for {what}; write it as 08:30.") from None
    if not (0 <= hour <= 24 and 0 <= minute < 60) or (hour == 24 and minute):
        raise ValidationError(f"“{text}” is not a time for {what}; write it as 08:30.")
    return f"{hour:02d}:{minute:02d}"


def clean_business_hours(timezone: str, weekly: dict[Any, list], holidays: list[Any]) -> dict[str, Any]:
    """The stored form of the schedule, or one sentence. ``weekly[0]`` is Monday: [(open, close), ...]."""
    hours_rules.parse_timezone(timezone)
    clean_weekly: dict[str, list[list[str]]] = {}
    for day in range(7):
        name = settings.WEEKDAYS[day]
        intervals = []
        for start, end in weekly.get(day, weekly.get(str(day), [])) or []:
            a, b = _clock_text(start, name), _clock_text(end, name)
            if b == "00:00":
                b = "24:00"
            if b <= a:
                raise ValidationError(f"{name}'s hours must close after they open ({a}–{b}).")
            intervals.append([a, b])
        clean_weekly[str(day)] = sorted(intervals)
    dates = set()
    for raw in holidays or []:
        try:
            dates.add((raw if isinstance(raw, dt.date) else dt.date.fromisoformat(str(raw).strip())).isoformat())
        except ValueError:
            raise ValidationError(f"“{raw}” is not a date; write holidays as 2026-12-25.") from None
    if len(dates) > MAX_HOLIDAYS:
        raise ValidationError(f"Keep at most {MAX_HOLIDAYS} holidays.")
    raw = {"timezone": timezone, "weekly": clean_weekly, "holidays": sorted(dates)}
    settings.business_hours_from_json(raw)  # the same checks the senders will run
    return raw


def do_save_hours(
    db: Database,
    actor: User,
    *,
    timezone: str,
    weekly: dict[Any, list],
    holidays: list[Any],
    quiet_start: Any,
    quiet_end: Any,
    expected: dict[str, Any] | None = None,
) -> int:
    """Save business and quiet hours and re-time the queue. Returns how many queued messages moved.

    ``expected`` (``current()`` as the form was filled from it) refuses to overwrite someone else's
    newer save: the form holds the whole schedule, so a stale one would put back what they changed.
    """
    permissions.require_admin(actor, "change business hours")
    business = clean_business_hours(timezone, weekly, holidays)
    quiet = {"start": _clock_text(quiet_start, "quiet hours"), "end": _clock_text(quiet_end, "quiet hours")}
    if quiet["end"] == "00:00":
        quiet["end"] = "24:00"
    if quiet["end"] <= quiet["start"]:
        raise ValidationError(f"Recipients' allowed hours must end after they start ({quiet['start']}–{quiet['end']}).")
    # Hours that never overlap what recipients allow would hold every message forever: refuse them.
    hours_rules.next_send_time(
        clock.utcnow(),
        settings.business_hours_from_json(business),
        None,
        settings.quiet_hours_from_json(quiet),
    )

    def write(tx: Transaction) -> int:
        permissions.recheck_actor(tx, actor, ("admin",), "change business hours")
        before = {
            "business_hours": settings.get_tx(tx, "business_hours"),
            "quiet_hours": settings.get_tx(tx, "quiet_hours"),
        }
        if expected is not None and any(expected.get(k) != settings.get_tx(tx, k) for k in before):
            raise Conflict(_STALE.format(what="the hours"))
        after = {"business_hours": business, "quiet_hours": quiet}
        if before == after:
            return 0
        for key, value in after.items():
            settings.put(tx, key, value)
        moved = release.retime_queued(tx)
        audit.record(
            tx,
            actor.id,
            "settings.changed",
            "settings",
            None,
            keys=[k for k in after if after[k] != before[k]],
            before=before,
            after=after,
            retimed=moved,
        )
        tx.publish(events.SETTINGS_CHANGED, key="hours", actor_id=actor.id, retimed=moved)
        return moved

    return db.write(write)


def do_save_texts(
    db: Database, actor: User, texts: dict[str, str], *, expected: dict[str, Any] | None = None
) -> list[str]:
    """Save the automatic replies; returns the keys that changed. ``expected``: as for the hours."""
    permissions.require_admin(actor, "change the automatic replies")
    clean = {}
    for key, value in texts.items():
        if key not in TEXT_KEYS:
            raise ValidationError(f"“{key}” is not one of Parley's automatic replies.")
        text = " ".join(str(value or "").split())
        if not text:
            raise ValidationError(f"{TEXT_KEYS[key]} cannot be empty: carriers require it.")
        if len(text) > MAX_TEXT:
            raise ValidationError(f"{TEXT_KEYS[key]} can be at most {MAX_TEXT} characters (three SMS segments).")
        clean[key] = text
    if "help_reply" in clean and "stop" not in clean["help_reply"].lower():
        raise ValidationError("The HELP reply must tell people how to opt out (e.g. “Reply STOP to opt out.”).")

    def write(tx: Transaction) -> list[str]:
        permissions.recheck_actor(tx, actor, ("admin",), "change the automatic replies")
        if expected is not None and any(expected.get(k) != settings.get_tx(tx, k) for k in TEXT_KEYS):
            raise Conflict(_STALE.format(what="the automatic texts"))
        changed = [k for k, v in clean.items() if settings.get_tx(tx, k) != v]
        for key in changed:
            settings.put(tx, key, clean[key])
        if changed:
            audit.record(
                tx,
                actor.id,
                "settings.changed",
                "settings",
                None,
                keys=changed,
                after={k: clean[k] for k in changed},
            )
            tx.publish(events.SETTINGS_CHANGED, key="texts", actor_id=actor.id)
        return changed

    return db.write(write)


def current(db: Database, actor: User) -> dict[str, Any]:
    """What the Hours & texts page edits."""
    permissions.require_admin(actor, "change business hours")
    return {
        "business_hours": settings.get(db, "business_hours"),
        "quiet_hours": settings.get(db, "quiet_hours"),
        **{key: settings.get(db, key) for key in TEXT_KEYS},
        "queued": db.scalar(
            """SELECT count(*) FROM outbox o JOIN messages m ON m.id = o.message_id
               WHERE o.state = 'pending' AND (m.author_id IS NOT NULL OR m.campaign_id IS NOT NULL)"""
        ),
    }
