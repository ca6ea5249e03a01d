"""Live refresh that costs the server nothing while nothing changes.

A fragment with ``run_every`` redraws everything it shows on every tick, changed or not: with a
200-message thread that is hundreds of elements every two seconds per open page, and ten open
pages took the CPU that webhooks needed. Instead the fragment draws this watcher last: in the
browser it asks a version route (``routes.conversation_version``: one primary-key read) every
``LIVE_SECONDS`` and, only when the number moved or a redraw came due (``refresh_at``, on the
server's clock), sends a trigger that reruns the fragment it sits in. A refused answer (the
conversation went to someone else) also reruns it once, so the page says why. A browser without
the sign-in cookie (401: just signed in, its first run still trading the ticket for the cookie)
only asks again on the next tick: My Inbox is the page a sign-in lands on, and a rerun asked in
the middle of that first run cut it short before the cookie was set (tests/e2e/test_desk_lists.py
signed in a second browser that never got its cookie). Only a watcher that asks for it
(``signed_out``: the sidebar's notifications, which show the sign-in form when the tab's session
ended) hears of a cookie that was there and went away (signed out in another tab). A watcher
taken down (the page left) never asks a rerun.

Each run of the fragment mounts the watcher again with a new ``drawn`` stamp; the browser keeps
one timer per watcher key and asks with the newest instance still mounted, whatever order
Streamlit calls them in (``live_watch.js`` says why that order is not to be trusted). The stamps
come from the clock (``row_list.next_stamp``), so a tab reconnected to a restarted server is not
left asking with an instance it drew before.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import streamlit as st

from pages.row_list import next_stamp

LIVE_SECONDS = 2


JS_FILE = Path(__file__).resolve().parent / "live_watch.js"


@functools.cache
def _component():
    return st.components.v2.component("parley.live_watch", js=JS_FILE.read_text(encoding="utf-8"))


def epoch_ms(value: dt.datetime | None) -> int | None:
    """A stored naive-UTC time as the browser's milliseconds since the epoch."""
    return None if value is None else int(value.replace(tzinfo=dt.UTC).timestamp() * 1000)


def watch(key: str, url: str, version: int, *, refresh_at: dt.datetime | None = None, signed_out: bool = False) -> None:
    """Inside a fragment, drawn last: rerun the fragment when ``url`` answers another version than
    ``version``, or once ``refresh_at`` (naive UTC) has passed. ``signed_out``: also when the
    sign-in cookie it was answered with is gone (401 after a 200: signed out in another tab)."""
    _component()(
        key=key,
        data={
            "key": key,
            "url": url,
            "version": int(version),
            "refreshAt": epoch_ms(refresh_at),
            "every": LIVE_SECONDS * 1000,
            "signedOut": bool(signed_out),
            "drawn": next_stamp(),
        },
        on_changed_change=_noop,
        height=0,
    )


def _noop() -> None:
    """The trigger only has to rerun the fragment; the fragment reads what changed itself."""
