"""Stats · Responsiveness: first response, reply time and time to close, per agent and overall."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from core import reporting, runtime, stats
from core.stats_drill import Drill
from pages import session
from pages import stats_common as sc
from pages.text import esc, md

rt = runtime.current()
user = session.current_user(rt)
if user is None:
    st.stop()

st.header("Stats · Responsiveness", anchor=False)
f = sc.filter_bar(rt, user, business_hours=True)
if f is None:
    st.stop()
st.caption(esc(sc.describe(f) + (" · business hours only" if f.business_hours else " · around the clock")))

SECTIONS = (
    (
        reporting.FIRST_RESPONSE,
        "first_response",
        "First response time",
        "How long customers waited for the first answer a person wrote in a conversation, per answering agent.",
    ),
    (
        reporting.REPLY,
        "reply",
        "Reply time",
        "How long customers waited each time they wrote until a person answered (first responses included).",
    ),
    (
        reporting.CONVERSATION_CLOSED,
        "closed",
        "Time to close",
        "From a conversation's start (or reopening) to its closing, per owner at closing time.",
    ),
)

waiting = sc.load(stats.unanswered, rt.db, user, f)
if waiting is not None:
    st.metric("Conversations started in the range with no answer yet", f"{waiting:,}")
    if waiting and st.toggle("Show them", key="show_unanswered"):
        sc.drill_table(rt, user, f, Drill("unanswered"), "conversations with no answer yet")

for kind, chart_key, title, meaning in SECTIONS:
    st.subheader(esc(title), anchor=False)
    table = sc.load(stats.durations, rt.db, user, f, kind)
    if table is None:
        continue
    hours = 1 / 3600
    fig = go.Figure(
        [
            go.Bar(
                x=table["agent"],
                y=table["median_seconds"] * hours,
                name="Median",
                customdata=table["agent_id"],
                marker_color="#1c83e1",
            ),
            go.Bar(
                x=table["agent"],
                y=table["p90_seconds"] * hours,
                name="90th percentile",
                customdata=table["agent_id"],
                marker_color="#90caf9",
            ),
        ]
    )
    fig.update_layout(title=f"{title} (hours)", barmode="group", yaxis_title="hours")
    event = sc.chart(
        fig,
        meaning + " Median and 90th percentile; click a bar for the conversations.",
        key=f"chart_{chart_key}",
        empty=int(table["count"].sum()) == 0,
        empty_note="Nothing to measure in this range for these filters.",
    )
    picked = sc.points(event)
    if picked:
        agent = picked[0].get("customdata")
        agent = agent[0] if isinstance(agent, list) else agent
        everyone = picked[0].get("x") == stats.OVERALL
        nobody = not everyone and agent is None  # the "Unassigned" bar: only what no agent is credited with
        drill = Drill(chart_key, agent_id=None if everyone or nobody else int(agent), unassigned=nobody)
        sc.drill_table(rt, user, f, drill, f"{title.lower()} · {picked[0].get('x')}", seconds=True)
    shown = table.assign(median=table["median_seconds"].map(sc.hours), p90=table["p90_seconds"].map(sc.hours))
    st.dataframe(shown[["agent", "count", "median", "p90"]], hide_index=True, width="stretch")
    no_data = [a for a, c in zip(table["agent"], table["count"]) if c == 0 and a != stats.OVERALL]
    if no_data:
        st.caption(md("No {what} in this range for: {names}.", what=title.lower(), names=", ".join(no_data)))
    sc.csv_download(table, f"{chart_key}-{f.start}-{f.end}", key=f"csv_{chart_key}")
