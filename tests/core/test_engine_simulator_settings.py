"""The built-in simulator's settings from the environment: failure rate and the carrier's pace."""

from __future__ import annotations

import pytest

from core.engine import ProviderBook, simulator_delays
from core.errors import ValidationError


def book(db, env: dict[str, str]) -> ProviderBook:
    return ProviderBook(db, simulator_url="http://127.0.0.1:9/unused", simulator_secret=b"s", demo=False, env=env)


def test_the_simulator_reports_at_the_pace_the_environment_sets(db):
    simulator = book(
        db,
        {
            "PARLEY_SIMULATOR_DELAYS": "2, 4.5,6",
            "PARLEY_SIMULATOR_FAILURE_RATE": "0",
            "PARLEY_SIMULATOR_READ_RATE": "1",
            "PARLEY_SIMULATOR_REPLY_RATE": "0",
        },
    ).provider("simulator")
    try:
        assert simulator.delays == (2.0, 4.5, 6.0)
        assert simulator.failure_rate == 0.0
        assert simulator.read_rate == 1.0
        assert simulator.reply_rate == 0.0
    finally:
        simulator.close()


def test_without_the_variable_the_simulator_keeps_its_own_pace(db):
    simulator = book(db, {}).provider("simulator")
    try:
        assert simulator.delays == (0.3, 1.2, 3.0)
        assert simulator.reply_rate == 0.15
    finally:
        simulator.close()


@pytest.mark.parametrize("raw", ["2,4", "a,b,c", "4,2,6", "-1,2,3", "1,2,3,4"])
def test_delays_that_make_no_sense_are_refused_in_one_sentence(raw):
    with pytest.raises(ValidationError) as refused:
        simulator_delays(raw)
    assert str(refused.value) == (
        "PARLEY_SIMULATOR_DELAYS must be three increasing numbers of seconds (sent, delivered, read), "
        f"like 0.3,1.2,3.0; it is “{raw}”."
    )


def test_an_empty_value_means_unset():
    assert simulator_delays("") is None and simulator_delays(None) is None
