"""The transcript control on the Conversation page: prepare PDF and TXT, download them.

Shown only to admins and the conversation's assignee; ``core.transcripts``
refuses everyone else anyway. A popover in the page's header (the page
fits the window; the thread keeps the room). Long transcripts show a
progress bar while they are prepared.
"""

from __future__ import annotations

import streamlit as st

from core import transcripts
from core.errors import ParleyError
from pages.format import plural
from pages.text import esc, md

PREPARED = "transcript."  # session-state key of the transcript prepared last, followed by its conversation


def render(rt, user, detail: dict) -> None:
    if not transcripts.may_export(user, detail["owner_id"]):
        return
    cid = detail["conversation_id"]
    key = f"{PREPARED}{cid}"
    with st.popover("Export transcript", icon=":material/description:", type="tertiary"):
        st.caption(
            "A PDF and a text file of every message, with times in your time zone. Files stay downloadable "
            "one by one from the thread."
        )
        if st.button("Prepare PDF and TXT", key=f"prepare_{cid}", icon=":material/build:"):
            # One prepared transcript a session: an admin going through twenty conversations kept
            # twenty PDFs (megabytes each for a long thread) in the server's memory until signing out.
            for other in [k for k in st.session_state if str(k).startswith(PREPARED)]:
                del st.session_state[other]
            bar = st.progress(0.0, text="Reading the conversation")
            try:
                st.session_state[key] = transcripts.export_transcript(
                    rt.db,
                    rt.media,
                    user,
                    cid,
                    progress=lambda fraction, text: bar.progress(min(1.0, max(0.0, fraction)), text=esc(text)),
                )
            except ParleyError as exc:
                st.session_state.pop(key, None)
                st.error(esc(str(exc)))
            bar.empty()
        ready = st.session_state.get(key)
        if ready is None:
            return
        st.caption(
            md("{count}, {pages}.", count=plural(ready.message_count, "message"), pages=plural(ready.pages, "PDF page"))
        )
        row = st.container(horizontal=True)
        row.download_button(
            "PDF",
            data=ready.pdf,
            file_name=ready.pdf_name,
            mime="application/pdf",
            key=f"pdf_{cid}",
            icon=":material/picture_as_pdf:",
            on_click="ignore",
        )
        row.download_button(
            "TXT",
            data=ready.txt.encode("utf-8"),
            file_name=ready.txt_name,
            mime="text/plain; charset=utf-8",
            key=f"txt_{cid}",
            icon=":material/article:",
            on_click="ignore",
        )
        row.download_button(
            "Both (.zip)",
            data=ready.zip_bytes,  # zipped on the click, not on every run of the page
            file_name=ready.zip_name,
            mime="application/zip",
            key=f"zip_{cid}",
            icon=":material/folder_zip:",
            on_click="ignore",
        )
