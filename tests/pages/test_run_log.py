"""pages/run_log.py: the line the browser suite and bench_desk read for each script run."""

import logging
import re
import time

import pytest

from pages import run_log


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "parley.pages"]


def test_a_run_is_logged_from_the_time_it_started(monkeypatch, caplog):
    monkeypatch.setenv("PARLEY_LOG_RUN_TIMES", "1")
    caplog.set_level(logging.INFO, logger="parley.pages")
    with run_log.logged_run("run inbox", started=time.perf_counter() - 0.5):
        pass
    [line] = _lines(caplog)
    match = re.fullmatch(r"run inbox (\d+\.\d) ms", line)
    assert match and 500 <= float(match.group(1)) < 5000


def test_a_run_that_leaves_by_an_exception_is_logged_too(monkeypatch, caplog):
    monkeypatch.setenv("PARLEY_LOG_RUN_TIMES", "1")
    caplog.set_level(logging.INFO, logger="parley.pages")
    with pytest.raises(RuntimeError), run_log.logged_run("fragment thread 7"):
        raise RuntimeError("st.rerun leaves this way")
    [line] = _lines(caplog)
    assert re.fullmatch(r"fragment thread 7 \d+\.\d ms", line)


def test_nothing_is_logged_unless_asked(monkeypatch, caplog):
    monkeypatch.delenv("PARLEY_LOG_RUN_TIMES", raising=False)
    caplog.set_level(logging.INFO, logger="parley.pages")
    with run_log.logged_run("run inbox"):
        pass
    assert _lines(caplog) == []
