"""The banner admins see on every page while an enabled US sender number is unregistered (rule 10)."""

from __future__ import annotations

import streamlit as st

from core import senders
from core.auth import User
from core.phones import format_phone_display
from core.runtime import Runtime
from pages.text import md


def render(rt: Runtime, user: User) -> None:
    # One slot on every run, empty without a banner: a banner coming or going must not move the
    # page's blocks, which the browser would draw anew (see ``session.render_pending_cookie_actions``).
    slot = st.empty()
    found = senders.banner(rt.db, user)
    if not found:
        return
    # A label may hold its own parentheses ("Toll-free (verification pending)"): the number follows a dot.
    numbers = ", ".join(f"{s['label']} · {format_phone_display(s['phone'])}" for s in found)
    slot.warning(md("**{urgent}**  \nNot registered yet: {numbers}.", urgent=senders.BANNER, numbers=numbers), icon="⚠️")
