"""A chromium that goes away mid-module fails only the test it went away in; the next gets a fresh one."""

from __future__ import annotations

import time

from tests.e2e import conftest


def test_a_chromium_that_went_away_is_recorded_and_the_next_test_gets_a_fresh_one(_chromium, tmp_path, monkeypatch):
    monkeypatch.setenv("PARLEY_E2E_ARTIFACTS", str(tmp_path))
    first = _chromium.for_test("tests/e2e/example.py::test_one")
    assert first.is_connected()

    assert conftest._kill_our_chromium() >= 1  # as a crash would, or the deadline watcher
    deadline = time.monotonic() + 30
    while first.is_connected() and time.monotonic() < deadline:
        try:  # Playwright's sync API takes in the browser's news only while it is called
            first.new_context().close()
        except Exception:
            pass
        time.sleep(0.1)
    assert not first.is_connected()

    second = _chromium.for_test("tests/e2e/example.py::test_two")
    assert second is not first and second.is_connected()
    page = second.new_context().new_page()
    page.set_content("<p>still here</p>")
    assert page.inner_text("p") == "still here"
    went = (tmp_path / "chromium-went-away.txt").read_text()
    assert "chromium went away (not closed by the tests) during tests/e2e/example.py::test_one" in went
    assert "test_two" not in went
