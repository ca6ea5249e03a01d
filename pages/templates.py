"""Templates (admins): Conversation templates for the composer, Campaign templates for campaigns.

List, search, filter; open one to edit, disable or enable it; a preview with
sample values (the SMS segment count, and for a WhatsApp-registered template
its definition as Meta registers it and the Twilio Content variables).
Every rule is ``core.templates``'; saving goes through ``core.actions.templates``.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import template_checks, template_finders, templates
from core.actions import templates as template_actions
from core.errors import ParleyError
from core.templates import Template
from pages.admin_common import act, feedback, page_user, refusal
from pages.composer import segment_line
from pages.session import guarded
from pages.text import esc, md

KEY = "tpl"
KIND_CHOICES = {"All types": None, **{label: kind for kind, label in templates.KINDS.items()}}
s = st.session_state
rt, user = page_user(admin=True)
BUTTON_COLUMNS = ["type", "text", "url", "payload", "phone"]


def open_template(template_id: int | None) -> None:
    if template_id is None:
        st.query_params.pop("id", None)
    else:
        st.query_params["id"] = str(template_id)
    s.pop(f"{KEY}.loaded", None)


def new_template() -> None:
    st.query_params["id"] = "new"
    s.pop(f"{KEY}.loaded", None)


# ---- the list -------------------------------------------------------------------------------------------


def _on_pick(ids: list[int]) -> None:
    rows = (s.get(f"{KEY}.table") or {}).get("selection", {}).get("rows", [])
    if rows and rows[0] < len(ids):
        open_template(ids[rows[0]])


def render_list() -> None:
    bar = st.container(horizontal=True, vertical_alignment="bottom")
    bar.button("New template", key=f"{KEY}.new", icon=":material/add:", type="primary", on_click=guarded(new_template))
    bar.text_input("Search", key=f"{KEY}.q", placeholder="Name, text or WhatsApp name", width=280)
    bar.segmented_control("Type", list(KIND_CHOICES), default="All types", key=f"{KEY}.kind", width="content")
    bar.segmented_control("Show", ["Active", "Disabled", "All"], default="Active", key=f"{KEY}.status", width="content")
    kind = KIND_CHOICES.get(s.get(f"{KEY}.kind") or "All types")
    status = (s.get(f"{KEY}.status") or "Active").lower()
    found = template_finders.list_templates(rt.db, kind=kind, search=s.get(f"{KEY}.q"), status=status)
    feedback(KEY)
    if not found:
        st.info("No templates match." if s.get(f"{KEY}.q") else "No templates here yet.", icon="🗂️")
        return
    frame = pd.DataFrame(
        {
            "Name": [t.name for t in found],
            "Type": [templates.KINDS[t.kind] for t in found],
            "Channel": [templates.CHANNELS.get(t.channel, t.channel) for t in found],
            "WhatsApp": [
                f"{t.provider_name} · {t.language} · {templates.APPROVAL.get(t.approval_status or '', '—')}"
                if t.registered
                else ("saved text" if t.channel != "sms" else "")
                for t in found
            ],
            "Text": [" ".join(t.body.split())[:90] for t in found],
            "Status": ["Active" if t.active else "Disabled" for t in found],
        }
    )
    ids = [t.id for t in found]
    st.dataframe(
        frame,
        key=f"{KEY}.table",
        hide_index=True,
        on_select=guarded(lambda: _on_pick(ids)),
        selection_mode="single-row",
        column_config={"Text": st.column_config.TextColumn(width="large")},
    )
    st.caption("Select a template to edit it.")


# ---- one template ---------------------------------------------------------------------------------------


def _load(t: Template | None) -> None:
    """Fill the form's widgets once per opened template."""
    marker = t.id if t is not None else "new"
    if s.get(f"{KEY}.loaded") == marker:
        return
    s[f"{KEY}.based_on"] = t  # the version the form starts from: a save refuses to overwrite a newer one
    t = t or Template(name="", body="", kind="conversation", channel=None)
    s[f"{KEY}.loaded"] = marker
    s[f"{KEY}.f.name"] = t.name
    s[f"{KEY}.f.kind"] = t.kind
    s[f"{KEY}.f.channel"] = t.channel or "any"
    s[f"{KEY}.f.body"] = t.body
    s[f"{KEY}.f.registered"] = t.registered
    s[f"{KEY}.f.provider_name"] = t.provider_name or ""
    s[f"{KEY}.f.language"] = t.language or "en_US"
    s[f"{KEY}.f.category"] = t.category or "utility"
    s[f"{KEY}.f.approval_status"] = t.approval_status or "pending"
    s[f"{KEY}.f.parameter_format"] = t.parameter_format
    s[f"{KEY}.f.header_format"] = t.header_format
    s[f"{KEY}.f.header_text"] = t.header_text or ""
    s[f"{KEY}.f.header_link"] = t.header_link or ""
    s[f"{KEY}.f.footer"] = t.footer or ""
    s[f"{KEY}.f.content_sid"] = t.content_sid or ""
    s[f"{KEY}.buttons_start"] = pd.DataFrame([b.as_json() for b in t.buttons], columns=BUTTON_COLUMNS)
    s.pop(f"{KEY}.f.buttons", None)
    for name, value in (t.samples or {}).items():
        s[f"{KEY}.sample.{name}"] = value


def _buttons() -> list[dict]:
    start = s.get(f"{KEY}.buttons_start")
    if start is None:
        return []
    frame = start.copy()
    edits = s.get(f"{KEY}.f.buttons") or {}
    for row, changes in (edits.get("edited_rows") or {}).items():
        for column, value in changes.items():
            frame.loc[int(row), column] = value
    frame = pd.concat([frame, pd.DataFrame(edits.get("added_rows") or [], columns=BUTTON_COLUMNS)], ignore_index=True)
    frame = frame.drop(index=[i for i in edits.get("deleted_rows") or [] if i in frame.index])
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")]


def _form_template() -> Template:
    channel = s.get(f"{KEY}.f.channel")
    draft = Template(
        name=s.get(f"{KEY}.f.name") or "",
        body=s.get(f"{KEY}.f.body") or "",
        kind=s.get(f"{KEY}.f.kind") or "conversation",
        channel=None if channel == "any" else channel,
        registered=bool(s.get(f"{KEY}.f.registered")) and channel == "whatsapp",
        provider_name=s.get(f"{KEY}.f.provider_name"),
        language=s.get(f"{KEY}.f.language") or "en_US",
        category=s.get(f"{KEY}.f.category"),
        approval_status=s.get(f"{KEY}.f.approval_status"),
        parameter_format=s.get(f"{KEY}.f.parameter_format") or "positional",
        header_format=s.get(f"{KEY}.f.header_format") or "none",
        header_text=s.get(f"{KEY}.f.header_text"),
        header_link=s.get(f"{KEY}.f.header_link"),
        footer=s.get(f"{KEY}.f.footer"),
        buttons=templates.clean_buttons(_buttons()),
        content_sid=s.get(f"{KEY}.f.content_sid"),
    )
    samples = {n: s.get(f"{KEY}.sample.{n}") or "" for n in templates.variables(draft)}
    return Template(**{**draft.__dict__, "samples": {k: v for k, v in samples.items() if v}})


def save(template_id: int | None) -> None:
    try:
        t = _form_template()
    except ParleyError as exc:
        s[f"{KEY}.error"] = str(exc)
        return
    if template_id is None:
        new_id = act(KEY, template_actions.do_create_template, rt.db, user, t, done="Template saved.")
        if new_id is not None:
            open_template(new_id)
    else:
        note = act(
            KEY,
            template_actions.do_update_template,
            rt.db,
            user,
            template_id,
            t,
            expected=s.get(f"{KEY}.based_on"),
            done="Template saved.",
        )
        if note:
            s[f"{KEY}.note"] = note
        s.pop(f"{KEY}.loaded", None)


def render_editor(raw_id: str) -> None:
    st.button(
        "All templates",
        key=f"{KEY}.back",
        icon=":material/arrow_back:",
        type="tertiary",
        on_click=guarded(open_template),
        args=(None,),
    )
    current = None
    if raw_id != "new":
        try:
            current = template_finders.get_template(rt.db, raw_id, active_only=False)
        except ParleyError as exc:
            refusal(exc)
            return
    _load(current)
    st.subheader(esc(current.name) if current else "New template", anchor=False)
    if current is not None and not current.active:
        st.warning("This template is disabled: the composer and the Campaigns page do not offer it.", icon="🚫")
    feedback(KEY)
    if s.get(f"{KEY}.note"):
        st.info(esc(s.pop(f"{KEY}.note")), icon="🕓")
    left, right = st.columns([3, 2], gap="large")
    with left:
        row = st.container(horizontal=True)
        row.text_input("Name", key=f"{KEY}.f.name", max_chars=templates.MAX_NAME)
        row.selectbox("Type", list(templates.KINDS), format_func=templates.KINDS.get, key=f"{KEY}.f.kind")
        row.selectbox(
            "Channel",
            ["any", "sms", "whatsapp"],
            format_func=lambda c: templates.CHANNELS[None if c == "any" else c],
            key=f"{KEY}.f.channel",
        )
        st.text_area(
            "Text",
            key=f"{KEY}.f.body",
            height=140,
            help="Variables are written {{first_name}}; the contact's name, first_name, last_name, phone and "
            "the sender fill in by themselves.",
        )
        whatsapp = s.get(f"{KEY}.f.channel") == "whatsapp"
        if whatsapp:
            st.toggle(
                "Registered with WhatsApp (approved templates may go when the 24-hour window is closed)",
                key=f"{KEY}.f.registered",
            )
        if whatsapp and s.get(f"{KEY}.f.registered"):
            render_registration()
        else:
            st.caption("Saved text: sent as an ordinary message (on WhatsApp, only inside the 24-hour window).")
        render_samples()
        buttons = st.container(horizontal=True)
        buttons.button(
            "Save",
            key=f"{KEY}.save",
            type="primary",
            icon=":material/save:",
            on_click=guarded(save),
            args=(current.id if current else None,),
        )
        if current is not None:
            if current.active:
                buttons.button(
                    "Disable",
                    key=f"{KEY}.disable",
                    icon=":material/block:",
                    on_click=guarded(act),
                    args=(KEY, template_actions.do_set_template_active, rt.db, user, current.id, False),
                    kwargs={"done": "Template disabled."},
                )
            else:
                buttons.button(
                    "Enable",
                    key=f"{KEY}.enable",
                    icon=":material/check_circle:",
                    on_click=guarded(act),
                    args=(KEY, template_actions.do_set_template_active, rt.db, user, current.id, True),
                    kwargs={"done": "Template enabled."},
                )
    with right:
        render_preview()


def render_registration() -> None:
    row = st.container(horizontal=True)
    row.text_input("Name at WhatsApp", key=f"{KEY}.f.provider_name", placeholder="appointment_reminder")
    row.text_input("Language", key=f"{KEY}.f.language", placeholder="en_US", width=120)
    row = st.container(horizontal=True)
    row.selectbox("Category", list(templates.CATEGORIES), format_func=templates.CATEGORIES.get, key=f"{KEY}.f.category")
    row.selectbox(
        "Approval status", list(templates.APPROVAL), format_func=templates.APPROVAL.get, key=f"{KEY}.f.approval_status"
    )
    row.selectbox(
        "Variables at WhatsApp",
        list(templates.PARAMETER_FORMATS),
        format_func=templates.PARAMETER_FORMATS.get,
        key=f"{KEY}.f.parameter_format",
    )
    st.caption("Changing the content of an approved template sends it back to WhatsApp's review (Pending).")
    row = st.container(horizontal=True)
    row.selectbox(
        "Header",
        list(templates.HEADER_FORMATS),
        format_func=templates.HEADER_FORMATS.get,
        key=f"{KEY}.f.header_format",
        width=160,
    )
    header = s.get(f"{KEY}.f.header_format")
    if header == "text":
        row.text_input("Header text (one variable at most)", key=f"{KEY}.f.header_text", max_chars=templates.MAX_HEADER)
    elif header in ("image", "video", "document"):
        row.text_input("Link of the file (https://…)", key=f"{KEY}.f.header_link")
    st.text_input("Footer (no variables)", key=f"{KEY}.f.footer", max_chars=templates.MAX_FOOTER)
    st.markdown("**Buttons**")
    st.data_editor(
        s.get(f"{KEY}.buttons_start"),
        key=f"{KEY}.f.buttons",
        num_rows="dynamic",
        hide_index=True,
        column_config={
            "type": st.column_config.SelectboxColumn(
                "Type", options=list(templates.BUTTON_TYPES), required=True, default="quick_reply"
            ),
            "text": st.column_config.TextColumn("Text", max_chars=templates.MAX_BUTTON_TEXT),
            "url": st.column_config.TextColumn("Address (website buttons; may end in one variable)"),
            "payload": st.column_config.TextColumn("Reply payload (quick replies)"),
            "phone": st.column_config.TextColumn("Phone (call buttons)"),
        },
    )
    st.text_input("Twilio Content SID (to send it through Twilio)", key=f"{KEY}.f.content_sid", placeholder="HX…")


def render_samples() -> None:
    try:
        names = templates.variables(_form_template())
    except ParleyError:
        names = []
    if not names:
        return
    st.markdown("**Sample values** (for the preview, and the examples WhatsApp asks for)")
    cols = st.columns(min(3, len(names)))
    for i, name in enumerate(names):
        # "first name", not "{{first_name}}": a label's Markdown source is also its accessible name, and an
        # escaped underscore would be read out as a backslash.
        cols[i % len(cols)].text_input(esc(name.replace("_", " ")), key=f"{KEY}.sample.{name}")


def render_preview() -> None:
    st.markdown("**Preview**")
    try:
        t = _form_template()
    except ParleyError as exc:
        refusal(exc)
        return
    rendered = templates.render(t, templates.sample_values(t))
    with st.container(border=True):
        st.text(rendered.text or "—")
        for b in t.buttons:
            st.caption(md("▸ {text}", text=b.text))
    if t.channel in (None, "sms"):
        st.caption(esc(segment_line(rendered.text)))
    try:
        checked = template_checks.check_template(t)
    except ParleyError as exc:
        st.warning(esc(str(exc)), icon="✏️")
        return
    if checked.registered:
        st.markdown("**As WhatsApp registers it**")
        st.json(templates.cloud_definition(checked), expanded=False)
        names = [n for n in templates.variables(checked)]
        if names:
            st.caption(
                esc("Twilio Content variables: " + ", ".join(f"{{{{{i}}}}} = {n}" for i, n in enumerate(names, 1)))
            )


# ---- the page ----------------------------------------------------------------------------------------

st.header("Templates", anchor=False)
template_param = st.query_params.get("id")
if template_param:
    render_editor(template_param)
else:
    render_list()
