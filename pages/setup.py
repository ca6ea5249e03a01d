"""First start without the demo: create the first admin, then sign in as them."""

from __future__ import annotations

import zoneinfo

import streamlit as st

from core import runtime
from core.actions.users import do_create_user
from core.errors import ParleyError
from pages import session
from pages.text import esc

rt = runtime.current()
ZONES = sorted(zoneinfo.available_timezones() - {"localtime", "Factory"})
DEFAULT_ZONE = "America/New_York"

_, middle, _ = st.columns([1, 2, 1])
with middle:
    st.title("💬 Welcome to Parley", anchor=False)
    st.markdown("This workspace has no users yet. Create the first admin account; you can add your team afterwards.")
    with st.form("first_admin", enter_to_submit=True):
        display_name = st.text_input("Your name", max_chars=80)
        username = st.text_input(
            "Username",
            autocomplete="username",
            max_chars=32,
            help="Lowercase letters, digits, dots, dashes or underscores.",
        )
        password = st.text_input(
            "Password", type="password", autocomplete="new-password", max_chars=256, help="At least 8 characters."
        )
        again = st.text_input("Password again", type="password", autocomplete="new-password", max_chars=256)
        timezone = st.selectbox(
            "Your time zone", ZONES, index=ZONES.index(DEFAULT_ZONE) if DEFAULT_ZONE in ZONES else 0
        )
        submitted = st.form_submit_button("Create admin and sign in", type="primary")
    if submitted:
        if password != again:
            st.error("The two passwords differ; type the same password twice.")
        else:
            try:
                user = do_create_user(rt.db, None, username, display_name, "admin", password, timezone=timezone)
            except ParleyError as exc:
                st.error(esc(exc))
            else:
                session.sign_in_as(rt, user)
                st.rerun()
