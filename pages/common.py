"""The inbox lists' data, per session, read from ``core`` only when the inbox's version moved.

The rest of what lived here is split by concern: ``pages.format`` (times,
names, channels, delivery status), ``pages.bulk`` (selection, bulk-action
callbacks and their dialogs), ``pages.list_controls`` (search box, pager),
``pages.row_list`` (the list rows), ``pages.inbox_list`` (the live inbox
list); import from those.
"""

from __future__ import annotations

import streamlit as st

STATUS_CHOICES = {"Open": "open", "Closed": "closed", "All": "all"}


def inbox_data(rt, user, key: str, scope: str, owner_id, unread_for, *, fresh: bool = False):
    """The list from ``queries.inbox_view`` (two statements), read again only when the inbox's
    version in the database moved (one primary-key read) or the search, filter or page changed.
    Returns the view; a page may call it first with ``fresh`` (Team Inbox, for its members,
    which no inbox version covers) and the live list then starts from what it kept."""
    from core import queries, versions

    s = st.session_state
    status = STATUS_CHOICES.get(s.get(f"{key}.status") or "Open", "open")
    params = (scope, owner_id, status, s.get(f"{key}.q") or "", s.get(f"{key}.page", 0), unread_for)
    cache = s.get(f"{key}.cache")
    if cache and cache[0] == params and not fresh:
        if versions.inbox_version(rt.db, user.id if scope == "mine" else owner_id) == cache[1].version:
            return cache[1]
    view = queries.inbox_view(
        rt.db,
        user,
        scope=scope,
        owner_id=owner_id,
        status=status,
        search=params[3],
        page=params[4],
        unread_for=unread_for or None,
    )
    page = view.page
    if page.page and page.page >= page.pages:  # the last page emptied (closed, reassigned)
        s[f"{key}.page"] = page.pages - 1
        return inbox_data(rt, user, key, scope, owner_id, unread_for)
    s[f"{key}.cache"] = (params, view)
    return view
