"""A tab whose page stayed blank after its run draws it again by itself.

Rarely (about one page switch in a few thousand on a loaded 2-core machine, in the browser suite's
fifty-opens loops) Streamlit 1.67 runs a rerun that names the page being left against the page the
browser went to: the browser then wipes the new page's elements, keeps only ``ui.py``'s (the
sidebar, the frame), and the main area stays empty although nothing runs (``pages/row_list.py``
tells the mechanism; ``live_watch.js`` and ``navigate.py`` remove the causes we found). A person
would see a sidebar and nothing else until they clicked again.

This is the last line: a small script in the sidebar (``ui.py``'s, so it survives that wipe) looks
once a second. When the page's run is over (``stApp``'s ``data-test-script-state`` is
``notRunning``), the connection is up, the tab is in front and the main area shows no text but
the admins' banner (every Parley page shows a heading or a sentence), three looks in a row, the
tab tells the server (``POST /api/blank-page``: one warning line in its log, so the suite and an
admin can count them) and reloads the address it is on. A reload and not a rerun: a rerun asked by
a browser whose element tree is out of step with the server's is what went wrong in the first
place; a reload starts the tab afresh (the cookie keeps it signed in; drafts live in the database).
At most once a minute per tab: a page that is blank again right after is left as it is rather
than reloaded in a loop.
"""

from __future__ import annotations

import json

import streamlit as st

from core import senders

REPORT_URL = "/api/blank-page"  # routes.blank_page
CHECK_MS = 1000
CHECKS = 3  # looks in a row
AGAIN_MS = 60_000

SCRIPT = """<script>
(() => {
  if (window.__parleyBlankGuard) { return; }
  window.__parleyBlankGuard = true;
  const BANNER = %(banner)s;
  const HEALED_AT = "parleyBlankHealedAt";
  let blankLooks = 0;
  let blankAt = null;

  function showsSomething(main) {
    for (const el of main.querySelectorAll('[data-testid="stElementContainer"]')) {
      const text = (el.innerText || "").trim();
      if (text && !text.includes(BANNER)) { return true; }
    }
    return false;
  }

  function blankNow() {
    const app = document.querySelector('[data-testid="stApp"]');
    const main = document.querySelector('[data-testid="stMainBlockContainer"]');
    return Boolean(app && main && !document.hidden
      && app.getAttribute("data-test-script-state") === "notRunning"
      && app.getAttribute("data-test-connection-state") === "CONNECTED"
      && !showsSomething(main));
  }

  function look() {
    if (!blankNow()) { blankLooks = 0; return; }
    if (blankAt !== location.href) { blankAt = location.href; blankLooks = 0; }
    blankLooks += 1;
    if (blankLooks < %(checks)d) { return; }
    blankLooks = 0;
    const last = Number(sessionStorage.getItem(HEALED_AT) || 0);
    if (Date.now() - last < %(again_ms)d) { return; }
    sessionStorage.setItem(HEALED_AT, String(Date.now()));
    const leftAt = (window.__parleyLeaving || {}).at;
    const report = {
      path: location.pathname + location.search,
      elements: document.querySelectorAll('[data-testid="stMainBlockContainer"] [data-testid="stElementContainer"]').length,
      since_leaving_ms: Number.isFinite(leftAt) ? Math.round(performance.now() - leftAt) : null,
    };
    navigator.sendBeacon(%(url)s, new Blob([JSON.stringify(report)], { type: "application/json" }));
    location.reload();
  }

  setInterval(look, %(check_ms)d);
})();
</script>"""


def render() -> None:
    """Called by ``session.render_frame`` in the sidebar on every page of a signed-in user."""
    st.html(
        SCRIPT
        % {
            "banner": json.dumps(senders.BANNER[:60]),
            "checks": CHECKS,
            "again_ms": AGAIN_MS,
            "url": json.dumps(REPORT_URL),
            "check_ms": CHECK_MS,
        },
        unsafe_allow_javascript=True,
    )
