"""WhatsApp's 24-hour customer care window (rule 5).

Each message *from* the customer opens or refreshes the window; the
business's own sends never extend it. Inside it anything may be sent;
outside it only provider-approved templates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from core.clock import to_naive_utc

WINDOW = dt.timedelta(hours=24)


@dataclass(frozen=True)
class WindowState:
    open: bool
    closes_at: dt.datetime | None  # naive UTC; None when the customer never wrote
    remaining: dt.timedelta  # zero once closed


def window_state(last_inbound_at: dt.datetime | None, now: dt.datetime) -> WindowState:
    """The window as of ``now``, given the customer's last inbound message time (naive UTC)."""
    if last_inbound_at is None:
        return WindowState(open=False, closes_at=None, remaining=dt.timedelta(0))
    closes_at = to_naive_utc(last_inbound_at) + WINDOW
    remaining = closes_at - to_naive_utc(now)
    # Closed exactly at 24 h: Meta counts the window as "within 24 hours".
    if remaining <= dt.timedelta(0):
        return WindowState(open=False, closes_at=closes_at, remaining=dt.timedelta(0))
    # A clock skewed ahead of ours must not promise more than a full window.
    return WindowState(open=True, closes_at=closes_at, remaining=min(remaining, WINDOW))


def describe_window(state: WindowState) -> str:
    """One sentence for the composer."""
    if state.open:
        hours, seconds = divmod(int(state.remaining.total_seconds()), 3600)
        minutes = seconds // 60
        left = f"{hours} h {minutes} min" if hours else f"{max(minutes, 1)} min"
        return f"The WhatsApp window is open for {left} more."
    if state.closes_at is None:
        return "The customer has not written on WhatsApp yet: only registered templates can be sent."
    return (
        "The WhatsApp window is closed (24 hours after the customer's last message): "
        "only registered templates can be sent."
    )
