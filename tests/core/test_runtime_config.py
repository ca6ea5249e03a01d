"""The server's environment settings read by ``core.runtime.Config``: the interpreter lock's switch interval."""

from __future__ import annotations

import sys

import pytest

from core import runtime
from core.errors import ParleyError


def config(tmp_path, **env):
    return runtime.Config.from_env({"PARLEY_DB": str(tmp_path / "parley.duckdb"), "PARLEY_SECRET_KEY": "k", **env})


def test_the_switch_interval_is_half_a_millisecond_unless_set(tmp_path):
    assert config(tmp_path).switch_interval_ms == 0.5
    assert config(tmp_path, PARLEY_SWITCH_INTERVAL_MS=" 5 ").switch_interval_ms == 5.0
    assert config(tmp_path, PARLEY_SWITCH_INTERVAL_MS="").switch_interval_ms == 0.5


@pytest.mark.parametrize("raw", ["fast", "0", "-1", "nan", "5000"])
def test_a_switch_interval_that_cannot_be_used_is_one_sentence(tmp_path, raw):
    with pytest.raises(ParleyError) as caught:
        config(tmp_path, PARLEY_SWITCH_INTERVAL_MS=raw)
    assert str(caught.value) == (
        f"PARLEY_SWITCH_INTERVAL_MS must be a number of milliseconds above 0 and at most 1000, e.g. 0.5 (it is '{raw}')."
    )


def test_the_server_takes_its_switch_interval_when_its_workers_start(tmp_path, monkeypatch):
    before = sys.getswitchinterval()
    monkeypatch.setattr("core.engine.build_workers", lambda rt: [])
    rt = runtime.Runtime(config=config(tmp_path, PARLEY_SWITCH_INTERVAL_MS="2"), db=None, media=None, feed=None)
    try:
        runtime._start_workers(rt)
        assert sys.getswitchinterval() == pytest.approx(0.002)
    finally:
        sys.setswitchinterval(before)
