"""Sign in: username and password; in the demo workspace, the demo accounts."""

from __future__ import annotations

import streamlit as st

from core import auth, queries, runtime
from core.errors import ParleyError
from pages import notify, session
from pages.text import esc

rt = runtime.current()
notify.stop()  # a previous user's live updates in this tab, if any

_, middle, _ = st.columns([1, 2, 1])
with middle:
    st.title("💬 Parley", anchor=False)
    st.markdown(
        "The shared SMS and WhatsApp inbox for your team: customers' replies to your campaigns "
        "become conversations you answer together."
    )
    with st.form("sign_in", enter_to_submit=True):
        username = st.text_input("Username", autocomplete="username", max_chars=64)
        password = st.text_input("Password", type="password", autocomplete="current-password", max_chars=256)
        submitted = st.form_submit_button("Sign in", type="primary", icon=":material/login:")
    if submitted:
        try:
            user = auth.sign_in(
                rt.db, username, password, source=session.source(rt), device_token=session.device_token()
            )
        except ParleyError as exc:
            st.error(esc(exc))
        else:
            session.sign_in_as(rt, user)
            st.rerun()

    if queries.workspace(rt.db).get("demo"):
        from generator.demo import DEMO_SIGN_INS

        st.markdown("**Demo workspace** — sign in as any of these:")
        st.dataframe(
            {
                "Username": [u for u, _, _ in DEMO_SIGN_INS],
                "Password": [p for _, p, _ in DEMO_SIGN_INS],
                "Role": [r for _, _, r in DEMO_SIGN_INS],
            },
            hide_index=True,
            width="content",
        )
