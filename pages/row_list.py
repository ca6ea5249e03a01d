"""The list rows of My Inbox, Team Inbox, Sent Messages and Contacts: a small component of our own.

Why not a dataframe: a canvas grid cuts text at fixed widths, shows a
spreadsheet toolbar, and "clicking a cell" is a selection event the server
has to turn into a page switch. That switch is where the blank pages came
from: ``st.switch_page`` runs on the server while the browser still shows
the list, whose timed refreshes (``run_every`` fragments: the list itself,
the sidebar's notifications) keep firing. Each refresh request carries the
page the browser believes it is on; Streamlit 1.67 runs a refresh that
arrives during or after the switch against that old page, and its
``newSession`` message makes the browser wipe the new page's elements
(keeping only ``ui.py``'s), after which the next delta of the new page
fails with "Bad delta path index 7 (should be between [0, 1])". A refresh
request that arrives while the switch is still pending is merged into it
with the *old* page, and the click goes nowhere.

So a row here is a real link, and opening it is a navigation the browser
starts itself (``row_list.js``: ``history.pushState`` + ``popstate``, the
path Streamlit takes for Back/Forward). The browser stops the page's
timers before it asks for the new page, and a refresh sent before the
click is answered before the switch: nothing runs against a stale page.

Everything else is plain text (``textContent``), never HTML: names,
messages and reasons are people's text. Ticking rows sends a ``select``
event (the ids ticked); the server keeps the selection (``pages.bulk``) and
hands it back with an ``epoch`` that changes only when the server itself
changes the selection (an action done, a page turned), so a tick made while
the list refreshes is never undone. Keyboard: arrows (or j/k) move, Enter
opens, ``x`` or Space ticks.

Each payload carries ``drawn``, a stamp that grows whenever this list's data
changes (and stays put while it does not, so an unchanged list is still an
unchanged message), and the browser never draws a payload older than one it
drew. Streamlit 1.67 can hand the component an older payload *after* a newer
one: its components-v2 frontend loads inline JS with ``await import(blob URL)``
on every data change and then calls the module with the data of that change,
without checking that a newer change superseded it (its external-file path
does check), and Chromium resolves several ``import()`` of a module whose first
load is still in flight in no particular order. A list mounted for the first
time in a tab (a page whose first run was cut short, then the list view shown
again) that gets new rows before its module has loaded could end on the older
rows: the Contacts page said "1–3 of 3" over the unfiltered fifty
(``tests/e2e/test_row_list_order.py``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from pages import bulk
from pages.session import guarded

_HERE = Path(__file__).resolve().parent


@functools.cache
def _component():
    """Registered on first use, inside a script run (at import there may be no runtime to register with)."""
    return st.components.v2.component(
        "parley.row_list",
        css=(_HERE / "row_list.css").read_text(encoding="utf-8"),
        js=(_HERE / "row_list.js").read_text(encoding="utf-8"),
    )


# What a row may carry to the browser (everything else stays on the server).
ROW_FIELDS = (
    "id",
    "href",
    "unread",
    "mark",
    "title",
    "title_help",
    "channel_icon",
    "channel_name",
    "prefix",
    "tag",
    "text",
    "owner",
    "flags",
    "status",
    "when",
    "when_help",
    "selectable",
    "tick_help",
)


_stamp_lock = threading.Lock()
_last_stamp = 0


def next_stamp() -> int:
    """Microseconds since the epoch, never repeated nor going back in this process. From the clock
    rather than a counter so that a tab that reconnects to a restarted server (its list instances
    kept, with the stamp they drew) gets larger stamps, not ones it would ignore."""
    global _last_stamp
    with _stamp_lock:
        _last_stamp = max(time.time_ns() // 1000, _last_stamp + 1)
        return _last_stamp


def drawn_stamp(key: str, data: dict[str, Any]) -> int:
    """The ``drawn`` stamp for ``data``: the last one while this list's data is unchanged, a new
    (larger) one when it changed. See the module's note."""
    digest = hashlib.blake2b(json.dumps(data, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()
    s = st.session_state
    last = s.get(f"{key}.drawn")
    if last is not None and last[0] == digest:
        return last[1]
    stamp = next_stamp()
    s[f"{key}.drawn"] = (digest, stamp)
    return stamp


def component_key(key: str) -> str:
    return f"{key}.rows"


def _event(key: str, name: str) -> Any:
    value = st.session_state.get(component_key(key))
    return None if value is None else value.get(name)


def _on_select(key: str) -> None:
    event = _event(key, "select") or {}
    shown = st.session_state.get(f"{key}.open_ids") or {}
    bulk.select_rows(key, list(event.get("rows") or []), shown)


def _on_open(key: str, on_open: Callable[[Any], None]) -> None:
    row_id = _event(key, "open")
    if row_id is not None and row_id in (st.session_state.get(f"{key}.open_ids") or {}):
        on_open(row_id)


def conversation_href(conversation_id: int | None) -> str | None:
    return None if conversation_id is None else f"conversation?id={int(conversation_id)}"


def keep_shown(key: str, rows: list[dict[str, Any]]) -> list:
    """Remember which rows are shown, and drop the ticks of rows that left the page (a new message
    moved them, they were closed elsewhere). Call it before drawing anything that counts the
    selection (the buttons, "2 selected"); ``row_list`` calls it too. Returns the ticked row ids."""
    s = st.session_state
    open_ids = {r["id"]: r.get("conversation_id") for r in rows}
    s[f"{key}.open_ids"] = open_ids
    ticked = list(s.get(f"{key}.sel_rows") or [])
    kept = [r for r in ticked if r in open_ids]
    if kept != ticked:
        bulk.select_rows(key, kept, open_ids)
    return kept


def row_list(
    key: str,
    rows: list[dict[str, Any]],
    *,
    label: str,
    selectable: bool,
    on_open: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Draw ``rows`` (dicts with ``ROW_FIELDS``, plus ``conversation_id`` for bulk actions).

    A row with ``href`` opens that page in the browser; without one,
    ``on_open(row id)`` runs on the server (Contacts opens a contact in
    place). Returns the data sent to the browser (tests read it).
    """
    s = st.session_state
    kept = keep_shown(key, rows)
    data = {
        "rows": [{f: r[f] for f in ROW_FIELDS if f in r} for r in rows],
        "selectable": selectable,
        "selected": kept if selectable else [],
        "epoch": s.get(f"{key}.sel_epoch", 0),
        "label": label,
        "open_event": on_open is not None,
    }
    data["drawn"] = drawn_stamp(key, data)
    callbacks: dict[str, Any] = {"on_select_change": guarded(functools.partial(_on_select, key))}
    if on_open is not None:
        callbacks["on_open_change"] = guarded(functools.partial(_on_open, key, on_open))
    _component()(key=component_key(key), data=data, width="stretch", height="content", **callbacks)
    return data
