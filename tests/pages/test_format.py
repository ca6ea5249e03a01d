"""How things read: relative times in a list, and a queued message's why and until when."""

from __future__ import annotations

import datetime as dt

from pages import format as fmt

NOW = dt.datetime(2026, 3, 4, 23, 30)  # Wednesday 6:30 PM in New York
NY = "America/New_York"


def test_relative_time_reads_like_an_inbox():
    assert [
        fmt.relative_time(NOW - dt.timedelta(**ago), NY, NOW)
        for ago in (
            {"seconds": 20},
            {"minutes": 7},
            {"hours": 3},
            {"hours": 20},
            {"days": 3},
            {"days": 40},
            {"days": 400},
        )
    ] == ["now", "7 min", "3:30 PM", "Yesterday", "Sun", "Jan 23", "Jan 28, 2025"]


def test_a_queued_bubble_says_why_and_until_when():
    def text(reason, release):
        return fmt.queued_text({"status": "queued", "queued_reason": reason, "release_at": release}, NY, NOW)

    assert text("business_hours", dt.datetime(2026, 3, 5, 13, 0)) == (
        "🕓 Queued — outside business hours, goes tomorrow at 8:00 AM"
    )
    assert (
        text("quiet_hours", dt.datetime(2026, 3, 5, 0, 15))
        == "🕓 Queued — the recipient's quiet hours, goes at 7:15 PM"
    )
    assert (
        text("business_hours", dt.datetime(2026, 3, 9, 12, 0))  # after the switch to daylight time
        == "🕓 Queued — outside business hours, goes Mon at 8:00 AM"
    )
    assert text(None, dt.datetime(2026, 3, 20, 13, 0)) == "🕓 Queued — goes Mar 20 at 9:00 AM"
    assert text("business_hours", NOW - dt.timedelta(minutes=1)) is None, "its time came: it is on its way"
    assert fmt.queued_text({"status": "sent", "release_at": None}, NY, NOW) is None


def test_a_send_waiting_out_a_provider_failure_says_which_and_when():
    now = dt.datetime(2026, 3, 2, 15, 0)  # 10:00 AM in New York
    message = {
        "status": "queued",
        "queued_reason": "retry",
        "error_reason": "provider unavailable (HTTP 503)",
        "release_at": dt.datetime(2026, 3, 2, 15, 3),
    }
    assert fmt.queued_text(message, "America/New_York", now) == (
        "🕓 Queued — provider unavailable (HTTP 503), retrying at 10:03 AM"
    )


def test_a_file_size_reads_as_people_say_it():
    sizes = (None, 0, 1, 740, 999, 1000, 12_345, 999_999, 1_000_000, 3_450_000)
    assert [fmt.file_size(n) for n in sizes] == [
        "empty",
        "empty",
        "1 byte",
        "740 bytes",
        "999 bytes",
        "1 KB",
        "12 KB",
        "999 KB",
        "1.0 MB",
        "3.5 MB",
    ]
