"""Sent Messages: what I sent (campaign messages and replies), with delivery status.

Campaign messages nobody answered have no conversation yet (rule 1), so
their rows say so and cannot be opened or marked read. The list reruns only
when the browser's watcher (``pages.live_watch``) sees the viewer's inbox
version move (``/api/inbox/version``), or once a minute for "12 min" and
"sends at …" to stay true.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import clock, queries, runtime, versions
from core.errors import ParleyError
from pages import bulk, list_controls, live_watch, session
from pages.format import (
    CHANNEL_ICONS,
    CHANNEL_NAMES,
    STATUS_TONES,
    contact_label,
    first_line,
    full_time,
    relative_time,
    status_icon_text,
    status_label,
    status_phrase,
)
from pages.inbox_list import REDRAW_EVERY, watched_owner
from pages.row_list import conversation_href, keep_shown, row_list
from pages.text import esc, md

KEY = "sent"
ACTIONS = [("read", "Mark read", ":material/drafts:"), ("unread", "Mark unread", ":material/mark_email_unread:")]
NO_CONVERSATION = "No reply yet: a campaign message starts a conversation only when the customer answers."

rt = runtime.current()
user = session.current_user(rt)
if user is None:
    st.stop()


def _load(viewer):
    """(page, its inbox version) from ``queries.sent_view`` (one statement), read again when the
    viewer's inbox version moved (a status of a message they wrote, a reply, a read mark), when
    the search or page changed, or when what is held is ``REDRAW_EVERY`` old.

    The last: a row's unread mark is its conversation's owner's, and when the owner is someone
    else (an admin's reply in a conversation since assigned to an agent, a message written before
    a reassignment) their reading it moves their version, not the viewer's. Read again with the
    minute's redraw, such a mark is at most a minute late, for one statement a minute."""
    s = st.session_state
    params = (s.get(f"{KEY}.q") or "", s.get(f"{KEY}.page", 0))
    cache = s.get(f"{KEY}.cache")
    now = clock.utcnow()
    if (
        cache
        and cache[0] == params
        and now - cache[3] < REDRAW_EVERY
        and versions.inbox_version(rt.db, viewer.id) == cache[1]
    ):
        return cache[2], cache[1]
    view = queries.sent_view(rt.db, viewer, search=params[0], page=params[1])
    page = view.page
    if page.page and page.page >= page.pages:
        s[f"{KEY}.page"] = page.pages - 1
        return _load(viewer)
    s[f"{KEY}.cache"] = (params, view.version, page, now)
    return page, view.version


def sent_rows(rows: list[dict[str, Any]], tz_name: str | None, now=None) -> list[dict[str, Any]]:
    """Sent messages from ``core`` → what the row list shows."""
    shown = []
    for r in rows:
        cid = r["conversation_id"]
        label = status_label(r, tz_name)
        item: dict[str, Any] = {
            "id": r["id"],
            "conversation_id": cid,
            "href": conversation_href(cid),
            "unread": bool(r["unread"]),
            "mark": "–" if cid is None else None,
            "title": contact_label(r["contact_name"], r["contact_phone"]),
            "channel_icon": CHANNEL_ICONS.get(r["channel"], ""),
            "channel_name": CHANNEL_NAMES.get(r["channel"], r["channel"]),
            "tag": f"📣 {r['campaign_name']} — " if r["campaign_name"] else "",
            "text": first_line(r["body"]) + (" 📎" if r["has_media"] else ""),
            "status": {
                "icon": status_icon_text(r["status"]),
                "word": status_phrase(r, tz_name),
                "tone": STATUS_TONES.get(r["status"], ""),
                "help": label,
            },
            "when": relative_time(r["created_at"], tz_name, now),
            "when_help": full_time(r["created_at"], tz_name),
        }
        if cid is None:
            item["selectable"] = False
            item["tick_help"] = NO_CONVERSATION
            item["title_help"] = NO_CONVERSATION
        shown.append(item)
    return shown


@st.fragment
def sent_list(user) -> None:
    viewer = session.fragment_user(rt, user)  # a click in the list reruns only this
    user_id = viewer.id
    try:
        page, version = _load(viewer)
    except ParleyError as exc:
        st.error(esc(exc))
        return
    _draw(viewer, page)
    # Reruns this fragment when the viewer's inbox version moves (pages/live_watch.py).
    live_watch.watch(
        f"inbox_watch_{KEY}",
        f"/api/inbox/version?owner={watched_owner(user_id, 'mine', None)}",
        version,
        refresh_at=clock.utcnow() + REDRAW_EVERY,
    )


def _draw(viewer, page) -> None:
    """Search, pages, rows and bulk actions."""
    user_id = viewer.id
    top = st.container(horizontal=True, vertical_alignment="center", horizontal_alignment="distribute")
    query = list_controls.search_box(KEY, top.container(horizontal=True, vertical_alignment="center", width="content"))
    shown = sent_rows(page.rows, viewer.timezone)
    keep_shown(KEY, shown)
    list_controls.pager(
        KEY,
        page,
        top.container(horizontal=True, vertical_alignment="center", horizontal_alignment="right", width="content"),
    )
    if viewer.can_send:
        bulk.action_buttons(KEY, user_id, ACTIONS, st.container(horizontal=True, vertical_alignment="center"))
    bulk.feedback(KEY)
    if not page.rows:
        st.info(
            md("No sent messages match “{query}”.", query=query)
            if query
            else "Messages you send, and campaign messages, will appear here.",
            icon="📤",
        )
        return
    row_list(KEY, shown, label="Sent messages", selectable=viewer.can_send)
    st.caption("📣 marks a campaign message; – one nobody has answered yet (it has no conversation to open).")


st.header("Sent Messages", anchor=False)
bulk.dialogs(KEY, user)
sent_list(user)
