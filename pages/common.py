"""Shared UI pieces: times, status icons, labels, and the live inbox list.

UI only: every read goes through ``core.queries`` and every write through
``core.actions``. Contact names, message bodies and error reasons are user
input, so they are shown as plain text (dataframes, ``st.text``) or through
``esc``/``md`` (``pages/text.py``); nothing here uses ``unsafe_allow_html``.

Bulk actions are callbacks (``bulk_action``, ``confirm_read_state``,
``assign_selected``) that read the selected conversation ids from session
state, so tests can drive them without clicking inside a dialog.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import MutableMapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from core import clock
from core.actions.conversations import ConfirmationRequired, do_assign, do_set_read_state, do_set_status
from core.auth import get_user
from core.errors import ParleyError, PermissionDenied, ValidationError
from core.permissions import require_admin
from core.phones import format_phone_display
from pages.session import guarded
from pages.text import Markdown, esc, md

LIVE_SECONDS = 2

# ---- text -----------------------------------------------------------------------------


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


# ---- time -----------------------------------------------------------------------------


def _zone(tz_name: str | None) -> dt.tzinfo:
    try:
        return ZoneInfo(tz_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def fmt_time(value: Any, tz_name: str | None, now: dt.datetime | None = None) -> str:
    """Naive UTC → viewer's zone: "2:05 PM" today, "Tue 2:05 PM" this week, "Nov 3" older."""
    if value is None or (not isinstance(value, dt.datetime) and value != value):  # None / NaT
        return ""
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    zone = _zone(tz_name)
    local = clock.to_naive_utc(value).replace(tzinfo=dt.UTC).astimezone(zone)
    today = (now or clock.utcnow()).replace(tzinfo=dt.UTC).astimezone(zone).date()
    hm = f"{local.hour % 12 or 12}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"
    days = abs((today - local.date()).days)
    if days == 0:
        return hm
    if days < 7:
        return f"{local:%a} {hm}"
    if local.year == today.year:
        return f"{local:%b} {local.day}"
    return f"{local:%b} {local.day}, {local.year}"


# ---- delivery status (DESIGN.md, *Status icons*) ----------------------------------------

STATUS_ICONS = {
    "queued": "🕓",
    "sending": "🕓",
    "sent": "✓",
    "delivered": "✓✓",
    "read": ":blue[✓✓]",
    "failed": ":red[⚠]",
    "undelivered": ":red[⚠]",
    "not_sent": ":red[⚠]",
    "interrupted": ":red[⚠]",
}
STATUS_WORDS = {
    "queued": "Queued",
    "sending": "Sending",
    "sent": "Sent",
    "delivered": "Delivered",
    "read": "Read",
    "failed": "Failed",
    "undelivered": "Undelivered",
    "not_sent": "Not sent",
    "interrupted": "Interrupted — retry",
}
FAILED_STATUSES = {"failed", "undelivered", "not_sent", "interrupted"}


def status_icon_text(status: str | None) -> str:
    """The icon without markdown colour, for tables."""
    return re.sub(r":\w+\[(.*)\]", r"\1", STATUS_ICONS.get(status or "", "•"))


def _status_detail(row: dict[str, Any], tz_name: str | None) -> str:
    status = row.get("status")
    if status in ("queued", "sending") and row.get("release_at") is not None:
        release = row["release_at"]
        if clock.to_naive_utc(getattr(release, "to_pydatetime", lambda: release)()) > clock.utcnow():
            return f"goes {fmt_time(release, tz_name)}"
    if status in FAILED_STATUSES and status != "interrupted":
        code, reason = row.get("error_code"), row.get("error_reason")
        if code and reason and str(code) in str(reason):  # "Unknown number (error 30005)"
            return str(reason)
        return ": ".join(str(x) for x in (code, reason) if x)
    return ""


def status_label(row: dict[str, Any], tz_name: str | None = None) -> str:
    """Plain text: "✓✓ Delivered", "⚠ Not sent — Contact opted out", "🕓 Queued — goes Tue 9:00 AM"."""
    status = row.get("status") or ""
    text = f"{status_icon_text(status)} {STATUS_WORDS.get(status, status.replace('_', ' ').capitalize())}"
    detail = _status_detail(row, tz_name)
    return f"{text} — {detail}" if detail else text


def status_markdown(row: dict[str, Any], tz_name: str | None = None) -> Markdown:
    """The same as markdown, with the blue/red icons; the reason is escaped."""
    status = row.get("status") or ""
    words = STATUS_WORDS.get(status, status)
    detail = _status_detail(row, tz_name)
    icon = Markdown(STATUS_ICONS.get(status, "•"))  # ours: colour directives, no one's text
    return (
        md("{icon} {words} — {detail}", icon=icon, words=words, detail=detail)
        if detail
        else md("{icon} {words}", icon=icon, words=words)
    )


# ---- labels -----------------------------------------------------------------------------

CHANNEL_BADGES = {"sms": "💬 SMS", "whatsapp": "🟢 WhatsApp"}


def channel_badge(channel: str | None) -> str:
    return CHANNEL_BADGES.get(channel or "", str(channel or ""))


def contact_label(name: str | None, phone: str | None) -> str:
    """The contact's name, else their number formatted for reading."""
    return (name or "").strip() or format_phone_display(phone) or "Unknown number"


# ---- selection, feedback and bulk actions (callbacks) ---------------------------------------


def _state(state: MutableMapping | None) -> MutableMapping:
    return st.session_state if state is None else state


def selected(key: str, state: MutableMapping | None = None) -> list[int]:
    return list(_state(state).get(f"{key}.sel") or [])


def clear_selection(key: str, state: MutableMapping | None = None) -> None:
    s = _state(state)
    s[f"{key}.sel"] = []
    s[f"{key}.sel_rows"] = []
    s[f"{key}.resync"] = True  # untick the rows in the browser too (see live_table)
    s.pop(f"{key}.cache", None)  # re-query now (close/reopen do not bump the owner's version)


def _done(key: str, message: str, s: MutableMapping) -> None:
    s[f"{key}.flash"] = message
    s.pop(f"{key}.error", None)
    clear_selection(key, s)


def bulk_action(key: str, user_id: int, action: str, state: MutableMapping | None = None) -> None:
    """Mark read/unread, close or reopen the selected conversations."""
    from core import runtime

    s = _state(state)
    rt = runtime.current()
    user = get_user(rt.db, user_id)
    ids = selected(key, s)
    cancel_pending(key, s)  # one question at a time
    try:
        if user is None or not user.active:
            raise PermissionDenied("Your account is no longer active; sign in again.")
        if action in ("read", "unread"):
            n = do_set_read_state(rt.db, user, ids, read=action == "read")
            _done(key, f"Marked {plural(n, 'conversation')} {action}.", s)
        elif action in ("close", "reopen"):
            n = do_set_status(rt.db, user, ids, closed=action == "close")
            verb = "Closed" if action == "close" else "Reopened"
            _done(
                key,
                f"{verb} {plural(n, 'conversation')}."
                if n
                else f"Those conversations were already {'closed' if action == 'close' else 'open'}.",
                s,
            )
        elif action == "assign":
            require_admin(user, "assign conversations")
            if not ids:
                raise ValidationError("Select at least one conversation first.")
            s[f"{key}.assign"] = {"ids": ids}
            s[f"{key}.ask"] = True
        else:
            raise ValidationError(f"“{action}” is not something Parley can do to conversations.")
    except ConfirmationRequired as exc:
        s[f"{key}.confirm"] = {"ids": ids, "read": action == "read", "owners": list(exc.owners)}
        s[f"{key}.ask"] = True
    except ParleyError as exc:
        s[f"{key}.error"] = str(exc)


def confirm_read_state(key: str, user_id: int, state: MutableMapping | None = None) -> None:
    """The admin confirmed changing another agent's read state."""
    from core import runtime

    s = _state(state)
    pending = s.pop(f"{key}.confirm", None)
    if not pending:
        return
    rt = runtime.current()
    try:
        n = do_set_read_state(rt.db, get_user(rt.db, user_id), pending["ids"], read=pending["read"], confirmed=True)
    except ParleyError as exc:
        s[f"{key}.error"] = str(exc)
        return
    state_word = "read" if pending["read"] else "unread"
    _done(key, f"Marked {plural(n, 'conversation')} {state_word} for {_names(pending['owners'])}.", s)


def assign_selected(key: str, user_id: int, state: MutableMapping | None = None) -> None:
    """Assign the pending conversations to the agent chosen in the dialog."""
    from core import runtime

    s = _state(state)
    pending = s.get(f"{key}.assign")
    if not pending:
        return
    rt = runtime.current()
    to_id = s.get(f"{key}.assign_to")
    try:
        n = do_assign(rt.db, get_user(rt.db, user_id), pending["ids"], to_id)
    except ParleyError as exc:
        s[f"{key}.dialog_error"] = str(exc)
        return
    s.pop(f"{key}.assign", None)
    s.pop(f"{key}.assign_to", None)
    to_user = get_user(rt.db, int(to_id))
    _done(
        key,
        f"Assigned {plural(n, 'conversation')} to {to_user.display_name}."
        if n
        else f"Those conversations already belong to {to_user.display_name}.",
        s,
    )


def cancel_pending(key: str, state: MutableMapping | None = None) -> None:
    s = _state(state)
    for what in ("confirm", "assign", "dialog_error"):
        s.pop(f"{key}.{what}", None)


LIST_KEYS = ("mine", "team", "sent")


def _dismissed() -> None:
    """The dialog's X, Esc or a click outside: forget the question (else the live list re-asks it)."""
    for key in LIST_KEYS:
        cancel_pending(key)


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@st.dialog("Change another agent's read state?", on_dismiss=guarded(_dismissed))
def _confirm_dialog(key: str, user_id: int) -> None:
    pending = st.session_state.get(f"{key}.confirm")
    if not pending:
        st.rerun()
    state = "read" if pending["read"] else "unread"
    n = len(pending["ids"])
    st.markdown(
        md(
            "This marks {n} **{state}** in {owners}'s {inboxes}. They will see {them} as {state}.",
            n=plural(n, "conversation"),
            state=state,
            owners=_names(pending["owners"]),
            inboxes="inboxes" if len(pending["owners"]) > 1 else "inbox",
            them="it" if n == 1 else "them",
        )
    )
    row = st.container(horizontal=True)
    row.button(
        "Confirm", type="primary", key=f"{key}.confirm_yes", on_click=guarded(confirm_read_state), args=(key, user_id)
    )
    row.button("Cancel", key=f"{key}.confirm_no", on_click=guarded(cancel_pending), args=(key,))


@st.dialog("Assign conversations", on_dismiss=guarded(_dismissed))
def _assign_dialog(key: str, user_id: int) -> None:
    from core import queries, runtime

    pending = st.session_state.get(f"{key}.assign")
    if not pending:
        st.rerun()
    rt = runtime.current()
    try:
        members = queries.team_members(rt.db, get_user(rt.db, user_id))
    except ParleyError as exc:
        st.error(esc(exc))
        return
    names = {
        m["id"]: f"{m['display_name']} (@{m['username']})" + (" · admin" if m["role"] == "admin" else "")
        for m in members
    }
    st.selectbox(
        "Assign to",
        list(names),
        format_func=names.get,
        index=None,
        placeholder="Choose an agent",
        key=f"{key}.assign_to",
    )
    n = len(pending["ids"])
    st.caption(
        md(
            "{n} will move to the chosen agent's inbox as unread, and they will be notified.",
            n=plural(n, "conversation"),
        )
    )
    if st.session_state.get(f"{key}.dialog_error"):
        st.error(esc(st.session_state[f"{key}.dialog_error"]))
    row = st.container(horizontal=True)
    row.button(
        "Assign",
        type="primary",
        key=f"{key}.assign_yes",
        on_click=guarded(assign_selected),
        args=(key, user_id),
        disabled=st.session_state.get(f"{key}.assign_to") is None,
    )
    row.button("Cancel", key=f"{key}.assign_no", on_click=guarded(cancel_pending), args=(key,))


def feedback(key: str, user_id: int) -> None:
    """Inside a live list: the toast or error of the last action.

    A question the action asked (confirm, assign) is a dialog opened by the
    whole page (``dialogs``), never by the live fragment: a fragment that
    re-renders a dialog every few seconds races its dismissal, and could show
    a stale dialog whose Confirm would do nothing.
    """
    s = st.session_state
    if s.pop(f"{key}.ask", False):
        st.rerun()  # the whole page, which opens the dialog
    if s.get(f"{key}.flash"):
        st.toast(esc(s.pop(f"{key}.flash")), icon="✅")
    if s.get(f"{key}.error"):
        st.error(esc(s.pop(f"{key}.error")))


def dialogs(key: str, user_id: int) -> None:
    """Outside the live fragment: the dialog the last action asked for, if any."""
    s = st.session_state
    s.pop(f"{key}.ask", None)
    if s.get(f"{key}.confirm"):
        _confirm_dialog(key, user_id)
    elif s.get(f"{key}.assign"):
        _assign_dialog(key, user_id)


def action_buttons(key: str, user_id: int, actions: list[tuple[str, str, str]], container=None) -> None:
    """A row of bulk-action buttons: (action, label, material icon)."""
    n = len(selected(key))
    row = container or st.container(horizontal=True, vertical_alignment="center", width="content")
    for action, label, icon in actions:
        row.button(
            esc(label),
            key=f"{key}.act.{action}",
            icon=icon,
            disabled=n == 0,
            help=None if n else "Tick one or more rows first.",
            on_click=guarded(bulk_action),
            args=(key, user_id, action),
        )
    if n:
        row.caption(md("{n} selected", n=n), width="content")


# ---- search box and pager -----------------------------------------------------------------


def reset_paging(key: str) -> None:
    st.session_state[f"{key}.page"] = 0
    clear_selection(key)


def _run_search(key: str) -> None:
    st.session_state[f"{key}.q"] = (st.session_state.get(f"{key}.q_input") or "").strip()
    reset_paging(key)


def _clear_search(key: str) -> None:
    st.session_state[f"{key}.q"] = ""
    st.session_state[f"{key}.q_input"] = ""
    reset_paging(key)


def search_box(key: str, container=None) -> str:
    """Name or number search: Enter or the button runs it; Clear restores the list."""
    box = container or st.container(horizontal=True, vertical_alignment="center", width="content")
    with box.form(f"{key}.search", border=False, enter_to_submit=True, width="content"):
        row = st.container(horizontal=True, vertical_alignment="center", gap="small", width="content")
        row.text_input(
            "Search",
            key=f"{key}.q_input",
            placeholder="Search name or number",
            label_visibility="collapsed",
            max_chars=100,
            width=260,
        )
        row.form_submit_button("Search", icon=":material/search:", on_click=guarded(_run_search), args=(key,))
    query = st.session_state.get(f"{key}.q") or ""
    if query:
        box.button(
            "Clear",
            key=f"{key}.clear",
            icon=":material/close:",
            on_click=guarded(_clear_search),
            args=(key,),
            type="tertiary",
            help="Clear the search and show the whole list",
        )
    return query


def _turn_page(key: str, delta: int) -> None:
    st.session_state[f"{key}.page"] = max(0, st.session_state.get(f"{key}.page", 0) + delta)
    clear_selection(key)


def pager(key: str, page, container=None) -> None:
    """'1–50 of 312' with Prev/Next."""
    row = container or st.container(
        horizontal=True, vertical_alignment="center", horizontal_alignment="right", width="content"
    )
    first = page.page * page.page_size + 1 if page.total else 0
    last = min(page.total, (page.page + 1) * page.page_size)
    row.caption(
        md("{first}–{last} of {total}", first=f"{first:,}", last=f"{last:,}", total=f"{page.total:,}"), width="content"
    )
    row.button(
        "Prev",
        key=f"{key}.prev",
        icon=":material/chevron_left:",
        disabled=page.page == 0,
        on_click=guarded(_turn_page),
        args=(key, -1),
    )
    row.button(
        "Next",
        key=f"{key}.next",
        icon=":material/chevron_right:",
        disabled=page.page + 1 >= page.pages,
        on_click=guarded(_turn_page),
        args=(key, 1),
    )


# ---- the table: tick boxes select, a click on a cell opens the conversation ----------------------


def _on_table(key: str, widget_key: str) -> None:
    s = st.session_state
    selection = (s.get(widget_key) or {}).get("selection", {})
    row_ids, open_ids = s.get(f"{key}.ids") or [], s.get(f"{key}.open_ids") or []
    rows = [i for i in selection.get("rows", []) if i < len(row_ids)]
    s[f"{key}.sel_rows"] = [row_ids[i] for i in rows]
    s[f"{key}.sel"] = list(dict.fromkeys(open_ids[i] for i in rows if open_ids[i] is not None))
    cells = selection.get("cells") or []
    if cells:
        i = cells[-1][0]
        if i < len(open_ids) and open_ids[i] is not None:
            s[f"{key}.open"] = open_ids[i]
        s[f"{key}.resync"] = True  # drop the cell highlight, keep the ticks


def table_key(key: str) -> str:
    return f"{key}.table"


def live_table(
    key: str, data, row_ids: list, open_ids: list, *, selectable: bool, column_config: dict, style=None
) -> None:
    """A dataframe whose row selection survives live updates (kept by id, not by position).

    The browser remembers ticks by row *position*. Whenever the rows move (a
    new message lifts a conversation to the top, a page turns) or an action
    clears the selection, the ticks are set again from the selected ids
    through the widget's session state, so what is ticked on screen is
    always what an action will act on.
    """
    from functools import partial

    from pages import session

    s = st.session_state
    cid = s.pop(f"{key}.open", None)
    if cid is not None and "conversation" in session.pages():
        st.switch_page(session.pages()["conversation"], query_params={"id": str(cid)})
    resync = bool(s.pop(f"{key}.resync", False))
    if row_ids != s.get(f"{key}.ids") or open_ids != s.get(f"{key}.open_ids"):
        kept = [r for r in s.get(f"{key}.sel_rows") or [] if r in row_ids]
        s[f"{key}.sel_rows"] = kept
        s[f"{key}.sel"] = list(
            dict.fromkeys(open_ids[row_ids.index(r)] for r in kept if open_ids[row_ids.index(r)] is not None)
        )
        s[f"{key}.ids"], s[f"{key}.open_ids"] = list(row_ids), list(open_ids)
        resync = True
    widget_key = table_key(key)
    if resync:
        ticked = [row_ids.index(r) for r in s.get(f"{key}.sel_rows") or [] if r in row_ids] if selectable else []
        s[widget_key] = {"selection": {"rows": ticked, "columns": [], "cells": []}}
    st.dataframe(
        style(data) if style else data,
        key=widget_key,
        hide_index=True,
        column_config=column_config,
        on_select=guarded(partial(_on_table, key, widget_key)),
        selection_mode=["multi-row", "single-cell"] if selectable else "single-cell",
        height=len(row_ids) * 35 + 40,
        row_height=35,
    )


# ---- the inbox list (My Inbox, Team Inbox) ---------------------------------------------------------

STATUS_CHOICES = {"Open": "open", "Closed": "closed", "All": "all"}
INBOX_ACTIONS = [
    ("read", "Mark read", ":material/drafts:"),
    ("unread", "Mark unread", ":material/mark_email_unread:"),
    ("close", "Close", ":material/check_circle:"),
    ("reopen", "Reopen", ":material/undo:"),
]
ASSIGN_ACTION = ("assign", "Assign…", ":material/person_add:")


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
    """Search, Open/Closed/All, paging, the table and bulk actions; refreshed live."""
    dialogs(key, user.id)
    _inbox_fragment(user.id, key, scope, owner_id, title, unread_for, show_owner, actions)


def _inbox_data(rt, user, key: str, scope: str, owner_id, unread_for):
    from core import queries

    s = st.session_state
    status = STATUS_CHOICES.get(s.get(f"{key}.status") or "Open", "open")
    params = (scope, owner_id, status, s.get(f"{key}.q") or "", s.get(f"{key}.page", 0), unread_for)
    # Read the version before querying: a change in between only causes one extra query.
    version = rt.feed.user_version(user.id) if scope == "mine" else rt.feed.version
    cache = s.get(f"{key}.cache")
    if cache and cache[0] == params and cache[1] == version:
        return cache[2], cache[3]
    page = queries.inbox_page(
        rt.db, user, scope=scope, owner_id=owner_id, status=status, search=params[3], page=params[4]
    )
    if page.page and page.page >= page.pages:  # the last page emptied (closed, reassigned)
        s[f"{key}.page"] = page.pages - 1
        return _inbox_data(rt, user, key, scope, owner_id, unread_for)
    unread = queries.unread_count(rt.db, unread_for) if unread_for else None
    s[f"{key}.cache"] = (params, version, page, unread)
    return page, unread


@st.fragment(run_every=LIVE_SECONDS)
def _inbox_fragment(user_id, key, scope, owner_id, title, unread_for, show_owner, actions) -> None:
    import pandas as pd

    from core import runtime

    rt = runtime.current()
    user = get_user(rt.db, user_id)
    s = st.session_state
    try:
        page, unread = _inbox_data(rt, user, key, scope, owner_id, unread_for)
    except ParleyError as exc:
        st.error(esc(exc))
        return
    if unread:
        badge = md(":blue-badge[{n} unread]", n=f"{unread:,}")
    else:
        badge = md(":gray-badge[all read]") if unread == 0 else md("")
    if title:
        st.header(md("{title} {badge}", title=title, badge=badge), anchor=False)
    elif badge:
        st.markdown(md("{badge}", badge=badge))
    top = st.container(horizontal=True, vertical_alignment="center", horizontal_alignment="distribute")
    query = search_box(key, top.container(horizontal=True, vertical_alignment="center", width="content"))
    top.segmented_control(
        "Show",
        list(STATUS_CHOICES),
        default="Open",
        key=f"{key}.status",
        required=True,
        label_visibility="collapsed",
        on_change=guarded(reset_paging),
        args=(key,),
        width="content",
        help="Open conversations, closed (done) ones, or all",
    )
    bar = st.container(horizontal=True, vertical_alignment="center", horizontal_alignment="distribute")
    if actions:
        action_buttons(
            key,
            user_id,
            INBOX_ACTIONS + ([ASSIGN_ACTION] if user.is_admin else []),
            bar.container(horizontal=True, vertical_alignment="center", width="content"),
        )
    pager(
        key,
        page,
        bar.container(horizontal=True, vertical_alignment="center", horizontal_alignment="right", width="content"),
    )
    feedback(key, user_id)
    st.space("small")  # room for the table's hover toolbar below the pager
    rows = page.rows
    status = s.get(f"{key}.status") or "Open"
    if not rows:
        what = {"Open": "open conversations", "Closed": "closed conversations", "All": "conversations"}[status]
        st.info(
            md("No {what} match “{query}”.", what=what, query=query) if query else md("No {what} here yet.", what=what),
            icon="📭",
        )
        return
    data = {
        "●": ["●" if r["unread"] else "" for r in rows],
        "Contact": [contact_label(r["contact_name"], r["contact_phone"]) for r in rows],
        "Channel": [channel_badge(r["channel"]) for r in rows],
        # "Sent:", not "You:": after a reassignment the last reply may be the previous owner's.
        "Last message": [
            ("Sent: " if r["last_message_direction"] == "out" else "") + (r["preview"] or "") for r in rows
        ],
        "When": [fmt_time(r["last_message_at"], user.timezone) for r in rows],
    }
    if show_owner:
        data["Owner"] = [r["owner_name"] or "Unassigned" for r in rows]
    data["Flags"] = [row_flags(r, show_closed=status == "All") for r in rows]
    df = pd.DataFrame(data)
    unread_rows = [bool(r["unread"]) for r in rows]

    def style(frame):
        return frame.style.apply(
            lambda col: [
                "background-color: rgba(28, 131, 225, 0.08); font-weight: bold" if u else "" for u in unread_rows
            ],
            axis=0,
        )

    ids = [r["conversation_id"] for r in rows]
    # Pixel widths that fit the main column of a 1400-px window beside the sidebar.
    live_table(
        key,
        df,
        ids,
        ids,
        selectable=actions,
        style=style,
        column_config={
            "●": st.column_config.TextColumn(" ", width=28, help="Unread"),
            "Contact": st.column_config.TextColumn(width=160 if show_owner else 190),
            "Channel": st.column_config.TextColumn(width=105),
            "Last message": st.column_config.TextColumn(width=250 if show_owner else 330),
            "When": st.column_config.TextColumn(width=100),
            "Owner": st.column_config.TextColumn(width=125),
            "Flags": st.column_config.TextColumn(width=120, help="Closed · Opted out · Asked to stop? · Unsolicited"),
        },
    )
    st.caption(
        "Click a conversation to open it; tick the boxes to select several."
        if actions
        else "Click a conversation to open it."
    )


def row_flags(row: dict[str, Any], *, show_closed: bool = False) -> str:
    """What else to know about a conversation row, in a few words."""
    return " · ".join(
        word
        for word, on in (
            ("Closed", show_closed and row.get("status") == "closed"),
            ("Opted out", row.get("opted_out")),
            ("Asked to stop?", row.get("optout_flag")),
            ("Unsolicited", row.get("unsolicited")),
        )
        if on
    )
