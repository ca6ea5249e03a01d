"""Business hours and recipient quiet hours (rule 3).

A message may go only while the workspace is open (weekly schedule in its
own time zone, minus holidays) *and* the recipient's local clock is inside
the quiet-hours window (TCPA: 8:00–21:00; stricter by configuration, e.g.
Florida's 20:00). ``next_send_time`` finds the first instant both hold.

A recipient whose number may be in several zones (Idaho's 208: Boise or Los
Angeles; an Australian mobile: Perth to Sydney) is given them all, and the
message may go only while the clock is inside the window in every one of
them: 8:00 in Boise is 7:00 in northern Idaho. Should no moment suit them
all and business hours too (a stricter window narrower than the zones are
apart, business hours far from them), the first zone given (the best guess)
decides alone rather than the message never going.

Wall-clock times are turned into instants by one rule: a time means the
first instant at which the local clock reads it or later. So an opening
time skipped by a spring-forward jump opens when the clock jumps (3:00),
and a time repeated by a fall-back change takes its first occurrence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core import clock
from core.errors import ValidationError

UTC = dt.UTC
SEARCH_DAYS = 30  # look this far ahead before declaring the hours never open
MIDNIGHT = dt.time(0, 0)

Interval = tuple[dt.datetime, dt.datetime]  # naive UTC, start inclusive, end exclusive
ZONE_SEPARATOR = "|"  # several zones in one text: "America/Boise|America/Los_Angeles" (no IANA name has it)
RecipientZones = str | Sequence[str] | None


def zone_names(recipient_tz: RecipientZones) -> list[str]:
    """The zones a recipient may be in, the best guess first: one name, names joined by
    ``ZONE_SEPARATOR``, or a sequence of names ([] when unknown)."""
    if not recipient_tz:
        return []
    names = recipient_tz.split(ZONE_SEPARATOR) if isinstance(recipient_tz, str) else list(recipient_tz)
    return [n for n in names if n]


def parse_timezone(name: str) -> ZoneInfo:
    """The zone called ``name`` (IANA, e.g. 'America/New_York'), or a ValidationError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationError(f"“{name}” is not a known time zone.") from None


def _check_interval(start: dt.time, end: dt.time, what: str) -> None:
    # An end of 00:00 means midnight at the end of the day.
    if end != MIDNIGHT and end <= start:
        raise ValidationError(f"{what} must end after they start ({start:%H:%M}–{end:%H:%M}).")


@dataclass
class BusinessHours:
    """Opening hours in the workspace's time zone. ``weekly[0]`` is Monday; [] = closed."""

    timezone: str
    weekly: dict[int, list[tuple[dt.time, dt.time]]]
    holidays: set[dt.date] = field(default_factory=set)

    def __post_init__(self) -> None:
        parse_timezone(self.timezone)
        normalized: dict[int, list[tuple[dt.time, dt.time]]] = {}
        for day in range(7):
            intervals = sorted(self.weekly.get(day) or [])
            for start, end in intervals:
                _check_interval(start, end, "Opening hours")
            normalized[day] = _merge_times(intervals)
        self.weekly = normalized

    def intervals_on(self, day: dt.date) -> list[tuple[dt.time, dt.time]]:
        return [] if day in self.holidays else self.weekly[day.weekday()]


def _merge_times(intervals: list[tuple[dt.time, dt.time]]) -> list[tuple[dt.time, dt.time]]:
    """Overlapping or touching intervals of one day become one (sorted input)."""
    merged: list[tuple[dt.time, dt.time]] = []
    for start, end in intervals:
        if merged and (merged[-1][1] == MIDNIGHT or start <= merged[-1][1]):
            last_start, last_end = merged[-1]
            reaches_midnight = MIDNIGHT in (last_end, end)
            merged[-1] = (last_start, MIDNIGHT if reaches_midnight else max(last_end, end))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class QuietHours:
    """The part of the recipient's day in which messages may arrive (local time)."""

    start: dt.time = dt.time(8, 0)
    end: dt.time = dt.time(21, 0)

    def __post_init__(self) -> None:
        _check_interval(self.start, self.end, "Quiet hours")


def local_to_utc(wall: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """Naive UTC instant of a naive local wall time: first instant the clock reads it or later."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first.replace(tzinfo=None)  # exists (fold=0 is the first of two occurrences)
    # Skipped by a forward jump. fold=0 applied the old offset and landed
    # after the jump; fold=1 applied the new one and landed before it.
    # Bisect between them for the jump itself.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after = first
    new_offset = after.astimezone(zone).utcoffset()
    while after - before > dt.timedelta(seconds=1):
        middle = before + (after - before) / 2
        if middle.astimezone(zone).utcoffset() == new_offset:
            after = middle
        else:
            before = middle
    # Jumps happen on whole seconds and ``after`` is less than a second past it.
    return after.replace(tzinfo=None, microsecond=0)


def _day_intervals(
    zone: ZoneInfo, first_day: dt.date, days: int, times_on: Callable[[dt.date], list[tuple[dt.time, dt.time]]]
) -> Iterator[Interval]:
    """UTC intervals for each local day in turn: sorted, since local→UTC never goes backwards."""
    for offset in range(days):
        day = first_day + dt.timedelta(days=offset)
        for start, end in times_on(day):
            end_day = day + dt.timedelta(days=1) if end == MIDNIGHT else day
            start_utc = local_to_utc(dt.datetime.combine(day, start), zone)
            end_utc = local_to_utc(dt.datetime.combine(end_day, end), zone)
            if start_utc < end_utc:  # both ends inside one DST gap leave nothing
                yield start_utc, end_utc


def open_intervals_between(hours: BusinessHours, start_utc: dt.datetime, end_utc: dt.datetime) -> list[Interval]:
    """The workspace's open intervals (naive UTC, sorted) that touch ``[start_utc, end_utc]``.

    Reporting counts waiting time inside business hours with these (``core.reporting``).
    """
    zone = parse_timezone(hours.timezone)
    first = _local_date(start_utc, zone) - dt.timedelta(days=1)  # yesterday's hours may run past midnight
    days = (_local_date(end_utc, zone) - first).days + 2
    return [(s, e) for s, e in _day_intervals(zone, first, days, hours.intervals_on) if e > start_utc and s < end_utc]


def _open_intervals(now_utc: dt.datetime, hours: BusinessHours | None) -> Iterator[Interval]:
    if hours is None:
        yield now_utc, dt.datetime.max
        return
    zone = parse_timezone(hours.timezone)
    # Start a day early: yesterday's hours may run past local midnight.
    today = _local_date(now_utc, zone)
    yield from _day_intervals(zone, today - dt.timedelta(days=1), SEARCH_DAYS + 2, hours.intervals_on)


def _zone_intervals(now_utc: dt.datetime, zone: ZoneInfo, quiet: QuietHours) -> Iterator[Interval]:
    today = _local_date(now_utc, zone)
    window = [(quiet.start, quiet.end)]
    yield from _day_intervals(zone, today - dt.timedelta(days=1), SEARCH_DAYS + 2, lambda day: window)


def _intersection(streams: list[Iterator[Interval]]) -> Iterator[Interval]:
    """The instants inside an interval of every stream (each sorted, its intervals disjoint)."""
    try:
        current = [next(s) for s in streams]
        while True:
            start, end = max(c[0] for c in current), min(c[1] for c in current)
            if start < end:
                yield start, end
            first_to_end = min(range(len(current)), key=lambda i: current[i][1])
            current[first_to_end] = next(streams[first_to_end])
    except StopIteration:  # one zone's search horizon is over
        return


def _allowed_intervals(
    now_utc: dt.datetime, zones: list[ZoneInfo | None], quiet: QuietHours | None
) -> Iterator[Interval]:
    """When the recipient's clock is inside the quiet-hours window in every zone they may be in."""
    known = [z for z in zones if z is not None]
    if not known or quiet is None:
        yield now_utc, dt.datetime.max
        return
    if len(known) == 1:
        yield from _zone_intervals(now_utc, known[0], quiet)
        return
    yield from _intersection([_zone_intervals(now_utc, z, quiet) for z in known])


def _local_date(now_utc: dt.datetime, zone: ZoneInfo) -> dt.date:
    return now_utc.replace(tzinfo=UTC).astimezone(zone).date()


def _recipient_zones(hours: BusinessHours | None, recipient_tz: RecipientZones) -> list[ZoneInfo | None]:
    names = zone_names(recipient_tz)
    if names:
        return [parse_timezone(n) for n in names]
    # Unknown recipient zone: assume the recipient lives where the business does.
    return [parse_timezone(hours.timezone) if hours is not None else None]


def _first_moment(
    now_utc: dt.datetime,
    horizon: dt.datetime,
    hours: BusinessHours | None,
    zones: list[ZoneInfo | None],
    quiet: QuietHours | None,
) -> dt.datetime | None:
    """The first instant from ``now_utc`` and before ``horizon`` that is inside business hours and
    the allowed hours of every zone (None if there is none)."""
    business = _open_intervals(now_utc, hours)
    recipient = _allowed_intervals(now_utc, zones, quiet)
    open_, allowed = next(business, None), next(recipient, None)
    # Walk both sorted lists together, always advancing the interval that
    # ends first: the first overlap found is the earliest.
    while open_ is not None and allowed is not None:
        start = max(open_[0], allowed[0], now_utc)
        if start >= horizon:
            return None
        if start < min(open_[1], allowed[1]):
            return start
        if open_[1] <= allowed[1]:
            open_ = next(business, None)
        else:
            allowed = next(recipient, None)
    return None


def next_send_time(
    now_utc: dt.datetime, hours: BusinessHours | None, recipient_tz: RecipientZones, quiet: QuietHours | None
) -> dt.datetime:
    """``now_utc`` if a message may go now, else the first naive-UTC instant it may.

    ``recipient_tz``: the recipient's zone, or every zone they may be in, the best guess first (see
    ``zone_names``). When the allowed hours of all of them never meet, or never meet business hours,
    in the next ``SEARCH_DAYS`` days (a stricter window narrower than the zones are apart; business
    hours far from them all), the best guess decides alone, as if it were the only zone, rather
    than the message never going."""
    now_utc = clock.to_naive_utc(now_utc)
    horizon = now_utc + dt.timedelta(days=SEARCH_DAYS)
    zones = _recipient_zones(hours, recipient_tz)
    when = _first_moment(now_utc, horizon, hours, zones, quiet)
    if when is None and len(zones) > 1:
        when = _first_moment(now_utc, horizon, hours, zones[:1], quiet)
    if when is not None:
        return when
    if not any(end > now_utc and start < horizon for start, end in _open_intervals(now_utc, hours)):
        raise ValidationError(
            f"Business hours are never open in the next {SEARCH_DAYS} days; "
            "an admin can add opening hours or remove holidays."
        )
    assert quiet is not None  # without quiet hours any open interval would have matched
    raise ValidationError(
        f"Business hours never overlap the recipient's allowed hours "
        f"({quiet.start:%H:%M}–{quiet.end:%H:%M} their time) in the next {SEARCH_DAYS} days; "
        "an admin can widen the business hours."
    )


def is_open(
    now_utc: dt.datetime,
    hours: BusinessHours | None,
    recipient_tz: RecipientZones = None,
    quiet: QuietHours | None = None,
) -> bool:
    """Whether a message may go at ``now_utc`` (pass ``quiet=None`` to ask about business hours only):
    exactly when ``next_send_time`` answers ``now_utc``."""
    now_utc = clock.to_naive_utc(now_utc)
    try:
        return next_send_time(now_utc, hours, recipient_tz, quiet) == now_utc
    except ValidationError:  # never open, or never inside the recipient's allowed hours
        return False


def format_local(when_utc: dt.datetime, viewer_tz: str | None, now_utc: dt.datetime | None = None) -> str:
    """'9:00 AM' today, 'Mon 9:00 AM' within a week, 'Mon Mar 9, 9:00 AM' later (viewer's zone)."""
    zone = parse_timezone(viewer_tz) if viewer_tz else UTC
    now_utc = clock.to_naive_utc(now_utc) if now_utc is not None else clock.utcnow()
    local = clock.to_naive_utc(when_utc).replace(tzinfo=UTC).astimezone(zone)
    today = now_utc.replace(tzinfo=UTC).astimezone(zone).date()
    clock_text = f"{local.hour % 12 or 12}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"
    suffix = "" if viewer_tz else " UTC"
    if local.date() == today:
        return f"{clock_text}{suffix}"
    if today < local.date() < today + dt.timedelta(days=7):
        return f"{local:%a} {clock_text}{suffix}"
    return f"{local:%a %b} {local.day}, {clock_text}{suffix}"


def describe_release(
    when_utc: dt.datetime,
    viewer_tz: str | None,
    reason: str | None = "outside business hours",
    now_utc: dt.datetime | None = None,
) -> str:
    """'Queued until Mon 9:00 AM (outside business hours)' for a held message."""
    text = f"Queued until {format_local(when_utc, viewer_tz, now_utc)}"
    return f"{text} ({reason})" if reason else text


# ---- what the composer and the README say about the hours ---------------------------------------


@dataclass(frozen=True)
class OpenState:
    open: bool
    changes_at: dt.datetime | None  # naive UTC: when it closes (open) or opens (closed); None = never


def open_state(now_utc: dt.datetime, hours: BusinessHours | None) -> OpenState:
    """Open or closed at ``now_utc``, and until when (adjacent intervals count as one opening)."""
    now_utc = clock.to_naive_utc(now_utc)
    if hours is None:
        return OpenState(True, None)
    horizon = now_utc + dt.timedelta(days=SEARCH_DAYS)
    current: Interval | None = None
    for start, end in _open_intervals(now_utc, hours):
        if current is not None:
            if start <= current[1]:  # runs on past midnight, or a second interval right after
                current = (current[0], max(current[1], end))
                continue
            break
        if end <= now_utc:
            continue
        if start > now_utc:
            return OpenState(False, start if start < horizon else None)
        current = (start, end)
    if current is None:
        return OpenState(False, None)
    return OpenState(True, current[1] if current[1] < horizon else None)


def _clock(t: dt.time) -> str:
    if t == MIDNIGHT:
        return "midnight"
    return f"{t.hour % 12 or 12}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'}"


def week_summary(hours: BusinessHours) -> str:
    """'Mon–Fri 8:00 AM–8:00 PM, Sat 9:00 AM–2:00 PM' (the workspace's own time; closed days left out)."""
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    spans = [", ".join(f"{_clock(a)}–{_clock(b)}" for a, b in hours.weekly.get(day, [])) for day in range(7)]
    parts, day = [], 0
    while day < 7:
        last = day
        while last + 1 < 7 and spans[last + 1] == spans[day]:
            last += 1
        if spans[day]:
            days = names[day] if last == day else f"{names[day]}–{names[last]}"
            parts.append(f"{days} {spans[day]}")
        day = last + 1
    return ", ".join(parts) if parts else "never open"


def describe_hours(now_utc: dt.datetime, hours: BusinessHours) -> str:
    """'Business hours (America/New_York): Mon–Fri 8:00 AM–8:00 PM, Sat 9:00 AM–2:00 PM · closed now, opens Mon 8:00 AM'.

    The week and the moment it opens or closes are both in the hours' own zone, named once: a
    viewer elsewhere read "(UTC) 3:00 AM–4:00 AM … opens 10:00 PM" when the second time was theirs.
    """
    state = open_state(now_utc, hours)
    when = format_local(state.changes_at, hours.timezone, now_utc) if state.changes_at else None
    if state.open:
        now_text = "open now" + (f" until {when}" if when else "")
    else:
        now_text = "closed now" + (f", opens {when}" if when else "")
    return f"Business hours ({hours.timezone}): {week_summary(hours)} · {now_text}"
