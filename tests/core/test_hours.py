"""Rule 3: business hours, holidays, recipient quiet hours, DST changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from core.compliance.hours import (
    BusinessHours,
    QuietHours,
    describe_release,
    format_local,
    is_open,
    local_to_utc,
    next_send_time,
)
from core.errors import ValidationError

NY = "America/New_York"
LA = "America/Los_Angeles"
T = dt.time


def utc(zone: str, *parts: int) -> dt.datetime:
    """Naive UTC for a wall time in ``zone`` (for unambiguous, existing times)."""
    return dt.datetime(*parts, tzinfo=ZoneInfo(zone)).astimezone(dt.UTC).replace(tzinfo=None)


def local(zone: str, when_utc: dt.datetime) -> dt.datetime:
    return when_utc.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def weekdays(start: dt.time = T(9), end: dt.time = T(17), zone: str = NY, holidays=()) -> BusinessHours:
    weekly = {day: [(start, end)] for day in range(5)}
    return BusinessHours(timezone=zone, weekly=weekly, holidays=set(holidays))


def test_open_now_returns_now_unchanged():
    now = utc(NY, 2026, 3, 4, 10, 15)  # Wednesday
    assert next_send_time(now, weekdays(), NY, QuietHours()) == now
    assert is_open(now, weekdays(), NY, QuietHours())


def test_friday_evening_waits_until_monday_morning():
    friday = utc(NY, 2026, 1, 16, 18, 30)
    when = next_send_time(friday, weekdays(), NY, QuietHours())
    assert local(NY, when) == dt.datetime(2026, 1, 19, 9, 0)
    assert not is_open(friday, weekdays())


def test_before_opening_waits_until_opening_the_same_day():
    early = utc(NY, 2026, 1, 14, 6, 0)
    assert local(NY, next_send_time(early, weekdays(), NY, QuietHours())) == dt.datetime(2026, 1, 14, 9, 0)


def test_closing_time_itself_is_closed():
    closing = utc(NY, 2026, 1, 14, 17, 0)
    assert not is_open(closing, weekdays())
    assert is_open(closing - dt.timedelta(seconds=1), weekdays())


def test_holiday_monday_waits_until_tuesday():
    friday = utc(NY, 2026, 5, 22, 18, 0)
    hours = weekdays(holidays=[dt.date(2026, 5, 25)])  # Memorial Day
    assert local(NY, next_send_time(friday, hours, NY, QuietHours())) == dt.datetime(2026, 5, 26, 9, 0)


def test_during_a_holiday_nothing_is_open():
    hours = weekdays(holidays=[dt.date(2026, 12, 25)])
    assert not is_open(utc(NY, 2026, 12, 25, 11, 0), hours)


def test_split_day_waits_for_the_afternoon_interval():
    weekly = {day: [(T(8), T(12)), (T(13), T(18))] for day in range(7)}
    hours = BusinessHours(NY, weekly, set())
    lunch = utc(NY, 2026, 2, 10, 12, 30)
    assert local(NY, next_send_time(lunch, hours, NY, QuietHours())) == dt.datetime(2026, 2, 10, 13, 0)


def test_spring_forward_keeps_opening_at_local_nine():
    # 2026-03-08: New York jumps from 02:00 EST to 03:00 EDT.
    saturday = utc(NY, 2026, 3, 7, 12, 0)
    hours = BusinessHours(NY, {6: [(T(9), T(17))]}, set())  # open Sundays only
    when = next_send_time(saturday, hours, NY, QuietHours())
    assert local(NY, when) == dt.datetime(2026, 3, 8, 9, 0)
    assert when == dt.datetime(2026, 3, 8, 13, 0)  # EDT is UTC-4


def test_fall_back_keeps_opening_at_local_nine():
    # 2026-11-01: New York falls back from 02:00 EDT to 01:00 EST.
    saturday = utc(NY, 2026, 10, 31, 12, 0)
    hours = BusinessHours(NY, {6: [(T(9), T(17))]}, set())
    when = next_send_time(saturday, hours, NY, QuietHours())
    assert when == dt.datetime(2026, 11, 1, 14, 0)  # EST is UTC-5


@pytest.mark.parametrize(
    "friday, monday_utc",
    [
        ((2026, 3, 6, 18, 30), dt.datetime(2026, 3, 9, 13, 0)),  # EST Friday → EDT Monday
        ((2026, 10, 30, 18, 30), dt.datetime(2026, 11, 2, 14, 0)),  # EDT Friday → EST Monday
    ],
)
def test_weekend_across_a_dst_change_opens_at_local_nine(friday, monday_utc):
    when = next_send_time(utc(NY, *friday), weekdays(), NY, QuietHours())
    assert when == monday_utc
    assert local(NY, when).time() == T(9)


def test_opening_inside_the_spring_forward_gap_opens_at_the_jump():
    hours = BusinessHours(NY, {6: [(T(2, 30), T(5))]}, set())
    when = next_send_time(utc(NY, 2026, 3, 7, 12, 0), hours, None, None)
    assert when == dt.datetime(2026, 3, 8, 7, 0)  # 03:00 EDT, the first instant after 02:30
    assert local(NY, when) == dt.datetime(2026, 3, 8, 3, 0)


def test_repeated_fall_back_time_takes_its_first_occurrence():
    assert local_to_utc(dt.datetime(2026, 11, 1, 1, 30), ZoneInfo(NY)) == dt.datetime(2026, 11, 1, 5, 30)


def test_nonexistent_time_maps_to_the_jump():
    assert local_to_utc(dt.datetime(2026, 3, 8, 2, 30), ZoneInfo(NY)) == dt.datetime(2026, 3, 8, 7, 0)


def test_recipient_in_los_angeles_waits_for_their_eight_am():
    # 10:00 in New York (open), 07:00 in Los Angeles (too early for the recipient).
    now = utc(NY, 2026, 4, 15, 10, 0)
    assert is_open(now, weekdays(), None, None)
    when = next_send_time(now, weekdays(), LA, QuietHours())
    assert local(LA, when) == dt.datetime(2026, 4, 15, 8, 0)
    assert not is_open(now, weekdays(), LA, QuietHours())


def test_late_evening_in_new_york_is_fine_for_california_but_not_for_new_york():
    hours = BusinessHours(NY, {day: [(T(8), T(23))] for day in range(7)}, set())
    now = utc(NY, 2026, 4, 15, 21, 30)
    assert next_send_time(now, hours, LA, QuietHours()) == now
    assert local(NY, next_send_time(now, hours, NY, QuietHours())) == dt.datetime(2026, 4, 16, 8, 0)


def test_florida_stricter_quiet_hours_end_at_eight_pm():
    hours = BusinessHours(NY, {day: [(T(8), T(22))] for day in range(7)}, set())
    miami = "America/New_York"
    now = utc(NY, 2026, 6, 3, 20, 15)
    assert next_send_time(now, hours, miami, QuietHours()) == now  # federal 21:00 allows it
    florida = QuietHours(start=T(8), end=T(20))
    assert local(NY, next_send_time(now, hours, miami, florida)) == dt.datetime(2026, 6, 4, 8, 0)


ALWAYS = BusinessHours(NY, {day: [(T(0), T(0))] for day in range(7)}, set())  # open all day, every day
IDAHO = "America/Boise|America/Los_Angeles"  # area 208-320: Boise (Mountain) or northern Idaho (Pacific)


def test_a_recipient_who_may_be_in_several_zones_waits_for_eight_in_the_westernmost():
    now = dt.datetime(2025, 6, 10, 14, 0)  # 8:00 in Boise, 7:00 in northern Idaho
    assert next_send_time(now, ALWAYS, "America/Boise", QuietHours()) == now
    assert next_send_time(now, ALWAYS, IDAHO, QuietHours()) == dt.datetime(2025, 6, 10, 15, 0)
    assert next_send_time(now, ALWAYS, ["America/Los_Angeles", "America/Boise"], QuietHours()) == dt.datetime(
        2025, 6, 10, 15, 0
    )
    assert not is_open(now, ALWAYS, IDAHO, QuietHours())
    assert is_open(dt.datetime(2025, 6, 10, 15, 0), ALWAYS, IDAHO, QuietHours())


def test_a_recipient_who_may_be_in_several_zones_stops_at_nine_in_the_easternmost():
    now = dt.datetime(2025, 6, 11, 3, 0)  # 21:00 in Boise, 20:00 in northern Idaho
    assert next_send_time(now, ALWAYS, "America/Los_Angeles", QuietHours()) == now
    assert next_send_time(now, ALWAYS, IDAHO, QuietHours()) == dt.datetime(2025, 6, 11, 15, 0)  # 8:00 LA
    assert is_open(dt.datetime(2025, 6, 11, 2, 59), ALWAYS, IDAHO, QuietHours())


def test_australia_from_perth_to_sydney():
    zones = "Australia/Sydney|Australia/Perth"
    now = dt.datetime(2025, 6, 10, 22, 0)  # 8:00 in Sydney (AEST), 6:00 in Perth (AWST)
    assert next_send_time(now, ALWAYS, zones, QuietHours()) == dt.datetime(2025, 6, 11, 0, 0)  # 8:00 in Perth
    # ...and the last moment is 21:00 in Sydney (11:00 UTC), when Perth is at 19:00.
    assert is_open(dt.datetime(2025, 6, 11, 10, 59), ALWAYS, zones, QuietHours())
    assert next_send_time(dt.datetime(2025, 6, 11, 11, 0), ALWAYS, zones, QuietHours()) == dt.datetime(
        2025, 6, 12, 0, 0
    )


def test_zones_whose_allowed_hours_never_meet_fall_back_to_the_first_rather_than_never():
    # A window of 2 hours, and zones 3 hours apart: no moment suits both, so the best guess decides.
    narrow = QuietHours(start=T(10), end=T(12))
    now = dt.datetime(2025, 6, 10, 12, 0)  # 8:00 in New York, 5:00 in Los Angeles
    both = "America/New_York|America/Los_Angeles"
    assert next_send_time(now, ALWAYS, both, narrow) == dt.datetime(2025, 6, 10, 14, 0)  # 10:00 New York
    assert is_open(dt.datetime(2025, 6, 10, 14, 0), ALWAYS, both, narrow)


def test_zones_whose_allowed_hours_never_meet_business_hours_fall_back_to_the_first_rather_than_never():
    # A Russian mobile may be in Moscow (UTC+3) or Kamchatka (UTC+12): 8:00-21:00 in both is 05:00-09:00
    # UTC, which never meets 9:00-17:00 New York (13:00-21:00 UTC): Moscow, the best guess, decides.
    zones = "Europe/Moscow|Asia/Kamchatka"
    now = dt.datetime(2025, 6, 10, 12, 0)  # Tuesday 8:00 in New York
    assert next_send_time(now, weekdays(), zones, QuietHours()) == dt.datetime(2025, 6, 10, 13, 0)
    assert is_open(dt.datetime(2025, 6, 10, 13, 0), weekdays(), zones, QuietHours())
    # With business hours always open, both must allow it: 05:00 UTC, 8:00 in Moscow.
    assert next_send_time(now, ALWAYS, zones, QuietHours()) == dt.datetime(2025, 6, 11, 5, 0)


def test_business_hours_must_meet_the_allowed_hours_of_every_zone():
    # Open 9:00-17:00 New York; the recipient is in Boise or Los Angeles: 8:00 LA is 11:00 New York.
    now = utc(NY, 2025, 6, 10, 9, 0)
    assert local(NY, next_send_time(now, weekdays(), IDAHO, QuietHours())) == dt.datetime(2025, 6, 10, 11, 0)


def test_unknown_recipient_zone_uses_the_workspace_zone():
    hours = BusinessHours(NY, {day: [(T(0), T(0))] for day in range(7)}, set())  # open all day
    now = utc(NY, 2026, 6, 3, 22, 0)
    assert local(NY, next_send_time(now, hours, None, QuietHours())) == dt.datetime(2026, 6, 4, 8, 0)


def test_no_rules_means_send_now():
    now = dt.datetime(2026, 6, 3, 3, 0)
    assert next_send_time(now, None, None, None) == now
    assert is_open(now, None)


def test_hours_running_to_midnight_continue_into_the_next_day():
    weekly = {0: [(T(20), T(0))], 1: [(T(0), T(2))]}
    hours = BusinessHours(NY, weekly, set())
    assert is_open(utc(NY, 2026, 1, 12, 23, 59), hours)  # Monday night
    assert is_open(utc(NY, 2026, 1, 13, 1, 0), hours)  # Tuesday 01:00
    assert not is_open(utc(NY, 2026, 1, 13, 2, 0), hours)


def test_overlapping_intervals_are_merged():
    hours = BusinessHours(NY, {0: [(T(13), T(17)), (T(9), T(14))]}, set())
    assert hours.weekly[0] == [(T(9), T(17))]
    assert hours.weekly[3] == []


def test_always_closed_schedule_is_explained():
    closed = BusinessHours(NY, {}, set())
    with pytest.raises(ValidationError, match="Business hours are never open"):
        next_send_time(utc(NY, 2026, 1, 14, 10, 0), closed, NY, QuietHours())
    assert not is_open(utc(NY, 2026, 1, 14, 10, 0), closed)


def test_hours_that_never_meet_quiet_hours_are_explained():
    night_shift = BusinessHours(NY, {day: [(T(22), T(23))] for day in range(7)}, set())
    with pytest.raises(ValidationError, match="never overlap the recipient's allowed hours"):
        next_send_time(utc(NY, 2026, 1, 14, 10, 0), night_shift, NY, QuietHours())


def test_an_interval_must_end_after_it_starts():
    with pytest.raises(ValidationError, match="must end after they start"):
        BusinessHours(NY, {0: [(T(17), T(9))]}, set())
    with pytest.raises(ValidationError, match="Quiet hours must end after they start"):
        QuietHours(start=T(21), end=T(8))


def test_unknown_time_zone_is_a_validation_error():
    with pytest.raises(ValidationError, match="is not a known time zone"):
        BusinessHours("Mars/Olympus_Mons", {}, set())
    with pytest.raises(ValidationError, match="is not a known time zone"):
        next_send_time(dt.datetime(2026, 1, 14, 15, 0), weekdays(), "Nowhere/Else", QuietHours())


def test_aware_now_is_accepted():
    aware = dt.datetime(2026, 1, 14, 15, 0, tzinfo=dt.UTC)
    assert next_send_time(aware, weekdays(), NY, QuietHours()) == dt.datetime(2026, 1, 14, 15, 0)


def test_describe_release_uses_weekday_within_a_week():
    friday = utc(NY, 2026, 1, 16, 18, 30)
    monday = utc(NY, 2026, 1, 19, 9, 0)
    assert describe_release(monday, NY, now_utc=friday) == "Queued until Mon 9:00 AM (outside business hours)"
    assert (
        describe_release(monday, LA, "the recipient's quiet hours", now_utc=friday)
        == "Queued until Mon 6:00 AM (the recipient's quiet hours)"
    )


def test_format_local_today_and_far_ahead():
    now = utc(NY, 2026, 1, 14, 6, 0)
    assert format_local(utc(NY, 2026, 1, 14, 13, 5), NY, now) == "1:05 PM"
    assert format_local(utc(NY, 2026, 2, 2, 0, 30), NY, now) == "Mon Feb 2, 12:30 AM"
    assert format_local(dt.datetime(2026, 1, 14, 12, 0), None, dt.datetime(2026, 1, 14, 6, 0)) == "12:00 PM UTC"


# ---- open or closed now, and the week in one line ----------------------------------------------


def demo_week() -> BusinessHours:
    weekly = {day: [(T(8), T(20))] for day in range(5)} | {5: [(T(9), T(14))], 6: []}
    return BusinessHours(timezone=NY, weekly=weekly, holidays={dt.date(2026, 12, 25)})


def test_open_state_says_until_when():
    from core.compliance.hours import open_state

    state = open_state(utc(NY, 2026, 3, 4, 15, 30), demo_week())  # Wednesday afternoon
    assert (state.open, state.changes_at) == (True, utc(NY, 2026, 3, 4, 20, 0))


def test_closed_on_friday_night_opens_saturday_morning_and_skips_a_holiday():
    from core.compliance.hours import open_state

    state = open_state(utc(NY, 2026, 3, 6, 21, 0), demo_week())
    assert (state.open, state.changes_at) == (False, utc(NY, 2026, 3, 7, 9, 0))
    christmas_eve = open_state(utc(NY, 2026, 12, 24, 22, 0), demo_week())  # Thursday night, Friday the 25th off
    assert (christmas_eve.open, christmas_eve.changes_at) == (False, utc(NY, 2026, 12, 26, 9, 0))


def test_hours_running_past_midnight_are_one_opening():
    from core.compliance.hours import open_state

    late = BusinessHours(timezone=NY, weekly={0: [(T(18), T(0))], 1: [(T(0), T(2)), (T(9), T(12))]}, holidays=set())
    state = open_state(utc(NY, 2026, 3, 2, 23, 0), late)  # Monday 11 PM
    assert (state.open, state.changes_at) == (True, utc(NY, 2026, 3, 3, 2, 0))


def test_never_open_is_closed_with_no_opening():
    from core.compliance.hours import open_state

    never = BusinessHours(timezone=NY, weekly={}, holidays=set())
    assert open_state(utc(NY, 2026, 3, 4, 12, 0), never) == open_state(utc(NY, 2026, 3, 5, 12, 0), never)
    assert open_state(utc(NY, 2026, 3, 4, 12, 0), never).open is False
    assert open_state(utc(NY, 2026, 3, 4, 12, 0), never).changes_at is None


def test_the_week_in_one_line_and_the_state_in_the_hours_own_zone():
    from core.compliance.hours import describe_hours, week_summary

    assert week_summary(demo_week()) == "Mon–Fri 8:00 AM–8:00 PM, Sat 9:00 AM–2:00 PM"
    assert (
        describe_hours(utc(NY, 2026, 3, 6, 21, 0), demo_week())
        == "Business hours (America/New_York): Mon–Fri 8:00 AM–8:00 PM, Sat 9:00 AM–2:00 PM · closed now, "
        "opens Sat 9:00 AM"
    )
    # 3:30 PM in New York: closing at 8:00 PM there (not 5:00 PM, a Los Angeles reader's clock).
    assert (
        describe_hours(utc(NY, 2026, 3, 4, 15, 30), demo_week())
        == "Business hours (America/New_York): Mon–Fri 8:00 AM–8:00 PM, Sat 9:00 AM–2:00 PM · open now "
        "until 8:00 PM"
    )
    # Hours kept in UTC, an early window: both times in UTC, whatever the reader's zone.
    early = BusinessHours(timezone="UTC", weekly={d: [(T(3), T(4))] for d in range(5)})
    assert (
        describe_hours(dt.datetime(2026, 3, 4, 12, 0), early)
        == "Business hours (UTC): Mon–Fri 3:00 AM–4:00 AM · closed now, opens Thu 3:00 AM"
    )
