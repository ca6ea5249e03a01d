"""Driving the shared list machinery from AppTest: buttons, the pager, the search box, and the
row list's events (``pages/row_list.py``).

AppTest runs no JavaScript, so a tick or a click in the row list is sent the way the browser
sends it: the component's trigger payload (``[{"event": ..., "value": ...}]``) in the next run's
widget states, beside the states of every other widget on the page. The page's own callbacks
then run as they do in production.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.runtime.state.session_state import STREAMLIT_INTERNAL_KEY_PREFIX
from streamlit.testing.v1.element_tree import UnknownElement

from tests import factories
from tests.conftest import ROOT, sign_in_apptest


def texts(at, kind) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def button(at, label):
    found = [b for b in at.button if b.label == label]
    assert found, f"no button {label!r} in {[b.label for b in at.button]}"
    return found[0]


def range_caption(at) -> str:
    return next(c for c in texts(at, "caption") if " of " in c and "–" in c)


def _walk(node):
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield child
            yield from _walk(child)


def rows_element(at, key: str) -> UnknownElement | None:
    found = [
        e
        for e in _walk(at._tree)
        if isinstance(e, UnknownElement) and e.type == "bidi_component" and e.key == f"{key}.rows"
    ]
    return found[0] if found else None


def rows_data(at, key: str) -> dict | None:
    """What the page sent to the row list (rows, selection, epoch), or None when it drew no list."""
    element = rows_element(at, key)
    if element is None:
        return None
    proto = element.proto
    return json.loads(proto.json or proto.mixed.json)


def rows(at, key: str) -> list[dict]:
    data = rows_data(at, key)
    return [] if data is None else data["rows"]


def send_event(at, key: str, event: str, value):
    """The browser's message for an event of the row list (``select`` or ``open``), then the run it causes."""
    element = rows_element(at, key)
    assert element is not None, f"no row list {key!r} on the page"
    states = at._tree.get_widget_states()
    trigger = WidgetState(
        id=f"{STREAMLIT_INTERNAL_KEY_PREFIX}_{element.proto.id}__events",
        json_trigger_value=json.dumps([{"event": event, "value": value}]),
    )
    states.widgets.append(trigger)
    return at._run(states)


def tick(at, key: str, row_ids: list):
    """Tick exactly these rows (the list sends every ticked row id with each change)."""
    return send_event(at, key, "select", {"rows": list(row_ids)})


def search(at, key: str, query: str):
    at.text_input(key=f"{key}.q_input").input(query)
    button(at, "Search").click()
    return at.run()


# ---- a workspace built with factories ----------------------------------------------------------

NOW = dt.datetime(2026, 3, 4, 15, 0)  # a Wednesday, 15:00 UTC: every "when" in these tests is literal


class Workspace:
    """An empty Parley (no demo) whose rows each test writes with ``tests.factories``."""

    def __init__(self, rt) -> None:
        self.rt = rt
        self.db = rt.db

    def user(self, username: str, **kwargs):
        from core.auth import get_user

        return get_user(self.db, factories.add_user(self.db, username, **kwargs))

    def app(self, username: str, page: str, query: dict | None = None):
        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(str(ROOT / "ui.py"), default_timeout=30)
        sign_in_apptest(at, self.rt, username)
        for name, value in (query or {}).items():
            at.query_params[name] = str(value)
        at.run()
        at.switch_page(page)
        return at.run()


@pytest.fixture
def workspace(tmp_path, navigation_only):
    from core import clock, runtime

    clock.freeze(NOW)
    config = runtime.Config(
        db_path=tmp_path / "ws" / "parley.duckdb",
        media_dir=tmp_path / "ws" / "media",
        demo=False,
        secret_key=b"test-secret",
        public_url=None,
        port=0,
    )
    yield Workspace(runtime.start(config))
    runtime.stop()


def plain(markdown: str) -> str:
    """Escaped Markdown (``pages.text.esc``) as the reader sees it."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("  \n", "\n")
