"""Go to another page from the server's side, the way a click on a link does.

``st.switch_page`` switches on the server while the browser still shows the
old page and keeps firing that page's timed refreshes; a refresh that lands
during the switch runs against the old page and blanks the new one (see
``pages/row_list.py``). Here the server only asks: a tiny component of ours
tells the browser to open the address itself (``history.pushState`` +
``popstate``, Streamlit's Back/Forward path), and the browser stops the old
page's timers before it asks for the new one. Each request is carried out once.

A request is kept in the session until the browser arrives somewhere else
(``settle``, called by the page script with the page it runs): until then the
page that asked draws nothing but the request (``leaving``), so a run of it
in between (a timed refresh already on its way) changes nothing, e.g. does
not mark read again the conversation the agent just marked unread.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass

import streamlit as st

JS = """
const DONE = "__parleyNavigated";

export default function (component) {
  const { data } = component;
  window[DONE] = window[DONE] || new Set();
  if (!data || !data.href || window[DONE].has(data.nonce)) return;
  window[DONE].add(data.nonce);
  const base = window.location.pathname.replace(/\\/[^/]*$/, "");
  window.history.pushState(null, "", base + "/" + data.href);
  window.dispatchEvent(new PopStateEvent("popstate", { state: null }));
}
"""

PENDING_KEY = "_navigate_pending"


@dataclass(frozen=True)
class Request:
    origin: str  # the url path of the page that asked ("conversation")
    href: str  # where to ("inbox", "team?x=1")
    nonce: str


@functools.cache
def _component():
    return st.components.v2.component("parley.navigate", js=JS)


def href_for(url_path: str, query: dict[str, str] | None = None) -> str:
    return url_path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def request(origin: str, url_path: str, query: dict[str, str] | None = None) -> None:
    """From a callback: leave the page ``origin`` for ``url_path`` on this run (see ``leaving``)."""
    st.session_state[PENDING_KEY] = Request(origin, href_for(url_path, query), secrets.token_hex(8))


def pending(origin: str) -> Request | None:
    """The request the page ``origin`` made and the browser has not carried out yet."""
    req = st.session_state.get(PENDING_KEY)
    return req if isinstance(req, Request) and req.origin == origin else None


def leaving(origin: str) -> bool:
    """On the page ``origin``: when it asked to leave, draw the request (once more) and say so;
    the page then stops instead of drawing itself."""
    req = pending(origin)
    if req is None:
        return False
    _component()(data={"href": req.href, "nonce": req.nonce}, height=0)
    return True


def settle(current_url_path: str) -> None:
    """The page script, for the page it runs: a request is done once the browser is elsewhere."""
    req = st.session_state.get(PENDING_KEY)
    if isinstance(req, Request) and req.origin != current_url_path:
        del st.session_state[PENDING_KEY]
