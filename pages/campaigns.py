"""Campaigns: the list, one campaign's live progress, and a new campaign (preview, then send).

Agents and admins send campaigns; supervisors follow them. A new campaign is
a sender, a Campaign template, an audience (a tag, a CSV of numbers, or
everyone), where each variable comes from, and when; *Preview* shows who
gets it, everyone left out and why, segments, cost units and the first time
it can go; *Send* queues it. Every rule is ``core``'s
(``core.actions.campaigns``, ``core.actions.queued_campaigns``, ``core.campaigns``).

This script only chooses what to draw: the list and one campaign are
``pages/campaign_progress.py``'s, the new campaign ``pages/campaign_form.py``'s.
"""

from __future__ import annotations

import streamlit as st

from pages import campaign_form, campaign_progress
from pages.admin_common import feedback, page_user
from pages.campaign_progress import KEY
from pages.session import guarded

rt, user = page_user()


# ---- the page -------------------------------------------------------------------------------------------

st.header("Campaigns", anchor=False)
campaign_param = st.query_params.get("id")
if campaign_param == "new" and user.can_send:
    campaign_form.render_new(rt, user)
elif campaign_param and campaign_param != "new":
    campaign_progress.render_detail(rt, user, campaign_param)
else:
    if user.can_send:
        st.button(
            "New campaign",
            key=f"{KEY}.new",
            icon=":material/campaign:",
            type="primary",
            on_click=guarded(campaign_form.start_new),
        )
    else:
        st.caption("Supervisors follow campaigns; agents and admins send them.")
    feedback(KEY)
    campaign_progress.render_list(rt, user)
