"""The one source of 'now' (naive UTC), replaceable in tests.

Every timestamp Parley stores is naive UTC; conversion to a viewer's time
zone happens only when formatting for display.
"""

from __future__ import annotations

import datetime as dt
import threading

_lock = threading.Lock()
_frozen: dt.datetime | None = None
_offset = dt.timedelta(0)


def utcnow() -> dt.datetime:
    """Current time as a naive UTC datetime."""
    if _frozen is not None:
        return _frozen
    return dt.datetime.now(dt.UTC).replace(tzinfo=None) + _offset


def freeze(at: dt.datetime | None) -> None:
    """Pin the clock (tests). ``None`` unfreezes it."""
    global _frozen
    with _lock:
        _frozen = at


def advance(delta: dt.timedelta) -> None:
    """Move the clock forward (tests), frozen or not."""
    global _frozen, _offset
    with _lock:
        if _frozen is not None:
            _frozen = _frozen + delta
        else:
            _offset += delta


def to_naive_utc(value: dt.datetime) -> dt.datetime:
    """Normalise an aware or naive datetime to naive UTC (naive = already UTC)."""
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)
