"""The page frame's own style: Parley is a tool, so a page starts at the top.

Streamlit leaves about 100 px empty above every page (room for an app's
title bar); on a 768-px laptop that is the space the composer needs. Static
CSS, no user data.
"""

from __future__ import annotations

import streamlit as st

FRAME_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.75rem; padding-bottom: 1rem; }
</style>"""


def frame() -> None:
    st.html(FRAME_CSS)
