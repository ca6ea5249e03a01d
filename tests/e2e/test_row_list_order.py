"""The row list draws the newest rows even when Streamlit hands it an older payload last.

Seen in a loaded CI run: after a search the Contacts pager said "1–3 of 3" while the list under it
still showed the unfiltered fifty, for good. Streamlit 1.67's components-v2 frontend loads a
component's inline JS with ``await import(blob URL)`` on every data change, then calls the module
with the data of that change even if a newer one came meanwhile; and Chromium resolves several
``import()`` of a module whose first load is still in flight in no particular order. So a list
mounted for the first time in a tab that gets new rows before its module has loaded can end on
older rows (``pages/row_list.py``).

Here the module's first load is held (the page fetches it from a server in this test, which
answers only when told), the list gets four payloads meanwhile (the list, then three searches),
and then the module loads: the list must show the last search's rows. Before the fix it showed
one of the four at random (the last one about one time in four); three tabs in a row make that
a failure nearly every run.
"""

from __future__ import annotations

import re
import threading

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ROOT
from tests.e2e.scenario import PAGE_MS, open_as, serve
from tests.fakes.loopback import LoopbackFake

SEARCHES = ("Jiménez", "Müller", "Ashley")  # each matches a few demo contacts, none another's

# Before Streamlit's scripts run: the row list's module (its blob carries the marker) is fetched
# from the held server instead of its blob URL. Streamlit asks for the URL once per tab.
HOLD_JS = """
(() => {
  const held = %r;
  const OrigBlob = window.Blob;
  const marked = new WeakSet();
  window.Blob = function (parts, options) {
    const blob = new OrigBlob(parts, options);
    if (parts && parts.some((p) => typeof p === "string" && p.includes("__parleyRowList"))) marked.add(blob);
    return blob;
  };
  window.Blob.prototype = OrigBlob.prototype;
  const create = URL.createObjectURL;
  URL.createObjectURL = function (object) {
    if (marked.has(object)) return held + "?tab=" + Math.random().toString(36).slice(2);
    return create.call(URL, object);
  };
})();
"""


class HeldModule(LoopbackFake):
    """Serves ``pages/row_list.js`` as a module (``module_url``), each request only once
    ``release()`` was called."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()
        self.asked = threading.Event()

    @property
    def module_url(self) -> str:
        return self.url + "/row_list.js"

    def _dispatch(self, h) -> None:
        self.asked.set()
        self.released.wait(60)
        body = (ROOT / "pages" / "row_list.js").read_bytes()
        headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}
        self._reply(h, 200, body, "text/javascript; charset=utf-8", headers)

    def stop(self) -> None:
        self.released.set()
        super().stop()


@pytest.fixture(scope="module")
def parley(tmp_path_factory, demo_template):
    with serve(tmp_path_factory, demo_template) as running:
        yield running


@pytest.fixture
def held():
    with HeldModule() as module:
        yield module


def pager(page, pattern: str):
    return page.get_by_test_id("stMain").get_by_text(re.compile(pattern))


def shown_titles(page) -> list[str]:
    return page.locator("[role=listbox][aria-label^='Contacts'] li.row .who").all_text_contents()


def test_the_list_shows_the_last_search_though_its_module_loaded_after_four_payloads(parley, browser, held):
    page = open_as(browser, parley.base, "maria", "/contacts")
    page.context.add_init_script(HOLD_JS % held.module_url)
    for tab in range(3):
        held.released.clear()
        held.asked.clear()
        page.reload()  # a new tab: the row list's module is loaded afresh, and held
        range_caption = pager(page, r"^1–\d+ of \d+$")
        expect(range_caption).to_have_text(re.compile(r"^1–50 of \d+$"), timeout=PAGE_MS)
        assert held.asked.wait(30), "the list never asked for its module: the hold is not in place"
        for term in SEARCHES:  # each search draws its own count (SEARCHES' counts differ)
            before = range_caption.inner_text()
            search = page.get_by_placeholder(re.compile("Search"))
            search.fill(term)
            search.press("Enter")
            expect(range_caption).not_to_have_text(before, timeout=PAGE_MS)
        total = int(range_caption.inner_text().rsplit(" ", 1)[1])
        assert 0 < total < 50
        # The last search's pager is drawn and nothing was drawn in the list yet: let the module load.
        assert shown_titles(page) == []
        held.released.set()
        expect(page.locator("[role=listbox][aria-label^='Contacts'] li.row")).to_have_count(total, timeout=PAGE_MS)
        titles = shown_titles(page)
        assert all(SEARCHES[-1] in t for t in titles), f"tab {tab}: the list shows older rows: {titles}"
