"""CSV import and export on the Contacts page (UI only; the work is in core.contacts_csv).

Import is three steps on one screen: upload (50 MB at most, refused in the
browser and again in core), map the columns (guessed from the headers, each
one a selectbox), then Import with a progress bar and a per-row report that
can be downloaded. Export is a download button whose file is built only
when clicked, from the list's current filter.
"""

from __future__ import annotations

from functools import partial

import streamlit as st

from core import contacts_csv, contacts_csv_mapping
from core.auth import User
from core.errors import ParleyError
from pages.format import plural
from pages.session import guarded
from pages.text import esc, md

KEY = "contacts.import"
NOT_IMPORTED = "— not imported —"


def _forget(key: str = KEY) -> None:
    s = st.session_state
    for suffix in ("file_id", "parsed", "read_error", "report"):
        s.pop(f"{key}.{suffix}", None)


def read_upload(key: str, upload) -> contacts_csv.CsvFile | None:
    """Parse the uploaded file once (per upload) and preset the mapping to the guesses."""
    s = st.session_state
    file_id = getattr(upload, "file_id", None) or (upload.name, upload.size)
    if s.get(f"{key}.file_id") != file_id:
        _forget(key)
        s[f"{key}.file_id"] = file_id
        try:
            parsed = contacts_csv.read_csv(upload)
        except ParleyError as exc:
            s[f"{key}.read_error"] = str(exc)
            return None
        s[f"{key}.parsed"] = parsed
        for target, column in contacts_csv_mapping.guess_mapping(parsed.columns).items():
            s[f"{key}.map.{target}"] = column
    return s.get(f"{key}.parsed")


def mapping(key: str = KEY) -> dict[str, str | None]:
    return {t: st.session_state.get(f"{key}.map.{t}") for t in contacts_csv_mapping.TARGETS}


def run_import(rt, user: User, key: str = KEY, progress=None) -> None:
    """Import the parsed file with the chosen mapping; keeps the report (or the error) in session state."""
    s = st.session_state
    parsed = s.get(f"{key}.parsed")
    if parsed is None:
        return
    try:
        s[f"{key}.report"] = contacts_csv.import_contacts(rt.db, user, parsed, mapping(key), progress=progress)
        s.pop(f"{key}.error", None)
    except ParleyError as exc:
        s[f"{key}.error"] = str(exc)
        s.pop(f"{key}.report", None)


def render_import(rt, user: User, key: str = KEY) -> None:
    s = st.session_state
    st.subheader("Import contacts from a CSV file", anchor=False)
    st.caption(
        "One contact per row under a header line, up to 50 MB. A number that is already saved is updated "
        "with the row's non-empty cells; new numbers become contacts. Opt-outs never change by import."
    )
    upload = st.file_uploader(
        "CSV file", type=["csv", "txt"], key=f"{key}.file", max_upload_size=50, on_change=guarded(_forget), args=(key,)
    )
    if upload is None:
        return
    parsed = read_upload(key, upload)
    if parsed is None:
        st.error(esc(s.get(f"{key}.read_error") or "That file cannot be read."))
        return
    st.caption(
        md(
            "{rows} · {encoding} · separator “{delimiter}”",
            rows=plural(len(parsed), "row"),
            encoding=parsed.encoding,
            delimiter=parsed.delimiter,
        )
    )
    st.dataframe(parsed.frame.head(5), hide_index=True)
    st.markdown("**Which column holds what?**")
    options = [None, *parsed.columns]
    grid = st.columns(4)
    for i, (target, label) in enumerate(contacts_csv_mapping.TARGETS.items()):
        grid[i % 4].selectbox(
            esc(label + (" *" if target == "phone" else "")),
            options,
            key=f"{key}.map.{target}",
            format_func=lambda c: NOT_IMPORTED if c is None else c,
            placeholder=NOT_IMPORTED,
        )
    if st.button(
        md("Import {rows}", rows=plural(len(parsed), "row")), type="primary", key=f"{key}.go", icon=":material/upload:"
    ):
        bar = st.progress(0.0, text="Importing…")
        run_import(
            rt, user, key, progress=lambda f: bar.progress(min(1.0, f), text=md("Importing… {done}", done=f"{f:.0%}"))
        )
        bar.empty()
    if s.get(f"{key}.error"):
        st.error(esc(s[f"{key}.error"]))
    report = s.get(f"{key}.report")
    if report is not None:
        render_report(report, key)


def render_report(report: contacts_csv.ImportReport, key: str = KEY) -> None:
    (st.warning if report.rejected else st.success)(esc(report.summary))
    rows = report.rows
    rejected = rows[rows["Result"] == "rejected"]
    if len(rejected):
        st.markdown(md("**Rejected rows** ({n})", n=f"{len(rejected):,}"))
        st.dataframe(
            rejected.head(1000),
            hide_index=True,
            column_config={
                "Row": st.column_config.NumberColumn(width=60),
                "Reason": st.column_config.TextColumn(width="large"),
            },
        )
    with st.expander(md("Every row ({n})", n=f"{len(rows):,}")):
        st.dataframe(rows.head(5000), hide_index=True)
    st.download_button(
        "Download the report (CSV)",
        data=partial(report.to_csv),
        file_name="contact-import-report.csv",
        mime="text/csv",
        key=f"{key}.report_csv",
        icon=":material/download:",
        on_click="ignore",
    )


def export_button(rt, user: User, *, search: str, archived: str, key: str = "contacts.export") -> None:
    """Download the contacts of the current filter; the file is built when clicked.

    Agents and admins only (``contacts_csv.can_export``, enforced when the file is built)."""
    if not contacts_csv.can_export(user):
        st.caption("Exporting contacts is for agents and admins.", width="content")
        return
    st.download_button(
        "Export CSV",
        data=partial(contacts_csv.export_contacts, rt.db, user, search=search, archived=archived),
        file_name=contacts_csv.export_file_name(search, archived),
        mime="text/csv",
        key=key,
        icon=":material/download:",
        on_click="ignore",
        help="The contacts this list shows (search and filter), as a spreadsheet-safe CSV.",
    )
