"""Go to another page from the server's side, the way a click on a link does.

``st.switch_page`` switches on the server while the browser still shows the
old page and keeps firing that page's timed refreshes; a refresh that lands
during the switch runs against the old page and blanks the new one (see
``pages/row_list.py``). Here the server only asks: a tiny component of ours
tells the browser to open the address itself (``history.pushState`` +
``popstate``, Streamlit's Back/Forward path), and the browser stops the old
page's timers before it asks for the new one. Each request is carried out once.
"""

from __future__ import annotations

import functools
import itertools

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

_nonces = itertools.count(1)


@functools.cache
def _component():
    return st.components.v2.component("parley.navigate", js=JS)


def go(url_path: str, query: dict[str, str] | None = None) -> None:
    """Open ``url_path`` (e.g. ``"inbox"``) in this browser tab, with ``query`` parameters."""
    href = url_path + ("?" + "&".join(f"{k}={v}" for k, v in (query or {}).items()) if query else "")
    _component()(data={"href": href, "nonce": f"{id(st.session_state)}-{next(_nonces)}"}, height=0)
