"""What every Stats page shares: the filter bar, charts with their one-line meaning, CSV downloads,
and the list of conversations behind a clicked point (read-only links).

The filter is kept in the session (``stats.filter``) so it follows the
supervisor from page to page; widgets copy their values into it in their
callbacks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from core import stats_filter
from core.csv_files import to_csv_bytes
from core.errors import ParleyError
from core.stats_drill import Drill, conversations_for
from pages.format import plural
from pages.session import guarded
from pages.text import esc, md

FILTER_KEY = "stats.filter"
ALL = 0  # a selectbox treats None as "nothing chosen"


def current_filter(user) -> stats_filter.StatsFilter:
    f = st.session_state.get(FILTER_KEY)
    if not isinstance(f, stats_filter.StatsFilter) or f.timezone != (user.timezone or "UTC"):
        f = stats_filter.default_filter(user)
        st.session_state[FILTER_KEY] = f
    return f


def _update(**changes: Any) -> None:
    st.session_state[FILTER_KEY] = stats_filter.StatsFilter(**{**st.session_state[FILTER_KEY].__dict__, **changes})


def _on_dates() -> None:
    value = st.session_state.get("stats.dates")
    if isinstance(value, list | tuple) and len(value) == 2:
        _update(start=value[0], end=value[1])
    st.session_state["stats.partial_range"] = not (isinstance(value, list | tuple) and len(value) == 2)


def _on_select(field: str, key: str) -> None:
    value = st.session_state.get(key)
    _update(**{field: None if value in (ALL, None) else value})


def _on_business_hours() -> None:
    _update(business_hours=bool(st.session_state.get("stats.business_hours")))


def filter_bar(rt, user, *, business_hours: bool = False, dates: bool = True) -> stats_filter.StatsFilter | None:
    """The filters (date range, team, agent, channel, sender); None when they cannot be answered."""
    f = current_filter(user)
    try:
        options = stats_filter.filter_options(rt.db, user)
    except ParleyError as exc:
        st.error(esc(str(exc)))
        return None
    teams = {ALL: "All teams"} | {t["id"]: t["name"] for t in options["teams"]}
    agents = {ALL: "All agents"} | {
        a["id"]: a["display_name"] + ("" if a["active"] else " (disabled)") for a in options["agents"]
    }
    senders = {ALL: "All senders"} | {s["id"]: f"{s['label']} ({s['phone']})" for s in options["senders"]}
    channels = {ALL: "All channels", "sms": "SMS", "whatsapp": "WhatsApp"}
    row = st.container(horizontal=True, vertical_alignment="bottom")
    if dates:
        row.date_input(
            "Dates",
            value=(f.start, f.end),
            max_value=dt.date.today() + dt.timedelta(days=1),
            key="stats.dates",
            on_change=guarded(_on_dates),
            width=240,
            help=md("Days in your time zone ({zone}), both included.", zone=f.timezone),
        )
    for label, field, choices in (
        ("Team", "team_id", teams),
        ("Agent", "agent_id", agents),
        ("Channel", "channel", channels),
        ("Sender", "sender_id", senders),
    ):
        current = getattr(f, field)
        key = f"stats.{field}"
        if st.session_state.get(key, current if current is not None else ALL) not in choices:
            st.session_state.pop(key, None)
        row.selectbox(
            esc(label),
            list(choices),
            index=list(choices).index(current) if current in choices else 0,
            format_func=lambda v, c=choices: c[v],
            key=key,
            on_change=guarded(_on_select),
            args=(field, key),
            width=180,
        )
    if business_hours:
        row.toggle(
            "Business hours only",
            value=f.business_hours,
            key="stats.business_hours",
            on_change=guarded(_on_business_hours),
            help="Count waiting time only while the workspace is open (weekly hours, holidays).",
        )
    if dates and st.session_state.get("stats.partial_range"):
        st.info("Choose the last day of the range too; the charts show the previous range until then.")
    f = current_filter(user)
    try:
        return stats_filter.check_filter(user, f)
    except ParleyError as exc:
        st.warning(esc(str(exc)))
        return None


def describe(f: stats_filter.StatsFilter) -> str:
    return f"{f.start:%b %d, %Y} – {f.end:%b %d, %Y} ({plural(f.days, 'day')}, {f.timezone})"


def load(fn: Callable[..., Any], *args: Any) -> Any:
    """A core call whose refusal or bad input becomes one sentence on the page, never a traceback."""
    try:
        return fn(*args)
    except ParleyError as exc:
        st.error(esc(str(exc)))
        return None


def csv_download(frame: pd.DataFrame, name: str, key: str) -> None:
    st.download_button(
        "Download CSV",
        data=to_csv_bytes(frame),  # formula-safe: names in it are people's text
        file_name=f"{name}.csv",
        mime="text/csv",
        key=key,
        icon=":material/download:",
        on_click="ignore",
    )


def chart(fig, meaning: str, key: str, empty: bool = False, empty_note: str = "No data in this range.") -> Any:
    """A plotly chart, its one line of meaning, and its click (selection) event."""
    if empty:
        st.info(md("{note}", note=empty_note))
    fig.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10}, height=320, clickmode="event+select")
    event = st.plotly_chart(fig, key=key, on_select="rerun", selection_mode="points", width="stretch")
    st.caption(md("{meaning}", meaning=meaning))
    return event


def points(event: Any) -> list[dict[str, Any]]:
    """The points a click selected (Streamlit's selection event), as plain dicts."""
    try:
        return list(event["selection"]["points"])
    except (TypeError, KeyError):
        return []


def hours(seconds: Any) -> str:
    if seconds is None or pd.isna(seconds):
        return "—"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def drill_table(
    rt, user, f: stats_filter.StatsFilter, drill: Drill | None, title: str, *, seconds: bool = False
) -> None:
    """The conversations behind a clicked point, each one click from its (read-only) page."""
    if drill is None:
        return
    frame = load(conversations_for, rt.db, user, f, drill)
    if frame is None:
        return
    st.markdown(md("**Conversations behind: {title}**", title=title))
    if frame.empty:
        st.info("No conversation behind this point (campaign messages nobody answered have none).")
        return
    shown = frame.assign(
        link=frame["conversation_id"].map(lambda c: f"/conversation?id={int(c)}"),
        at=frame["at"],
        detail=frame["detail"].map(hours) if seconds else frame["detail"],
    )
    st.dataframe(
        shown[["link", "contact", "phone", "channel", "owner", "status", "at", "detail"]],
        hide_index=True,
        column_config={
            "link": st.column_config.LinkColumn("Conversation", display_text=r"/conversation\?id=(\d+)"),
            "at": st.column_config.DatetimeColumn("When (UTC)"),
            "detail": "Wait" if seconds else "Count",
        },
        width="stretch",
    )
    st.caption(md("{n} conversation(s), at most 200. Opening one is read-only for supervisors.", n=f"{len(frame):,}"))
    csv_download(frame, f"conversations-{drill.chart}", key=f"drill_csv_{drill.chart}")
