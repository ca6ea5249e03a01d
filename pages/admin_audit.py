"""The audit log (admins): who did what and when, filtered by user, action and date; a CSV export."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from core import audit
from core.actions import user_admin
from core.errors import ParleyError
from pages.admin_common import feedback, page_user, refusal
from pages.format import fmt_time, plural
from pages.session import guarded
from pages.text import md

KEY = "audit"
s = st.session_state
rt, user = page_user(admin=True)

st.header("Audit log", anchor=False)
feedback(KEY)
try:
    people = {p["id"]: f"{p['display_name']} (@{p['username']})" for p in user_admin.users_overview(rt.db, user)}
    actions = audit.actions(rt.db, user)
except ParleyError as exc:
    refusal(exc)
    st.stop()


def reset_page() -> None:
    s[f"{KEY}.page"] = 0


row = st.container(horizontal=True, vertical_alignment="bottom")
row.selectbox(
    "User",
    [None, *people],
    format_func=lambda i: people.get(i, "Everyone"),
    key=f"{KEY}.user",
    on_change=guarded(reset_page),
)
row.selectbox(
    "Action",
    [None, *actions],
    format_func=lambda a: audit.action_label(a) if a else "Every action",
    key=f"{KEY}.action",
    on_change=guarded(reset_page),
)
row.date_input("Between", value=(), key=f"{KEY}.dates", on_change=guarded(reset_page), format="YYYY-MM-DD")


def chosen_filters() -> dict:
    """The filters as the widgets hold them now. The export's callback reads them when it runs, not
    from the run that drew its button: a filter changed and Export clicked before the page redrew
    reach the server in one rerun, and the file must hold what the page then shows."""
    dates = s.get(f"{KEY}.dates") or ()
    since = dates[0] if len(dates) > 0 else None
    until = dates[1] if len(dates) > 1 else since
    return dict(user_id=s.get(f"{KEY}.user"), action=s.get(f"{KEY}.action"), since=since, until=until)


filters = chosen_filters()
page = s.get(f"{KEY}.page", 0)
rows, total = audit.search(rt.db, user, page=page, **filters)
st.caption(md("{entries} (dates in UTC)", entries=plural(total, "entry", "entries")))
if rows:
    st.dataframe(
        pd.DataFrame(
            {
                "When": [fmt_time(r["occurred_at"], user.timezone) for r in rows],
                "Who": [r["actor"] or "Parley" for r in rows],
                "Action": [r["action_label"] for r in rows],
                "About": [r["object_name"] for r in rows],
                "Detail": [r["detail"] or "" for r in rows],
            }
        ),
        hide_index=True,
        column_config={"Detail": st.column_config.TextColumn(width="large")},
    )
pages = max(1, -(-total // audit.PAGE_SIZE))
nav = st.container(horizontal=True, vertical_alignment="center")
nav.button(
    "Newer", key=f"{KEY}.prev", disabled=page == 0, on_click=guarded(lambda: s.update({f"{KEY}.page": page - 1}))
)
nav.caption(md("Page {page} of {pages}", page=page + 1, pages=pages))
nav.button(
    "Older",
    key=f"{KEY}.next",
    disabled=page + 1 >= pages,
    on_click=guarded(lambda: s.update({f"{KEY}.page": page + 1})),
)


def prepare_export() -> None:
    try:
        chosen = chosen_filters()
        s[f"{KEY}.export"] = (chosen, audit.export_csv(rt.db, user, **chosen))
    except ParleyError as exc:
        s[f"{KEY}.error"] = str(exc)


# A file made for other filters than the ones shown is dropped, whichever order the callbacks of
# one rerun ran in (a filter changed and Export clicked together).
export = s.get(f"{KEY}.export")
if export is not None and export[0] != filters:
    s.pop(f"{KEY}.export")
    export = None
if export is not None:
    st.download_button(
        "Download CSV",
        export[1],
        file_name=f"parley-audit-{dt.date.today()}.csv",
        mime="text/csv",
        key=f"{KEY}.download",
        icon=":material/download:",
        type="primary",
        on_click="ignore",  # a download changes nothing on the page: no rerun to race it
    )
else:
    st.button(
        "Export these entries as CSV",
        key=f"{KEY}.export_button",
        icon=":material/table_view:",
        on_click=guarded(prepare_export),
        help="The export itself is written in the audit log.",
    )
