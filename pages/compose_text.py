"""The composer's text: what the agent wrote is never lost.

* **Drafts** live in the database (``core.drafts``), per user and conversation:
  leaving the page, opening another conversation, a reload, another browser
  or a server restart all find the text again. The text box saves its draft
  whenever its value reaches the server (on blur, Ctrl+Enter, or before any
  button runs), so navigating away keeps it.
* **Templates** never overwrite typed text silently: into an empty box (or
  one holding only the last template's own text) a template goes as is;
  when the agent wrote something, the page asks — *Add after my text*,
  *Replace my text* or *Keep my text*.

The template picker is an action, not a setting: choosing puts the
template's text in (or asks) and the picker shows its placeholder again;
the template that goes with the message is kept apart. (A picker that held
its value lost it whenever the question appeared above it and the browser
redrew it: the next click sent "no template" and dropped the question.)

State per conversation in session state: ``compose_text_<cid>`` (the box),
``compose_template_<cid>`` (the picker), ``compose_chosen_<cid>`` (the
template sent with the message, and the text it put in),
``compose_pending_<cid>`` (a template waiting for the agent's answer).
"""

from __future__ import annotations

import functools
import time

import streamlit as st

from core import drafts
from core.actions import composing
from core.auth import User
from core.errors import ParleyError
from pages.session import guarded

# Leaving with words still in the box: Streamlit sends the box's text when it loses focus, and
# a link clicked at that moment (the sidebar's My Inbox) asks for the other page first; the
# text's rerun then lands after it, on this page, and the click goes nowhere (measured: most
# times in a browser driven at full speed). So when the box holds unsent words and a link is
# pressed, the box lets go of its text first, and the link is followed once Streamlit has run
# with it (the app's script state back to "notRunning"; if no run starts, soon anyway).
GUARD_JS = """
const GUARD = "__parleyComposeGuard";

function whenSettled(fn) {
  const began = performance.now();
  let ran = false;
  const tick = () => {
    const app = document.querySelector("[data-test-script-state]");
    const state = app ? app.getAttribute("data-test-script-state") : "notRunning";
    if (state !== "notRunning") ran = true;
    const waited = performance.now() - began;
    if ((ran && state === "notRunning") || waited > 5000 || (!ran && waited > 800)) return fn();
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

export default function (component) {
  const { data } = component;
  if (window[GUARD]) {
    window[GUARD].selector = data.selector;
    return;
  }
  const guard = (window[GUARD] = { selector: data.selector, held: null, dirty: false });
  const box = () => document.querySelector(guard.selector);
  document.addEventListener("input", (event) => {
    if (event.target === box()) guard.dirty = true;
  }, true);
  document.addEventListener(
    "pointerdown",
    (event) => {
      const area = box();
      const link = event.target.closest && event.target.closest("a[href]");
      if (!area || !link || !guard.dirty || document.activeElement !== area) return;
      guard.held = link;
      guard.dirty = false;
      area.blur(); // Streamlit takes the text now, before the link asks for its page
    },
    true,
  );
  document.addEventListener("focusout", (event) => {
    if (event.target === box()) guard.dirty = false; // its text went with the blur
  }, true);
  document.addEventListener(
    "click",
    (event) => {
      const link = event.target.closest && event.target.closest("a[href]");
      if (!guard.held || link !== guard.held) {
        guard.held = null;
        return;
      }
      event.preventDefault();
      event.stopPropagation();
      guard.held = null;
      whenSettled(() => link.click());
    },
    true,
  );
}
"""


@functools.cache
def _guard():
    return st.components.v2.component("parley.compose_guard", js=GUARD_JS)


def keep_on_leave(cid: int) -> None:
    """Under the box: a link pressed with unsent words in the box waits until they reached the server."""
    _guard()(data={"selector": f".st-key-{text_key(cid)} textarea"}, key=f"compose_guard_{cid}", height=0)


def text_key(cid: int) -> str:
    return f"compose_text_{cid}"


def template_key(cid: int) -> str:
    return f"compose_template_{cid}"


def chosen_key(cid: int) -> str:
    return f"compose_chosen_{cid}"


def chosen_template(cid: int):
    """The id of the template that goes with the message (None: free text)."""
    chosen = st.session_state.get(chosen_key(cid))
    return chosen[0] if chosen else None


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


# A rerun request carries every widget's value as the browser last had it. One asked while Send's
# run was under way (a live refresh, a row clicked) still held the box's text, and the server took
# it for the agent typing it back: the message just sent came back into the box and was kept as
# the draft, one click from going twice (seen in a loaded browser run). For this long after a send,
# the box coming back to exactly the text sent is that echo, not the agent: it stays empty.
ECHO_SECONDS = 5.0


def sent_key(cid: int) -> str:
    return f"compose_sent_{cid}"


def send_button_key(cid: int) -> str:
    return f"send_{cid}"


def box_changed(rt, user: User, cid: int) -> None:
    """The box's ``on_change``: keep what is written, unless it is the browser's echo of a send."""
    text = st.session_state.get(text_key(cid)) or ""
    just_sent = st.session_state.get(sent_key(cid))
    if just_sent and text.strip() and text == just_sent[0] and time.monotonic() - just_sent[1] < ECHO_SECONDS:
        st.session_state[text_key(cid)] = ""
        return
    if st.session_state.get(send_button_key(cid)) and text.strip():
        # Typed and sent in one click: Send's callback, next in this run, takes the text, and core
        # clears the draft with the message. Writing it first only queued a second write on the one
        # write path for every reply; Send keeps the text as the draft itself if it cannot send.
        return
    save_draft(rt, user, cid)


def save_draft(rt, user: User, cid: int) -> None:
    """Keep what the box holds as the draft (an empty box forgets the draft)."""
    text = st.session_state.get(text_key(cid)) or ""
    if not text.strip():
        st.session_state.pop(chosen_key(cid), None)  # an emptied box sends no template
    try:
        drafts.do_save_draft(rt.db, user, cid, text)
    except ParleyError as exc:
        st.session_state[notice_key(cid)] = ("error", str(exc))


def choose_template(rt, user: User, cid: int) -> None:
    """The template picker's ``on_change``: fill an empty box, or ask before touching typed text."""
    template_id = st.session_state.get(template_key(cid))
    if template_id is None:  # the picker back at its placeholder: nothing chosen, nothing to do
        return
    st.session_state[template_key(cid)] = None  # an action: the picker is ready for the next one
    st.session_state.pop(pending_key(cid), None)
    try:
        rendered = composing.render_template(rt.db, template_id, cid, viewer=user)
    except ParleyError as exc:
        st.session_state[notice_key(cid)] = ("error", str(exc))
        return
    typed = (st.session_state.get(text_key(cid)) or "").strip()
    chosen = st.session_state.get(chosen_key(cid))
    if not typed or (chosen and typed == chosen[1].strip()) or typed == rendered.text.strip():
        _put(rt, user, cid, template_id, rendered.text)  # nothing of the agent's own is replaced
    else:
        st.session_state[pending_key(cid)] = (template_id, rendered.text)


def _put(rt, user: User, cid: int, template_id, text: str) -> None:
    st.session_state[chosen_key(cid)] = (template_id, text)
    _set_text(rt, user, cid, text)


def _set_text(rt, user: User, cid: int, text: str) -> None:
    st.session_state[text_key(cid)] = text
    save_draft(rt, user, cid)


def answer(rt, user: User, cid: int, choice: str) -> None:
    """The agent's answer about a template and typed text: 'add', 'replace' or 'keep'."""
    pending = st.session_state.pop(pending_key(cid), None)
    if pending is None:
        return
    template_id, template_text = pending
    typed = (st.session_state.get(text_key(cid)) or "").rstrip()
    if choice == "add":
        st.session_state[chosen_key(cid)] = (template_id, template_text)
        _set_text(rt, user, cid, f"{typed}\n\n{template_text}")
    elif choice == "replace":
        _put(rt, user, cid, template_id, template_text)
    # keep: the text stays, and so does whatever template went with it before


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


def values_prefix(cid: int) -> str:
    return f"compose_var_{cid}_"


def typed_values(cid: int) -> dict[str, str]:
    """The template variables typed in under the box (those the contact has no value for)."""
    prefix = values_prefix(cid)
    return {k[len(prefix) :]: v for k, v in st.session_state.items() if str(k).startswith(prefix) and v}


def fill_values(rt, user: User, cid: int) -> None:
    """A value box's ``on_change``: the chosen template's text again, with what was typed in."""
    chosen = st.session_state.get(chosen_key(cid))
    if not chosen:
        return
    template_id, before = chosen
    try:
        rendered = composing.render_template(rt.db, template_id, cid, user, typed_values(cid))
    except ParleyError as exc:
        st.session_state[notice_key(cid)] = ("error", str(exc))
        return
    typed = st.session_state.get(text_key(cid)) or ""
    # The template's own text is replaced; text the agent added around it keeps its place.
    text = typed.replace(before, rendered.text) if before and before in typed else rendered.text
    st.session_state[chosen_key(cid)] = (template_id, rendered.text)
    _set_text(rt, user, cid, text)


def sent(cid: int, text: str) -> None:
    """After a send of ``text``: the box is empty (core cleared the draft with the send)."""
    st.session_state[sent_key(cid)] = (text, time.monotonic())
    for key in [k for k in st.session_state if str(k).startswith(values_prefix(cid))]:
        del st.session_state[key]
    st.session_state[text_key(cid)] = ""
    st.session_state[template_key(cid)] = None
    st.session_state.pop(chosen_key(cid), None)
    st.session_state.pop(pending_key(cid), None)
