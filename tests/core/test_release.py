"""Release times for many recipients at once: their zones, and the first moment each may go."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from core import settings
from core.release import recipient_zone, recipient_zones, release_times, release_times_and_reasons


def test_zones_by_number_and_by_the_contacts_own_setting():
    phones = pd.Series(
        [
            "+12125550123",  # New York
            "+14158670001",  # San Francisco
            "+16025550123",  # Phoenix (no daylight saving)
            "+12082015555",  # Idaho (area 208, which the zone table splits by exchange): Mountain...
            "+12082155555",  # ...Pacific for this exchange in the north...
            "+12082215555",  # ...and Mountain again
            "+447911123456",  # a UK mobile
            "+14158670002",  # San Francisco, but the contact said otherwise
            "+12083201234",  # Idaho 208-320: Boise or northern Idaho, the zone table cannot tell
            "+12083205678",  # the same prefix
            "+61412345678",  # an Australian mobile, but the contact said Perth: their own zone alone
        ]
    )
    own = pd.Series([None, None, None, None, None, "", None, "Europe/Madrid", None, "", "Australia/Perth"])
    assert list(recipient_zones(phones, own)) == [
        "America/New_York",
        "America/Los_Angeles",
        "America/Phoenix",
        "America/Denver",
        "America/Los_Angeles",
        "America/Denver",
        "Europe/Guernsey|Europe/Isle_of_Man|Europe/Jersey|Europe/London",
        "Europe/Madrid",
        "America/Boise|America/Los_Angeles",
        "America/Boise|America/Los_Angeles",
        "Australia/Perth",
    ]


def test_one_recipients_zones_are_those_of_many():
    assert recipient_zone("+12083201234") == "America/Boise|America/Los_Angeles"
    assert recipient_zone("+12083201234", "America/Boise") == "America/Boise"
    assert recipient_zone("+14158670001", "") == "America/Los_Angeles"
    assert recipient_zone(None) is None


def test_release_times_hold_quiet_hours_in_every_zone_the_number_may_be_in():
    always = settings.business_hours_from_json(
        {"timezone": "America/New_York", "weekly": {str(d): [["00:00", "24:00"]] for d in range(7)}, "holidays": []}
    )
    quiet = settings.quiet_hours_from_json({"start": "08:00", "end": "21:00"})
    zones = recipient_zones(pd.Series(["+12083201234", "+61412345678", "+12085550000"]))
    at = pd.Series([dt.datetime(2025, 6, 10, 14, 0), dt.datetime(2025, 6, 10, 22, 0), dt.datetime(2025, 6, 10, 14, 0)])
    due, why = release_times_and_reasons(zones, at, always, quiet)
    assert list(due) == [
        pd.Timestamp("2025-06-10 15:00"),  # 8:00 in northern Idaho (7:00 there at 14:00 UTC, 8:00 in Boise)
        # 8:00 in Sydney at 22:00 UTC, 6:00 in Perth; phonenumbers also lists Australia's Indian Ocean
        # territories for its mobiles, and 8:00 on the Cocos Islands (UTC+6:30) is later still.
        pd.Timestamp("2025-06-11 01:30"),
        pd.Timestamp("2025-06-10 15:00"),
    ]
    assert list(why) == ["quiet_hours"] * 3


def test_release_times_per_zone_and_earliest_moment():
    business = settings.business_hours_from_json(
        {"timezone": "America/New_York", "weekly": {str(d): [["09:00", "17:00"]] for d in range(5)}, "holidays": []}
    )
    quiet = settings.quiet_hours_from_json({"start": "08:00", "end": "21:00"})
    saturday = dt.datetime(2026, 3, 14, 16, 0)
    tuesday = dt.datetime(2026, 3, 17, 12, 0)
    zones = pd.Series(["America/New_York", "America/Los_Angeles", None, "America/Los_Angeles"])
    not_before = pd.Series([saturday, saturday, saturday, tuesday])
    assert list(release_times(zones, not_before, business, quiet)) == [
        pd.Timestamp("2026-03-16 13:00"),  # Monday 9:00 New York
        pd.Timestamp("2026-03-16 15:00"),  # Monday 8:00 in San Francisco
        pd.Timestamp("2026-03-16 13:00"),  # unknown zone: the business's own
        pd.Timestamp("2026-03-17 15:00"),  # Tuesday 8:00 in San Francisco, not before Tuesday noon UTC
    ]


def test_why_each_waits():
    business = settings.business_hours_from_json(
        {"timezone": "America/New_York", "weekly": {str(d): [["09:00", "17:00"]] for d in range(7)}, "holidays": []}
    )
    quiet = settings.quiet_hours_from_json({"start": "08:00", "end": "21:00"})
    zones = pd.Series(["America/New_York", "America/Los_Angeles", "America/New_York"])
    at = pd.Series(
        [
            dt.datetime(2026, 3, 14, 3, 0),  # 23:00 in New York: closed
            dt.datetime(2026, 3, 14, 14, 0),  # 10:00 in New York, open; 7:00 in San Francisco: quiet
            dt.datetime(2026, 3, 14, 14, 0),  # open, and allowed: goes now
        ]
    )
    due, why = release_times_and_reasons(zones, at, business, quiet)
    assert list(why) == ["business_hours", "quiet_hours", None]
    assert list(due) == [
        pd.Timestamp("2026-03-14 13:00"),
        pd.Timestamp("2026-03-14 15:00"),
        pd.Timestamp("2026-03-14 14:00"),
    ]
