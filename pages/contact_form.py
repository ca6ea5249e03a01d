"""The contact form: create or edit one contact without leaving the page.

``contact_form(rt, user, contact_id=...)`` edits a saved contact;
``contact_form(rt, user, phone=...)`` edits the contact with that number,
or offers to save it as a new one. It works on the Contacts page, inside an
``st.expander`` or an ``st.dialog`` (the conversation page's "Save as
contact" / "Edit contact"). Saving is a form-submit callback, so it can be
driven from tests; ``on_save(contact_id)`` is called after a save.

A duplicate number is refused by core with the existing contact's name and
id; the form then offers a way to that contact (``on_open_existing`` if
given, else a link to the Contacts page with ``?id=``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from core import contacts, runtime
from core.actions import contacts as contact_actions
from core.auth import User, get_user
from core.contact_fields import MAX_NAME, MAX_NOTES, time_zone_choices
from core.errors import ParleyError
from core.phones import phone_timezone, to_e164
from pages.session import guarded
from pages.text import esc, md

OnSave = Callable[[int], None]
READ_ONLY = "Supervisors can look at contacts but cannot create or change them."


def _load(key: str, contact: dict[str, Any] | None, phone: str | None) -> None:
    """Fill the fields from the stored contact, once per contact version (not on every run)."""
    s = st.session_state
    marker = (contact["id"], contact["updated_at"]) if contact else ("new", phone)
    if s.get(f"{key}.loaded") == marker:
        return
    c = contact or {}
    s[f"{key}.name"] = c.get("name") or ""
    s[f"{key}.phone"] = c.get("phone") or (phone or "")
    s[f"{key}.email"] = c.get("email") or ""
    s[f"{key}.tags"] = c.get("tags") or ""
    s[f"{key}.notes"] = c.get("notes") or ""
    s[f"{key}.timezone"] = c.get("timezone") or ""
    s[f"{key}.loaded"] = marker
    s[f"{key}.version"] = c.get("updated_at")
    s.pop(f"{key}.error", None)
    s.pop(f"{key}.duplicate", None)


def save(key: str, user_id: int, contact_id: int | None, on_save: OnSave | None = None) -> None:
    """Form-submit callback: create or update from the fields in session state."""
    s = st.session_state
    rt = runtime.current()
    user = get_user(rt.db, user_id)
    values = {f: s.get(f"{key}.{f}") for f in contacts.FIELDS}
    s.pop(f"{key}.duplicate", None)
    s.pop(f"{key}.error", None)
    try:
        if contact_id is None:
            saved = contact_actions.do_create_contact(rt.db, user, **values)
            message = "Contact saved."
        else:
            changed = contact_actions.do_update_contact(
                rt.db, user, contact_id, expected_updated_at=s.get(f"{key}.version"), **values
            )
            saved, message = contact_id, "Contact saved." if changed else "Nothing to save: no field changed."
    except contacts.DuplicateContact as exc:
        s[f"{key}.error"] = str(exc)
        s[f"{key}.duplicate"] = (exc.contact_id, exc.label)
        return
    except ParleyError as exc:
        s[f"{key}.error"] = str(exc)
        return
    s.pop(f"{key}.loaded", None)  # show what was stored (numbers in E.164, tags tidied)
    s[f"{key}.flash"] = message
    if on_save is not None:
        on_save(saved)


def _duplicate_link(key: str, on_open_existing: OnSave | None) -> None:
    from pages import session

    found = st.session_state.get(f"{key}.duplicate")
    if not found:
        return
    existing_id, who = found
    if on_open_existing is not None:
        st.button(
            md("Open {who}", who=who),
            key=f"{key}.open_existing",
            icon=":material/person_search:",
            on_click=guarded(_open_existing),
            args=(key, existing_id, on_open_existing),
        )
    elif "contacts" in session.pages():
        st.page_link(
            session.pages()["contacts"],
            label=md("Open {who}", who=who),
            icon=":material/person_search:",
            query_params={"id": str(existing_id)},
        )


def _open_existing(key: str, existing_id: int, on_open_existing: OnSave) -> None:
    for suffix in ("duplicate", "error", "loaded"):
        st.session_state.pop(f"{key}.{suffix}", None)
    on_open_existing(existing_id)


def contact_form(
    rt,
    user: User,
    *,
    contact_id: int | None = None,
    phone: str | None = None,
    key: str = "contact_form",
    on_save: OnSave | None = None,
    on_open_existing: OnSave | None = None,
    border: bool = True,
) -> None:
    """Render the create/edit form for a contact id, or for a phone number (saved or not)."""
    s = st.session_state
    try:
        if contact_id is not None:
            contact = contacts.get_contact(rt.db, user, contact_id)
        else:
            contact = contacts.find_by_phone(rt.db, user, phone) if phone else None
    except ParleyError as exc:
        st.error(esc(exc))
        return
    if not contacts.can_edit(user):
        st.caption(md(READ_ONLY))
        return
    _load(key, contact, phone)
    locked = contact is not None and contact_actions.phone_locked(rt.db, contact["id"])
    number_zone = phone_timezone(contact["phone"] if contact else to_e164(phone))
    zones = [""] + time_zone_choices()
    if s.get(f"{key}.timezone") not in zones:
        s[f"{key}.timezone"] = ""
    with st.form(f"{key}.form", border=border, enter_to_submit=False):
        st.text_input("Name", key=f"{key}.name", max_chars=MAX_NAME, placeholder="First and last name")
        st.text_input(
            "Phone number",
            key=f"{key}.phone",
            disabled=locked,
            placeholder="+1 415 555 0123",
            help="This number has messages or an opt-out on record, so it stays; save a new number as a new contact."
            if locked
            else "Any format; stored in international form (+14155550123).",
        )
        st.text_input("Email", key=f"{key}.email", placeholder="name@example.com")
        st.text_input("Tags", key=f"{key}.tags", placeholder="vip, new patient", help="Separate tags with commas.")
        st.text_area("Notes", key=f"{key}.notes", max_chars=MAX_NOTES, height=90)
        st.selectbox(
            "Time zone",
            zones,
            key=f"{key}.timezone",
            format_func=lambda z: z or f"From the number ({number_zone or 'unknown'})",
            help="Quiet hours use this zone; leave it on the number's zone unless you know better.",
        )
        st.form_submit_button(
            "Save contact",
            type="primary",
            icon=":material/save:",
            on_click=guarded(save),
            args=(key, user.id, contact["id"] if contact else None, on_save),
        )
    if s.get(f"{key}.error"):
        st.error(esc(s[f"{key}.error"]))
        _duplicate_link(key, on_open_existing)
    elif s.get(f"{key}.flash"):
        st.success(esc(s.pop(f"{key}.flash")), icon="✅")


contact_editor = contact_form  # the name the conversation page imports
