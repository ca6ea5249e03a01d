"""What the admin pages (and Templates, Campaigns) share: who may open them, feedback after an action.

Pages are UI only: every check is made again in ``core`` (an admin page's
reads and actions call ``permissions.require_admin`` there). Refusing here
only spares a non-admin a page of errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from core import runtime
from core.auth import User
from core.errors import ParleyError
from core.runtime import Runtime
from pages import session
from pages.text import esc


def page_user(*, admin: bool = False) -> tuple[Runtime, User]:
    """The runtime and the signed-in user; stops the page for nobody, or a non-admin on an admin page."""
    rt = runtime.current()
    user = session.current_user(rt)
    if user is None:
        st.stop()
    if admin and not user.is_admin:
        st.error("Only admins can open this page.")
        st.stop()
    return rt, user


def act(key: str, fn: Callable[..., Any], *args: Any, done: str | Callable[[Any], str] | None = None, **kwargs: Any):
    """Run a core action from a callback: keep its sentence for the next run (success or refusal)."""
    try:
        result = fn(*args, **kwargs)
    except ParleyError as exc:
        st.session_state[f"{key}.error"] = str(exc)
        st.session_state.pop(f"{key}.flash", None)
        return None
    st.session_state.pop(f"{key}.error", None)
    if done is not None:
        st.session_state[f"{key}.flash"] = done(result) if callable(done) else done
    return result


def if_still_chosen(key: str, chooser: str, drawn: Any, changed: str, action: Callable[[], Any]) -> Callable[[], None]:
    """A button's callback that acts on what its form belonged to when it was drawn: ``drawn``, the
    value of the ``chooser`` widget (a user, a number) in that run. Another one chosen and the
    button clicked before the page redrew reach the server in one rerun, and the page then shows
    the new choice with the old one's form: acting on either would surprise the person. Nothing is
    done; ``changed`` (one sentence) says so."""

    def callback() -> None:
        if st.session_state.get(chooser) != drawn:
            st.session_state[f"{key}.error"] = changed
            st.session_state.pop(f"{key}.flash", None)
            return
        action()

    return callback


def feedback(key: str) -> None:
    """The last action's outcome: a toast when it worked, the refusal's sentence when not.

    Drawn into a slot that is there on every run: an error appearing or going must not shift what follows,
    or Streamlit redraws the tabs below as new elements (the open tab jumps back to the first)."""
    slot = st.container()
    if st.session_state.get(f"{key}.flash"):
        slot.toast(esc(st.session_state.pop(f"{key}.flash")), icon="✅")
    if st.session_state.get(f"{key}.error"):
        slot.error(esc(st.session_state.pop(f"{key}.error")))


def refusal(exc: ParleyError) -> None:
    st.error(esc(str(exc)))
