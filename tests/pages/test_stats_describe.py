"""The Stats pages' line under the filters: the range, its length in days, the time zone."""

from __future__ import annotations

import datetime as dt

from core.stats_filter import StatsFilter
from pages.stats_common import describe


def test_one_day_is_one_day_and_a_month_is_thirty_days():
    day = dt.date(2026, 12, 4)
    one = StatsFilter(start=day, end=day, timezone="America/New_York")
    month = StatsFilter(start=dt.date(2026, 11, 5), end=day, timezone="UTC")
    assert describe(one) == "Dec 04, 2026 – Dec 04, 2026 (1 day, America/New_York)"
    assert describe(month) == "Nov 05, 2026 – Dec 04, 2026 (30 days, UTC)"
