"""The Campaigns page's new campaign: sender, template, audience, where each variable comes from,
when, who owns the replies (admins); *Preview*, then *Send*.

Separate from the page script (``pages/campaigns.py``) and from following campaigns already
queued (``pages/campaign_progress.py``): the form keeps its own fields in session state
(``cmp.n.*``) and a preview until something changes.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from core import clock, senders, template_finders, templates
from core.actions import campaigns as campaign_actions
from core.actions.campaigns import CampaignDraft
from core.auth import User
from core.campaigns import audience as audiences
from core.campaigns.audience import AudienceSpec, VariableSource
from core.errors import ParleyError
from pages.admin_common import act, feedback
from pages.campaign_progress import KEY, open_campaign, when_text
from pages.session import guarded
from pages.text import esc, md

# Choices shown as their labels (radio options are Markdown: ours only), mapped to what core takes.
AUDIENCE_CHOICES = {label: kind for kind, label in audiences.KINDS.items()}
WHEN_CHOICES = {"Send now": "now", "At a time": "later"}
OWNER_CHOICES = {label: mode for mode, label in campaign_actions.OWNER_MODES.items()}
s = st.session_state


def start_new() -> None:
    st.query_params["id"] = "new"
    for key in [k for k in s if str(k).startswith(f"{KEY}.n.")]:
        del s[key]
    s.pop(f"{KEY}.preview", None)


# ---- a new campaign ---------------------------------------------------------------------------------------


def _tz(user: User) -> ZoneInfo:
    try:
        return ZoneInfo(user.timezone)
    except Exception:
        return ZoneInfo("UTC")


def _reset_variables() -> None:
    """A new list or template: each variable's source is guessed again (a CSV column may now fit)."""
    for key in [k for k in s if str(k).startswith((f"{KEY}.n.src.", f"{KEY}.n.val.", f"{KEY}.n.fallback."))]:
        del s[key]
    s.pop(f"{KEY}.preview", None)


def _upload() -> None:
    file = s.get(f"{KEY}.n.file")
    s.pop(f"{KEY}.n.csv", None)
    _reset_variables()
    if file is None:
        return
    try:
        s[f"{KEY}.n.csv"] = audiences.read_csv_audience(file.getvalue(), file.name)
    except ParleyError as exc:
        s[f"{KEY}.error"] = str(exc)


def _changed() -> None:
    s.pop(f"{KEY}.preview", None)


def _draft(user: User, template: templates.Template | None) -> CampaignDraft:
    kind = AUDIENCE_CHOICES.get(s.get(f"{KEY}.n.audience"), "tag")
    csv = s.get(f"{KEY}.n.csv") if kind == "csv" else None
    sources = {}
    for name in templates.variables(template) if template else []:
        source = s.get(f"{KEY}.n.src.{name}") or "field"
        value = s.get(f"{KEY}.n.val.{name}.{source}") or ""
        sources[name] = VariableSource(source, value, s.get(f"{KEY}.n.fallback.{name}") or "")
    send_at = None
    if WHEN_CHOICES.get(s.get(f"{KEY}.n.when")) == "later":
        day, at = s.get(f"{KEY}.n.day"), s.get(f"{KEY}.n.time")
        if day is not None and at is not None:
            send_at = campaign_actions.local_time_to_utc(day, at, user.timezone)
    mode = OWNER_CHOICES.get(s.get(f"{KEY}.n.owner_mode"), "creator")
    return CampaignDraft(
        name=s.get(f"{KEY}.n.name") or "",
        sender_id=s.get(f"{KEY}.n.sender"),
        template_id=template.id if template else None,
        audience=AudienceSpec(kind, tag=s.get(f"{KEY}.n.tag"), csv=csv),
        sources=sources,
        send_at=send_at,
        reply_owner_mode=mode,
        reply_owner_id=s.get(f"{KEY}.n.owner_user") if mode == "user" else None,
        reply_team_id=s.get(f"{KEY}.n.owner_team") if mode == "team" else None,
    )


def preview(rt, user: User, template_id: int | None) -> None:
    s.pop(f"{KEY}.preview", None)
    try:
        template = template_finders.get_template(rt.db, template_id) if template_id else None
        s[f"{KEY}.preview"] = campaign_actions.check_campaign(rt.db, user, _draft(user, template))
    except ParleyError as exc:
        s[f"{KEY}.error"] = str(exc)


def send(rt, user: User, previewed: campaign_actions.Preview) -> None:
    """Send what the preview showed, never the form as it stands now: a field changed and Send
    clicked before the page redrew reach the server in one rerun, and the audience, count and text
    the person confirmed are the preview's. A field changed in that same rerun (its callback drops
    the preview) means there is nothing confirmed to send: one sentence, nothing sent."""
    if s.get(f"{KEY}.preview") is not previewed:
        s[f"{KEY}.error"] = "The campaign changed as Send was clicked: check the new preview, then send."
        return
    campaign_id = act(
        KEY,
        campaign_actions.do_send_campaign,
        rt.db,
        user,
        previewed.draft,
        done=lambda _id: "Campaign queued: the dispatcher is sending it.",
    )
    if campaign_id is not None:
        s.pop(f"{KEY}.preview", None)
        open_campaign(campaign_id)


def render_new(rt, user: User) -> None:
    st.button(
        "All campaigns",
        key=f"{KEY}.back",
        icon=":material/arrow_back:",
        type="tertiary",
        on_click=guarded(open_campaign),
        args=(None,),
    )
    st.subheader("New campaign", anchor=False)
    feedback(KEY)
    choices = {r["id"]: r for r in senders.sendable(rt.db)}
    if not choices:
        st.info("There is no enabled sender number; an admin can add one on the Sender numbers page.", icon="📵")
        return
    st.text_input(
        "Name",
        key=f"{KEY}.n.name",
        max_chars=campaign_actions.MAX_NAME,
        on_change=guarded(_changed),
        placeholder="Spring check-up recall",
    )
    row = st.container(horizontal=True)
    row.selectbox(
        "Sender",
        list(choices),
        key=f"{KEY}.n.sender",
        on_change=guarded(_changed),
        format_func=lambda i: f"{choices[i]['label']} ({templates.CHANNELS[choices[i]['channel']]})",
    )
    sender = choices.get(s.get(f"{KEY}.n.sender")) or next(iter(choices.values()))
    offered = {t.id: t for t in template_finders.list_templates(rt.db, kind="campaign", channel=sender["channel"])}
    if not offered:
        st.info("No Campaign templates for this channel yet; an admin can add them on the Templates page.", icon="🗂️")
        return
    row.selectbox(
        "Template",
        list(offered),
        key=f"{KEY}.n.template",
        on_change=guarded(_reset_variables),
        format_func=lambda i: template_finders.label(offered[i]),
    )
    template = offered.get(s.get(f"{KEY}.n.template")) or next(iter(offered.values()))
    warning = senders.registration_warning(sender)
    if sender.get("send_blocked"):  # everyone who builds a campaign, not only admins, must know before Preview
        st.error(
            md(
                "Parley does not send from {label} to US numbers until it is registered ({reason}; the workspace's "
                "rule for unregistered senders): its US recipients will be left out.",
                label=sender["label"],
                reason=sender["send_blocked"],
            ),
            icon="🚫",
        )
    elif warning and user.is_admin:
        st.warning(esc(warning), icon="⚠️")
    st.markdown("**Audience**")
    st.radio(
        "Who receives it",
        list(AUDIENCE_CHOICES),
        key=f"{KEY}.n.audience",
        horizontal=True,
        on_change=guarded(_changed),
        label_visibility="collapsed",
    )
    kind = AUDIENCE_CHOICES.get(s.get(f"{KEY}.n.audience"), "tag")
    if kind == "tag":
        st.selectbox(
            "Tag",
            audiences.tags(rt.db),
            key=f"{KEY}.n.tag",
            on_change=guarded(_changed),
            index=None,
            placeholder="Choose a tag",
            accept_new_options=False,
        )
    elif kind == "csv":
        st.file_uploader(
            "CSV of numbers (one column of numbers; other columns can fill variables)",
            type=["csv", "txt"],
            key=f"{KEY}.n.file",
            on_change=guarded(_upload),
            max_upload_size=50,
        )
        csv = s.get(f"{KEY}.n.csv")
        if csv is not None:
            st.caption(
                md(
                    "{name}: {rows} rows; numbers from the column “{column}”.",
                    name=csv.file_name,
                    rows=f"{len(csv.frame):,}",
                    column=csv.phone_column,
                )
            )
    render_variables(template, s.get(f"{KEY}.n.csv") if kind == "csv" else None)
    st.markdown("**When**")
    st.radio(
        "When",
        list(WHEN_CHOICES),
        key=f"{KEY}.n.when",
        horizontal=True,
        on_change=guarded(_changed),
        label_visibility="collapsed",
    )
    if WHEN_CHOICES.get(s.get(f"{KEY}.n.when")) == "later":
        local_now = clock.utcnow().replace(tzinfo=dt.UTC).astimezone(_tz(user))
        row = st.container(horizontal=True)
        row.date_input(
            "Day", key=f"{KEY}.n.day", value=local_now.date(), min_value=local_now.date(), on_change=guarded(_changed)
        )
        row.time_input(
            "Time",
            key=f"{KEY}.n.time",
            value=(local_now + dt.timedelta(hours=1)).time().replace(second=0, microsecond=0),
            step=dt.timedelta(minutes=15),
            on_change=guarded(_changed),
        )
        st.caption(md("Your time zone: {tz}. Business and recipients' quiet hours still apply.", tz=user.timezone))
    if user.is_admin:
        render_owner(rt, user)
    else:
        st.caption("Replies start conversations in your own inbox.")
    st.button(
        "Preview",
        key=f"{KEY}.preview_button",
        icon=":material/visibility:",
        on_click=guarded(preview),
        args=(rt, user, template.id),
    )
    shown = s.get(f"{KEY}.preview")
    if shown is not None:
        render_preview(rt, user, shown)


def render_variables(template: templates.Template, csv) -> None:
    names = templates.variables(template)
    if not names:
        return
    st.markdown("**Variables**")
    defaults = audiences.default_sources(template, csv)
    for name in names:
        guess = defaults.get(name)
        key = f"{KEY}.n.src.{name}"
        if key not in s:
            s[key] = guess.source if guess else ("column" if csv is not None else "text")
            if guess is not None:
                s[f"{KEY}.n.val.{name}.{guess.source}"] = guess.value
                s.setdefault(f"{KEY}.n.fallback.{name}", guess.fallback)
        row = st.container(horizontal=True, vertical_alignment="bottom")
        sources = [k for k in audiences.SOURCES if k != "column" or csv is not None]
        row.selectbox(
            # Plain words: a label's Markdown source is its accessible name too (no escaped underscores).
            esc(f"{name.replace('_', ' ').capitalize()} comes from"),
            sources,
            format_func=audiences.SOURCES.get,
            key=key,
            on_change=guarded(_changed),
            width=220,
        )
        source = s.get(key)
        if source == "field":
            row.selectbox(
                "Field",
                list(audiences.FIELDS),
                format_func=audiences.FIELDS.get,
                key=f"{KEY}.n.val.{name}.field",
                on_change=guarded(_changed),
                width=200,
            )
        elif source == "column":
            row.selectbox(
                "Column", csv.columns, key=f"{KEY}.n.val.{name}.column", on_change=guarded(_changed), width=200
            )
        else:
            row.text_input("Text", key=f"{KEY}.n.val.{name}.text", on_change=guarded(_changed), max_chars=200)
        if source != "text":
            row.text_input(
                "When empty",
                key=f"{KEY}.n.fallback.{name}",
                on_change=guarded(_changed),
                max_chars=100,
                placeholder="(left out)",
                width=180,
            )


def render_owner(rt, user: User) -> None:
    st.markdown("**Replies**")
    st.radio(
        "Who owns the conversations replies start",
        list(OWNER_CHOICES),
        key=f"{KEY}.n.owner_mode",
        horizontal=True,
        on_change=guarded(_changed),
    )
    mode = OWNER_CHOICES.get(s.get(f"{KEY}.n.owner_mode"), "creator")
    if mode == "user":
        people = _people(rt, user)
        st.selectbox(
            "Owner",
            [p[0] for p in people],
            format_func=dict(people).get,
            key=f"{KEY}.n.owner_user",
            on_change=guarded(_changed),
        )
    elif mode == "team":
        teams = _teams(rt, user)
        st.selectbox(
            "Team (in turn, among its agents and admins)",
            [t[0] for t in teams],
            format_func=dict(teams).get,
            key=f"{KEY}.n.owner_team",
            on_change=guarded(_changed),
        )


def _people(rt, user: User) -> list[tuple[int, str]]:
    from core import queries

    return [(m["id"], m["display_name"]) for m in queries.team_members(rt.db, user)]


def _teams(rt, user: User) -> list[tuple[int, str]]:
    from core.actions import user_admin

    return [(t["id"], t["name"]) for t in user_admin.teams_overview(rt.db, user)]


def render_preview(rt, user: User, p: campaign_actions.Preview) -> None:
    a, e = p.audience, p.estimate
    with st.container(border=True):
        cols = st.columns(4)
        cols[0].metric("Recipients", f"{a.size:,}")
        cols[1].metric("Left out", f"{sum(a.counts.values()):,}")
        cols[2].metric("Segments" if p.sender["channel"] == "sms" else "Messages", f"{e.segments:,}")
        cols[3].metric("Cost units", f"{e.cost_units:,}")
        if e.first_at is not None:
            later = (
                f"; the last recipients' quiet hours allow them from {when_text(user, e.last_start_at)}"
                if (e.last_start_at and e.last_start_at != e.first_at)
                else ""
            )
            st.caption(esc(f"First messages may go {when_text(user, e.first_at)}{later}."))
        for warning in p.warnings:
            st.warning(esc(warning), icon="⚠️")
        if a.counts:
            st.dataframe(
                pd.DataFrame(
                    [(audiences.REASONS[r], n) for r, n in sorted(a.counts.items(), key=lambda i: -i[1])],
                    columns=["Left out because", "Recipients"],
                ),
                hide_index=True,
            )
            sample = a.excluded.head(200)
            with st.expander(md("The first {n} left out", n=len(sample))):
                st.dataframe(
                    pd.DataFrame({"Number": sample["given"], "Reason": sample["reason"].map(audiences.REASONS)}),
                    hide_index=True,
                )
        if p.sample is not None:
            st.markdown("**The first recipient reads**")
            st.text(p.sample)
        if a.size:
            st.button(
                "Send" if p.draft.send_at is None else "Schedule",
                key=f"{KEY}.send",
                type="primary",
                icon=":material/send:",
                on_click=guarded(send),
                args=(rt, user, p),
            )
        else:
            st.error("Nobody would receive this campaign.")
