"""Page tests read the database right after a run, as a person looks again after a moment."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def page_writes_made_after_each_run(monkeypatch):
    """After each AppTest run, wait until the writes the run handed to the page writer are made
    (``core.page_writes``: marking read what the page drew, after the run ends). A server's page
    makes them a few milliseconds after its run; a test that checks the read state right after
    ``run()`` would otherwise race that thread. ``tests/pages/test_conversation.py`` checks that
    the run itself does not wait for them."""
    from streamlit.testing.v1 import AppTest

    from core import runtime

    original = AppTest._run

    def run_then_settle(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        current = runtime._current
        if current is not None:
            assert current.page_writes.flush(30), "the page's writes were not made within 30 s"
        return result

    run_then_settle.unsettled = original  # for the test of the run itself
    monkeypatch.setattr(AppTest, "_run", run_then_settle)
