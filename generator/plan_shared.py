"""What every part of the generated workspace's plan shares: the ``Plan`` it comes to, the
workspace's fixed numbers and texts, its units (microseconds since the epoch, ``NAT`` for no
time, ``IN``/``OUT``), two array helpers, and ``_Clock``: when a message may go out by the live
business and quiet hours.

Apart from ``generator.plan`` so that the plan's parts (``plan_messages``, ``plan_finish``) can
use them without importing the module that calls them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from core import phones, settings
from core.compliance import hours
from generator import population

DEMO_PASSWORD = "parley-demo"
DEMO_AGENTS = [("maria", "María López"), ("james", "James Carter"), ("aiko", "Aiko Tanaka")]
SMS_SENDER, WHATSAPP_SENDER, TOLL_FREE_SENDER = "+14155550100", "+14155550199", "+18885550142"
WINDOW_CLOSED = "WhatsApp window closed: only registered templates can be sent"
RETRY_ERROR = "HTTP 429 Too Many Requests: provider busy, retrying"

US, MINUTE = 1_000_000, 60_000_000
DAY = 86_400 * US
EPOCH = dt.datetime(1970, 1, 1)
NAT = np.iinfo(np.int64).min
IN, OUT = 0, 1


@dataclass
class Plan:
    contacts: dict
    campaigns: dict
    conversations: dict
    messages: dict
    optouts: dict
    read_markers: dict
    files: list
    giants: np.ndarray  # positions of the long threads among the conversations


def _us(when: dt.datetime) -> int:
    return (when - EPOCH) // dt.timedelta(microseconds=1)


def _pick(rng: np.random.Generator, candidates: np.ndarray, k: int) -> np.ndarray:
    return rng.choice(candidates, min(k, len(candidates)), replace=False) if len(candidates) else candidates


def _in_group(flags: np.ndarray, starts: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running count of ``flags`` within each group (groups are contiguous runs)."""
    total = np.cumsum(flags)
    return total - (total[starts] - flags[starts])[group]


class _Clock:
    """When a message written at ``t`` may go out, by the live rules (default settings)."""

    def __init__(self) -> None:
        self.business = settings.business_hours_from_json(settings.DEFAULTS["business_hours"])
        quiet = settings.DEFAULTS["quiet_hours"]
        self.quiet = hours.QuietHours(
            start=dt.time.fromisoformat(quiet["start"]), end=dt.time.fromisoformat(quiet["end"])
        )
        self.zones = sorted({phones.phone_timezone(f"+1{ac}2345678") for ac in population.AREA_CODES})
        self._answers: dict[int, int] = {}
        self.zone_of_area = np.zeros(1000, np.int64)
        for ac in population.AREA_CODES:
            self.zone_of_area[ac] = self.zones.index(phones.phone_timezone(f"+1{ac}2345678"))

    def release(self, t: np.ndarray, zone: np.ndarray) -> np.ndarray:
        # Every boundary (openings, 8:00/21:00 local, midnights) falls on a quarter hour,
        # so a quarter hour is either wholly open or wholly closed: ask once per quarter and zone.
        quarter = t - t % (15 * MINUTE)
        keys, inverse = np.unique(quarter // (15 * MINUTE) * 64 + zone, return_inverse=True)
        answers = np.array([self._answer(int(key)) for key in keys], dtype=np.int64)[inverse]
        return np.where(answers == quarter, t, answers)

    def _answer(self, key: int) -> int:
        if key not in self._answers:  # the same quarters come up in every call
            self._answers[key] = _us(
                hours.next_send_time(
                    EPOCH + dt.timedelta(minutes=15 * (key // 64)), self.business, self.zones[key % 64], self.quiet
                )
            )
        return self._answers[key]

    def campaign_time(self, day: dt.date) -> int:
        """A weekday (not a holiday) at 16:30 UTC: inside business and quiet hours for every US recipient."""
        while day.weekday() >= 5 or day in self.business.holidays:
            day -= dt.timedelta(days=1)
        return _us(dt.datetime.combine(day, dt.time(16, 30)))
