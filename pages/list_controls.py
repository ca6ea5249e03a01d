"""What sits above a list: the name-or-number search box and the pager.

State per list in session state: ``<key>.q`` (the search that ran),
``<key>.q_input`` (what is typed), ``<key>.page`` (0-based). Searching,
clearing and turning a page drop the selection (``pages.bulk``).
"""

from __future__ import annotations

import streamlit as st

from pages.bulk import clear_selection
from pages.session import guarded
from pages.text import md


def reset_paging(key: str) -> None:
    st.session_state[f"{key}.page"] = 0
    clear_selection(key)


def _run_search(key: str) -> None:
    st.session_state[f"{key}.q"] = (st.session_state.get(f"{key}.q_input") or "").strip()
    reset_paging(key)


def _clear_search(key: str) -> None:
    st.session_state[f"{key}.q"] = ""
    st.session_state[f"{key}.q_input"] = ""
    reset_paging(key)


def search_box(key: str, container=None, placeholder: str = "Search name or number") -> str:
    """Name or number search: Enter or the button runs it; Clear restores the list."""
    box = container or st.container(horizontal=True, vertical_alignment="center", width="content")
    with box.form(f"{key}.search", border=False, enter_to_submit=True, width="content"):
        row = st.container(horizontal=True, vertical_alignment="center", gap="small", width="content")
        row.text_input(
            "Search",
            key=f"{key}.q_input",
            placeholder=placeholder,
            label_visibility="collapsed",
            max_chars=100,
            width=260,
        )
        row.form_submit_button("Search", icon=":material/search:", on_click=guarded(_run_search), args=(key,))
    query = st.session_state.get(f"{key}.q") or ""
    if query:
        box.button(
            "Clear",
            key=f"{key}.clear",
            icon=":material/close:",
            on_click=guarded(_clear_search),
            args=(key,),
            type="tertiary",
            help="Clear the search and show the whole list",
        )
    return query


def _turn_page(key: str, delta: int) -> None:
    st.session_state[f"{key}.page"] = max(0, st.session_state.get(f"{key}.page", 0) + delta)
    clear_selection(key)


def page_range(page) -> str:
    """'1–50 of 312'."""
    first = page.page * page.page_size + 1 if page.total else 0
    last = min(page.total, (page.page + 1) * page.page_size)
    more = "+" if getattr(page, "capped", False) else ""  # counted up to a cap (core.queries.sent_view)
    return f"{first:,}–{last:,} of {page.total:,}{more}"


def pager(key: str, page, container=None) -> None:
    """'1–50 of 312' with Prev/Next."""
    row = container or st.container(
        horizontal=True, vertical_alignment="center", horizontal_alignment="right", width="content"
    )
    row.caption(md("{range}", range=page_range(page)), width="content")
    row.button(
        "Prev",
        key=f"{key}.prev",
        icon=":material/chevron_left:",
        disabled=page.page == 0,
        on_click=guarded(_turn_page),
        args=(key, -1),
    )
    row.button(
        "Next",
        key=f"{key}.next",
        icon=":material/chevron_right:",
        disabled=page.page + 1 >= page.pages,
        on_click=guarded(_turn_page),
        args=(key, 1),
    )
