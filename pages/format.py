"""How things read on screen: counts, times, names, channels, delivery status.

Pure functions of their arguments (no Streamlit calls), so list rows, the
thread and the composer say the same thing the same way. What they return
is plain text unless the name says Markdown (``status_markdown``); people's
text inside Markdown is escaped with ``pages.text.esc``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core import clock, labels
from pages.text import esc


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


# ---- time -----------------------------------------------------------------------------


def file_size(n: int | None) -> str:
    """'empty', '740 bytes', '12 KB', '3.4 MB' (a 0-byte file read as '1 KB' before)."""
    n = n or 0
    if n <= 0:
        return "empty"
    if n < 1000:
        return plural(n, "byte")
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{n // 1000} KB"


def zone(tz_name: str | None) -> dt.tzinfo:
    try:
        return ZoneInfo(tz_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _naive(value: Any) -> dt.datetime | None:
    if value is None or (not isinstance(value, dt.datetime) and value != value):  # None / NaT
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    return clock.to_naive_utc(value)


def local(value: Any, tz_name: str | None) -> dt.datetime | None:
    """A stored naive-UTC time in the viewer's zone."""
    naive = _naive(value)
    return None if naive is None else naive.replace(tzinfo=dt.UTC).astimezone(zone(tz_name))


def clock_time(value: dt.datetime) -> str:
    """'2:05 PM'."""
    return f"{value.hour % 12 or 12}:{value.minute:02d} {'AM' if value.hour < 12 else 'PM'}"


def fmt_time(value: Any, tz_name: str | None, now: dt.datetime | None = None) -> str:
    """Naive UTC → viewer's zone: "2:05 PM" today, "Tue 2:05 PM" this week, "Nov 3" older."""
    at = local(value, tz_name)
    if at is None:
        return ""
    today = (now or clock.utcnow()).replace(tzinfo=dt.UTC).astimezone(zone(tz_name)).date()
    days = abs((today - at.date()).days)
    if days == 0:
        return clock_time(at)
    if days < 7:
        return f"{at:%a} {clock_time(at)}"
    if at.year == today.year:
        return f"{at:%b} {at.day}"
    return f"{at:%b} {at.day}, {at.year}"


def waited(seconds: float) -> str:
    """How long something has waited: "42 s", "3 min", "2 h 5 min", "3 d 4 h"."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def relative_time(value: Any, tz_name: str | None, now: dt.datetime | None = None) -> str:
    """How long ago, the way an inbox says it: "now", "12 min", "2:05 PM", "Yesterday", "Tue", "Nov 3"."""
    at = local(value, tz_name)
    if at is None:
        return ""
    now_local = (now or clock.utcnow()).replace(tzinfo=dt.UTC).astimezone(zone(tz_name))
    seconds = (now_local - at).total_seconds()
    if -60 < seconds < 60:
        return "now"
    if 0 < seconds < 3600:
        return f"{int(seconds // 60)} min"
    days = (now_local.date() - at.date()).days
    if days == 0:
        return clock_time(at)
    if days == 1:
        return "Yesterday"
    if 1 < days < 7:
        return f"{at:%a}"
    if at.year == now_local.year:
        return f"{at:%b} {at.day}"
    return f"{at:%b} {at.day}, {at.year}"


def full_time(value: Any, tz_name: str | None) -> str:
    """'Tue, Nov 3, 2026, 2:05 PM' (a tooltip's exact time)."""
    at = local(value, tz_name)
    return "" if at is None else f"{at:%a, %b} {at.day}, {at.year}, {clock_time(at)}"


# ---- names and channels ------------------------------------------------------------------------

CHANNEL_BADGES = {"sms": "💬 SMS", "whatsapp": "🟢 WhatsApp"}
CHANNEL_ICONS = {"sms": "💬", "whatsapp": "🟢"}
CHANNEL_NAMES = {"sms": "SMS", "whatsapp": "WhatsApp"}


def channel_badge(channel: str | None) -> str:
    return CHANNEL_BADGES.get(channel or "", str(channel or ""))


contact_label = labels.contact_label  # the name, else the number as people read it (core's one label)


def first_line(text: str | None) -> str:
    """The first non-empty line of a message, whitespace collapsed (a list row's preview)."""
    for line in (text or "").splitlines():
        if line.strip():
            return " ".join(line.split())
    return ""


# ---- delivery status (DESIGN.md, *Status icons*) ----------------------------------------

STATUS_ICONS = {
    "queued": "🕓",
    "sending": "🕓",
    "sent": "✓",
    "delivered": "✓✓",
    "read": ":blue[✓✓]",
    "failed": ":red[⚠]",
    "undelivered": ":red[⚠]",
    "not_sent": ":red[⚠]",
    "interrupted": ":red[⚠]",
}
STATUS_WORDS = labels.STATUS_WORDS  # core's one vocabulary (``core.labels``)
FAILED_STATUSES = labels.PROBLEM_STATUSES
# How a list row colours a status icon (no Markdown there).
STATUS_TONES = {"read": "read", **{s: "failed" for s in FAILED_STATUSES}, "queued": "waiting", "sending": "waiting"}


def status_icon_text(status: str | None) -> str:
    """The icon without markdown colour, for plain text."""
    return re.sub(r":\w+\[(.*)\]", r"\1", STATUS_ICONS.get(status or "", "•"))


def _status_detail(row: dict[str, Any], tz_name: str | None) -> str:
    """What follows the status word: why it failed, or when a queued message goes (core's words)."""
    text = labels.status_text({**row, "release_at": _naive(row.get("release_at"))}, clock.utcnow())
    if text.until is not None:
        if text.reason:  # the provider is down or busy: core keeps trying
            return f"{text.reason}, retrying {fmt_time(text.until, tz_name)}"
        return f"until {fmt_time(text.until, tz_name)}"
    return text.reason


def status_word(status: str | None) -> str:
    status = status or ""
    return STATUS_WORDS.get(status, status.replace("_", " ").capitalize())


def _joined(words: str, detail: str) -> str:
    if not detail:
        return words
    return f"{words} {detail}" if detail.startswith("until ") else f"{words} — {detail}"


def status_phrase(row: dict[str, Any], tz_name: str | None = None) -> str:
    """The status in words without its icon: "Not sent — Contact opted out", "Queued until Tue 9:00 AM"."""
    return _joined(status_word(row.get("status")), _status_detail(row, tz_name))


def status_label(row: dict[str, Any], tz_name: str | None = None) -> str:
    """Plain text: "✓✓ Delivered", "⚠ Not sent — Contact opted out", "🕓 Queued until Tue 9:00 AM"."""
    status = row.get("status") or ""
    return f"{status_icon_text(status)} {_joined(status_word(status), _status_detail(row, tz_name))}"


def status_markdown(row: dict[str, Any], tz_name: str | None = None) -> str:
    """The same as Markdown, with the blue/red icons; the reason is escaped."""
    status = row.get("status") or ""
    return f"{STATUS_ICONS.get(status, '•')} {esc(_joined(status_word(status), _status_detail(row, tz_name)))}"


# ---- a queued message: why it waits and until when (the thread's bubble) --------------------------

QUEUED_WHY = {
    "business_hours": "outside business hours",
    "quiet_hours": "the recipient's quiet hours",
    "retry": "the provider did not answer, trying again",
}


def when_it_goes(value: Any, tz_name: str | None, now: dt.datetime | None = None) -> str:
    """'at 8:00 AM' today, 'tomorrow at 8:00 AM', 'Mon at 8:00 AM' this week, 'Mar 9 at 8:00 AM' later."""
    at = local(value, tz_name)
    if at is None:
        return ""
    today = (now or clock.utcnow()).replace(tzinfo=dt.UTC).astimezone(zone(tz_name)).date()
    days = (at.date() - today).days
    if days <= 0:
        return f"at {clock_time(at)}"
    if days == 1:
        return f"tomorrow at {clock_time(at)}"
    if days < 7:
        return f"{at:%a} at {clock_time(at)}"
    return f"{at:%b} {at.day} at {clock_time(at)}"


def queued_text(message: dict[str, Any], tz_name: str | None, now: dt.datetime | None = None) -> str | None:
    """'🕓 Queued — outside business hours, goes at 8:00 AM' for a message that waits; None otherwise.

    From what core recorded on the message: ``queued_reason`` (why) and ``release_at`` (until when).
    """
    if message.get("status") not in ("queued", "sending"):
        return None
    release = _naive(message.get("release_at"))
    if release is None or release <= (now or clock.utcnow()):
        return None
    why = QUEUED_WHY.get(message.get("queued_reason") or "")
    goes = when_it_goes(release, tz_name, now)
    reason = message.get("error_reason") if message.get("status") == "queued" else None
    if reason and (message.get("queued_reason") or "retry") == "retry":  # the provider's failure, in its words
        return f"🕓 Queued — {reason}, retrying {goes}"
    return f"🕓 Queued — {why}, goes {goes}" if why else f"🕓 Queued — goes {goes}"
