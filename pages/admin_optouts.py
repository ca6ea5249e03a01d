"""Opt-outs (admins): the list, search, add a number with a reason, remove one (with a reason), and
each contact's opt-out history. Rules and audit: ``core.actions.suppression``."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.actions import suppression
from core.errors import ParleyError
from core.phones import format_phone_display
from pages.admin_common import act, feedback, if_still_chosen, page_user, refusal
from pages.format import fmt_time
from pages.session import guarded
from pages.text import esc, md

KEY = "optouts"
s = st.session_state
rt, user = page_user(admin=True)

st.header("Opt-outs", anchor=False)
st.caption("Nothing is sent to these numbers, on any sender or channel (STOP, or added here).")
feedback(KEY)

with st.expander("Add a number", icon=":material/block:"):
    row = st.container(horizontal=True, vertical_alignment="bottom")
    row.text_input("Number", key=f"{KEY}.add_phone", placeholder="+1 415 555 0123")
    row.text_input(
        "Reason",
        key=f"{KEY}.add_reason",
        max_chars=suppression.MAX_REASON,
        placeholder="Asked by phone not to be texted",
    )

    def add() -> None:
        made = act(
            KEY,
            suppression.do_add_opt_out,
            rt.db,
            user,
            s.get(f"{KEY}.add_phone") or "",
            s.get(f"{KEY}.add_reason") or "",
            done="Opted out.",
        )
        if made is not None:
            s[f"{KEY}.add_phone"] = s[f"{KEY}.add_reason"] = ""

    row.button("Opt out", key=f"{KEY}.add", type="primary", on_click=guarded(add))

st.text_input("Search", key=f"{KEY}.q", placeholder="Name or number", max_chars=100)
page = s.get(f"{KEY}.page", 0)
try:
    rows, total = suppression.opted_out(rt.db, user, search=s.get(f"{KEY}.q"), page=page)
except ParleyError as exc:
    refusal(exc)
    st.stop()
if not rows:
    st.info("Nobody matches." if s.get(f"{KEY}.q") else "Nobody has opted out.", icon="✅")
    st.stop()
st.caption(md("{total} opted out", total=f"{total:,}"))
st.dataframe(
    pd.DataFrame(
        {
            "Name": [r["name"] or "" for r in rows],
            "Number": [format_phone_display(r["phone"]) for r in rows],
            "Since": [fmt_time(r["opted_out_at"], user.timezone) for r in rows],
            "How": [r["how"] for r in rows],
        }
    ),
    hide_index=True,
)
pages = max(1, -(-total // suppression.PAGE_SIZE))
if pages > 1:
    st.number_input(
        "Page",
        min_value=0,
        max_value=pages - 1,
        key=f"{KEY}.page",
        step=1,
        help=md("{pages} pages of {size}", pages=pages, size=suppression.PAGE_SIZE),
    )

by_id = {r["contact_id"]: r for r in rows}
chosen = st.selectbox(
    "History of",
    list(by_id),
    format_func=lambda i: f"{by_id[i]['name'] or ''} {format_phone_display(by_id[i]['phone'])}".strip(),
    key=f"{KEY}.chosen",
)
history = suppression.history(rt.db, user, chosen)
st.dataframe(
    pd.DataFrame(
        {
            "When": [fmt_time(h["occurred_at"], user.timezone) for h in history],
            "What": [h["kind"].replace("_", " ") for h in history],
            "Keyword": [h["keyword"] or "" for h in history],
            "Reason": [h["reason"] or "" for h in history],
            "By": [h["by_user"] or "" for h in history],
            "Sender": [h["sender_label"] or "" for h in history],
        }
    ),
    hide_index=True,
)
row = st.container(horizontal=True, vertical_alignment="bottom")
row.text_input(
    "Reason for removing the opt-out",
    key=f"{KEY}.remove_reason",
    max_chars=suppression.MAX_REASON,
    placeholder="Signed a new consent form",
)
row.button(
    "Remove opt-out",
    key=f"{KEY}.remove",
    on_click=guarded(
        if_still_chosen(
            KEY,
            f"{KEY}.chosen",
            chosen,
            "Another number was chosen as you clicked: no opt-out was removed. Check it, then click again.",
            lambda: act(
                KEY,
                suppression.do_remove_opt_out,
                rt.db,
                user,
                chosen,
                s.get(f"{KEY}.remove_reason") or "",
                done=lambda phone: f"Opt-out removed: {format_phone_display(phone)} may be texted again.",
            ),
        )
    ),
)
st.caption(esc("Removing an opt-out lets messages reach the number again; do it only with the person's consent."))
