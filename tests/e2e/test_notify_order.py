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
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.e2e.conftest import CONTEXTS_TO_CLOSE


def page_script() -> str:
    """The JavaScript of ``SCRIPT`` in pages/notify.py (its ``<script>`` tags off), from the source."""
    tree = ast.parse((Path(__file__).resolve().parents[2] / "pages" / "notify.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SCRIPT" for t in node.targets):
            html = ast.literal_eval(node.value)
            return html.removeprefix("<script>").removesuffix("</script>")
    raise AssertionError("pages/notify.py has no SCRIPT")


class Stream:
    """``/blank``: an empty page; ``/api/notifications``: one event (unread 5 at version 7), then
    keep-alives until the browser goes."""

    def __init__(self) -> None:
        self.connected = threading.Event()
        stream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                if self.path.startswith("/api/notifications"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    event = {"unread": 5, "version": 7, "notices": []}
                    try:
                        self.wfile.write(f"id: 0\ndata: {json.dumps(event)}\n\n".encode())
                        self.wfile.flush()
                        stream.connected.set()
                        for _ in range(100):
                            time.sleep(0.2)
                            self.wfile.write(b": keep-alive\n\n")
                            self.wfile.flush()
                    except OSError:
                        pass
                    return
                body = b"<!doctype html><title>Parley</title><body></body>"
                self.send_response(200 if self.path == "/blank" else 404)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# A fragment run's script, as the page draws it (st.html runs each new one).
RUN_JS = (
    "(source) => { const s = document.createElement('script'); s.textContent = source; document.body.appendChild(s); }"
)


def test_a_rerun_counted_before_the_stream_does_not_put_the_old_count_back(browser):
    stream = Stream()
    script = page_script()
    try:
        context = browser.new_context()
        CONTEXTS_TO_CLOSE.append(context)
        page = context.new_page()
        page.goto(stream.base + "/blank")

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
        stream.close()
