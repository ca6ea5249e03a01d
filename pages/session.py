"""Who is signed in, and the frame around every page (sidebar, banner).

A sign-in stores the user id in ``st.session_state`` and queues a one-time
ticket; the next run hands the ticket to ``/auth/session`` from the browser,
which sets the signed HttpOnly cookie. On a reload the cookie (read through
``st.context.cookies``) restores the session.
"""

from __future__ import annotations

import json

import streamlit as st

from core import auth, queries
from core.auth import User
from core.runtime import Runtime

USER_KEY = "user_id"
PAGES_KEY = "nav.pages"


def pages() -> dict[str, st.Page]:
    """This session's pages by key, set by ui.py on every run: only what the role may open.

    Kept in the session, not in the module: every browser session has its own role."""
    return st.session_state.get(PAGES_KEY) or {}


def set_pages(by_key: dict[str, st.Page]) -> None:
    st.session_state[PAGES_KEY] = by_key


def current_user(rt: Runtime) -> User | None:
    user_id = st.session_state.get(USER_KEY)
    if user_id is None and not st.session_state.get("signed_out"):
        cookie = _cookie()
        user = auth.user_from_cookie(rt.db, cookie, rt.config.secret_key)
        if user is not None:
            st.session_state[USER_KEY] = user.id
            return user
        return None
    if user_id is None:
        return None
    user = auth.get_user(rt.db, user_id)
    if user is None or not user.active:
        st.session_state.pop(USER_KEY, None)
        return None
    return user


def _cookie() -> str | None:
    try:
        return st.context.cookies.get(auth.COOKIE_NAME)
    except Exception:  # no browser context (e.g. some test harnesses)
        return None


def needs_first_admin(rt: Runtime) -> bool:
    return queries.user_count(rt.db) == 0


def sign_in_as(user: User) -> None:
    st.session_state[USER_KEY] = user.id
    st.session_state.pop("signed_out", None)
    st.session_state["cookie_action"] = ("session", auth.tickets.issue(user.id))


def sign_out() -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    st.session_state["signed_out"] = True
    st.session_state["cookie_action"] = ("logout", "")


def render_pending_cookie_actions() -> None:
    """Run the queued cookie hand-off in the browser, once."""
    action = st.session_state.pop("cookie_action", None)
    if action is None:
        return
    kind, ticket = action
    url = "/auth/session" if kind == "session" else "/auth/logout"
    # After signing out, start afresh at the sign-in page once the cookie is gone
    # (no stale sidebar, no URL of a page the next user may not have).
    then = ".then(function (r) { if (r.ok) { window.location.replace('/'); } })" if kind == "logout" else ""
    st.html(
        f"<script>fetch({json.dumps(url)}, {{method: 'POST', body: {json.dumps(ticket)}, "
        "credentials: 'same-origin'})" + then + ";</script>",
        unsafe_allow_javascript=True,
    )


def render_frame(rt: Runtime, user: User) -> None:
    """Sidebar identity and sign-out, demo banner, live notifications."""
    from pages import layout, notify

    with st.sidebar:
        from pages.common import escape_md  # names are typed by people: shown as written, never as Markdown

        st.markdown(
            f"**{escape_md(user.display_name)}**  \n{auth.ROLE_LABELS[user.role]} · @{escape_md(user.username)}"
        )
        if st.button("Sign out", icon=":material/logout:", key="sign_out"):
            sign_out()
            st.rerun()
        if queries.workspace(rt.db).get("demo"):  # said once, in the sidebar, not above every page
            st.caption(
                "🧪 Demo workspace: the people and messages are made up; the built-in simulator plays the carrier."
            )
    layout.frame()
    notify.render(user)
