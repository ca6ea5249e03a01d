"""Sender numbers (admins): channel, provider, number, display name, rate limit, enabled, and their
registration (10DLC brand and campaign, toll-free verification, WhatsApp approval); the workspace's
rule for unregistered US numbers. Rules: ``core.senders``, ``core.actions.senders``."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import provider_setup, senders
from core.actions.senders import SenderForm, do_create_sender, do_set_unregistered_rule, do_update_sender
from core.errors import ParleyError
from core.phones import format_phone_display
from core.providers import registry
from pages.admin_common import act, feedback, if_still_chosen, page_user, refusal
from pages.session import guarded
from pages.text import esc

KEY = "senders"
RULE_CHOICES = {label: rule for rule, label in senders.RULES.items()}  # radio options are our own words
s = st.session_state
rt, user = page_user(admin=True)
NEW = 0

st.header("Sender numbers", anchor=False)
feedback(KEY)
try:
    rows = senders.list_senders(rt.db, user)
except ParleyError as exc:
    refusal(exc)
    st.stop()

if rows:
    st.dataframe(
        pd.DataFrame(
            {
                "Name": [r["label"] for r in rows],
                "Number": [format_phone_display(r["phone"]) for r in rows],
                "Channel": ["WhatsApp" if r["channel"] == "whatsapp" else "SMS" for r in rows],
                "Provider": [provider_setup.NAMES.get(r["provider"], r["provider"]) for r in rows],
                "Rate /s": [r["rate_per_second"] for r in rows],
                "Registration": [
                    f"{senders.KINDS.get(r['registration_kind'], '')}: {r['registration_status']}" for r in rows
                ],
                "Enabled": ["Yes" if r["enabled"] else "No" for r in rows],
                "Sending": [r["send_blocked"] or ("⚠ unregistered" if r["warning"] else "OK") for r in rows],
            }
        ),
        hide_index=True,
    )
for r in rows:
    if r["warning"] and r["enabled"]:
        st.warning(esc(r["warning"]), icon="⚠️")

st.markdown("**Unregistered US numbers**")
rule = senders.rule(rt.db)
st.radio(
    "Unregistered US numbers",
    list(RULE_CHOICES),
    index=list(RULE_CHOICES.values()).index(rule),
    key=f"{KEY}.rule",
    horizontal=True,
    label_visibility="collapsed",
    on_change=guarded(
        lambda: act(KEY, do_set_unregistered_rule, rt.db, user, RULE_CHOICES[s.get(f"{KEY}.rule")], done="Rule saved.")
    ),
)
st.caption(
    "US carriers filter or block texts from a local number whose 10DLC brand and campaign are not both "
    "approved, and from a toll-free number that is not verified."
)

st.divider()
by_id = {r["id"]: r for r in rows}
chosen = st.selectbox(
    "Edit",
    [NEW, *by_id],
    format_func=lambda i: (
        "A new sender number" if i == NEW else f"{by_id[i]['label']} ({format_phone_display(by_id[i]['phone'])})"
    ),
    key=f"{KEY}.chosen",
)
current = by_id.get(chosen)
if s.get(f"{KEY}.loaded") != chosen:
    s[f"{KEY}.loaded"] = chosen
    s[f"{KEY}.based_on"] = current  # the version the form starts from: a save refuses to overwrite a newer one
    c = current or {}
    s[f"{KEY}.phone"] = c.get("phone", "")
    s[f"{KEY}.label"] = c.get("label", "")
    s[f"{KEY}.channel"] = c.get("channel", "sms")
    s[f"{KEY}.provider"] = c.get("provider", "simulator")
    s[f"{KEY}.ref"] = c.get("provider_ref") or ""
    s[f"{KEY}.rate"] = float(c.get("rate_per_second", 10.0))
    s[f"{KEY}.enabled"] = bool(c.get("enabled", True))
    s[f"{KEY}.kind"] = c.get("registration_kind") or "10dlc"
    s[f"{KEY}.brand"] = c.get("brand_status") or "not_started"
    s[f"{KEY}.campaign"] = c.get("campaign_status") or "not_started"
    s[f"{KEY}.status"] = (
        c.get("registration_status") if c.get("registration_kind") in ("toll_free", "whatsapp") else ("unregistered")
    )

row = st.container(horizontal=True)
row.text_input("Number", key=f"{KEY}.phone", placeholder="+1 415 555 0100")
row.text_input("Display name", key=f"{KEY}.label", max_chars=60)
row = st.container(horizontal=True)
row.selectbox(
    "Channel", ["sms", "whatsapp"], format_func={"sms": "SMS", "whatsapp": "WhatsApp"}.get, key=f"{KEY}.channel"
)
row.selectbox(
    "Provider", list(registry.PROVIDERS), format_func=lambda p: provider_setup.NAMES.get(p, p), key=f"{KEY}.provider"
)
row.text_input(
    "Provider reference",
    key=f"{KEY}.ref",
    help="WhatsApp Cloud: the phone-number id. Twilio: a Messaging Service SID (MG…), if any.",
)
row = st.container(horizontal=True, vertical_alignment="bottom")
row.number_input("Rate limit (messages per second)", min_value=0.1, max_value=1000.0, step=1.0, key=f"{KEY}.rate")
row.toggle("Enabled", key=f"{KEY}.enabled")
st.markdown("**Registration**")
row = st.container(horizontal=True)
kinds = ["whatsapp"] if s.get(f"{KEY}.channel") == "whatsapp" else ["10dlc", "toll_free", "none"]
if s.get(f"{KEY}.kind") not in kinds:
    s[f"{KEY}.kind"] = kinds[0]
row.selectbox("Kind", kinds, format_func=senders.KINDS.get, key=f"{KEY}.kind")
kind = s.get(f"{KEY}.kind")
if kind == "10dlc":
    row.selectbox("Brand", list(senders.TEN_DLC_STATES), format_func=senders.TEN_DLC_STATES.get, key=f"{KEY}.brand")
    row.selectbox(
        "Campaign", list(senders.TEN_DLC_STATES), format_func=senders.TEN_DLC_STATES.get, key=f"{KEY}.campaign"
    )
elif kind in ("toll_free", "whatsapp"):
    states = senders.TOLL_FREE_STATES if kind == "toll_free" else senders.WHATSAPP_STATES
    if s.get(f"{KEY}.status") not in states:
        s[f"{KEY}.status"] = "unregistered"
    row.selectbox(
        "Verification" if kind == "toll_free" else "Approval", list(states), format_func=states.get, key=f"{KEY}.status"
    )


def form() -> SenderForm:
    return SenderForm(
        phone=s.get(f"{KEY}.phone") or "",
        channel=s.get(f"{KEY}.channel") or "sms",
        provider=s.get(f"{KEY}.provider") or "simulator",
        label=s.get(f"{KEY}.label") or "",
        provider_ref=s.get(f"{KEY}.ref"),
        rate_per_second=s.get(f"{KEY}.rate") or 0,
        enabled=bool(s.get(f"{KEY}.enabled")),
        registration_kind=s.get(f"{KEY}.kind") or "10dlc",
        brand_status=s.get(f"{KEY}.brand"),
        campaign_status=s.get(f"{KEY}.campaign"),
        registration_status=s.get(f"{KEY}.status"),
    )


def save() -> None:
    if chosen == NEW:
        made = act(KEY, do_create_sender, rt.db, user, form(), done="Sender added.")
        if made is not None:
            s[f"{KEY}.chosen"] = made
    else:
        act(KEY, do_update_sender, rt.db, user, chosen, form(), expected=s.get(f"{KEY}.based_on"), done="Sender saved.")
    s.pop(f"{KEY}.loaded", None)


if current and current["enabled"] and not s.get(f"{KEY}.enabled"):
    waiting = senders.waiting_messages(rt.db, user, chosen)
    if waiting:
        st.warning(
            esc(
                f"{waiting:,} message{'s' if waiting != 1 else ''} wait{'' if waiting != 1 else 's'} to go from "
                f"{current['label']}. Each one that falls due while it is disabled is recorded as not sent, "
                "and is not sent later if you enable it again."
            ),
            icon="⏸️",
        )
problem = provider_setup.provider_problem(s.get(f"{KEY}.provider") or "simulator")
if problem:
    st.warning(esc(f"Messages from this sender will not go until its provider is set up: {problem}"), icon="🔑")
st.button(
    "Add sender" if chosen == NEW else "Save sender",
    key=f"{KEY}.save",
    type="primary",
    on_click=guarded(
        if_still_chosen(
            KEY,
            f"{KEY}.chosen",
            chosen,
            "Another sender was chosen as you clicked: nothing was saved. Check the form, then click again.",
            save,
        )
    ),
)
