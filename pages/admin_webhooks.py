"""Webhook review (admins): how far behind Parley is (the /healthz backlog, in words), then stored
webhooks that could not be applied, their reason, and a retry."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from core import clock, delivery_outcomes, ingest_apply
from core.actions import webhook_review
from core.errors import ParleyError
from pages.admin_common import act, feedback, page_user, refusal
from pages.format import fmt_time, waited
from pages.session import guarded
from pages.text import esc, md

KEY = "webhooks"
STATE_CHOICES = {"All kept": None, **{label: state for state, label in webhook_review.KEPT.items()}}
s = st.session_state
rt, user = page_user(admin=True)


def backlog_table(tz_name: str | None) -> pd.DataFrame:
    """What waits, from the same counts as /healthz: one row each, the oldest in the admin's zone."""
    inbound, outbox = ingest_apply.backlog(rt.db), delivery_outcomes.backlog(rt.db)
    now = clock.utcnow()
    rows = [
        ("Webhooks received, not applied yet", inbound["pending"], inbound["oldest_age_seconds"]),
        ("Sends waiting for business hours", outbox["held_business_hours"], outbox["oldest_business_hours_seconds"]),
        (
            "Sends waiting for the recipient's quiet hours",
            outbox["held_quiet_hours"],
            outbox["oldest_quiet_hours_seconds"],
        ),
        ("Sends retrying after a provider failure", outbox["retrying"], outbox["oldest_retry_seconds"]),
        ("Sends due, waiting their turn (rate limit)", outbox["waiting_turn"], outbox["oldest_turn_seconds"]),
        ("Sends failed in the last 24 hours", outbox["failed_24h"], None),
    ]
    return pd.DataFrame(
        {
            "Waiting": [name for name, _, _ in rows],
            "Count": [count for _, count, _ in rows],
            "Oldest since": [
                fmt_time(now - dt.timedelta(seconds=age), tz_name) if count and age is not None else ""
                for _, count, age in rows
            ],
            "Waited": [waited(age) if count and age is not None else "" for _, count, age in rows],
        }
    )


st.header("Webhook review", anchor=False)
st.subheader("Backlog", anchor=False)
st.dataframe(backlog_table(user.timezone), hide_index=True, key=f"{KEY}.backlog")
st.caption(md("Times in {zone}. The same counts are in /healthz for monitoring.", zone=user.timezone or "UTC"))
st.subheader("Kept for review", anchor=False)
st.caption(
    "Every webhook is stored before it is acknowledged; these could not be applied. Retry sends them back "
    "to be applied as they are (after a fix, or after adding a missing sender number); nothing is applied twice."
)
feedback(KEY)
st.segmented_control("Show", list(STATE_CHOICES), key=f"{KEY}.state", default="All kept")
try:
    rows, total, counts = webhook_review.kept(
        rt.db, user, state=STATE_CHOICES.get(s.get(f"{KEY}.state")), page=s.get(f"{KEY}.page", 0)
    )
except ParleyError as exc:
    refusal(exc)
    st.stop()
st.caption(
    md(
        "{a} failed to apply · {b} malformed · {c} for an unknown sender",
        a=counts["error"],
        b=counts["malformed"],
        c=counts["unknown_sender"],
    )
)
if not rows:
    st.info("Nothing is waiting for review.", icon="✅")
    st.stop()
frame = pd.DataFrame(
    {
        "Received": [fmt_time(r["received_at"], user.timezone) for r in rows],
        "Provider": [r["provider"] for r in rows],
        "Kept as": [webhook_review.KEPT[r["state"]] for r in rows],
        "Reason": [r["error"] or "" for r in rows],
        "Retries": [r["retries"] or 0 for r in rows],
        "Id": [r["id"] for r in rows],
    }
)
st.dataframe(
    frame,
    key=f"{KEY}.table",
    hide_index=True,
    on_select="rerun",
    selection_mode="multi-row",
    column_config={"Reason": st.column_config.TextColumn(width="large")},
)
picked = [rows[i]["id"] for i in (s.get(f"{KEY}.table") or {}).get("selection", {}).get("rows", []) if i < len(rows)]
row = st.container(horizontal=True, vertical_alignment="center")
row.button(
    "Retry selected",
    key=f"{KEY}.retry",
    type="primary",
    disabled=not picked,
    on_click=guarded(
        lambda: act(
            KEY,
            webhook_review.do_retry,
            rt.db,
            user,
            picked,
            done=lambda n: f"{n} webhook{'' if n == 1 else 's'} sent back to be applied.",
        )
    ),
)
row.caption(md("{n} selected", n=len(picked)) if picked else "Select rows to retry them.")
if len(picked) == 1:
    chosen = next(r for r in rows if r["id"] == picked[0])
    st.markdown(
        md(
            "**Webhook {id}** · {size} bytes · {type}",
            id=chosen["id"],
            size=f"{chosen['size']:,}",
            type=chosen["content_type"] or "no content type",
        )
    )
    st.code(chosen["preview"] or "", language=None)
    if chosen["error"]:
        st.caption(esc(chosen["error"]))
