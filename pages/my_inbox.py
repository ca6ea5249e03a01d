"""My Inbox: the conversations assigned to me, newest activity first, live."""

from __future__ import annotations

import streamlit as st

from core import runtime
from pages import session
from pages.inbox_list import inbox_list

rt = runtime.current()
user = session.current_user(rt)
if user is None:
    st.stop()

inbox_list(user, key="mine", scope="mine", title="My Inbox", unread_for=user.id)
