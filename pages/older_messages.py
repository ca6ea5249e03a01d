"""The thread's scrolling: it opens at its newest message, and older messages load at its top.

A small component of our own sits above the first message shown. It keeps
the thread at its newest message while the agent is there: when the
conversation opens, while its messages arrive and when a new one comes,
the thread jumps to its end at once. Streamlit's own autoscroll of a
chat container glides there over about 350 ms, after the messages were
already drawn: most of what an agent waited for between the click on a row
and the newest message in view (bench_desk), so the thread's container
turns it off (``autoscroll=False``).

Once the thread has been at its newest message and the agent has moved it
themselves (wheel, touch, keys or the scrollbar: not a thread still being
drawn), scrolling near its top or this line coming into view asks the
server for more (an ``older`` event),
once per length of thread; when the longer thread is drawn it puts the
message that was on top back where the agent was looking, so the thread
does not jump. Plain text only (``textContent``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import streamlit as st

from pages.session import guarded

JS = """
const STATE = "__parleyOlder";
const ASK_ZONE = 200; // px from the top of the thread where scrolling up asks for older messages

function threadArea(node) {
  // The thread's scroll area, the keyed container this component is drawn in (from inside the
  // component's shadow root, its host); it scrolls once its messages outgrow it.
  const root = node.getRootNode();
  const start = root && root.host ? root.host : node.parentElement;
  return start ? start.closest(".st-key-thread_box") : null;
}

function scroller(node) {
  // The thread's scroll area: the nearest ancestor (across the shadow root) that scrolls.
  let el = node.parentNode && node.parentNode.host ? node.parentNode.host : node.parentElement;
  while (el && el !== document.body) {
    const style = getComputedStyle(el);
    if (/(auto|scroll)/.test(style.overflowY) && el.scrollHeight > el.clientHeight) return el;
    el = el.parentElement;
  }
  return null;
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let state = parentElement[STATE];
  if (!state) {
    const row = document.createElement("div");
    row.className = "older";
    parentElement.appendChild(row);
    state = parentElement[STATE] = { row, asked: null, keep: null, observer: null, armed: false, area: null };
  }
  state.data = data;
  state.send = setTriggerValue;
  state.row.textContent = data.has_older ? "Loading older messages…" : data.first_text;
  state.row.classList.toggle("end", !data.has_older);
  const area = threadArea(state.row) || scroller(state.row);
  // A longer thread was drawn: keep the message that was on top where it was.
  if (state.keep && area && data.shown > state.keep.shown) {
    area.scrollTop = area.scrollHeight - state.keep.fromBottom;
    state.keep = null;
  }
  if (state.observer) state.observer.disconnect();
  if (!area) return;
  const ask = () => {
    const now = state.data;
    // Only once the agent has moved the thread themselves (wheel, touch, keys, the scrollbar): a
    // busy server's long thread, streamed in batches, once brought this line into view with no
    // one scrolling, and 74 older messages loaded by themselves (a loaded browser-suite run).
    if (!state.touched) return;
    if (!state.armed || !now.has_older || state.asked === now.shown) return; // one request per length
    state.asked = now.shown;
    state.keep = { shown: now.shown, fromBottom: area.scrollHeight - area.scrollTop };
    state.send("older", now.shown);
  };
  // Armed once the thread has been at its newest message (Streamlit scrolls it there on open):
  // the way down is not "the agent scrolled up". Then near the top a scroll asks, and so does
  // this line coming into view (the observer), whichever comes first.
  // Armed only at an end that lies well below the asking zone: while a long thread is still
  // streaming in (a busy server sends it in several batches), its end is for a moment a few
  // hundred pixels down, and the next batch moves it on: that is not the agent scrolling up.
  const atEnd = () =>
    area.scrollTop + area.clientHeight >= area.scrollHeight - 40 && area.scrollTop > ASK_ZONE + area.clientHeight;
  if (state.area !== area) {
    state.area = area;
    // At its newest message while the agent is there: a conversation opens there, and it stays
    // there as messages are drawn, images load and new messages come, until the agent scrolls up
    // (and again once they scroll back down). Set before the frame is painted, so no glide.
    state.stick = true;
    const toEnd = () => {
      if (!state.stick || area.scrollTop + area.clientHeight >= area.scrollHeight) return;
      area.scrollTop = area.scrollHeight;
      state.ours = area.scrollTop; // the scroll event of this jump is not the agent scrolling
    };
    new MutationObserver(toEnd).observe(area, { childList: true, subtree: true });
    const grown = new ResizeObserver(toEnd);
    grown.observe(area);
    for (const child of area.children) grown.observe(child);
    // Already at the top when first touched (a wheel there scrolls nothing, and the line came
    // into view before): that is the agent asking too.
    const touched = () => {
      state.touched = true;
      if (area.scrollTop < ASK_ZONE) ask();
    };
    for (const kind of ["wheel", "touchstart", "pointerdown", "keydown"]) {
      area.addEventListener(kind, touched, { passive: true });
    }
    area.addEventListener("scroll", () => {
      // Our own jump's event comes a frame later, when the thread may have shrunk meanwhile (the
      // composer's banners drawn below it): that is not the agent leaving the end.
      if (area.scrollTop !== state.ours) state.stick = area.scrollTop + area.clientHeight >= area.scrollHeight - 40;
      if (atEnd()) state.armed = true;
      else if (area.scrollTop < ASK_ZONE) ask();
    });
    toEnd();
  }
  if (atEnd()) state.armed = true;
  if (!data.has_older) return;
  state.observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) ask();
  }, { root: area, rootMargin: "200px 0px 0px 0px" });
  state.observer.observe(state.row);
}
"""

CSS = """
.older { font: 0.8rem var(--st-font, sans-serif); color: var(--st-text-color, #31333f); opacity: 0.6;
         text-align: center; padding: 4px 0 8px; }
"""


@functools.cache
def _component():
    return st.components.v2.component("parley.older_messages", js=JS, css=CSS)


def _on_older(on_more: Callable[[], None]) -> None:
    on_more()


def older_messages(key: str, *, shown: int, has_older: bool, on_more: Callable[[], None]) -> None:
    """Above the thread: loads more when scrolled into view; at the start of the conversation, says so."""
    _component()(
        key=key,
        data={"shown": shown, "has_older": has_older, "first_text": "The conversation starts here."},
        on_older_change=guarded(functools.partial(_on_older, on_more)),
        height="content",
    )
