"""The conversation window: who it is with, the live thread, the compose box.

``/conversation?id=N``. Whatever is wrong with the id (not a number, no
such conversation, someone else's) ends in core's one sentence and a link
back, never a traceback. Everything shown comes from one core call,
``conversation_view``: it also marks the conversation read when its owner
opens it (the write is handed to the page writer once the thread and the composer are drawn,
and made after the run: ``finish_open_later``, ``core.page_writes``), and
leaves the owner's read state alone when an admin or supervisor reads
someone else's (rule 6). Who may work the conversation is
decided there too (``view.permissions``).

The page fits the window (``pages.layout.screen_page``): a compact header
(contact, number, channel, sender, owner, status; actions on the same
lines, the contact form and the transcript in popovers), then the thread,
the one scroll area, then the composer, always on screen. *Mark unread*
leaves for the inbox the way a link does (``pages.navigate``).
"""

from __future__ import annotations

import streamlit as st

from core import permissions, phones, runtime
from core.actions import conversations as conv_actions
from core.actions import optout
from core.conversation_view import THREAD_PAGE, back_to, conversation_view
from core.errors import NotFound, ParleyError
from pages import composer, layout, navigate, session, thread_view, transcript_export
from pages.contact_form import contact_editor
from pages.format import channel_badge
from pages.session import guarded
from pages.text import esc, md

PAGE_PATH = "conversation"  # this page's address (ui.py)

rt = runtime.current()
user = session.current_user(rt)
if user is None:
    st.stop()
if navigate.leaving(PAGE_PATH):
    st.stop()  # on the way to the inbox (Mark unread): read nothing, mark nothing read again
layout.screen_page()


def back_page(where: str):
    """My Inbox for one's own conversations; Team Inbox for the rest (and for supervisors)."""
    pages = session.pages()
    if where == "team" and "team" in pages:
        return pages["team"], "Back to Team Inbox"
    return pages.get("inbox") or pages.get("team"), "Back to My Inbox"


def refuse(sentence: str) -> None:
    st.error(esc(sentence))
    page, label = back_page(back_to(user, None))
    if page is not None:
        st.page_link(page, label=esc(label), icon=":material/arrow_back:")
    st.stop()


def load(raw):
    if raw is None or not str(raw).strip():
        raise NotFound("Choose a conversation from your inbox to open it.")
    limit = st.session_state.get(f"thread_limit_{permissions.parse_conversation_id(raw)}", THREAD_PAGE)
    # Shown read at once; the write that marks it read waits until the thread is drawn (thread_view).
    return conversation_view(rt.db, user, raw, limit=limit, defer_mark=True), limit


try:
    view, shown_limit = load(st.query_params.get("id"))
except ParleyError as exc:
    refuse(str(exc))

thread_view.remember(view, shown_limit)
detail, cid, allowed = view.detail, view.conversation_id, view.permissions
can_work = allowed.can_work


def _act(fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except ParleyError as exc:
        st.session_state["conversation_notice"] = str(exc)


def _mark_unread(rt, user, cid: int, back: str) -> None:
    """Like a mail client: it waits, unread, in the inbox the agent goes back to."""
    try:
        conv_actions.do_set_read_state(rt.db, user, [cid], read=False)
    except ParleyError as exc:
        st.session_state["conversation_notice"] = str(exc)
        return
    navigate.request(PAGE_PATH, back)


def _keep_open(cid: int):
    """Saving an unknown number renames its popover "Edit contact": a new widget, closed unless
    told otherwise; the agent keeps the form and its "Contact saved." in view."""

    def saved(_contact_id: int) -> None:
        st.session_state[f"conv_contact_popover_{cid}"] = True

    return saved


# ---- header: two lines ---------------------------------------------------------------------
page, label = back_page(allowed.back_to)
title = st.container(horizontal=True, vertical_alignment="center", gap="small", key="conversation_title")
with title:
    if page is not None:
        st.page_link(page, label=esc(label), icon=":material/arrow_back:")
    st.subheader(esc(view.contact_label), anchor=False, width="content")
    if detail["status"] == "closed":
        st.badge("Closed", icon=":material/check_circle:", color="gray")
    else:
        st.badge("Open", icon=":material/chat:", color="green")
    if detail["opted_out"]:
        st.badge("Opted out", icon=":material/block:", color="red")
    if detail.get("unsolicited"):
        st.badge("Unsolicited", color="orange")
    if detail["unread"] and not allowed.is_owner:
        # st.badge escapes brackets itself (which undoes esc): a badge of ours in md() instead.
        st.markdown(md(":blue-badge[Unread for {owner}]", owner=detail["owner_name"]), width="content")
    st.space("stretch")  # the actions at the right end
    if can_work:
        closed = detail["status"] == "closed"
        st.button(
            "Reopen" if closed else "Close",
            key="toggle_status",
            icon=":material/undo:" if closed else ":material/done:",
            on_click=guarded(_act),
            args=(conv_actions.do_set_status, rt.db, user, [cid]),
            kwargs={"closed": not closed},
        )
    if allowed.can_mark_unread:
        st.button(
            "Mark unread",
            key="mark_unread",
            icon=":material/mark_chat_unread:",
            on_click=guarded(_mark_unread),
            args=(rt, user, cid, allowed.back_to),
        )

facts = st.container(horizontal=True, vertical_alignment="center", gap="small", key="conversation_facts")
with facts:
    st.caption(
        md(
            "{phone} · {channel} · via {sender} · owner: {owner}",
            phone=phones.format_phone_display(detail["contact_phone"]),
            channel=channel_badge(detail["channel"]),
            sender=detail["sender_label"],
            owner=detail["owner_name"] or "nobody",
        ),
        width="stretch",
    )
    if can_work:
        unknown = detail["contact_name"] is None
        # The form is drawn only while the popover is open (opening it reruns the page): closed, it
        # cost every open of a conversation a contact read and nine elements, one a 400-zone list.
        # Saving an unknown number turns "Save as contact" into "Edit contact" (``_keep_open``).
        with st.popover(
            "Save as contact" if unknown else "Edit contact",
            icon=":material/person_add:" if unknown else ":material/edit:",
            type="tertiary",
            key=f"conv_contact_popover_{cid}",
            on_change="rerun",
        ) as contact_popover:
            if contact_popover.open and unknown:
                contact_editor(
                    rt, user, phone=detail["contact_phone"], key=f"conv_contact_{cid}", on_save=_keep_open(cid)
                )
            elif contact_popover.open:
                contact_editor(rt, user, contact_id=detail["contact_id"], key=f"conv_contact_{cid}")
    transcript_export.render(rt, user, detail)  # admins and the assignee only

if detail.get("optout_flag") and not detail["opted_out"]:
    flag = st.container(horizontal=True, vertical_alignment="center", gap="small", key="conversation_optout")
    with flag:
        st.warning(md("Possible opt-out request: “{flag}”", flag=detail["optout_flag"]), icon="🚩", width="stretch")
        if can_work:
            st.button(
                "Confirm opt-out",
                key="confirm_optout",
                icon=":material/block:",
                type="primary",
                help="Opt this contact out of every sender and channel, as if they had replied STOP.",
                on_click=guarded(_act),
                args=(optout.do_confirm_opt_out, rt.db, user, cid),
            )
            st.button(
                "Not an opt-out",
                key="dismiss_optout",
                icon=":material/close:",
                help="Clear the flag; the contact keeps receiving messages.",
                on_click=guarded(_act),
                args=(optout.do_dismiss_optout_flag, rt.db, user, cid),
            )

notice = st.session_state.pop("conversation_notice", None)
if notice:
    st.error(esc(notice))

# ---- thread (the one scroll area) and composer (always on screen) ---------------------------
with thread_view.mark_read_after(rt, user, cid):  # opened unread: marked read once both are drawn
    thread_view.render(rt, user, view, page_path=PAGE_PATH, on_header_change=st.rerun)  # header, composer depend on it
    composer.render(rt, user, view)
