"""The live watcher asks with the newest instance mounted, whatever order Streamlit calls them in.

Streamlit 1.67 can call a component with an older payload after a newer one (its inline-JS path
imports the module anew on every data change and calls it with that change's data, and Chromium
resolves imports of a module still loading in no set order: ``pages/row_list.py``). For the live
watcher (``pages/live_watch.py``) such a late call used to clear the newer watcher's timer and
start its own, which Streamlit then took down at once (the effect it belonged to was already
cleaned up): the page asked for no version again until its next run, and missed what happened.

Here the watcher's own module (``pages/live_watch.js``, read as a file: the pytest process does not
import the pages) runs in chromium against a version route served by this test, and is called the
ways Streamlit calls it: in order with the overtaken call never cleaned up, and out of order with
the late call cleaned up at once. Only the newest instance may ask; taken down, nothing asks.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.conftest import CONTEXTS_TO_CLOSE
from tests.fakes.loopback import LoopbackFake

EVERY_MS = 200
SLOW_S = 1.5
JS = (Path(__file__).resolve().parents[2] / "pages" / "live_watch.js").read_text(encoding="utf-8")


class VersionRoute(LoopbackFake):
    """``/blank`` is an empty page; any other path a version answer: version 2 after ``SLOW_S`` for
    a path starting ``/slow``, version 2 at once for ``/moved``, else version 1 at once. It keeps
    the paths asked, with when they arrived, and when each slow answer went."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[float, str]] = []
        self.answered: list[float] = []

    def _dispatch(self, h) -> None:
        if h.path == "/favicon.ico":  # the browser's own ask, not the watcher's
            return self._reply(h, 404, b"", "text/plain")
        if h.path == "/blank":
            return self._reply(h, 200, b"<!doctype html><title>watch</title>", "text/html")
        self.asked.append((time.monotonic(), h.path))
        slow = h.path.startswith("/slow")
        if slow:
            if self.hold(SLOW_S):  # the test is over
                return None
            self.answered.append(time.monotonic())
        moved = slow or h.path.startswith("/moved")
        return self._json(h, 200, {"version": 2 if moved else 1, "now": 0})


def reruns_asked(page, route: VersionRoute, within_s: float = 10) -> list[str]:
    """The reruns the watcher asked (``/fired?<drawn>``), once at least one came or ``within_s``
    passed."""
    deadline = time.monotonic() + within_s
    while not [p for _, p in route.asked if p.startswith("/fired")] and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    return [p for _, p in route.asked if p.startswith("/fired")]


def blank_page(browser, route: VersionRoute):
    """A new browser context's page on ``/blank`` of ``route`` (the suite closes the context even
    when an assertion fails first)."""
    context = browser.new_context()
    CONTEXTS_TO_CLOSE.append(context)
    page = context.new_page()
    page.goto(route.url + "/blank")
    return page


# Calls the module as Streamlit would: ``calls`` is a list of [path, drawn, cleaned] in call order;
# ``cleaned`` runs that call's cleanup at once (a call whose effect was already taken down). The
# cleanup of the last call not cleaned is kept (Streamlit runs it when the element goes).
MOUNT_JS = """
async ([js, base, every, calls]) => {
  const mod = await import(URL.createObjectURL(new Blob([js], { type: "text/javascript" })));
  for (const [path, drawn, cleaned] of calls) {
    const cleanup = mod.default({
      data: { key: "thread", url: base + path, version: 1, refreshAt: null, every, signedOut: false, drawn },
      setTriggerValue: () => { fetch(base + "/fired?" + drawn); },
    });
    if (cleaned) { cleanup(); } else { window.__keptCleanup = cleanup; }
  }
}
"""


def asks_after_mounting(browser, calls):
    """Mount ``calls``; the paths asked over the next 8 ticks, then over 4 ticks after the kept
    cleanup ran."""
    route = VersionRoute().start()
    try:
        page = blank_page(browser, route)
        page.evaluate(MOUNT_JS, [JS, route.url, EVERY_MS, calls])
        mounted = time.monotonic()
        page.wait_for_timeout(8 * EVERY_MS)
        live = [path for t, path in route.asked if t > mounted]
        page.evaluate("() => window.__keptCleanup && window.__keptCleanup()")
        stopped = time.monotonic()
        page.wait_for_timeout(4 * EVERY_MS)
        after = [path for t, path in route.asked if t > stopped + EVERY_MS / 1000]
        page.context.close()
        return live, after
    finally:
        route.stop()


def test_a_late_older_call_leaves_the_newer_watcher_asking(browser):
    # The newer call (drawn 2) first, then the older one late, taken down at once.
    live, after = asks_after_mounting(browser, [["/v/newer", 2, False], ["/v/older", 1, True]])
    assert "/v/older" not in live, "the late, older watcher asked its route"
    assert live.count("/v/newer") >= 4, f"the newer watcher stopped asking after the late call: {live}"
    assert after == [], f"asked after the watcher was taken down: {after}"


def test_calls_in_order_ask_with_the_newest_only(browser):
    # Three reruns in order; Streamlit never cleans up the overtaken calls.
    live, after = asks_after_mounting(browser, [["/v/1", 1, False], ["/v/2", 2, False], ["/v/3", 3, False]])
    assert set(live) == {"/v/3"}, f"asked with an overtaken watcher: {sorted(set(live))}"
    assert len(live) >= 4, f"the newest watcher asked {len(live)} times in 8 ticks"
    assert after == [], f"asked after the watcher was taken down: {after}"


def test_a_lone_call_taken_down_at_once_never_asks(browser):
    live, after = asks_after_mounting(browser, [["/v/gone", 1, True]])
    assert live == [] and after == []


def test_no_rerun_is_asked_for_a_page_the_browser_left_meanwhile(browser):
    # The version moved (2, the watcher drew 1), but its answer comes after the tab went to another
    # address: that answer asks nothing; the next tick, asked and answered on the new address, does.
    route = VersionRoute().start()
    try:
        page = blank_page(browser, route)
        page.evaluate(MOUNT_JS, [JS, route.url, EVERY_MS, [["/slow", 1, False]]])
        deadline = time.monotonic() + 10
        while not any(path == "/slow" for _, path in route.asked) and time.monotonic() < deadline:
            page.wait_for_timeout(20)
        # The first ask is on its way (it takes SLOW_S): go elsewhere, as a row click does.
        first_asked = min(t for t, path in route.asked if path == "/slow")
        page.evaluate("() => window.history.pushState(null, '', '/elsewhere')")
        moved = time.monotonic()
        assert moved < first_asked + SLOW_S, "the address changed only after the first answer (machine too slow)"
        page.wait_for_timeout(int(3 * SLOW_S * 1000))
        fired = [t for t, path in route.asked if path.startswith("/fired")]
        assert fired, "the watcher never asked a rerun for the version that moved"
        answers_before = [t for t in route.answered if t < fired[0]]
        assert len(answers_before) >= 2, "a rerun was asked with the answer that came after the page was left"
        page.context.close()
    finally:
        route.stop()


# A link clicked in the page (the click itself goes nowhere here: a page link's switch is Streamlit's).
CLICK_LINK_JS = """
() => {
  const link = document.createElement("a");
  link.href = "/inbox";
  link.textContent = "My Inbox";
  link.addEventListener("click", (ev) => ev.preventDefault());
  document.body.appendChild(link);
  link.click();
}
"""


def test_a_watcher_asks_nothing_while_the_page_is_being_left(browser):
    # The version moved, but a link was clicked before the first tick: the page is on its way
    # elsewhere, so the watcher mounted before the click asks no rerun; one mounted after it does.
    route = VersionRoute().start()
    try:
        page = blank_page(browser, route)
        # In one call: on a loaded machine the first tick came between two calls, before the click.
        page.evaluate(
            f"async (args) => {{ await ({MOUNT_JS})(args); ({CLICK_LINK_JS})(); }}",
            [JS, route.url, EVERY_MS, [["/moved/before", 1, False]]],
        )
        clicked = time.monotonic()
        page.wait_for_timeout(10 * EVERY_MS)
        asked = [path for t, path in route.asked if path.startswith("/moved/before") and t > clicked]
        assert not [p for _, p in route.asked if p.startswith("/fired")], "a rerun was asked while leaving"
        assert len(asked) >= 3, f"the watcher stopped asking its version: {asked}"
        # The next page's run mounts a new watcher: that one asks its rerun.
        page.evaluate(MOUNT_JS, [JS, route.url, EVERY_MS, [["/moved/after", 2, False]]])
        assert reruns_asked(page, route) == ["/fired?2"]
        page.context.close()
    finally:
        route.stop()


# Streamlit's app element says whether a run of the page is under way.
SCRIPT_STATE_JS = """
(state) => {
  let app = document.querySelector("[data-test-script-state]");
  if (!app) { app = document.createElement("div"); document.body.appendChild(app); }
  app.setAttribute("data-test-script-state", state);
}
"""


def test_a_watcher_asks_nothing_while_a_run_of_the_page_is_under_way(browser):
    # A rerun request carries every widget's value as the browser has it; while a run is under way
    # those may be about to change (Send empties the box). The version moved during the run: the
    # watcher waits for the run's end, then asks.
    route = VersionRoute().start()
    try:
        page = blank_page(browser, route)
        page.evaluate(SCRIPT_STATE_JS, "running")
        page.evaluate(MOUNT_JS, [JS, route.url, EVERY_MS, [["/moved/during", 1, False]]])
        mounted = time.monotonic()
        page.wait_for_timeout(10 * EVERY_MS)
        asked = [path for t, path in route.asked if path.startswith("/moved/during") and t > mounted]
        assert len(asked) >= 3, f"the watcher stopped asking its version: {asked}"
        assert not [p for _, p in route.asked if p.startswith("/fired")], "a rerun was asked during a run"
        page.evaluate(SCRIPT_STATE_JS, "notRunning")
        assert reruns_asked(page, route) == ["/fired?1"]
        page.context.close()
    finally:
        route.stop()


# Two watchers mounted in one run (the thread's and the sidebar's), each with a moved version. The
# trigger stands in for Streamlit's batching of widget updates: triggers asked before the batch
# leaves go in one rerun request, which reruns only the first one's fragment. Streamlit sends the
# batch on a setTimeout(0), which a busy page runs late; here it leaves after 50 ms.
BATCHED_MOUNT_JS = """
async ([js, base, every, keys]) => {
  const mod = await import(URL.createObjectURL(new Blob([js], { type: "text/javascript" })));
  window.__reruns = [];
  let batch = null;
  const trigger = (key) => {
    if (batch === null) {
      batch = [key];
      setTimeout(() => { window.__reruns.push(batch[0]); batch = null; }, 50);
    } else {
      batch.push(key);
    }
  };
  for (const key of keys) {
    mod.default({
      data: { key, url: base + "/moved/" + key, version: 1, refreshAt: null, every, signedOut: false, drawn: 1 },
      setTriggerValue: () => trigger(key),
    });
  }
}
"""


def test_two_watchers_whose_versions_moved_together_each_get_their_own_rerun(browser):
    # Their timers start together and their answers come together: both fired in the same batch,
    # and the second watcher's rerun never happened (a new message showed in the open conversation
    # 12 s late). Each must be its own rerun, the second well within the product's 5 s.
    route = VersionRoute().start()
    try:
        page = blank_page(browser, route)
        page.evaluate(BATCHED_MOUNT_JS, [JS, route.url, EVERY_MS, ["thread", "notifications"]])
        mounted = time.monotonic()
        while time.monotonic() < mounted + 3 and len(page.evaluate("() => window.__reruns")) < 2:
            page.wait_for_timeout(50)
        assert sorted(page.evaluate("() => window.__reruns")) == ["notifications", "thread"]
        page.context.close()
    finally:
        route.stop()


# The person clicking now and every 50 ms (in the page, so no round trip stretches the gaps) for
# ``forMs``.
CLICKING_JS = """
(forMs) => {
  const started = performance.now();
  const click = () => document.body.dispatchEvent(new MouseEvent("click", { bubbles: true }));
  click();
  const timer = setInterval(() => {
    if (performance.now() - started > forMs) { clearInterval(timer); return; }
    click();
  }, 50);
}
"""


def test_a_watcher_asks_nothing_in_the_moments_after_the_person_acted(browser):
    # A click's widget update leaves in the batch of its turn; a trigger joining that batch made it
    # a rerun of the watcher's fragment only, and the click's rerun of the page never came. While
    # the person keeps clicking, the moved version waits; once they stop, it asks.
    route = VersionRoute().start()
    try:
        page = blank_page(browser, route)
        page.evaluate(
            f"async ([forMs, args]) => {{ ({CLICKING_JS})(forMs); await ({MOUNT_JS})(args); }}",
            [2_000, [JS, route.url, EVERY_MS, [["/moved/clicks", 1, False]]]],
        )
        mounted = time.monotonic()
        page.wait_for_timeout(1_500)
        asked = [path for t, path in route.asked if path.startswith("/moved/clicks") and t > mounted]
        assert not [p for _, p in route.asked if p.startswith("/fired")], "a rerun was asked among the clicks"
        assert len(asked) >= 3, f"the watcher stopped asking its version: {asked}"
        assert reruns_asked(page, route) == ["/fired?1"]
        page.context.close()
    finally:
        route.stop()
