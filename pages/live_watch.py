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

Each run of the fragment mounts the watcher again with a new ``drawn`` stamp, so the browser
always holds the latest version; one timer per watcher key.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools

import streamlit as st

LIVE_SECONDS = 2

JS = """
const RETRY_MS = 6000;
export default function (component) {
  const { data, setTriggerValue } = component;
  if (!data || !data.url) { return; }
  const timers = (window.__parleyLiveWatch = window.__parleyLiveWatch || {});
  clearInterval(timers[data.key]);
  let busy = false, asked = false, stopped = false, answered = false;
  // Never after the watcher was taken down (the page left while a version was on its way): a
  // rerun asked against a page the browser already left blanks the new one (pages/row_list.py).
  // A rerun asked and not come within RETRY_MS (the server dropped it: a trigger naming a fragment
  // of a run that was replaced meanwhile) is asked again on a later tick; a rerun that came
  // replaced this watcher (stopped) long before.
  const fire = () => {
    if (asked || stopped) { return; }
    asked = true;
    setTriggerValue("changed", data.drawn);
    setTimeout(() => { asked = false; }, RETRY_MS);
  };
  const tick = async () => {
    if (busy || asked || stopped) { return; }
    busy = true;
    try {
      const answer = await fetch(data.url, { credentials: "same-origin", cache: "no-store" });
      if (answer.status === 200) {
        answered = true;
        const now = await answer.json();
        if (now.version !== data.version || (data.refreshAt && now.now >= data.refreshAt)) { fire(); }
      } else if (answer.status === 401) {
        // No cookie yet: a tab just signed in, whose first run is still trading its ticket for one.
        // A rerun asked now could cut that run short; the next tick asks again. But a cookie that
        // was there and is gone (signed out in another tab) is news for a watcher that asks for it.
        if (data.signedOut && answered) { fire(); stopped = true; }
      } else if (answer.status === 403 || answer.status === 404) {
        fire();
        stopped = true;
      }
    } catch (e) {
      // Parley restarting or the network gone for a moment: ask again on the next tick.
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(tick, data.every);
  timers[data.key] = timer;
  return () => { stopped = true; clearInterval(timer); if (timers[data.key] === timer) { delete timers[data.key]; } };
}
"""

_drawn = itertools.count(1)


@functools.cache
def _component():
    return st.components.v2.component("parley.live_watch", js=JS)


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
            "drawn": next(_drawn),
        },
        on_changed_change=_noop,
        height=0,
    )


def _noop() -> None:
    """The trigger only has to rerun the fragment; the fragment reads what changed itself."""
