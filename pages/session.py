"""Who is signed in, and the frame around every page (sidebar, banner).

A sign-in starts a session in the database (``core.sessions``), keeps its id
in ``st.session_state`` and queues a one-time ticket; the next run hands the
ticket to ``/auth/session`` from the browser, which sets the HttpOnly
cookie. On a reload the cookie (read through ``st.context.cookies``)
restores the session. Every page run checks the session again, so a
sign-out elsewhere, a password reset or a disabled account ends this tab
too; widget callbacks go through ``guarded`` so a tab whose session ended
cannot act before its next run shows the sign-in form, and every fragment and
dialog (which Streamlit runs on their own, without ui.py) starts with
``fragment_user``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import streamlit as st

from core import auth, queries, runtime, sessions
from core.actions import sessions as session_actions
from core.auth import User
from core.runtime import Runtime
from pages.text import md

SESSION_KEY = "auth.session"  # the live session's id; the browser holds only the cookie
PAGES_KEY = "nav.pages"


def pages() -> dict[str, st.Page]:
    """This session's pages by key, set by ui.py on every run: only what the role may open.

    Kept in the session, not in the module: every browser session has its own role."""
    return st.session_state.get(PAGES_KEY) or {}


def set_pages(by_key: dict[str, st.Page]) -> None:
    st.session_state[PAGES_KEY] = by_key


CHECKED_KEY = "auth.checked_this_run"  # (session id, user) that ui.py checked for the page it runs


def current_user(rt: Runtime) -> User | None:
    """The user of this tab's live session, or None.

    Checked in the database, except in a page script that ui.py runs: ui.py has just
    checked the session in the same script run and hands its answer over (``hand_to_page``),
    so a page run costs one session check, not two (about 10 ms of a page run with 25
    agents and 200 webhooks a second, issue 17).
    """
    s = st.session_state
    handed = s.pop(CHECKED_KEY, None)
    if handed is not None and handed[0] == s.get(SESSION_KEY):
        return handed[1]
    return check_user(rt)


def hand_to_page(user: User) -> None:
    """ui.py, right before it runs the page: the session it checked this run, for the page's ``current_user``."""
    st.session_state[CHECKED_KEY] = (st.session_state.get(SESSION_KEY), user)


def check_user(rt: Runtime) -> User | None:
    """The user of this tab's live session, checked in the database now, or None."""
    s = st.session_state
    s.pop(CHECKED_KEY, None)  # whatever a page did not take is not this run's
    session_id = s.get(SESSION_KEY)
    if session_id is not None:
        user = sessions.check(rt.db, session_id)
        if user is None:  # ended elsewhere (sign out everywhere, reset, disabled) or idle too long
            _forget()
        return user
    if s.get("signed_out"):
        return None
    found = sessions.from_cookie(rt.db, _cookie(sessions.COOKIE_NAME), rt.config.secret_key)
    if found is None:
        return None
    user, session_id = found
    s[SESSION_KEY] = session_id
    return user


def checked_this_run() -> bool:
    """Is this a whole run of the app, which ui.py starts with ``check_user``? False in a
    fragment's run of its own (Streamlit runs only the fragment, so it must check for itself)
    and outside a script run. For what ui.py draws around every page (``render_frame``)."""
    # Streamlit's run context is not public API; requirements.txt pins the version it is read from.
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx is not None and not ctx.fragment_ids_this_run


def fragment_user(rt: Runtime, user: User) -> User:
    """The user a fragment or dialog draws for, its session checked as a whole run checks it.

    ``user``: the one the page had when it drew the fragment. In a whole run ui.py has just checked
    the session and found it, so it is returned as it is. A fragment's run of its own (a widget
    inside it, its live watcher, ``run_every``; a dialog's widgets) runs no ui.py: the session is
    checked here, one read by primary key that does not count as a visit (the live fragments
    only look). If it has ended (signed out here or everywhere, password reset, account disabled,
    idle too long), is someone else's, or the role changed, the whole app runs instead: it shows
    the sign-in form, or the pages of the new role, and the fragment reads and draws nothing.
    Otherwise the user as the database has them now (a new name or time zone shows at once).
    """
    if checked_this_run():
        return user
    checked = sessions.check(rt.db, st.session_state.get(SESSION_KEY), touch=False)
    if checked is None or checked.id != user.id or checked.role != user.role:
        st.rerun()
    return checked


def live(rt: Runtime | None = None, *, activity: bool = False) -> bool:
    """Is this tab's session still live?

    ``activity``: a person did something (a widget callback), which counts as a visit; the
    live fragments that ask every few seconds only look, so an open tab alone goes idle.
    """
    rt = rt or runtime.current()
    return sessions.check(rt.db, st.session_state.get(SESSION_KEY), touch=activity) is not None


def guarded(callback: Callable[..., Any]) -> Callable[..., Any]:
    """A widget callback that runs only while this tab's session is live.

    Streamlit runs callbacks before the page script, so without this a tab
    whose session just ended (signed out elsewhere, account disabled) could
    still act once; the run that follows shows the sign-in form.
    """

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        if not live(activity=True):
            return None
        return callback(*args, **kwargs)

    return run


def _text(read: Callable[[], Any]) -> str | None:
    """A value of ``st.context`` if it is text (None without a browser, e.g. under AppTest)."""
    try:
        value = read()
    except Exception:
        return None
    return value if isinstance(value, str) else None


def _cookie(name: str) -> str | None:
    return _text(lambda: st.context.cookies.get(name))


def _header(name: str) -> str | None:
    return _text(lambda: st.context.headers.get(name))


def source(rt: Runtime) -> str:
    """The signing-in browser's address, as ``core.auth`` throttles and audits it.

    ``st.context.ip_address`` is the websocket's peer (None for this machine);
    behind a trusted proxy its ``X-Forwarded-For`` says who the peer served.
    """
    forwarded = _header("X-Forwarded-For")
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    return auth.source_address(_text(lambda: st.context.ip_address), headers, trust_proxy=rt.config.trust_proxy)


def session_cookie() -> str | None:
    """The session cookie this browser sent (set once the sign-in ticket was traded)."""
    return _cookie(sessions.COOKIE_NAME)


def device_token() -> str | None:
    """This browser's device cookie: it has signed in here before (see ``core.sessions``)."""
    return _cookie(sessions.DEVICE_COOKIE_NAME)


def needs_first_admin(rt: Runtime) -> bool:
    return queries.user_count(rt.db) == 0


def sign_in_as(rt: Runtime, user: User) -> None:
    """Start a new session for a user who just proved who they are (rotating out this browser's old one)."""
    s = st.session_state
    replaces = [s.get(SESSION_KEY)]
    old_cookie = sessions.parse_cookie(_cookie(sessions.COOKIE_NAME), rt.config.secret_key)
    if old_cookie is not None:
        replaces.append(old_cookie[0])
    started = sessions.start(
        rt.db,
        user.id,
        rt.config.secret_key,
        user_agent=_header("User-Agent"),
        source=source(rt),
        device_token=device_token(),
        replaces=[r for r in replaces if r is not None],
    )
    s[SESSION_KEY] = started.session_id
    s.pop("signed_out", None)
    s["cookie_action"] = ("session", auth.tickets.issue(auth.Ticket(started.cookie, started.device_token)))


def _forget() -> None:
    """Drop everything this tab knew about the signed-in user, and the browser's cookie."""
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    st.session_state["signed_out"] = True
    st.session_state["cookie_action"] = ("logout", "")


def sign_out(user: User | None = None, *, everywhere: bool = False) -> None:
    rt = runtime.current()
    session_id = st.session_state.get(SESSION_KEY)
    if everywhere and user is not None:
        session_actions.do_end_all_sessions(rt.db, user, user.id, reason=sessions.SIGNED_OUT_EVERYWHERE)
    elif session_id is not None:
        sessions.end(rt.db, session_id)
    _forget()


def render_pending_cookie_actions() -> None:
    """Run the queued cookie hand-off in the browser, once.

    Its slot is drawn on every run, empty when nothing is pending: the hand-off's script used to be
    an element only the first signed-in run had, so the next run of the page had another shape
    before the page. The browser then drew every block after it anew (the row list lost its ticks)
    and each fragment got a new id (ids hash their place), so a tick sent from the list the first
    run drew named a fragment the server no longer had, and was dropped (issue 19).
    """
    slot = st.empty()
    action = st.session_state.pop("cookie_action", None)
    if action is None:
        return
    kind, ticket = action
    url = "/auth/session" if kind == "session" else "/auth/logout"
    # After signing out, start afresh at the sign-in page once the cookie is gone
    # (no stale sidebar, no URL of a page the next user may not have).
    then = ".then(function (r) { if (r.ok) { window.location.replace('/'); } })" if kind == "logout" else ""
    slot.html(
        f"<script>fetch({json.dumps(url)}, {{method: 'POST', body: {json.dumps(ticket)}, "
        "credentials: 'same-origin'})" + then + ";</script>",
        unsafe_allow_javascript=True,
    )


def _sign_out_clicked(user_id: int, everywhere: bool) -> None:
    rt = runtime.current()
    sign_out(auth.get_user(rt.db, user_id), everywhere=everywhere)


def render_frame(rt: Runtime, user: User) -> None:
    """Sidebar identity and sign-out, demo banner, live notifications."""
    from pages import blank_guard, layout, notify

    with st.sidebar:
        # Names are typed by people: shown as written, never as Markdown.
        st.markdown(
            md(
                "**{name}**  \n{role} · @{username}",
                name=user.display_name,
                role=auth.ROLE_LABELS[user.role],
                username=user.username,
            )
        )
        row = st.container(horizontal=True)
        row.button(
            "Sign out",
            icon=":material/logout:",
            key="sign_out",
            on_click=guarded(_sign_out_clicked),
            args=(user.id, False),
        )
        row.button(
            "Sign out everywhere",
            icon=":material/devices:",
            key="sign_out_everywhere",
            type="tertiary",
            help="End every session of yours: other browsers, phones and tabs must sign in again.",
            on_click=guarded(_sign_out_clicked),
            args=(user.id, True),
        )
        if queries.workspace(rt.db).get("demo"):  # said once, in the sidebar, not above every page
            st.caption(
                "🧪 Demo workspace: the people and messages are made up; the built-in simulator plays the carrier."
            )
        blank_guard.render()  # in the sidebar: ui.py's elements are what a wiped page keeps
    layout.frame()
    notify.render(user)
