"""Stats · Delivery: sent → delivered → read by channel, failures by code and reason, opt-outs."""

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

st.header("Stats · Delivery", anchor=False)
f = sc.filter_bar(rt, user)
if f is None:
    st.stop()
st.caption(esc(sc.describe(f)))

funnel = sc.load(stats.delivery_funnel, rt.db, user, f)
fails = sc.load(stats.failures, rt.db, user, f)
optouts = sc.load(stats.optouts_daily, rt.db, user, f)
if funnel is None or fails is None or optouts is None:
    st.stop()

STAGES = (("sent", "Sent", "#1c83e1"), ("delivered", "Delivered", "#2e7d32"), ("read", "Read", "#7b1fa2"))
labels = {"sms": "SMS", "whatsapp": "WhatsApp"}
fig = go.Figure(
    [
        go.Bar(
            x=[labels[c] for c in funnel["channel"]],
            y=funnel[stage],
            name=name,
            marker_color=color,
            customdata=[[c, stage] for c in funnel["channel"]],
        )
        for stage, name, color in STAGES
    ]
)
fig.update_layout(title="Sent → delivered → read, by channel", barmode="group", yaxis_title="messages")
event = sc.chart(
    fig,
    "Of the messages written in the range: how many a provider accepted, how many reached the phone, "
    "how many were read (WhatsApp only reports reads).",
    key="chart_funnel",
    empty=int(funnel["sent"].sum()) == 0,
)
picked = sc.points(event)
if picked and picked[0].get("customdata"):
    channel, stage = picked[0]["customdata"][:2]
    sc.drill_table(rt, user, f, Drill("funnel", channel=channel, stage=stage), f"{stage} on {labels[channel]}")
shown = funnel.assign(
    delivered_rate=(funnel["delivered"] / funnel["sent"].where(funnel["sent"] > 0)).round(3),
    read_rate=(funnel["read"] / funnel["sent"].where(funnel["sent"] > 0)).round(3),
)
st.dataframe(shown, hide_index=True, width="stretch")
sc.csv_download(shown, f"delivery-{f.start}-{f.end}", key="csv_funnel")

st.subheader("Failures", anchor=False)
top = fails.head(10)
fig = go.Figure(
    go.Bar(
        y=[f"{s} · {c or 'no code'} · {r[:60]}" for s, c, r in zip(top["status"], top["error_code"], top["reason"])],
        x=top["messages"],
        orientation="h",
        marker_color="#c62828",
        customdata=[[s, c] for s, c in zip(top["status"], top["error_code"])],
    )
)
fig.update_layout(title="Most frequent failures", yaxis={"autorange": "reversed"}, xaxis_title="messages")
event = sc.chart(
    fig,
    "Counts messages that failed, were undelivered or were not sent in the range, by outcome, error code "
    "and reason (the ten most frequent; all of them in the table).",
    key="chart_failures",
    empty=fails.empty,
    empty_note="No failed messages in this range.",
)
picked = sc.points(event)
if picked and picked[0].get("customdata"):
    status, code = picked[0]["customdata"][:2]
    sc.drill_table(rt, user, f, Drill("failures", status=status, error_code=code), f"{status} {code}")
st.dataframe(fails, hide_index=True, width="stretch")
sc.csv_download(fails, f"failures-{f.start}-{f.end}", key="csv_failures")

st.subheader("Opt-outs", anchor=False)
days = [d.isoformat() for d in optouts["day"]]
fig = go.Figure(
    [
        go.Bar(x=days, y=optouts["opted_out"], name="Opted out", marker_color="#c62828"),
        go.Bar(x=days, y=optouts["opted_in"], name="Opted back in", marker_color="#2e7d32"),
    ]
)
fig.update_layout(title="Opt-outs per day", barmode="group", yaxis_title="contacts")
event = sc.chart(
    fig,
    "Counts contacts who opted out (STOP, a confirmed request, or the carrier) and back in (START) each day; "
    "the team and agent filters do not apply to contacts.",
    key="chart_optouts",
    empty=int(optouts["opted_out"].sum() + optouts["opted_in"].sum()) == 0,
    empty_note="Nobody opted out or back in during this range.",
)
picked = sc.points(event)
if picked:
    day = dt.date.fromisoformat(str(picked[0]["x"])[:10])
    sc.drill_table(rt, user, f, Drill("optouts", day=day), f"opt-outs on {day:%b %d, %Y}")
sc.csv_download(optouts, f"optouts-{f.start}-{f.end}", key="csv_optouts")
