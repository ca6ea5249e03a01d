"""Running one fragment on its own under AppTest, as the browser asks for it.

A widget inside a fragment (the inbox list's Open/Closed/All, its pager and ticks, a thread's
"load older"), its live watcher and ``run_every`` make Streamlit run that fragment alone, without
ui.py. AppTest's public ``run`` always runs the whole app; this sends the fragment-scoped rerun
the browser sends (Streamlit's ``RerunData.fragment_id_queue``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import streamlit.testing.v1.local_script_runner as local_script_runner


def run_fragment(at, fragment_id: str):
    """A run of that fragment only, with the page's widget states, as a click inside it sends."""
    original = local_script_runner.RerunData
    local_script_runner.RerunData = functools.partial(original, fragment_id_queue=[fragment_id])
    try:
        return at._run(at._tree.get_widget_states())
    finally:
        local_script_runner.RerunData = original


def fragment_ids(at) -> list[str]:
    return list(at._fragment_storage._fragments)


def fragment_drawing(at, draws: Callable[[object], bool]) -> str:
    """The id of the fragment whose own run draws what ``draws(at)`` looks for (each is run once)."""
    for fid in fragment_ids(at):
        if draws(run_fragment(at, fid)):
            return fid
    raise AssertionError("no fragment of the page draws that")
