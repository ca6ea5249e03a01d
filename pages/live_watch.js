// The live watcher's browser half: see pages/live_watch.py for what it is for.
//
// One timer per watcher key, shared by every instance Streamlit mounted under that key; each
// tick asks with the NEWEST instance still mounted (largest ``drawn``). Why a registry rather
// than "each call replaces the timer": Streamlit 1.67 calls this module once per data change and
// keeps only the last call's cleanup; a call overtaken by a newer one is never cleaned up, and a
// call whose module import resolved late (Chromium resolves imports of a module still loading in
// no set order) runs AFTER the newer one and is cleaned up at once. When each call replaced the
// timer, that late call cleared the newer watcher's timer and was then taken down itself: the tab
// heard nothing until its next run (a background tab's title never moved). Here a late older
// call only joins the registry and leaves it again; whatever order the calls come in, the newest
// mounted instance is the one that asks, and the timer stops only when none is left.
const RETRY_MS = 6000;

const registry = () => (window.__parleyLiveWatch = window.__parleyLiveWatch || {});

// What the watchers did lately (a version seen to move, a rerun asked or put off, an instance
// mounted), with the page's clock in ms: a browser test that fails saves it beside the page's text,
// so a live update that came late says whether it was asked late or asked and not run.
const TRACE_KEEP = 300;
function trace(key, what) {
  const log = (window.__parleyWatchTrace = window.__parleyWatchTrace || []);
  log.push(`${Math.round(performance.now())} ${key} ${what}`);
  if (log.length > TRACE_KEEP) { log.shift(); }
}

// When the person last started for another page: a link clicked (the sidebar's pages, a row, Back
// to...) or Back/Forward. A Streamlit page link changes the address only once the server starts the
// new page, so the address alone does not tell that a switch is under way; a rerun asked then names
// a fragment of the page being left, and Streamlit runs it against the new page, whose main area
// goes blank (tests/e2e/test_desk_lists.py). Instances mounted before that moment ask nothing for
// LEAVING_MS: the new page mounts its own long before; if the switch came to nothing (a link that
// opened no page), the old ones ask again after it.
const LEAVING_MS = 8000;
if (!window.__parleyLeaving) {
  window.__parleyLeaving = { at: -Infinity };
  const left = () => { window.__parleyLeaving.at = performance.now(); };
  document.addEventListener("click", (ev) => {
    const link = ev.composedPath().find((node) => node instanceof Element && node.matches("a[href]"));
    if (link && !link.hasAttribute("download") && link.target !== "_blank") { left(); }
  }, true);
  window.addEventListener("popstate", left, true);
}

function leaving(one) {
  const at = window.__parleyLeaving.at;
  return one.mountedAt <= at && performance.now() - at < LEAVING_MS;
}

function newest(watch) {
  let best = null;
  for (const one of watch.mounted) {
    if (best === null || one.data.drawn > best.data.drawn) { best = one; }
  }
  return best;
}

// Never after the instance was taken down (the page left while a version was on its way): a
// rerun asked against a page the browser already left blanks the new one (pages/row_list.py).
// A rerun asked and not come within RETRY_MS (the server dropped it: a trigger naming a fragment
// of a run that was replaced meanwhile) is asked again on a later tick; a rerun that came
// mounted a newer instance long before. Nor when the browser went to another page while the
// version was on its way (``where``: the address when the tick began; a row clicked pushes the new
// one before Streamlit takes the old page down): a rerun asked then names the page being left, and
// Streamlit runs it against the new one and blanks it.
//
// Nor while a run of the page is under way: a rerun request carries every widget's value as the
// browser last had it, and a run under way may be changing them (Send empties the box, and its
// send moves the version at once). A trigger sent before that run's new values arrived handed
// the server the box's old text, which came back as a draft of the message just sent (seen in a
// loaded browser run; pages/compose_text.py ``box_changed``). The next tick asks once the run is
// over.
function running() {
  const app = document.querySelector("[data-test-script-state]");
  return app !== null && app.getAttribute("data-test-script-state") !== "notRunning";
}

// One trigger at a time for the whole tab. Streamlit sends the widget updates made in one turn of
// the browser's event loop as one rerun request naming ONE fragment (the first asked; it logs
// "Multiple different fragmentIds detected in a single batch"): when two watchers (the thread and
// the sidebar's notifications, whose versions move with the same new message) fired in one turn,
// only the first fragment reran and the other's trigger was dropped until its RETRY_MS (a message
// showed in the open conversation 12 s late in a clean-clone run). A watcher that would fire
// within LANE_MS of another's trigger asks again once that time has passed.
//
// Nor just after the person acted (a click, a change, Enter, leaving a text box): their widget
// update goes in the batch of that turn, and a trigger joining it made the whole batch a rerun of
// the watcher's fragment, so the click's own rerun of the page never came (its callback ran, what
// it drew did not: a bulk action's toast was never shown in a loaded browser-suite run).
const LANE_MS = 400;
const INPUT_MS = 300;

function lane() {
  return (window.__parleyFireLane = window.__parleyFireLane || { at: -Infinity });
}

if (!window.__parleyInput) {
  window.__parleyInput = { at: -Infinity };
  const acted = () => { window.__parleyInput.at = performance.now(); };
  for (const kind of ["pointerdown", "click", "change", "focusout"]) {
    document.addEventListener(kind, acted, true);
  }
  document.addEventListener("keydown", (ev) => { if (ev.key === "Enter") { acted(); } }, true);
}

function fire(watch, one, where) {
  const key = one.data.key;
  if (one.asked || !watch.mounted.has(one) || window.location.href !== where || leaving(one) || running()) {
    const why = one.asked ? "asked already" : !watch.mounted.has(one) ? "taken down"
      : window.location.href !== where ? "page changed" : leaving(one) ? "leaving" : "a run under way";
    trace(key, `put off: ${why}`);
    return false;
  }
  const wait = Math.max(lane().at + LANE_MS, window.__parleyInput.at + INPUT_MS) - performance.now();
  if (wait > 0) {
    trace(key, `put off ${Math.round(wait)} ms: another trigger or the person acted`);
    setTimeout(() => tick(watch), wait + 20);
    return false;
  }
  lane().at = performance.now();
  one.asked = true;
  trace(key, `rerun asked (drawn ${one.data.drawn}, version ${one.data.version})`);
  one.setTriggerValue("changed", one.data.drawn);
  setTimeout(() => {
    if (watch.mounted.has(one) && newest(watch) === one) { trace(key, "no rerun came: may ask again"); }
    one.asked = false;
  }, RETRY_MS);
  return true;
}

async function tick(watch) {
  const one = newest(watch);
  if (one === null || one.asked || one.stopped || watch.busy) { return; }
  const data = one.data;
  const where = window.location.href;
  watch.busy = true;
  try {
    const answer = await fetch(data.url, { credentials: "same-origin", cache: "no-store" });
    if (answer.status === 200) {
      watch.answered = true;
      const now = await answer.json();
      if (now.version !== data.version || (data.refreshAt && now.now >= data.refreshAt)) {
        trace(data.key, `version ${now.version} (shown ${data.version})`);
        fire(watch, one, where);
      }
    } else if (answer.status === 401) {
      // No cookie yet: a tab just signed in, whose first run is still trading its ticket for one.
      // A rerun asked now could cut that run short; the next tick asks again. But a cookie that
      // was there and is gone (signed out in another tab) is news for a watcher that asks for it.
      if (data.signedOut && watch.answered && fire(watch, one, where)) { one.stopped = true; }
    } else if (answer.status === 403 || answer.status === 404) {
      if (fire(watch, one, where)) { one.stopped = true; }
    }
  } catch (e) {
    // Parley restarting or the network gone for a moment: ask again on the next tick.
  } finally {
    watch.busy = false;
  }
}

function schedule(watch) {
  const every = newest(watch).data.every;
  if (watch.timer !== null && watch.every === every) { return; }
  clearInterval(watch.timer);
  watch.every = every;
  watch.timer = setInterval(() => tick(watch), every);
}

export default function (component) {
  const { data, setTriggerValue } = component;
  if (!data || !data.url) { return; }
  const all = registry();
  const watch = (all[data.key] = all[data.key] || { mounted: new Set(), timer: null, every: null, busy: false, answered: false });
  const one = { data, setTriggerValue, asked: false, stopped: false, mountedAt: performance.now() };
  // A newer instance supersedes the older ones (Streamlit never cleans those up); an older one
  // arriving late joins without displacing anything and is normally taken down at once.
  for (const other of [...watch.mounted]) {
    if (other.data.drawn < data.drawn) { watch.mounted.delete(other); }
  }
  watch.mounted.add(one);
  trace(data.key, `mounted (drawn ${data.drawn}, version ${data.version})`);
  schedule(watch);
  return () => {
    watch.mounted.delete(one);
    if (watch.mounted.size === 0) {
      clearInterval(watch.timer);
      if (all[data.key] === watch) { delete all[data.key]; }
    } else {
      schedule(watch);
    }
  };
}
