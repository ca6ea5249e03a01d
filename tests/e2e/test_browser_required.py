"""Without chromium the browser tests skip with a reason; CI (PARLEY_REQUIRE_BROWSER=1) fails instead."""

from __future__ import annotations

import pytest

from tests.e2e import conftest


def test_a_missing_chromium_skips_with_the_reason(monkeypatch, capsys):
    monkeypatch.setattr(conftest, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.delenv("PARLEY_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        conftest.skip_or_fail_without_browser()
    reason = "Debian's chromium is not installed at /nonexistent/chromium (apt-get install chromium)"
    assert str(skipped.value) == reason
    assert f"browser tests skipped: {reason}" in capsys.readouterr().out


def test_ci_turns_the_skip_into_a_failure(monkeypatch):
    monkeypatch.setattr(conftest, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("PARLEY_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception) as failed:
        conftest.skip_or_fail_without_browser()
    assert str(failed.value) == (
        "PARLEY_REQUIRE_BROWSER=1 but Debian's chromium is not installed at /nonexistent/chromium "
        "(apt-get install chromium)"
    )


def test_with_chromium_present_nothing_happens(monkeypatch, tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("")
    monkeypatch.setattr(conftest, "CHROMIUM", str(fake))
    monkeypatch.setenv("PARLEY_REQUIRE_BROWSER", "1")
    assert conftest.skip_or_fail_without_browser() is None


def test_ci_requires_the_browser():
    assert "export PARLEY_REQUIRE_BROWSER=1" in (conftest.ROOT / ".ci" / "run").read_text()
