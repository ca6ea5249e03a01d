"""The banner admins see on every page while an enabled US sender number is unregistered (rule 10)."""

from __future__ import annotations

import streamlit as st

from core import senders
from core.auth import User
from core.phones import format_phone_display
from core.runtime import Runtime
from pages.text import md


def render(rt: Runtime, user: User) -> None:
    found = senders.banner(rt.db, user)
    if not found:
        return
    # A label may hold its own parentheses ("Toll-free (verification pending)"): the number follows a dot.
    numbers = ", ".join(f"{s['label']} · {format_phone_display(s['phone'])}" for s in found)
    st.warning(md("**{urgent}**  \nNot registered yet: {numbers}.", urgent=senders.BANNER, numbers=numbers), icon="⚠️")
