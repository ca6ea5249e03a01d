"""The many-users bench's agents pause as people do and never click together at the phase's end."""

from __future__ import annotations

from bench.many_users import Pacer


class FakeTime:
    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


class FixedPause:
    """An rng whose every pause is the same number of seconds."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def expovariate(self, rate: float) -> float:
        return self.seconds


def pacer(pause: float, now: float, until: float, think: float = 3.0) -> tuple[Pacer, FakeTime]:
    fake = FakeTime(now)
    return Pacer(FixedPause(pause), think, until, clock=fake.clock, sleep=fake.sleep), fake


def test_a_pause_that_ends_before_the_phase_ends_is_followed_by_a_click():
    p, fake = pacer(pause=2.0, now=100.0, until=110.0)
    assert p.pause(first_round=False) is True
    assert fake.slept == [2.0] and fake.now == 102.0


def test_a_pause_that_runs_past_the_end_ends_the_session_at_the_end_with_no_click():
    # Cut short to the end and followed by a click, every such session clicked at 110.0 at once.
    p, fake = pacer(pause=4.0, now=108.5, until=110.0)
    assert p.pause(first_round=False) is False
    assert fake.slept == [1.5] and fake.now == 110.0


def test_the_first_round_is_made_whole_however_late():
    p, fake = pacer(pause=4.0, now=108.5, until=110.0)
    assert p.pause(first_round=True) is True
    assert fake.slept == [4.0] and fake.now == 112.5


def test_with_no_thinking_it_clicks_at_once_until_the_end():
    p, fake = pacer(pause=4.0, now=109.0, until=110.0, think=0.0)
    assert p.pause(first_round=False) is True and fake.slept == []
    fake.now = 110.0
    assert p.pause(first_round=False) is False
