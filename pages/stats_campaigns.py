"""Stats · Campaign results: reply rate and opt-out rate per campaign."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from core import runtime, stats
from core.stats_drill import Drill
from pages import session
from pages import stats_common as sc
from pages.text import esc

rt = runtime.current()
user = session.current_user(rt)
if user is None:
    st.stop()

st.header("Stats · Campaign results", anchor=False)
f = sc.filter_bar(rt, user)
if f is None:
    st.stop()
st.caption(esc(sc.describe(f)))

table = sc.load(stats.campaigns, rt.db, user, f)
if table is None:
    st.stop()
fig = go.Figure(
    [
        go.Bar(
            x=table["campaign"],
            y=table["reply_rate"] * 100,
            name="Replied %",
            marker_color="#2e7d32",
            customdata=table["campaign_id"],
        ),
        go.Bar(
            x=table["campaign"],
            y=table["optout_rate"] * 100,
            name="Opted out %",
            marker_color="#c62828",
            customdata=table["campaign_id"],
        ),
    ]
)
fig.update_layout(title="Reply and opt-out rate per campaign", barmode="group", yaxis_title="% of recipients")
event = sc.chart(
    fig,
    "Of each campaign's recipients in the range: the share who wrote back before another campaign reached "
    "them, and the share who opted out after it. Click a bar for the conversations it started.",
    key="chart_campaigns",
    empty=table.empty,
    empty_note="No campaign messages went out in this range.",
)
picked = sc.points(event)
if picked and picked[0].get("customdata") is not None:
    campaign = picked[0]["customdata"]
    campaign = campaign[0] if isinstance(campaign, list) else campaign
    sc.drill_table(rt, user, f, Drill("campaign", campaign_id=int(campaign)), str(picked[0].get("x")))
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        "reply_rate": st.column_config.NumberColumn("Reply rate", format="percent"),
        "optout_rate": st.column_config.NumberColumn("Opt-out rate", format="percent"),
    },
)
sc.csv_download(table, f"campaigns-{f.start}-{f.end}", key="csv_campaigns")
