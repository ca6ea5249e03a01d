"""Team Inbox (admins and supervisors): browse any agent's conversations.

Opening one here does not change the owner's read state (core decides:
only the owner's own opening marks it read). Supervisors browse read-only;
admins can mark read/unread for the owner (after confirming) and assign.
"""

from __future__ import annotations

import streamlit as st

from core import runtime
from core.errors import ParleyError
from pages import common, session
from pages.bulk import member_label
from pages.inbox_list import inbox_list
from pages.list_controls import reset_paging
from pages.session import guarded
from pages.text import esc

rt = runtime.current()
user = session.current_user(rt)
if user is None:
    st.stop()

WHOLE_TEAM = 0  # not None: a selectbox treats None as "nothing chosen" and offers to clear it
chosen = st.session_state.get("team.owner")
chosen = None if chosen in (None, WHOLE_TEAM) else chosen
try:  # one core call: the list (kept for the live list below) and whose inboxes may be browsed
    members = common.inbox_data(rt, user, "team", "team", chosen, chosen, fresh=True).members
except ParleyError as exc:
    st.error(esc(exc))
    st.stop()

st.header("Team Inbox", anchor=False)
names = {WHOLE_TEAM: "Whole team"} | {m["id"]: member_label(m) for m in members}
if st.session_state.get("team.owner") not in names:  # that agent was disabled since
    st.session_state.pop("team.owner", None)
row = st.container(horizontal=True, vertical_alignment="bottom")
choice = row.selectbox(
    "Inbox of",
    list(names),
    format_func=names.get,
    key="team.owner",
    on_change=guarded(reset_paging),
    args=("team",),
    width=360,
)
owner_id = None if choice == WHOLE_TEAM else choice
if user.is_supervisor:
    row.caption("Read-only: supervisors can open and read conversations but cannot change them.", width="content")
else:
    row.caption("Reading a conversation here leaves its owner's unread mark alone.", width="content")

inbox_list(
    user,
    key="team",
    scope="team",
    owner_id=owner_id,
    unread_for=owner_id,
    show_owner=owner_id is None,
    actions=user.is_admin,
)
