"""What a Stats filter means: its checks, the viewer's days in UTC, and its conditions as SQL.

Separate from ``core.stats`` (each chart's numbers) because both the charts and the
conversations behind a clicked point (``core.stats_drill``) read through it; the filter bar
(``pages/stats_common.py``) builds, checks and offers it from here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from core.auth import User
from core.compliance.hours import parse_timezone
from core.db import Database
from core.errors import PermissionDenied, ValidationError

MAX_DAYS = 366
CHANNELS = ("sms", "whatsapp")


@dataclass(frozen=True)
class StatsFilter:
    start: dt.date
    end: dt.date  # included
    timezone: str = "UTC"
    team_id: int | None = None
    agent_id: int | None = None
    channel: str | None = None
    sender_id: int | None = None
    business_hours: bool = False

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def require_stats(viewer: User) -> None:
    if not viewer.sees_team:
        raise PermissionDenied("Only supervisors and admins can see Stats.")


def default_filter(viewer: User, today: dt.date | None = None, days: int = 30) -> StatsFilter:
    zone = viewer.timezone or "UTC"
    today = today or dt.datetime.now(_zone(zone)).date()
    return StatsFilter(start=today - dt.timedelta(days=days - 1), end=today, timezone=zone)


def check_filter(viewer: User, f: StatsFilter) -> StatsFilter:
    """Refuse what no chart can answer, with one sentence."""
    require_stats(viewer)
    if f.start is None or f.end is None:
        raise ValidationError("Choose a start and an end date.")
    if f.end < f.start:
        raise ValidationError(
            f"The range ends ({f.end:%b %d, %Y}) before it starts ({f.start:%b %d, %Y}); choose an end after the start."
        )
    if f.days > MAX_DAYS:
        raise ValidationError(f"Choose at most {MAX_DAYS} days at a time (this range has {f.days}).")
    if f.channel is not None and f.channel not in CHANNELS:
        raise ValidationError(f"“{f.channel}” is not a channel; choose SMS or WhatsApp.")
    parse_timezone(f.timezone)
    return f


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except Exception:
        return ZoneInfo("UTC")


# ---- time: the viewer's days in UTC --------------------------------------------------------


def utc_bounds(f: StatsFilter) -> tuple[dt.datetime, dt.datetime]:
    """[first local midnight, the midnight after the last day) as naive UTC."""
    zone = _zone(f.timezone)

    def midnight(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(0), zone).astimezone(dt.UTC).replace(tzinfo=None)

    return midnight(f.start), midnight(f.end + dt.timedelta(days=1))


def _offsets(f: StatsFilter, lo: dt.datetime, hi: dt.datetime) -> list[tuple[dt.datetime, int]]:
    """(from this UTC instant, the zone's UTC offset in seconds), over [lo, hi)."""
    zone = _zone(f.timezone)
    step = dt.timedelta(minutes=15)  # offsets change on quarter hours in every zone in use
    at = lo - dt.timedelta(days=1)
    segments: list[tuple[dt.datetime, int]] = []
    while at < hi + dt.timedelta(days=1):
        offset = int(at.replace(tzinfo=dt.UTC).astimezone(zone).utcoffset().total_seconds())
        if not segments or segments[-1][1] != offset:
            segments.append((at, offset))
        at += step
    return segments


def local_sql(f: StatsFilter, column: str = "occurred_at") -> str:
    """SQL for ``column`` (naive UTC) as the viewer's local wall time."""
    lo, hi = utc_bounds(f)
    segments = _offsets(f, lo, hi)
    if len(segments) == 1:
        return f"({column} + INTERVAL ({segments[0][1]}) SECOND)"
    cases = " ".join(
        f"WHEN {column} >= TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}' THEN INTERVAL ({offset}) SECOND"
        for start, offset in reversed(segments[1:])
    )
    return f"({column} + CASE {cases} ELSE INTERVAL ({segments[0][1]}) SECOND END)"


# ---- filters as SQL ------------------------------------------------------------------------


def fact_filters(f: StatsFilter, *, people: bool = True, alias: str = "r") -> tuple[str, list[Any]]:
    """WHERE clause and parameters for reporting facts in the filter's dates, channel, sender and (with ``people``) team and agent."""
    lo, hi = utc_bounds(f)
    where, params = [f"{alias}.occurred_at >= ?", f"{alias}.occurred_at < ?"], [lo, hi]
    if people and f.team_id is not None:
        where.append(f"{alias}.team_id = ?")
        params.append(f.team_id)
    if people and f.agent_id is not None:
        where.append(f"{alias}.agent_id = ?")
        params.append(f.agent_id)
    if f.channel is not None:
        where.append(f"{alias}.channel = ?")
        params.append(f.channel)
    if f.sender_id is not None:
        where.append(f"{alias}.sender_id = ?")
        params.append(f.sender_id)
    return " AND ".join(where), params


def owner_filters(f: StatsFilter) -> tuple[list[str], list[Any]]:
    """Conditions and parameters on conversations ``c`` for the filter's team and agent, as their owner
    is now (what is true now, *Workload* and *No answer yet*, belongs to whoever owns it now)."""
    where, params = [], []
    if f.team_id is not None:
        where.append("c.owner_id IN (SELECT id FROM users WHERE team_id = ?)")
        params.append(f.team_id)
    if f.agent_id is not None:
        where.append("c.owner_id = ?")
        params.append(f.agent_id)
    return where, params


def conversation_filters(f: StatsFilter) -> tuple[str, list[Any]]:
    """WHERE clause and parameters for the open conversations of the filter's team, agent, channel and sender."""
    owners, params = owner_filters(f)
    where = ["c.status = 'open'", *owners]
    if f.channel is not None:
        where.append("c.channel = ?")
        params.append(f.channel)
    if f.sender_id is not None:
        where.append("c.sender_id = ?")
        params.append(f.sender_id)
    return " AND ".join(where), params


def with_range(f: StatsFilter, start: dt.date, end: dt.date) -> StatsFilter:
    return replace(f, start=start, end=end)


def filter_options(db: Database, viewer: User) -> dict[str, list[dict[str, Any]]]:
    """What the filter bar offers: teams, agents, senders."""
    require_stats(viewer)
    return {
        "teams": db.dicts("SELECT id, name FROM teams ORDER BY name"),
        "agents": db.dicts(
            "SELECT id, display_name, active FROM users WHERE role IN ('standard', 'admin') ORDER BY display_name"
        ),
        "senders": db.dicts("SELECT id, label, phone, channel FROM senders ORDER BY label"),
    }
