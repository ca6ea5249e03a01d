"""The live watcher keeps the newest watcher running when Streamlit calls it with an older one last.

Streamlit 1.67 can call a component with an older payload after a newer one (its inline-JS path
imports the module anew on every data change and calls it with that change's data, and Chromium
resolves imports of a module still loading in no set order: ``pages/row_list.py``). For the live
watcher (``pages/live_watch.py``) such a late call used to clear the newer watcher's timer and
start its own, which Streamlit then took down at once (the effect it belonged to was already
cleaned up): the page asked for no version again until its next run, and missed what happened.

Here the watcher's own module runs in chromium against a version route served by this test: the
newer watcher is mounted, then an older one arrives late and is taken down as Streamlit does.
The newer one must keep asking its route; the older one must never ask.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pages.live_watch import JS
from tests.e2e.conftest import CONTEXTS_TO_CLOSE

EVERY_MS = 200


class VersionRoute:
    """A loopback server: ``/blank`` is an empty page, any other path a version answer; it keeps
    the paths asked, with when."""

    def __init__(self) -> None:
        self.asked: list[tuple[float, str]] = []
        route = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                if self.path == "/blank":
                    body, kind = b"<!doctype html><title>watch</title>", "text/html"
                else:
                    route.asked.append((time.monotonic(), self.path))
                    body, kind = json.dumps({"version": 1, "now": 0}).encode(), "application/json"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# Mount the newer watcher (drawn 2), then the older one (drawn 1) late; run the late call's
# cleanup at once, as Streamlit does for a call whose effect was already taken down.
MOUNT_JS = """
async ([js, base, every]) => {
  const mod = await import(URL.createObjectURL(new Blob([js], { type: "text/javascript" })));
  const watcher = (path, drawn) => ({
    data: { key: "thread", url: base + path, version: 1, refreshAt: null, every, signedOut: false, drawn },
    setTriggerValue: () => {},
  });
  window.__newerCleanup = mod.default(watcher("/v/newer", 2));
  const late = mod.default(watcher("/v/older", 1));
  if (typeof late === "function") late();
}
"""


def test_a_late_older_watcher_leaves_the_newer_one_running(browser):
    route = VersionRoute()
    try:
        context = browser.new_context()
        CONTEXTS_TO_CLOSE.append(context)  # closed by the suite even if an assertion fails first
        page = context.new_page()
        page.goto(route.base + "/blank")
        page.evaluate(MOUNT_JS, [JS, route.base, EVERY_MS])
        mounted = time.monotonic()
        page.wait_for_timeout(8 * EVERY_MS)
        newer = [t for t, path in route.asked if path == "/v/newer" and t > mounted]
        older = [path for _, path in route.asked if path == "/v/older"]
        assert older == [], "the late, older watcher asked its route"
        assert len(newer) >= 3, f"the newer watcher stopped asking after the late call ({len(newer)} asks in 1.6 s)"
        # Taken down for real (the page left), the newer one stops too.
        page.evaluate("() => window.__newerCleanup && window.__newerCleanup()")
        stopped = time.monotonic()
        page.wait_for_timeout(4 * EVERY_MS)
        assert [t for t, path in route.asked if t > stopped + EVERY_MS / 1000] == []
    finally:
        route.close()
