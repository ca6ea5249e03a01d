"""Sent Messages: what I sent (campaign messages and replies), with delivery status.

Campaign messages nobody answered have no conversation yet (rule 1), so
they show "no reply yet" and cannot be opened or marked read.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import queries, runtime
from core.auth import get_user
from core.errors import ParleyError
from pages import common, session
from pages.text import esc, md

KEY = "sent"
ACTIONS = [("read", "Mark read", ":material/drafts:"), ("unread", "Mark unread", ":material/mark_email_unread:")]
STATUS_COLOURS = {"read": "color: #1c83e1", **{s: "color: #d43f3a" for s in common.FAILED_STATUSES}}

MARK_HELP = "● the conversation is unread · – no reply yet (no conversation)"

rt = runtime.current()
user = session.current_user(rt)
if user is None:
    st.stop()


def _load(viewer):
    s = st.session_state
    params = (s.get(f"{KEY}.q") or "", s.get(f"{KEY}.page", 0))
    version = rt.feed.version  # status callbacks of campaign messages name no user
    cache = s.get(f"{KEY}.cache")
    if cache and cache[0] == params and cache[1] == version:
        return cache[2]
    page = queries.sent_messages(rt.db, viewer, search=params[0], page=params[1])
    if page.page and page.page >= page.pages:
        s[f"{KEY}.page"] = page.pages - 1
        return _load(viewer)
    s[f"{KEY}.cache"] = (params, version, page)
    return page


def _reply_mark(row) -> str:
    if row["conversation_id"] is None:
        return "–"
    return "●" if row["unread"] else ""


def _message_text(row) -> str:
    """The body; campaign messages start with 📣 and the campaign's name."""
    body = (row["body"] or "") + (" 📎" if row["has_media"] else "")
    if row["campaign_name"]:
        return f"📣 {row['campaign_name']} — {body}"
    return body


@st.fragment(run_every=common.LIVE_SECONDS)
def sent_list(user_id: int) -> None:
    viewer = get_user(rt.db, user_id)
    try:
        page = _load(viewer)
    except ParleyError as exc:
        st.error(esc(exc))
        return
    query = common.search_box(KEY)
    bar = st.container(horizontal=True, vertical_alignment="center", horizontal_alignment="distribute")
    if viewer.can_send:
        common.action_buttons(
            KEY, user_id, ACTIONS, bar.container(horizontal=True, vertical_alignment="center", width="content")
        )
    common.pager(
        KEY,
        page,
        bar.container(horizontal=True, vertical_alignment="center", horizontal_alignment="right", width="content"),
    )
    common.feedback(KEY, user_id)
    st.space("small")  # room for the table's hover toolbar below the pager
    rows = page.rows
    if not rows:
        st.info(
            md("No sent messages match “{query}”.", query=query)
            if query
            else "Messages you send, and campaign messages, will appear here.",
            icon="📤",
        )
        return
    tz = viewer.timezone
    df = pd.DataFrame(
        {
            "●": [_reply_mark(r) for r in rows],
            "Recipient": [common.contact_label(r["contact_name"], r["contact_phone"]) for r in rows],
            "Channel": [common.channel_badge(r["channel"]) for r in rows],
            "Message": [_message_text(r) for r in rows],
            "Status": [common.status_label(r, tz) for r in rows],
            "Sent": [common.fmt_time(r["created_at"], tz) for r in rows],
        }
    )
    colours = [STATUS_COLOURS.get(r["status"], "") for r in rows]
    unread = [bool(r["unread"]) for r in rows]

    def style(frame):
        styled = frame.style.apply(lambda col: [c for c in colours], subset=["Status"], axis=0)
        return styled.apply(
            lambda col: ["font-weight: bold" if u else "" for u in unread], subset=["Recipient"], axis=0
        )

    # Pixel widths that fit the main column of a 1400-px window beside the sidebar.
    common.live_table(
        KEY,
        df,
        [r["id"] for r in rows],
        [r["conversation_id"] for r in rows],
        selectable=viewer.can_send,
        style=style,
        column_config={
            "●": st.column_config.TextColumn(" ", width=28, help=MARK_HELP),
            "Recipient": st.column_config.TextColumn(width=135),
            "Channel": st.column_config.TextColumn(width=100),
            "Message": st.column_config.TextColumn(width=190, help="📣 marks a campaign message"),
            "Status": st.column_config.TextColumn(
                width=335, help="The reason of a failure is shown in full in the conversation"
            ),
            "Sent": st.column_config.TextColumn(width=95),
        },
    )
    st.caption(
        "Click a message to open its conversation; tick the boxes to mark conversations read or unread. "
        "– marks a campaign message nobody has answered yet: it has no conversation to open."
    )


st.header("Sent Messages", anchor=False)
common.dialogs(KEY, user.id)
sent_list(user.id)
