"""The inbox lists' data, per session, read from ``core`` only when the change feed moved.

The rest of what lived here is split by concern: ``pages.format`` (times,
names, channels, delivery status), ``pages.bulk`` (selection, bulk-action
callbacks and their dialogs), ``pages.list_controls`` (search box, pager),
``pages.row_list`` (the list rows), ``pages.inbox_list`` (the live inbox
list). The names re-exported below keep pages that still import them from
here working while other work lands; new code imports from those modules.
"""

from __future__ import annotations

import streamlit as st

from pages.format import (  # noqa: F401  (re-exported, see the docstring)
    FAILED_STATUSES,
    STATUS_ICONS,
    STATUS_WORDS,
    channel_badge,
    contact_label,
    fmt_time,
    plural,
    status_label,
    status_markdown,
)
from pages.list_controls import pager, reset_paging, search_box  # noqa: F401

STATUS_CHOICES = {"Open": "open", "Closed": "closed", "All": "all"}


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
