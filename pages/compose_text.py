"""The composer's text: what the agent wrote is never lost.

* **Drafts** live in the database (``core.drafts``), per user and conversation:
  leaving the page, opening another conversation, a reload, another browser
  or a server restart all find the text again. The text box saves its draft
  whenever its value reaches the server (on blur, Ctrl+Enter, or before any
  button runs), so navigating away keeps it.
* **Templates** never overwrite typed text silently: into an empty box a
  template goes as is; when there is text, the page asks — *Add after my
  text*, *Replace my text* or *Keep my text*.

State per conversation in session state: ``compose_text_<cid>`` (the box),
``compose_template_<cid>`` (the template chosen), ``compose_pending_<cid>``
(a template waiting for the agent's answer).
"""

from __future__ import annotations

import streamlit as st

from core import drafts
from core.actions import messaging
from core.auth import User
from core.errors import ParleyError
from pages.session import guarded


def text_key(cid: int) -> str:
    return f"compose_text_{cid}"


def template_key(cid: int) -> str:
    return f"compose_template_{cid}"


def pending_key(cid: int) -> str:
    return f"compose_pending_{cid}"


def notice_key(cid: int) -> str:
    return f"compose_result_{cid}"


def prime(rt, user: User, cid: int) -> None:
    """First time this session shows the conversation's box: start from the saved draft."""
    key = text_key(cid)
    if key not in st.session_state:
        try:
            st.session_state[key] = drafts.get_draft(rt.db, user, cid)
        except ParleyError:
            st.session_state[key] = ""


def save_draft(rt, user: User, cid: int) -> None:
    """The box's ``on_change``: keep what is written (an empty box forgets the draft)."""
    try:
        drafts.do_save_draft(rt.db, user, cid, st.session_state.get(text_key(cid)) or "")
    except ParleyError as exc:
        st.session_state[notice_key(cid)] = ("error", str(exc))


def choose_template(rt, user: User, cid: int) -> None:
    """The template picker's ``on_change``: fill an empty box, or ask before touching typed text."""
    template_id = st.session_state.get(template_key(cid))
    st.session_state.pop(pending_key(cid), None)
    if template_id is None:
        return
    try:
        rendered = messaging.render_template(rt.db, template_id, cid, viewer=user)
    except ParleyError as exc:
        st.session_state[notice_key(cid)] = ("error", str(exc))
        return
    typed = st.session_state.get(text_key(cid)) or ""
    if not typed.strip():
        _set_text(rt, user, cid, rendered.text)
    elif typed.strip() != rendered.text.strip():
        st.session_state[pending_key(cid)] = rendered.text


def _set_text(rt, user: User, cid: int, text: str) -> None:
    st.session_state[text_key(cid)] = text
    save_draft(rt, user, cid)


def answer(rt, user: User, cid: int, choice: str) -> None:
    """The agent's answer about a template and typed text: 'add', 'replace' or 'keep'."""
    template_text = st.session_state.pop(pending_key(cid), None)
    if template_text is None:
        return
    typed = (st.session_state.get(text_key(cid)) or "").rstrip()
    if choice == "add":
        _set_text(rt, user, cid, f"{typed}\n\n{template_text}")
    elif choice == "replace":
        _set_text(rt, user, cid, template_text)
    else:  # keep: the text stays, and so does no template
        st.session_state[template_key(cid)] = None


def question(rt, user: User, cid: int) -> None:
    """When a template waits for an answer: the question and its three buttons."""
    if st.session_state.get(pending_key(cid)) is None:
        return
    with st.container(border=True, key=f"compose_question_{cid}"):
        st.markdown("You have already written something. What should the template do?")
        row = st.container(horizontal=True)
        row.button(
            "Add after my text",
            key=f"compose_add_{cid}",
            type="primary",
            icon=":material/playlist_add:",
            on_click=guarded(answer),
            args=(rt, user, cid, "add"),
        )
        row.button(
            "Replace my text",
            key=f"compose_replace_{cid}",
            icon=":material/swap_horiz:",
            on_click=guarded(answer),
            args=(rt, user, cid, "replace"),
        )
        row.button(
            "Keep my text",
            key=f"compose_keep_{cid}",
            type="tertiary",
            on_click=guarded(answer),
            args=(rt, user, cid, "keep"),
        )


def sent(cid: int) -> None:
    """After a send: the box is empty (core cleared the draft with the send)."""
    st.session_state[text_key(cid)] = ""
    st.session_state[template_key(cid)] = None
    st.session_state.pop(pending_key(cid), None)
