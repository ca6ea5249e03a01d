"""Rule 5: WhatsApp's 24-hour customer care window."""

from __future__ import annotations

import datetime as dt

import pytest

from core.compliance.window import WINDOW, WindowState, describe_window, window_state

NOW = dt.datetime(2026, 4, 15, 12, 0)


def test_the_window_is_twenty_four_hours():
    assert WINDOW == dt.timedelta(hours=24)


def test_open_at_23h59():
    state = window_state(NOW - dt.timedelta(hours=23, minutes=59), NOW)
    assert state.open is True
    assert state.closes_at == NOW + dt.timedelta(minutes=1)
    assert state.remaining == dt.timedelta(minutes=1)


def test_closed_at_24h01():
    last = NOW - dt.timedelta(hours=24, minutes=1)
    state = window_state(last, NOW)
    assert state == WindowState(open=False, closes_at=last + WINDOW, remaining=dt.timedelta(0))


def test_closed_at_exactly_24h():
    assert window_state(NOW - WINDOW, NOW).open is False


def test_never_opened_when_the_customer_never_wrote():
    assert window_state(None, NOW) == WindowState(open=False, closes_at=None, remaining=dt.timedelta(0))


def test_a_new_inbound_message_refreshes_the_window():
    assert window_state(NOW - dt.timedelta(minutes=5), NOW).remaining == dt.timedelta(hours=23, minutes=55)


def test_an_inbound_time_ahead_of_our_clock_never_gives_more_than_a_full_window():
    state = window_state(NOW + dt.timedelta(minutes=3), NOW)
    assert state.open is True
    assert state.remaining == WINDOW


def test_aware_datetimes_are_compared_as_utc():
    last = dt.datetime(2026, 4, 14, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=-4)))  # 12:30 UTC
    state = window_state(last, NOW)
    assert state.open is True
    assert state.closes_at == dt.datetime(2026, 4, 15, 12, 30)


@pytest.mark.parametrize(
    "age, text",
    [
        (dt.timedelta(hours=20, minutes=48), "The WhatsApp window is open for 3 h 12 min more."),
        (dt.timedelta(hours=23, minutes=59, seconds=30), "The WhatsApp window is open for 1 min more."),
        (dt.timedelta(hours=23, minutes=15), "The WhatsApp window is open for 45 min more."),
    ],
)
def test_describe_open_window(age, text):
    assert describe_window(window_state(NOW - age, NOW)) == text


def test_describe_closed_and_never_opened_windows_mention_templates():
    closed = describe_window(window_state(NOW - dt.timedelta(days=2), NOW))
    never = describe_window(window_state(None, NOW))
    assert "closed" in closed and "registered templates" in closed
    assert "has not written" in never and "registered templates" in never
