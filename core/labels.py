"""The words Parley uses for contacts and delivery statuses, one vocabulary for every page.

Pages add icons and colours (DESIGN.md, *Status icons*); what a status is
called, why a message failed, and which messages may be sent again are
decided here, so the conversation, Sent Messages and exports say the same.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from core.phones import format_phone_display
from core.providers.base import (
    DELIVERED,
    FAILED,
    INTERRUPTED,
    NOT_SENT,
    QUEUED,
    READ,
    SENDING,
    SENT,
    UNDELIVERED,
)

RECEIVED = "received"

STATUS_WORDS = {
    QUEUED: "Queued",
    SENDING: "Sending",
    SENT: "Sent",
    DELIVERED: "Delivered",
    READ: "Read",
    FAILED: "Failed",
    UNDELIVERED: "Undelivered",
    NOT_SENT: "Not sent",
    INTERRUPTED: "Interrupted",
    RECEIVED: "Received",
}
# What a failure says when the provider gave no reason.
DEFAULT_REASONS = {
    FAILED: "the provider reported a failure",
    UNDELIVERED: "the carrier could not deliver it",
    NOT_SENT: "blocked",
    INTERRUPTED: "we don't know if it was sent",
}
PROBLEM_STATUSES = frozenset(DEFAULT_REASONS)  # shown in red with ⚠
WAITING_STATUSES = frozenset({QUEUED, SENDING})
# An agent may send these again (``messaging.do_retry``), knowing an interrupted one may arrive twice.
RETRYABLE_STATUSES = frozenset({INTERRUPTED, FAILED})


def contact_label(name: str | None, phone: str | None) -> str:
    """The contact's name, else their number formatted for reading, else 'Unknown number'."""
    return (name or "").strip() or format_phone_display(phone) or "Unknown number"


@dataclass(frozen=True)
class StatusText:
    """A message's status in words: ``words`` ("Failed"), ``reason`` (why, for problems, or why
    a queued message is retried, or what went wrong receiving an incoming one: an attachment
    that could not be downloaded) and ``until`` (the time a queued message will go, naive UTC);
    ``problem`` marks the red ones."""

    status: str
    words: str
    reason: str = ""
    until: dt.datetime | None = None

    @property
    def problem(self) -> bool:
        return self.status in PROBLEM_STATUSES


def failure_reason(status: str, code: Any, reason: Any) -> str:
    """Why a message did not go: the provider's sentence with its code, or the default."""
    if status == INTERRUPTED:
        # Core's own sentence says whether Parley is still checking with the provider or the
        # agent must decide (core.delivery); without one, the default.
        return (str(reason) if reason else "").removeprefix("Interrupted: ") or DEFAULT_REASONS[INTERRUPTED]
    code, reason = (str(code) if code else ""), (str(reason) if reason else "")
    if code and reason and code in reason:  # "Unknown number (error 30005)"
        return reason
    if code and reason:
        return f"{reason} (error {code})"
    return reason or (f"error {code}" if code else DEFAULT_REASONS.get(status, ""))


def status_text(row: dict[str, Any], now: dt.datetime) -> StatusText:
    """The status of a message row (``status``, ``error_code``, ``error_reason``, ``release_at``)."""
    status = row.get("status") or ""
    words = STATUS_WORDS.get(status, status.replace("_", " ").capitalize())
    if status in PROBLEM_STATUSES:
        return StatusText(status, words, failure_reason(status, row.get("error_code"), row.get("error_reason")))
    if status == RECEIVED and row.get("error_reason"):
        # Kept with what arrived, never dropped (rule 8): "Attachment 1 could not be downloaded: …".
        return StatusText(status, words, str(row["error_reason"]))
    release = row.get("release_at")
    if hasattr(release, "to_pydatetime"):
        release = release.to_pydatetime()
    if status in WAITING_STATUSES and isinstance(release, dt.datetime) and release > now:
        # A queued message with a reason is waiting out a provider's trouble ("provider
        # unavailable (HTTP 500: …)"): pages say it is retried at ``until``.
        retry = str(row.get("error_reason") or "") if status == QUEUED else ""
        return StatusText(status, words, reason=retry, until=release)
    return StatusText(status, words)
