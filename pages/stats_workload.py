"""Stats · Workload now: open and unread conversations per agent, and who has waited longest."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from core import clock, phones, runtime, stats
from core.stats_drill import Drill
from pages import session
from pages import stats_common as sc
from pages.text import md

rt = runtime.current()
user = session.current_user(rt)
if user is None:
    st.stop()

st.header("Stats · Workload now", anchor=False)
f = sc.filter_bar(rt, user, dates=False)
if f is None:
    st.stop()
st.caption("Right now; the date range does not apply here.")

table = sc.load(stats.workload, rt.db, user, f)
oldest = sc.load(stats.oldest_waiting, rt.db, user, f)
if table is None:
    st.stop()
if oldest:
    who = oldest["contact_name"] or phones.format_phone_display(oldest["contact_phone"])
    waited = sc.hours((clock.utcnow() - oldest["waiting_since"]).total_seconds())
    st.metric("Oldest waiting customer", waited)
    st.markdown(
        md(
            "[{who}](/conversation?id={cid}) has waited {waited} for an answer (owner: {owner}).",
            who=who,
            cid=oldest["conversation_id"],
            waited=waited,
            owner=oldest["owner_name"] or "nobody",
        )
    )
else:
    st.info("No customer is waiting for an answer.")

fig = go.Figure(
    [
        go.Bar(x=table["agent"], y=table["open"], name="Open", marker_color="#1c83e1", customdata=table["agent_id"]),
        go.Bar(
            x=table["agent"], y=table["unread"], name="Unread", marker_color="#ef6c00", customdata=table["agent_id"]
        ),
        go.Bar(
            x=table["agent"],
            y=table["waiting"],
            name="Waiting for an answer",
            marker_color="#c62828",
            customdata=table["agent_id"],
        ),
    ]
)
fig.update_layout(title="Open, unread and waiting conversations per agent", barmode="group")
event = sc.chart(
    fig,
    "Counts each agent's open conversations now, those unread by them, and those whose customer's last "
    "message has no answer yet. Click a bar for them, longest waiting first.",
    key="chart_workload",
    empty=int(table["open"].sum()) == 0,
    empty_note="Nobody has an open conversation.",
)
picked = sc.points(event)
if picked and picked[0].get("customdata") is not None:
    agent = picked[0]["customdata"]
    agent = agent[0] if isinstance(agent, list) else agent
    sc.drill_table(rt, user, f, Drill("workload", agent_id=int(agent)), f"open conversations of {picked[0]['x']}")
shown = table.assign(waiting_since=table["oldest_waiting_since"])
st.dataframe(shown.drop(columns=["oldest_waiting_since"]), hide_index=True, width="stretch")
sc.csv_download(table, "workload-now", key="csv_workload")
