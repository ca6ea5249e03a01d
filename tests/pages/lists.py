"""Driving the shared list machinery (pages/common.py) from AppTest: buttons, the pager,
the search box, and the table's tick boxes and clicks."""

from __future__ import annotations

from unittest import mock

from pages import common


def texts(at, kind) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def button(at, label):
    found = [b for b in at.button if b.label == label]
    assert found, f"no button {label!r} in {[b.label for b in at.button]}"
    return found[0]


def range_caption(at) -> str:
    return next(c for c in texts(at, "caption") if " of " in c and "–" in c)


def table_event(at, key: str, rows=(), cell=None):
    """Run the table's real on_select callback (``common._on_table``) for ticked rows or a clicked cell.

    AppTest cannot tick a dataframe, so the callback runs here over the page's row ids and the
    selection the browser would send; what it decides is copied into the app's session state.
    """
    widget = common.table_key(key)
    state = {
        f"{key}.ids": list(at.session_state[f"{key}.ids"]),
        f"{key}.open_ids": list(at.session_state[f"{key}.open_ids"]),
        widget: {
            "selection": {"rows": list(rows), "columns": [], "cells": [[cell, "Contact"]] if cell is not None else []}
        },
    }
    with mock.patch.object(common.st, "session_state", state):
        common._on_table(key, widget)
    for name in ("sel", "sel_rows", "open", "resync"):
        if f"{key}.{name}" in state:
            at.session_state[f"{key}.{name}"] = state[f"{key}.{name}"]
    return at.run()


def search(at, key: str, query: str):
    at.text_input(key=f"{key}.q_input").input(query)
    button(at, "Search").click()
    return at.run()
