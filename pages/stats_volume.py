"""Stats · Volume: conversations started and messages in and out per day; when customers write."""

from __future__ import annotations

import datetime as dt

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

st.header("Stats · Volume", anchor=False)
f = sc.filter_bar(rt, user)
if f is None:
    st.stop()
st.caption(esc(sc.describe(f)))

daily = sc.load(stats.volume_daily, rt.db, user, f)
heat = sc.load(stats.incoming_heatmap, rt.db, user, f)
if daily is None or heat is None:
    st.stop()

days = [d.isoformat() for d in daily["day"]]
fig = go.Figure(go.Bar(x=days, y=daily["conversations"], name="Conversations started", marker_color="#1c83e1"))
fig.update_layout(title="Conversations started per day", xaxis_title=None, yaxis_title="conversations")
event = sc.chart(
    fig,
    "Counts conversations whose first customer message arrived that day (your time zone). Click a bar for them.",
    key="chart_opened",
    empty=int(daily["conversations"].sum()) == 0,
)
picked = sc.points(event)
drill = Drill("opened", day=dt.date.fromisoformat(str(picked[0]["x"])[:10])) if picked else None
sc.drill_table(rt, user, f, drill, f"conversations started on {picked[0]['x']}" if picked else "")

fig = go.Figure(
    [
        go.Bar(x=days, y=daily["messages_in"], name="In (received)", marker_color="#2e7d32"),
        go.Bar(x=days, y=daily["messages_out"], name="Out (sent)", marker_color="#ef6c00"),
    ]
)
fig.update_layout(title="Messages in and out per day", barmode="group", yaxis_title="messages")
event = sc.chart(
    fig,
    "In: customer messages received that day. Out: messages a provider accepted that day (replies and campaigns).",
    key="chart_messages",
    empty=int(daily["messages_in"].sum() + daily["messages_out"].sum()) == 0,
)
picked = sc.points(event)
if picked:
    which = "in" if picked[0].get("curve_number", 0) == 0 else "out"
    day = dt.date.fromisoformat(str(picked[0]["x"])[:10])
    sc.drill_table(rt, user, f, Drill(which, day=day), f"messages {which} on {day:%b %d, %Y}")

st.dataframe(daily, hide_index=True, width="stretch")
sc.csv_download(daily, f"volume-{f.start}-{f.end}", key="csv_volume")

fig = go.Figure(
    go.Heatmap(
        z=heat.pivot(index="weekday", columns="hour", values="messages").values,
        x=[f"{h:02d}:00" for h in range(24)],
        y=list(stats.WEEKDAYS),
        colorscale="Blues",
        hovertemplate="%{y} %{x}: %{z} messages<extra></extra>",
    )
)
fig.update_layout(title="Incoming messages by weekday and hour", yaxis={"autorange": "reversed"})
event = sc.chart(
    fig,
    "Counts customer messages received in the range by weekday and hour of arrival (your time zone).",
    key="chart_heatmap",
    empty=int(heat["messages"].sum()) == 0,
)
picked = sc.points(event)
if picked:
    weekday = list(stats.WEEKDAYS).index(picked[0]["y"])
    hour = int(str(picked[0]["x"])[:2])
    sc.drill_table(rt, user, f, Drill("heatmap", weekday=weekday, hour=hour), f"{picked[0]['y']} {picked[0]['x']}")
sc.csv_download(heat, f"incoming-by-hour-{f.start}-{f.end}", key="csv_heatmap")
