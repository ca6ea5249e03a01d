"""Bulk actions on a list's ticked rows: the buttons, their callbacks, the questions they ask.

The selection is kept per list in session state (``<key>.sel``: conversation
ids, ``<key>.sel_rows``: the rows ticked), set by the row list's events
(``pages.row_list``). Actions are callbacks that read it, call
``core.actions`` (which authorises and validates everything again) and leave
a toast or an error sentence for the next run, so tests can drive them
without clicking inside a dialog.

A question an action asks (confirm changing another agent's read state,
choose whom to assign to) is a dialog opened by the whole page
(``dialogs``), never by a live fragment: a fragment that re-renders a
dialog every few seconds races its dismissal.
"""

from __future__ import annotations

from collections.abc import MutableMapping

import streamlit as st

from core.actions.conversations import ConfirmationRequired, do_assign, do_set_read_state, do_set_status
from core.auth import get_user
from core.errors import ParleyError, PermissionDenied, ValidationError
from core.permissions import require_admin
from pages.format import plural
from pages.session import fragment_user, guarded
from pages.text import esc, md

LIST_KEYS = ("mine", "team", "sent")


def _state(state: MutableMapping | None) -> MutableMapping:
    return st.session_state if state is None else state


# ---- the selection ---------------------------------------------------------------------------


def selected(key: str, state: MutableMapping | None = None) -> list[int]:
    """The conversation ids the ticked rows stand for."""
    return list(_state(state).get(f"{key}.sel") or [])


def select_rows(key: str, row_ids: list, open_ids: dict, state: MutableMapping | None = None) -> None:
    """Tick exactly ``row_ids`` (rows not on the page are dropped); ``open_ids``: row id → conversation id."""
    s = _state(state)
    rows = [r for r in dict.fromkeys(row_ids) if r in open_ids]
    s[f"{key}.sel_rows"] = rows
    s[f"{key}.sel"] = list(dict.fromkeys(open_ids[r] for r in rows if open_ids[r] is not None))


def clear_selection(key: str, state: MutableMapping | None = None) -> None:
    """Untick everything, here and in the browser (a new epoch resets the row list's ticks)."""
    s = _state(state)
    s[f"{key}.sel"] = []
    s[f"{key}.sel_rows"] = []
    s[f"{key}.sel_epoch"] = s.get(f"{key}.sel_epoch", 0) + 1
    s.pop(f"{key}.cache", None)  # re-query now (close/reopen do not bump the owner's version)


def _done(key: str, message: str, s: MutableMapping) -> None:
    s[f"{key}.flash"] = message
    s.pop(f"{key}.error", None)
    clear_selection(key, s)


# ---- the actions (callbacks) ---------------------------------------------------------------------


def bulk_action(key: str, user_id: int, action: str, state: MutableMapping | None = None) -> None:
    """Mark read/unread, close or reopen the selected conversations, or ask whom to assign them to."""
    from core import runtime

    s = _state(state)
    rt = runtime.current()
    user = get_user(rt.db, user_id)
    ids = selected(key, s)
    cancel_pending(key, s)  # one question at a time
    try:
        if user is None or not user.active:
            raise PermissionDenied("Your account is no longer active; sign in again.")
        if action in ("read", "unread"):
            n = do_set_read_state(rt.db, user, ids, read=action == "read")
            _done(key, f"Marked {plural(n, 'conversation')} {action}.", s)
        elif action in ("close", "reopen"):
            n = do_set_status(rt.db, user, ids, closed=action == "close")
            verb = "Closed" if action == "close" else "Reopened"
            _done(
                key,
                f"{verb} {plural(n, 'conversation')}."
                if n
                else f"Those conversations were already {'closed' if action == 'close' else 'open'}.",
                s,
            )
        elif action == "assign":
            require_admin(user, "assign conversations")
            if not ids:
                raise ValidationError("Select at least one conversation first.")
            s[f"{key}.assign"] = {"ids": ids}
            s[f"{key}.ask"] = True
        else:
            raise ValidationError(f"“{action}” is not something Parley can do to conversations.")
    except ConfirmationRequired as exc:
        s[f"{key}.confirm"] = {"ids": ids, "read": action == "read", "owners": list(exc.owners)}
        s[f"{key}.ask"] = True
    except ParleyError as exc:
        s[f"{key}.error"] = str(exc)


def confirm_read_state(key: str, user_id: int, state: MutableMapping | None = None) -> None:
    """The admin confirmed changing another agent's read state."""
    from core import runtime

    s = _state(state)
    pending = s.pop(f"{key}.confirm", None)
    if not pending:
        return
    rt = runtime.current()
    try:
        n = do_set_read_state(rt.db, get_user(rt.db, user_id), pending["ids"], read=pending["read"], confirmed=True)
    except ParleyError as exc:
        s[f"{key}.error"] = str(exc)
        return
    state_word = "read" if pending["read"] else "unread"
    _done(key, f"Marked {plural(n, 'conversation')} {state_word} for {names(pending['owners'])}.", s)


def assign_selected(key: str, user_id: int, state: MutableMapping | None = None) -> None:
    """Assign the pending conversations to the agent chosen in the dialog."""
    from core import runtime

    s = _state(state)
    pending = s.get(f"{key}.assign")
    if not pending:
        return
    rt = runtime.current()
    to_id = s.get(f"{key}.assign_to")
    try:
        n = do_assign(rt.db, get_user(rt.db, user_id), pending["ids"], to_id)
    except ParleyError as exc:
        s[f"{key}.dialog_error"] = str(exc)
        return
    s.pop(f"{key}.assign", None)
    s.pop(f"{key}.assign_to", None)
    to_user = get_user(rt.db, int(to_id))
    _done(
        key,
        f"Assigned {plural(n, 'conversation')} to {to_user.display_name}."
        if n
        else f"Those conversations already belong to {to_user.display_name}.",
        s,
    )


def cancel_pending(key: str, state: MutableMapping | None = None) -> None:
    s = _state(state)
    for what in ("confirm", "assign", "dialog_error"):
        s.pop(f"{key}.{what}", None)


def names(people: list[str]) -> str:
    return people[0] if len(people) == 1 else ", ".join(people[:-1]) + " and " + people[-1]


# ---- the questions (dialogs) ------------------------------------------------------------------


def _dismissed() -> None:
    """The dialog's X, Esc or a click outside: forget the question (else the live list re-asks it)."""
    for key in LIST_KEYS:
        cancel_pending(key)


@st.dialog("Change another agent's read state?", on_dismiss=guarded(_dismissed))
def _confirm_dialog(key: str, user) -> None:
    from core import runtime

    user_id = fragment_user(runtime.current(), user).id
    pending = st.session_state.get(f"{key}.confirm")
    if not pending:
        st.rerun()
    state = "read" if pending["read"] else "unread"
    n = len(pending["ids"])
    st.markdown(
        md(
            "This marks {count} **{state}** in {owners}'s inbox{es}. They will see {them} as {state}.",
            count=plural(n, "conversation"),
            state=state,
            owners=names(pending["owners"]),
            es="es" if len(pending["owners"]) > 1 else "",
            them="it" if n == 1 else "them",
        )
    )
    row = st.container(horizontal=True)
    row.button(
        "Confirm", type="primary", key=f"{key}.confirm_yes", on_click=guarded(confirm_read_state), args=(key, user_id)
    )
    row.button("Cancel", key=f"{key}.confirm_no", on_click=guarded(cancel_pending), args=(key,))


def member_label(member: dict) -> str:
    """'María López (@maria) · admin'."""
    return f"{member['display_name']} (@{member['username']})" + (" · admin" if member["role"] == "admin" else "")


@st.dialog("Assign conversations", on_dismiss=guarded(_dismissed))
def _assign_dialog(key: str, user) -> None:
    from core import queries, runtime

    rt = runtime.current()
    user = fragment_user(rt, user)  # picking an agent reruns only the dialog
    user_id = user.id
    pending = st.session_state.get(f"{key}.assign")
    if not pending:
        st.rerun()
    try:
        members = queries.team_members(rt.db, user)
    except ParleyError as exc:
        st.error(esc(exc))
        return
    labels = {m["id"]: member_label(m) for m in members}
    st.selectbox(
        "Assign to",
        list(labels),
        format_func=labels.get,
        index=None,
        placeholder="Choose an agent",
        key=f"{key}.assign_to",
    )
    n = len(pending["ids"])
    st.caption(
        md(
            "{count} will move to the chosen agent's inbox as unread, and they will be notified.",
            count=plural(n, "conversation"),
        )
    )
    if st.session_state.get(f"{key}.dialog_error"):
        st.error(esc(st.session_state[f"{key}.dialog_error"]))
    row = st.container(horizontal=True)
    row.button(
        "Assign",
        type="primary",
        key=f"{key}.assign_yes",
        on_click=guarded(assign_selected),
        args=(key, user_id),
        disabled=st.session_state.get(f"{key}.assign_to") is None,
    )
    row.button("Cancel", key=f"{key}.assign_no", on_click=guarded(cancel_pending), args=(key,))


def feedback(key: str) -> None:
    """Inside a live list: the toast or error of the last action; a question reruns the page to ask it."""
    s = st.session_state
    if s.pop(f"{key}.ask", False):
        st.rerun()  # the whole page, which opens the dialog (same page: no navigation)
    if s.get(f"{key}.flash"):
        st.toast(esc(s.pop(f"{key}.flash")), icon="✅")
    slot = st.empty()  # one place on every run, like the "selected" count in ``action_buttons``
    if s.get(f"{key}.error"):
        slot.error(esc(s.pop(f"{key}.error")))


def dialogs(key: str, user) -> None:
    """Outside the live fragment: the dialog the last action asked for, if any."""
    s = st.session_state
    s.pop(f"{key}.ask", None)
    if s.get(f"{key}.confirm"):
        _confirm_dialog(key, user)
    elif s.get(f"{key}.assign"):
        _assign_dialog(key, user)


def action_buttons(key: str, user_id: int, actions: list[tuple[str, str, str]], container=None) -> None:
    """A row of bulk-action buttons: (action, label, material icon)."""
    n = len(selected(key))
    row = container or st.container(horizontal=True, vertical_alignment="center", width="content")
    for action, label, icon in actions:
        row.button(
            esc(label),
            key=f"{key}.act.{action}",
            icon=icon,
            disabled=n == 0,
            help=None if n else "Tick one or more rows first.",
            on_click=guarded(bulk_action),
            args=(key, user_id, action),
        )
    # Drawn with nothing ticked too (empty), so the row keeps its shape and nothing the live list
    # drew has to be taken away again: under load the browser once kept the "2 selected" of an
    # earlier run after Mark read had cleared the ticks (a fragment that does not tick never
    # redrew it), with every button greyed out beside it.
    row.caption(md("{n} selected", n=f"{n:,}") if n else md(""), width="content")
