"""The tab title keeps the newest unread count, whichever of the stream and a rerun told it last.

The title's count comes from two places (``pages/notify.py``): the notifications stream
(``/api/notifications``, which sends a count only when it changed) and each run of the sidebar's
fragment, which writes its own count into the page. A run that began before a change, and whose
script reached the browser after the stream had told that change, used to put the old count
back, and the stream would not send the same count again: the title stayed one behind until the
watcher's next rerun (a CI run saw Maria's front tab miss an assignment for over 10 s). Each
count now carries the version it was counted at, and the page keeps the newest.

Here the page's own script (read from ``pages/notify.py`` without importing the pages) runs in
chromium against a loopback server that plays the stream.
"""

from __future__ import annotations

import ast
import json
import threading
from pathlib import Path

from tests.e2e.conftest import CONTEXTS_TO_CLOSE
from tests.fakes.loopback import LoopbackFake


def page_script() -> str:
    """The JavaScript of ``SCRIPT`` in pages/notify.py (its ``<script>`` tags off), from the source."""
    tree = ast.parse((Path(__file__).resolve().parents[2] / "pages" / "notify.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SCRIPT" for t in node.targets):
            html = ast.literal_eval(node.value)
            return html.removeprefix("<script>").removesuffix("</script>")
    raise AssertionError("pages/notify.py has no SCRIPT")


class Stream(LoopbackFake):
    """``/blank``: an empty page; ``/api/notifications``: one event (unread 5 at version 7), then
    keep-alives until the test ends."""

    def __init__(self) -> None:
        super().__init__()
        self.connected = threading.Event()

    def _dispatch(self, h) -> None:
        if not h.path.startswith("/api/notifications"):
            body = b"<!doctype html><title>Parley</title><body></body>"
            return self._reply(h, 200 if h.path == "/blank" else 404, body, "text/html")
        h.close_connection = True  # the stream ends with the connection (no length, no chunks)
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-store")
        h.end_headers()
        event = {"unread": 5, "version": 7, "notices": []}
        try:
            h.wfile.write(f"id: 0\ndata: {json.dumps(event)}\n\n".encode())
            h.wfile.flush()
            self.connected.set()
            while not self.hold(0.2):
                h.wfile.write(b": keep-alive\n\n")
                h.wfile.flush()
        except OSError:
            pass  # the page went
        return None


# A fragment run's script, as the page draws it (st.html runs each new one).
RUN_JS = (
    "(source) => { const s = document.createElement('script'); s.textContent = source; document.body.appendChild(s); }"
)


def test_a_rerun_counted_before_the_stream_does_not_put_the_old_count_back(browser):
    stream = Stream().start()
    script = page_script()
    try:
        context = browser.new_context()
        CONTEXTS_TO_CLOSE.append(context)
        page = context.new_page()
        page.goto(stream.url + "/blank")

        def run(unread: int, version: int) -> None:
            page.evaluate(RUN_JS, script % {"uid": 1, "unread": unread, "version": version, "js_toasts": 0})

        run(unread=3, version=5)  # the first run: 3 unread; its stream opens
        assert stream.connected.wait(10), "the page never opened the notifications stream"
        page.wait_for_function("() => document.title === '(5) Parley'", timeout=10_000)
        # A run that counted at version 6, before the change the stream told at 7, arrives late.
        run(unread=3, version=6)
        page.wait_for_timeout(1_200)  # the page re-applies its count every 500 ms
        assert page.title() == "(5) Parley"
        # A run counted after the stream's last word wins.
        run(unread=9, version=8)
        page.wait_for_function("() => document.title === '(9) Parley'", timeout=10_000)
        context.close()
    finally:
        stream.stop()
