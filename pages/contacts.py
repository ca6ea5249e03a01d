"""Contacts: the workspace's address book (``/contacts``, ``/contacts?id=N``).

List, search (name any part, number typed any way), Active/Archived/All,
paging; a click opens a contact: its fields (a form for agents and admins,
read-only for supervisors), channels, opt-out state and history, and the
conversations the viewer may open. New contact, CSV import and export.
Every rule is enforced in ``core.contacts``; this page only lays it out.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import contacts, runtime
from core.actions import contacts as contact_actions
from core.errors import ParleyError
from core.phones import format_phone_display
from pages import contacts_import, list_controls, session
from pages.contact_form import contact_form
from pages.format import channel_badge, fmt_time, plural
from pages.row_list import row_list
from pages.session import guarded
from pages.text import esc, md

KEY = "contacts"
SHOW = {"Active": "active", "Archived": "archived", "All": "all"}

rt = runtime.current()
user = session.current_user(rt)
if user is None:
    st.stop()
editor = contacts.can_edit(user)
s = st.session_state


# ---- navigation: the open contact lives in the URL (?id=N), so it can be linked -------------


def open_contact(contact_id: int) -> None:
    st.query_params["id"] = str(contact_id)
    s[f"{KEY}.view"] = "list"


def close_contact() -> None:
    st.query_params.pop("id", None)
    s[f"{KEY}.view"] = "list"
    s.pop(f"{KEY}.confirm_delete", None)


def show_view(view: str) -> None:
    close_contact()
    s[f"{KEY}.view"] = view
    s.pop("contact_new.loaded", None)  # a fresh, empty form


def act(fn, contact_id: int, done: str) -> None:
    try:
        fn(rt.db, user, contact_id)
    except ParleyError as exc:
        s[f"{KEY}.error"] = str(exc)
        return
    s[f"{KEY}.flash"] = done


def delete(contact_id: int) -> None:
    s.pop(f"{KEY}.confirm_delete", None)
    try:
        contact_actions.do_delete_contact(rt.db, user, contact_id)
    except ParleyError as exc:
        s[f"{KEY}.error"] = str(exc)
        return
    close_contact()
    s[f"{KEY}.flash"] = "Contact deleted."


def feedback() -> None:
    if s.get(f"{KEY}.flash"):
        st.toast(esc(s.pop(f"{KEY}.flash")), icon="✅")
    if s.get(f"{KEY}.error"):
        st.error(esc(s.pop(f"{KEY}.error")))


# ---- the list -------------------------------------------------------------------------------


def contact_rows(rows: list[dict]) -> list[dict]:
    """Contacts from ``core`` → what the row list shows (a click opens the contact here)."""
    shown = []
    for r in rows:
        phone = format_phone_display(r["phone"])
        details = [phone if r["name"] else "", r["email"] or "", r["tags"] or ""]
        flags = []
        if r["archived"]:
            flags.append({"text": "Archived", "tone": ""})
        if r["opted_out"]:
            flags.append({"text": "Opted out", "tone": "red", "help": "Nothing is sent to this number."})
        shown.append(
            {
                "id": r["id"],
                "title": (r["name"] or "").strip() or phone,
                "text": " · ".join(d for d in details if d),
                "flags": flags,
                "when": plural(r["conversations"], "conversation"),
            }
        )
    return shown


def render_list() -> None:
    top = st.container(horizontal=True, vertical_alignment="center", horizontal_alignment="distribute")
    query = list_controls.search_box(KEY, top.container(horizontal=True, vertical_alignment="center", width="content"))
    top.segmented_control(
        "Show",
        list(SHOW),
        default="Active",
        key=f"{KEY}.show",
        required=True,
        label_visibility="collapsed",
        on_change=guarded(list_controls.reset_paging),
        args=(KEY,),
        width="content",
        help="Contacts in use, archived ones, or all",
    )
    archived = SHOW.get(s.get(f"{KEY}.show") or "Active", "active")
    try:
        page = contacts.list_contacts(rt.db, user, search=query, archived=archived, page=s.get(f"{KEY}.page", 0))
    except ParleyError as exc:
        st.error(md("{error}", error=exc))
        return
    s[f"{KEY}.page"] = page.page
    bar = st.container(horizontal=True, vertical_alignment="center", horizontal_alignment="distribute")
    tools = bar.container(horizontal=True, vertical_alignment="center", width="content")
    if editor:
        tools.button(
            "New contact",
            key=f"{KEY}.new",
            icon=":material/person_add:",
            type="primary",
            on_click=guarded(show_view),
            args=("new",),
        )
        tools.button(
            "Import CSV",
            key=f"{KEY}.import",
            icon=":material/upload_file:",
            on_click=guarded(show_view),
            args=("import",),
        )
    with tools:
        contacts_import.export_button(rt, user, search=query, archived=archived)
    list_controls.pager(
        KEY,
        page,
        bar.container(horizontal=True, vertical_alignment="center", horizontal_alignment="right", width="content"),
    )
    feedback()
    if not page.rows:
        what = {"active": "contacts", "archived": "archived contacts", "all": "contacts"}[archived]
        st.info(
            md("No {what} match “{query}”.", what=what, query=query) if query else md("No {what} yet.", what=what),
            icon="📇",
        )
        return
    row_list(KEY, contact_rows(page.rows), label="Contacts", selectable=False, on_open=open_contact)
    st.caption("Click a contact to open it.")


# ---- one contact ----------------------------------------------------------------------------


def render_detail(raw_id: str) -> None:
    st.button(
        "All contacts",
        key=f"{KEY}.back",
        icon=":material/arrow_back:",
        type="tertiary",
        on_click=guarded(close_contact),
    )
    try:
        d = contacts.contact_detail(rt.db, user, raw_id)
    except ParleyError as exc:
        st.error(esc(exc))
        return
    st.subheader(esc(d["label"]), anchor=False)
    zone = d["effective_timezone"] or "time zone unknown"
    st.caption(
        md(
            "{phone} · {zone}{source}",
            phone=format_phone_display(d["phone"]),
            zone=zone,
            source="" if d["timezone"] else " (from the number)",
        )
    )
    badges = st.container(horizontal=True)
    with badges:
        if d["archived"]:
            st.badge("Archived", icon=":material/archive:", color="gray")
        if d["opted_out"]:
            st.badge("Opted out", icon=":material/block:", color="red")
        for channel in d["channels"]:
            # st.badge escapes brackets itself (which undoes esc): a badge of ours in md() instead.
            st.markdown(md(":blue-badge[{channel}]", channel=channel_badge(channel)), width="content")
    feedback()
    left, right = st.columns([3, 2], gap="large")
    with left:
        if editor:
            contact_form(rt, user, contact_id=d["id"], key=f"contact_{d['id']}", on_open_existing=open_contact)
        else:
            render_facts(d)
        render_actions(d)
    with right:
        render_optout(d)
        render_conversations(d)


def render_facts(d: dict) -> None:
    st.caption("Read-only: supervisors can look at contacts but cannot change them.")
    facts = [
        ("Phone", format_phone_display(d["phone"])),
        ("Email", d["email"]),
        ("Tags", ", ".join(d["tag_list"])),
        ("Time zone", d["effective_timezone"]),
        ("Notes", d["notes"]),
    ]
    for label, value in facts:
        st.markdown(md("**{label}:** {value}", label=label, value=value or "—"))


def render_actions(d: dict) -> None:
    row = st.container(horizontal=True)
    if editor:
        if d["archived"]:
            row.button(
                "Unarchive",
                key=f"{KEY}.unarchive",
                icon=":material/unarchive:",
                on_click=guarded(act),
                args=(contact_actions.do_unarchive_contact, d["id"], "Contact unarchived."),
            )
        else:
            row.button(
                "Archive",
                key=f"{KEY}.archive",
                icon=":material/archive:",
                help="Hide this contact from the list; its conversations stay.",
                on_click=guarded(act),
                args=(contact_actions.do_archive_contact, d["id"], "Contact archived."),
            )
    if user.is_admin:
        row.button(
            "Delete…",
            key=f"{KEY}.delete",
            icon=":material/delete:",
            disabled=not d["can_delete"],
            help="Only contacts that never had a conversation, a message or an opt-out can be deleted; "
            "archive the others.",
            on_click=guarded(lambda: s.update({f"{KEY}.confirm_delete": d["id"]})),
        )
    if s.get(f"{KEY}.confirm_delete") == d["id"]:
        st.warning(md("Delete {who} for good? This cannot be undone.", who=d["label"]))
        confirm = st.container(horizontal=True)
        confirm.button(
            "Delete for good", key=f"{KEY}.delete_yes", type="primary", on_click=guarded(delete), args=(d["id"],)
        )
        confirm.button("Cancel", key=f"{KEY}.delete_no", on_click=guarded(lambda: s.pop(f"{KEY}.confirm_delete", None)))


def render_optout(d: dict) -> None:
    st.markdown("**Opt-out**")
    if d["opted_out"]:
        st.error(
            md(
                "Opted out {when}: nothing is sent to this number on any sender or channel.",
                when=fmt_time(d["opted_out_at"], user.timezone),
            ),
            icon="🚫",
        )
    else:
        st.caption("Receives messages (not opted out).")
    history = d["optout_history"]
    if history:
        columns = {
            "When": [fmt_time(h["occurred_at"], user.timezone) for h in history],
            "What": [h["what"] for h in history],
            "Keyword": [h["keyword"] or "" for h in history],
            "Channel": [channel_badge(h["channel"]) if h["channel"] else "" for h in history],
            "By": [h["user_name"] or "" for h in history],
            "Reason": [h["reason"] or "" for h in history],
        }
        # A column nobody filled (no agent acted, no reason given) only narrows the others.
        shown = {k: v for k, v in columns.items() if k in ("When", "What") or any(v)}
        st.dataframe(pd.DataFrame(shown), hide_index=True)


def render_conversations(d: dict) -> None:
    st.markdown("**Conversations**")
    if not d["conversations"]:
        st.caption("None you can open." if d["hidden_conversations"] else "No conversations yet.")
    for c in d["conversations"]:
        label = md(
            "{channel} · {sender} · {owner} · {when}{closed}",
            channel=channel_badge(c["channel"]),
            sender=c["sender_label"],
            owner=c["owner_name"] or "nobody",
            when=fmt_time(c["last_message_at"], user.timezone),
            closed=" · closed" if c["status"] == "closed" else "",
        )
        if "conversation" in session.pages():
            st.page_link(
                session.pages()["conversation"],
                label=md("{label}", label=label),
                icon=":material/forum:",
                query_params={"id": str(c["conversation_id"])},
            )
        else:
            st.markdown(md("{label}", label=label))
        if c["preview"]:
            st.caption(esc(c["preview"][:120]))
    hidden = d["hidden_conversations"]
    if hidden:
        verb = "belongs" if hidden == 1 else "belong"
        more = "more " if d["conversations"] else ""
        st.caption(
            md("{n} with this contact {verb} to other agents.", n=plural(hidden, more + "conversation"), verb=verb)
        )


# ---- the page -------------------------------------------------------------------------------

st.header("Contacts", anchor=False)
contact_id = st.query_params.get("id")
view = s.get(f"{KEY}.view", "list")
if contact_id:
    render_detail(contact_id)
elif view == "new" and editor:
    st.button(
        "All contacts",
        key=f"{KEY}.back",
        icon=":material/arrow_back:",
        type="tertiary",
        on_click=guarded(close_contact),
    )
    st.subheader("New contact", anchor=False)
    contact_form(rt, user, key="contact_new", on_save=open_contact, on_open_existing=open_contact)
elif view == "import" and editor:
    st.button(
        "All contacts",
        key=f"{KEY}.back",
        icon=":material/arrow_back:",
        type="tertiary",
        on_click=guarded(close_contact),
    )
    contacts_import.render_import(rt, user)
else:
    render_list()
