"""The page frame's own style: Parley is a tool, so a page starts at the top.

Streamlit leaves about 100 px empty above every page (room for an app's
title bar) and lays an opaque 60-px header band over the top of the page
for its ⋮ menu; on a 768-px laptop that is the space the composer needs.
Here the band is see-through and lets clicks through (its buttons keep
theirs; the menu sits in the page's right margin), so a page can start
near the top. Static CSS, no user data.

``screen_page()`` is the Conversation page's frame: the page itself does not
scroll; its one scroll area is the thread (the keyed container
``thread_box``), which takes the height the header and the composer leave,
so the composer is always on screen, whatever the window's height.
"""

from __future__ import annotations

import streamlit as st

FRAME_CSS = """<style>
[data-testid="stHeader"] { background: transparent; }
[data-testid="stHeader"], [data-testid="stHeader"] * { pointer-events: none !important; }
[data-testid="stHeader"] :is(button, a, [data-testid="stStatusWidget"], [data-testid="stStatusWidget"] *) {
  pointer-events: auto !important;
}
[data-testid="stMainBlockContainer"] { padding-top: 1.25rem; padding-bottom: 1rem; }
</style>"""

# The main column becomes a flex column exactly as tall as the window; every block on the way
# down to the thread's scroll area grows into what is left, the rest keep their own height.
SCREEN_CSS = """<style>
[data-testid="stMainBlockContainer"] {
  height: 100dvh; display: flex; flex-direction: column; box-sizing: border-box;
  padding-top: 0.75rem; padding-bottom: 0.5rem;
}
[data-testid="stMainBlockContainer"] > [data-testid="stVerticalBlock"] { gap: 0.5rem; }
[data-testid="stMainBlockContainer"] :is([data-testid="stLayoutWrapper"], [data-testid="stVerticalBlock"]):has(.st-key-thread_box) {
  flex: 1 1 0; min-height: 9rem;
}
[data-testid="stMainBlockContainer"] [data-testid="stElementContainer"],
[data-testid="stMainBlockContainer"] [data-testid="stLayoutWrapper"]:not(:has(.st-key-thread_box)) { flex-shrink: 0; }
/* ...except in the composer's one-line tool row: the segment count gives way (wraps) so that
   Send always stays inside the window, whatever the count has to explain. */
.st-key-composer_tools [data-testid="stElementContainer"]:has([data-testid="stCaptionContainer"]) {
  flex-shrink: 1 !important; min-width: 0;
}
.st-key-composer_tools [data-testid="stCaptionContainer"] { min-width: 0; overflow-wrap: anywhere; }
.st-key-thread_box { flex: 1 1 0 !important; height: auto !important; min-height: 9rem; }
/* The top right corner stays free for Streamlit's "Running…" sign, which sits over the page. */
.st-key-conversation_title { padding-right: 5.5rem; }
/* The composer's guard (pages.compose_text.keep_on_leave) draws nothing and takes no room. */
[class*="st-key-compose_guard_"] { display: none; }
</style>"""


def frame() -> None:
    st.html(FRAME_CSS)


def screen_page() -> None:
    """This page fits the window: its thread scrolls, the rest stays put (the Conversation page)."""
    st.html(SCREEN_CSS)
