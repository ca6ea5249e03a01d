"""The conversation list of My Inbox and Team Inbox: search, Open/Closed/All, pages, rows, bulk actions.

It lives in a fragment that reruns only when the browser's watcher
(``pages.live_watch``) sees the inbox's version move (``/api/inbox/version``:
one read by primary key every ``LIVE_SECONDS``), or once a minute so that
"12 min" and "Window closes in …" stay true; a rerun reads ``core`` again
only when the version moved (``common.inbox_data`` keeps the page per list).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import streamlit as st

from core import clock
from core.compliance.window import window_state
from core.errors import ParleyError
from pages import bulk, list_controls, live_watch
from pages.format import (
    CHANNEL_ICONS,
    CHANNEL_NAMES,
    STATUS_TONES,
    contact_label,
    first_line,
    full_time,
    relative_time,
    status_icon_text,
    status_word,
)
from pages.row_list import conversation_href, keep_shown, row_list
from pages.session import fragment_user, guarded
from pages.text import md

LIVE_SECONDS = live_watch.LIVE_SECONDS
# Relative times ("12 min") and the WhatsApp window's warning count minutes: a list nobody
# changes is redrawn this often so they stay true.
REDRAW_EVERY = dt.timedelta(seconds=60)
STATUS_CHOICES = {"Open": "open", "Closed": "closed", "All": "all"}
INBOX_ACTIONS = [
    ("read", "Mark read", ":material/drafts:"),
    ("unread", "Mark unread", ":material/mark_email_unread:"),
    ("close", "Close", ":material/check_circle:"),
    ("reopen", "Reopen", ":material/undo:"),
]
ASSIGN_ACTION = ("assign", "Assign…", ":material/person_add:")
WINDOW_WARNING = 4 * 3600  # seconds: a WhatsApp window closing sooner than this is flagged


def row_flags(row: dict[str, Any], *, show_closed: bool, tz_name: str | None, now=None) -> list[dict[str, str]]:
    """What else to know about a conversation, as short chips."""
    flags = []
    if show_closed and row.get("status") == "closed":
        flags.append({"text": "Closed", "tone": ""})
    if row.get("opted_out"):
        flags.append({"text": "Opted out", "tone": "red", "help": "The contact opted out: nothing can be sent."})
    elif row.get("optout_flag"):
        flags.append({"text": "Asked to stop?", "tone": "red", "help": "Their words look like an opt-out request."})
    if row.get("unsolicited"):
        flags.append({"text": "Unsolicited", "tone": "orange", "help": "They wrote first: no campaign reached them."})
    if row.get("channel") == "whatsapp" and row.get("last_inbound_at") is not None:
        window = window_state(row["last_inbound_at"], now or clock.utcnow())
        if window.open and window.remaining.total_seconds() < WINDOW_WARNING:
            left = int(window.remaining.total_seconds())
            words = f"{left // 3600} h {left % 3600 // 60} min" if left >= 3600 else f"{max(1, left // 60)} min"
            flags.append(
                {
                    "text": f"Window closes in {words}",
                    "tone": "orange",
                    "help": "After that only registered templates can be sent.",
                }
            )
    return flags


def inbox_rows(
    rows: list[dict[str, Any]], *, tz_name: str | None, show_owner: bool, show_closed: bool, now=None
) -> list[dict[str, Any]]:
    """Page rows from ``core`` → what the row list shows."""
    shown = []
    for r in rows:
        cid = r["conversation_id"]
        out = r.get("last_message_direction") == "out"
        status = r.get("last_out_status")
        item: dict[str, Any] = {
            "id": cid,
            "conversation_id": cid,
            "href": conversation_href(cid),
            "unread": bool(r["unread"]),
            "title": contact_label(r["contact_name"], r["contact_phone"]),
            "channel_icon": CHANNEL_ICONS.get(r["channel"], ""),
            "channel_name": CHANNEL_NAMES.get(r["channel"], r["channel"]),
            # "Sent:", not "You:": after a reassignment the last reply may be the previous owner's.
            "prefix": "Sent: " if out else "",
            "text": first_line(r.get("preview")),
            "flags": row_flags(r, show_closed=show_closed, tz_name=tz_name, now=now),
            "when": relative_time(r["last_message_at"], tz_name, now),
            "when_help": full_time(r["last_message_at"], tz_name),
        }
        if status:
            item["status"] = {
                "icon": status_icon_text(status),
                "tone": STATUS_TONES.get(status, ""),
                "help": f"Last message sent: {status_word(status)}",
            }
        if show_owner:
            item["owner"] = r.get("owner_name") or "Unassigned"
        shown.append(item)
    return shown


def inbox_list(
    user,
    *,
    key: str,
    scope: str,
    owner_id: int | None = None,
    title: str | None = None,
    unread_for: int | None = None,
    show_owner: bool = False,
    actions: bool = True,
) -> None:
    """Search, Open/Closed/All, paging, the rows and bulk actions; refreshed live."""
    bulk.dialogs(key, user)
    _live(user, key, scope, owner_id, title, unread_for, show_owner, actions)


def watched_owner(user_id: int, scope: str, owner_id: int | None) -> str:
    """Whose inbox version a list compares, as ``/api/inbox/version?owner=`` takes it."""
    if scope == "mine":
        return str(user_id)
    return "team" if owner_id is None else str(owner_id)


@st.fragment
def _live(user, key, scope, owner_id, title, unread_for, show_owner, actions) -> None:
    from core import runtime
    from pages import common

    rt = runtime.current()
    user = fragment_user(rt, user)  # a click in the list reruns only this: the session is checked here
    user_id = user.id
    try:
        view = common.inbox_data(rt, user, key, scope, owner_id, unread_for)
    except ParleyError as exc:
        st.error(md("{error}", error=exc))
        return
    _draw(user, key, view.page, view.unread, title, show_owner, actions)
    # Reruns this fragment when the inbox's version moves (pages/live_watch.py): no redraw of
    # every row every two seconds while nothing changed.
    live_watch.watch(
        f"inbox_watch_{key}",
        f"/api/inbox/version?owner={watched_owner(user_id, scope, owner_id)}",
        view.version,
        refresh_at=clock.utcnow() + REDRAW_EVERY,
    )


def _draw(user, key, page, unread, title, show_owner, actions) -> None:
    """The list's header, controls, rows and bulk actions."""
    s = st.session_state
    user_id = user.id
    if unread:
        badge = md(":blue-badge[{n} unread]", n=f"{unread:,}")
    else:
        badge = md(":gray-badge[all read]") if unread == 0 else md("")
    if title:
        st.header(md("{title} {badge}", title=title, badge=badge), anchor=False)
    elif badge:
        st.markdown(md("{badge}", badge=badge))
    top = st.container(horizontal=True, vertical_alignment="center", horizontal_alignment="distribute")
    query = list_controls.search_box(key, top.container(horizontal=True, vertical_alignment="center", width="content"))
    right = top.container(horizontal=True, vertical_alignment="center", horizontal_alignment="right", width="content")
    right.segmented_control(
        "Show",
        list(STATUS_CHOICES),
        default="Open",
        key=f"{key}.status",
        required=True,
        label_visibility="collapsed",
        on_change=guarded(list_controls.reset_paging),
        args=(key,),
        width="content",
        help="Open conversations, closed (done) ones, or all",
    )
    status = s.get(f"{key}.status") or "Open"
    shown = inbox_rows(page.rows, tz_name=user.timezone, show_owner=show_owner, show_closed=status == "All")
    keep_shown(key, shown)
    list_controls.pager(key, page, right)
    if actions:
        bulk.action_buttons(
            key,
            user_id,
            INBOX_ACTIONS + ([ASSIGN_ACTION] if user.is_admin else []),
            st.container(horizontal=True, vertical_alignment="center"),
        )
    bulk.feedback(key)
    if not page.rows:
        what = {"Open": "open conversations", "Closed": "closed conversations", "All": "conversations"}[status]
        st.info(
            md("No {what} match “{query}”.", what=what, query=query) if query else md("No {what} here yet.", what=what),
            icon="📭",
        )
        return
    row_list(key, shown, label=title or "Conversations", selectable=actions)
