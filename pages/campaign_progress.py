"""The Campaigns page's list and one campaign's live progress (counters, pause, resume, cancel,
who was left out), and what the whole page shares: its key, opening a campaign, times in the
viewer's zone.

Separate from the page script (``pages/campaigns.py``), which only chooses what to draw, and
from the new-campaign form (``pages/campaign_form.py``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.actions import queued_campaigns
from core.auth import User
from core.campaigns import audience as audiences
from core.errors import ParleyError
from pages.admin_common import act, feedback, refusal
from pages.format import fmt_time
from pages.session import fragment_user, guarded
from pages.text import esc, md

KEY = "cmp"
LIVE_SECONDS = 2
s = st.session_state


def open_campaign(campaign_id: int | None) -> None:
    if campaign_id is None:
        st.query_params.pop("id", None)
    else:
        st.query_params["id"] = str(campaign_id)


def when_text(user: User, at) -> str:
    return fmt_time(at, user.timezone) if at is not None else "—"


# ---- the list -----------------------------------------------------------------------------------------

STATUS_BADGES = {
    "scheduled": "🗓 Scheduled",
    "sending": "📤 Sending",
    "sent": "✓ Sent",
    "paused": "⏸ Paused",
    "cancelled": "✕ Cancelled",
    "draft": "Draft",
}


def _on_pick(ids: list[int]) -> None:
    rows = (s.get(f"{KEY}.table") or {}).get("selection", {}).get("rows", [])
    if rows and rows[0] < len(ids):
        open_campaign(ids[rows[0]])


@st.fragment(run_every=LIVE_SECONDS)
def render_list(rt, user: User) -> None:
    user = fragment_user(rt, user)
    try:
        rows = queued_campaigns.list_campaigns(rt.db, user)
    except ParleyError as exc:
        refusal(exc)
        return
    if not rows:
        st.info("No campaigns yet.", icon="📣")
        return
    frame = pd.DataFrame(
        {
            "Campaign": [r["name"] for r in rows],
            "Status": [STATUS_BADGES.get(r["shown_status"], r["shown_status"]) for r in rows],
            "Sender": [r["sender_label"] or "" for r in rows],
            "Recipients": [r["total"] for r in rows],
            "Sent": [r["sent"] for r in rows],
            "Delivered": [r["delivered"] for r in rows],
            "Read": [r["read"] for r in rows],
            "Failed": [r["failed"] for r in rows],
            "Replied": [r["replied"] for r in rows],
            "By": [r["creator"] or "" for r in rows],
            "Created": [when_text(user, r["created_at"]) for r in rows],
        }
    )
    ids = [r["id"] for r in rows]
    st.dataframe(
        frame,
        key=f"{KEY}.table",
        hide_index=True,
        on_select=guarded(lambda: _on_pick(ids)),
        selection_mode="single-row",
    )
    st.caption("Select a campaign to follow it.")


# ---- one campaign ----------------------------------------------------------------------------------------


def render_detail(rt, user: User, raw_id: str) -> None:
    st.button(
        "All campaigns",
        key=f"{KEY}.back",
        icon=":material/arrow_back:",
        type="tertiary",
        on_click=guarded(open_campaign),
        args=(None,),
    )
    feedback(KEY)
    live_detail(rt, user, raw_id)


@st.fragment(run_every=LIVE_SECONDS)
def live_detail(rt, user: User, raw_id: str) -> None:
    user = fragment_user(rt, user)
    try:
        c = queued_campaigns.campaign_detail(rt.db, user, raw_id)
    except ParleyError as exc:
        refusal(exc)
        return
    p = c["progress"]
    st.subheader(esc(c["name"]), anchor=False)
    status = c["shown_status"]
    st.markdown(
        md(
            "**{status}** · {sender} · template {template} · by {creator} · replies go to {owner}",
            status=STATUS_BADGES.get(status, status),
            sender=c["sender"]["label"],
            template=c["template_name"] or "—",
            creator=c["creator"] or "—",
            owner=c["reply_owner"] or "—",
        )
    )
    when = (
        f"Scheduled for {when_text(user, c['scheduled_at'])}"
        if c["scheduled_at"]
        else f"Queued {when_text(user, c['queued_at'] or c['created_at'])}"
    )
    first = f"; first messages may go {when_text(user, c['first_send_at'])}" if c["first_send_at"] else ""
    cost = f" · {c['segments']:,} segments, {c['cost_units']:,} cost units" if c["cost_units"] else ""
    st.caption(esc(when + first + cost))
    st.progress(p.fraction, text=md("{done} of {total} handled", done=f"{p.done:,}", total=f"{p.total:,}"))
    cols = st.columns(7)
    for col, (label, value) in zip(
        cols,
        [
            ("Queued", p.queued + p.sending),
            ("Sent", p.sent + p.delivered),
            ("Delivered", p.delivered),
            ("Read", p.read),
            ("Failed", p.failed),
            ("Replied", p.replied),
            ("Opted out", p.opted_out),
        ],
    ):
        col.metric(md("{label}", label=label), f"{value:,}")
    if c["can_steer"]:
        row = st.container(horizontal=True)
        if status in ("sending", "scheduled"):
            row.button(
                "Pause",
                key=f"{KEY}.pause",
                icon=":material/pause:",
                on_click=guarded(act),
                args=(KEY, queued_campaigns.do_pause, rt.db, user, c["id"]),
                kwargs={"done": lambda n: f"Paused: {n:,} messages held."},
            )
        if status == "paused":
            row.button(
                "Resume",
                key=f"{KEY}.resume",
                icon=":material/play_arrow:",
                type="primary",
                on_click=guarded(act),
                args=(KEY, queued_campaigns.do_resume, rt.db, user, c["id"]),
                kwargs={"done": lambda n: f"Resumed: {n:,} messages released."},
            )
        if status in ("sending", "scheduled", "paused"):
            row.button(
                "Cancel campaign",
                key=f"{KEY}.cancel",
                icon=":material/cancel:",
                on_click=guarded(act),
                args=(KEY, queued_campaigns.do_cancel, rt.db, user, c["id"]),
                kwargs={"done": lambda n: f"Cancelled: {n:,} messages will not be sent."},
            )
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown("**Failed, by reason**")
        if p.failures:
            st.dataframe(pd.DataFrame(p.failures, columns=["Reason", "Messages"]), hide_index=True)
        else:
            st.caption("None.")
    with right:
        st.markdown(md("**Left out** ({n})", n=f"{sum(c['exclusions'].values()):,}"))
        if c["exclusions"]:
            st.dataframe(
                pd.DataFrame(
                    [(audiences.REASONS.get(r, r), n) for r, n in sorted(c["exclusions"].items(), key=lambda i: -i[1])],
                    columns=["Reason", "Recipients"],
                ),
                hide_index=True,
            )
            if c["can_steer"]:
                ready = s.get(f"{KEY}.exclusions")
                if ready and ready[0] == c["id"]:
                    st.download_button(
                        "Download the list (CSV)",
                        ready[1],
                        file_name=f"campaign-{c['id']}-left-out.csv",
                        mime="text/csv",
                        key=f"{KEY}.exclusions_download",
                        icon=":material/download:",
                        on_click="ignore",
                    )
                else:
                    st.button(
                        "Prepare the list of those left out",
                        key=f"{KEY}.exclusions_prepare",
                        on_click=guarded(download_exclusions),
                        args=(rt, user, c["id"]),
                        icon=":material/table_view:",
                    )
        else:
            st.caption("Nobody.")


def download_exclusions(rt, user: User, campaign_id: int) -> None:
    try:
        s[f"{KEY}.exclusions"] = (campaign_id, queued_campaigns.exclusions_csv(rt.db, user, campaign_id))
    except ParleyError as exc:
        s[f"{KEY}.error"] = str(exc)
