"""Live notifications on every page: the unread count in the tab title, and toasts.

The browser opens ONE ``EventSource`` to ``/api/notifications`` per tab
(``window.parleyNotify`` guards reruns); it keeps delivering while the tab is
in the background, where timers are throttled. Notice text is inserted with
``textContent``; the only values written into the script are integers.

A small fragment backs it up from the server side: it re-renders the script
with the current unread count (so the title follows even without the
stream) and, when this browser session has no sign-in cookie the stream
could use (just signed in), shows new notices with ``st.toast`` instead.
It also shows the sign-in form once the tab's session ended (signed out
here or elsewhere, expired, disabled).

The fragment does not tick: a fragment run costs the server a script thread
and a redraw, and ten open tabs ticking every two seconds took the CPU that
webhooks needed (issue 18). It draws a watcher (``pages/live_watch.py``)
that asks ``/api/notifications/version`` every two seconds (a dictionary
read after the cookie check) and reruns the fragment only when what it shows
moved (``ChangeFeed.notify_version``: this user's unread count or notices),
when the cookie's session ended, or when the cookie went away.
"""

from __future__ import annotations

import streamlit as st

from core import queries, runtime
from core.auth import User
from pages.text import esc

SCRIPT = """<script>
(function () {
  var uid = %(uid)d, unread = %(unread)d, version = %(version)d, jsToasts = %(js_toasts)d;
  var P = window.parleyNotify;
  if (P && P.uid !== uid) { P.close(); P = null; }
  if (!P) {
    P = window.parleyNotify = {uid: uid, unread: unread, version: version, es: null, seen: 0, toasts: jsToasts};
    P.apply = function () {
      var t = P.unread > 0 ? "(" + P.unread + ") Parley" : "Parley";
      if (document.title !== t) { document.title = t; }
    };
    P.toast = function (notice) {
      var box = document.getElementById("parley-toasts");
      if (!box) {
        box = document.createElement("div");
        box.id = "parley-toasts";
        box.style.cssText = "position:fixed;top:60px;right:16px;z-index:1000000;display:flex;" +
          "flex-direction:column;gap:8px;max-width:360px;";
        document.body.appendChild(box);
      }
      var el = document.createElement("div");
      el.setAttribute("role", "status");
      el.className = "parley-toast";
      el.title = "Click to open";
      el.style.cssText = "background:#fff;color:#31333f;border:1px solid rgba(49,51,63,.2);" +
        "border-left:4px solid #1c83e1;border-radius:8px;padding:10px 14px;cursor:pointer;" +
        "box-shadow:0 4px 14px rgba(0,0,0,.15);font:15px/1.4 'Source Sans',sans-serif;";
      el.textContent = "\\uD83D\\uDD14 " + String(notice.text || "");
      var cid = parseInt(notice.conversation_id, 10);
      el.onclick = function () {
        el.remove();
        if (cid > 0) {
          // Open it the way Back/Forward do (no reload): Streamlit stops this page's timers first.
          var base = window.location.pathname.replace(/\\/[^/]*$/, "");
          window.history.pushState(null, "", base + "/conversation?id=" + cid);
          window.dispatchEvent(new PopStateEvent("popstate", {state: null}));
        }
      };
      box.appendChild(el);
      var hide = function () { setTimeout(function () { el.remove(); }, 6000); };
      if (document.hidden) {
        document.addEventListener("visibilitychange", function once() {
          if (!document.hidden) { document.removeEventListener("visibilitychange", once); hide(); }
        });
      } else { hide(); }
    };
    // The conversation this tab shows, if any: its new messages appear in the thread itself,
    // so announcing them as news from elsewhere would only mislead.
    P.viewing = function () {
      if (!/\\/conversation$/.test(window.location.pathname)) { return 0; }
      return parseInt(new URLSearchParams(window.location.search).get("id"), 10) || 0;
    };
    P.connect = function () {
      var es = new EventSource("/api/notifications" + (P.seen ? "?after=" + P.seen : ""));
      P.es = es;
      es.onmessage = function (ev) {
        var data;
        try { data = JSON.parse(ev.data); } catch (e) { return; }
        if (typeof data.unread === "number") {
          P.unread = data.unread;
          if (typeof data.version === "number") { P.version = data.version; }
          P.apply();
        }
        (data.notices || []).forEach(function (n) {
          if (n.id <= P.seen) { return; }
          P.seen = n.id;
          var here = n.kind === "message" && parseInt(n.conversation_id, 10) === P.viewing();
          if (P.toasts && !here) { P.toast(n); }
        });
      };
      es.onerror = function () {
        // A refused stream (e.g. the sign-in cookie is not set yet) closes for good: retry.
        if (es.readyState === 2 && window.parleyNotify === P) { P.retry = setTimeout(P.connect, 5000); }
      };
    };
    P.close = function () {
      if (P.es) { P.es.close(); }
      clearInterval(P.timer); clearTimeout(P.retry);
      window.parleyNotify = null;
      document.title = "Parley";
    };
    // Streamlit resets the title on reruns and page changes: keep ours.
    P.timer = setInterval(P.apply, 500);
    P.connect();
  }
  // A run of the fragment counted at an older version than the stream's last count (it began
  // before a change the stream already told) must not put the old count back: the stream sends a
  // count only when it changed, so the title would stay wrong until the watcher's next rerun.
  if (version >= P.version) { P.unread = unread; P.version = version; }
  P.toasts = jsToasts;
  P.apply();
})();
</script>"""

STOP_SCRIPT = "<script>if (window.parleyNotify) { window.parleyNotify.close(); }</script>"


VIEWING_KEY = "notify.viewing"
WATCH_KEY = "notify_watch"
VERSION_URL = "/api/notifications/version"  # routes.notifications_version


def viewing(conversation_id: int | None) -> None:
    """The conversation page says which conversation it shows: its new messages are no news."""
    st.session_state[VIEWING_KEY] = conversation_id


def render(user: User) -> None:
    """Called by ``session.render_frame`` on every page of a signed-in user (before the page runs)."""
    viewing(None)  # the conversation page, if that is what runs next, says so again
    with st.sidebar:
        _live(user)


def stop() -> None:
    """After signing out in this tab: close the stream and reset the title."""
    if st.session_state.get("signed_out"):
        st.html(STOP_SCRIPT, unsafe_allow_javascript=True)


def _has_cookie() -> bool:
    from pages import session

    return bool(session.session_cookie())


@st.fragment
def _live(user: User) -> None:
    from pages import live_watch, session

    rt = runtime.current()
    # On its own (every few seconds): signed out elsewhere, disabled, idle too long? Then the whole
    # app runs and shows the sign-in form. In a whole run ui.py has just checked.
    user_id = session.fragment_user(rt, user).id
    s = st.session_state
    version = rt.feed.notify_version(user_id)  # read first: a change while this runs reruns it again
    cached = s.get("notify.unread")
    if cached is None or cached[0] != version:
        cached = (version, int(queries.unread_count(rt.db, user_id)))
        s["notify.unread"] = cached
    js_toasts = _has_cookie()
    if "notify.after" not in s:
        s["notify.after"] = rt.feed.last_notice_id()  # only what happens from now on
    notices = rt.feed.notices_for(user_id, s["notify.after"])
    if notices:
        s["notify.after"] = notices[-1].id
        if not js_toasts:
            viewing = s.get(VIEWING_KEY)
            news = [n for n in notices if not (n.kind == "message" and n.conversation_id == viewing)]
            for notice in news[-3:]:
                st.toast(esc(notice.text), icon="🔔", duration="long")
    st.html(
        SCRIPT % {"uid": int(user_id), "unread": cached[1], "version": int(version), "js_toasts": int(js_toasts)},
        unsafe_allow_javascript=True,
    )
    live_watch.watch(WATCH_KEY, f"{VERSION_URL}?user={int(user_id)}", version, signed_out=True)
