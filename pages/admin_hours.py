"""Business hours, recipients' quiet hours and the automatic texts (admins).

Saving hours re-times every queued message at once (``core.actions.workspace``).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from core import settings
from core.actions import workspace
from core.contact_fields import time_zone_choices
from core.errors import ParleyError
from pages.admin_common import act, feedback, page_user, refusal
from pages.session import guarded
from pages.text import md

KEY = "hours"
STALE = "Someone else saved"  # core's Conflict sentence when the form was filled from an older version
s = st.session_state
rt, user = page_user(admin=True)

st.header("Business hours and texts", anchor=False)
feedback(KEY)
try:
    now = workspace.current(rt.db, user)
except ParleyError as exc:
    refusal(exc)
    st.stop()

business, quiet = now["business_hours"], now["quiet_hours"] or settings.DEFAULTS["quiet_hours"]


def _time(text: str) -> dt.time:
    return dt.time(23, 59) if text in ("24:00", "23:59:59") else dt.time.fromisoformat(text)


if s.get(f"{KEY}.loaded") is None:
    s[f"{KEY}.loaded"] = True
    s[f"{KEY}.based_on"] = now  # the version the form starts from: a save refuses to overwrite a newer one
    s[f"{KEY}.tz"] = business["timezone"]
    s[f"{KEY}.schedule_start"] = pd.DataFrame(
        [
            {"Day": settings.WEEKDAYS[int(day)], "Opens": _time(a), "Closes": _time(b)}
            for day, intervals in sorted(business["weekly"].items(), key=lambda i: int(i[0]))
            for a, b in intervals
        ],
        columns=["Day", "Opens", "Closes"],
    )
    s[f"{KEY}.holidays"] = "\n".join(business.get("holidays") or [])
    s[f"{KEY}.quiet_start"] = _time(quiet["start"])
    s[f"{KEY}.quiet_end"] = _time(quiet["end"])
    for key in workspace.TEXT_KEYS:
        s[f"{KEY}.text.{key}"] = now[key]

hours_tab, texts_tab = st.tabs(["Hours", "Automatic texts"])
with hours_tab:
    st.caption(md("{n} queued messages wait for these hours now.", n=f"{now['queued']:,}"))
    st.selectbox("Business time zone", time_zone_choices(), key=f"{KEY}.tz")
    st.markdown("**Opening hours** (one row per opening; a day without rows is closed; 23:59 means midnight)")
    st.data_editor(
        s[f"{KEY}.schedule_start"],
        key=f"{KEY}.schedule",
        num_rows="dynamic",
        hide_index=True,
        column_config={
            "Day": st.column_config.SelectboxColumn(options=list(settings.WEEKDAYS), required=True),
            "Opens": st.column_config.TimeColumn(required=True, format="HH:mm", step=dt.timedelta(minutes=15)),
            "Closes": st.column_config.TimeColumn(required=True, format="HH:mm", step=dt.timedelta(minutes=15)),
        },
    )
    st.text_area("Holidays (one date a line, e.g. 2026-12-25)", key=f"{KEY}.holidays", height=120)
    st.markdown("**Recipients' allowed hours** (their local time; the law's 8:00–21:00, or stricter)")
    row = st.container(horizontal=True)
    row.time_input("From", key=f"{KEY}.quiet_start", step=dt.timedelta(minutes=15))
    row.time_input("Until", key=f"{KEY}.quiet_end", step=dt.timedelta(minutes=15))

    def schedule() -> dict[int, list]:
        start = s[f"{KEY}.schedule_start"].copy()
        edits = s.get(f"{KEY}.schedule") or {}
        for index, changes in (edits.get("edited_rows") or {}).items():
            for column, value in changes.items():
                start.loc[int(index), column] = value
        added = pd.DataFrame(edits.get("added_rows") or [], columns=["Day", "Opens", "Closes"])
        frame = pd.concat([start, added], ignore_index=True).drop(
            index=edits.get("deleted_rows") or [], errors="ignore"
        )
        weekly: dict[int, list] = {d: [] for d in range(7)}
        for row in frame.dropna().to_dict("records"):
            closes = "24:00" if str(row["Closes"])[:5] == "23:59" else str(row["Closes"])[:5]
            weekly[settings.WEEKDAYS.index(row["Day"])].append((str(row["Opens"])[:5], closes))
        return weekly

    def save_hours() -> None:
        moved = act(
            KEY,
            workspace.do_save_hours,
            rt.db,
            user,
            timezone=s.get(f"{KEY}.tz"),
            weekly=schedule(),
            holidays=[line.strip() for line in (s.get(f"{KEY}.holidays") or "").splitlines() if line.strip()],
            quiet_start=s.get(f"{KEY}.quiet_start"),
            quiet_end="24:00" if s.get(f"{KEY}.quiet_end") == dt.time(23, 59) else s.get(f"{KEY}.quiet_end"),
            expected=s.get(f"{KEY}.based_on"),
            done=lambda n: f"Hours saved; {n:,} queued messages re-timed." if n else "Hours saved.",
        )
        if moved is not None or (s.get(f"{KEY}.error") or "").startswith(STALE):
            s.pop(f"{KEY}.loaded", None)  # what is stored now, theirs or ours

    st.button("Save hours", key=f"{KEY}.save_hours", type="primary", on_click=guarded(save_hours))

with texts_tab:
    for key, label in workspace.TEXT_KEYS.items():
        st.text_area(md("{label}", label=label), key=f"{KEY}.text.{key}", max_chars=workspace.MAX_TEXT, height=90)
    st.caption(
        "The HELP reply names the business, how to reach it, message frequency, “Msg & data rates may apply” "
        "and how to opt out. The opt-out confirmation is the one text an opted-out person gets: no marketing."
    )

    def save_texts() -> None:
        saved = act(
            KEY,
            workspace.do_save_texts,
            rt.db,
            user,
            {k: s.get(f"{KEY}.text.{k}") for k in workspace.TEXT_KEYS},
            expected=s.get(f"{KEY}.based_on"),
            done=lambda changed: "Texts saved." if changed else "Nothing changed.",
        )
        stale = (s.get(f"{KEY}.error") or "").startswith(STALE)
        if saved is not None or stale:  # the texts as stored now become the version the form is based on
            stored = workspace.current(rt.db, user)
            texts = {k: stored[k] for k in workspace.TEXT_KEYS}  # the hours keep the version their form has
            s[f"{KEY}.based_on"] = {**(s.get(f"{KEY}.based_on") or {}), **texts}
            for key in workspace.TEXT_KEYS if stale else ():
                s[f"{KEY}.text.{key}"] = stored[key]

    st.button("Save texts", key=f"{KEY}.save_texts", type="primary", on_click=guarded(save_texts))
