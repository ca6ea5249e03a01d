// Parley's list rows (pages/row_list.py): an inbox that reads like one.
//
// Every piece of text is set with textContent: names, messages and reasons
// are people's text and never become HTML. Opening a row is a navigation the
// browser starts itself (history.pushState + popstate, the path Streamlit
// takes for Back/Forward): Streamlit stops this page's timers before asking
// for the new page, so no timed refresh of the page being left can be run
// after the switch (see pages/row_list.py for why that matters).

const STATE = "__parleyRowList";

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function appUrl(href) {
  // "/inbox" -> "/conversation?id=7"; under a base path "/parley/inbox" -> "/parley/conversation?id=7".
  const base = window.location.pathname.replace(/\/[^/]*$/, "");
  return base + "/" + href;
}

export function navigate(href) {
  const url = appUrl(href);
  window.history.pushState(null, "", url);
  window.dispatchEvent(new PopStateEvent("popstate", { state: null }));
}

function rowIndex(state, id) {
  return state.rows.findIndex((r) => r.id === id);
}

function sendSelection(state) {
  state.setTriggerValue("select", { rows: Array.from(state.selected) });
}

function toggle(state, id, on) {
  // on: the tick wanted (the box's own state after a click); undefined flips it (keyboard).
  const row = state.rows[rowIndex(state, id)];
  if (!row || !state.data.selectable || row.selectable === false) return;
  const want = on === undefined ? !state.selected.has(id) : on;
  if (want) state.selected.add(id);
  else state.selected.delete(id);
  paintSelection(state);
  sendSelection(state);
}

function open(state, row) {
  if (!row) return;
  if (row.href) {
    state.root.classList.add("leaving");
    navigate(row.href);
  } else if (state.data.open_event) {
    state.setTriggerValue("open", row.id);
  }
}

function paintSelection(state) {
  state.root.querySelectorAll("li.row").forEach((li) => {
    const id = JSON.parse(li.dataset.id);
    const on = state.selected.has(id);
    li.classList.toggle("selected", on);
    const box = li.querySelector("input.tick");
    if (box) box.checked = on;
  });
  const n = state.selected.size;
  state.root.setAttribute("aria-label", (state.data.label || "List") + (n ? ` (${n} selected)` : ""));
}

function paintFocus(state, scroll) {
  const items = state.root.querySelectorAll("li.row");
  items.forEach((li, i) => li.classList.toggle("focused", i === state.focus));
  const li = items[state.focus];
  if (li) {
    state.root.setAttribute("aria-activedescendant", li.id);
    if (scroll) li.scrollIntoView({ block: "nearest" });
  }
}

function renderRow(state, row, i) {
  const li = el("li", "row");
  li.id = `${state.uid}-row-${i}`;
  li.dataset.id = JSON.stringify(row.id);
  li.setAttribute("role", "option");
  if (row.unread) li.classList.add("unread");
  if (!row.href && !state.data.open_event) li.classList.add("inert");

  const tickCell = el("span", "tick-cell");
  if (state.data.selectable) {
    const box = el("input", "tick");
    box.type = "checkbox";
    box.tabIndex = -1;
    box.setAttribute("aria-label", `Select ${row.title}`);
    box.disabled = row.selectable === false;
    if (box.disabled && row.tick_help) box.title = row.tick_help;
    box.addEventListener("click", (ev) => {
      ev.stopPropagation(); // a tick is not an open
      state.focus = i;
      paintFocus(state, false);
      toggle(state, row.id, box.checked);
    });
    tickCell.appendChild(box);
  }
  li.appendChild(tickCell);

  const main = el(row.href ? "a" : "span", "main");
  if (row.href) {
    main.href = appUrl(row.href);
    main.tabIndex = -1;
  }
  main.appendChild(el("span", "dot", row.mark !== undefined && row.mark !== null ? row.mark : row.unread ? "●" : ""));
  const who = el("span", "who", row.title);
  who.title = row.title_help || row.title;
  main.appendChild(who);
  const chan = el("span", "chan", row.channel_icon || "");
  if (row.channel_name) {
    chan.title = row.channel_name;
    chan.setAttribute("aria-label", row.channel_name);
  }
  main.appendChild(chan);
  const text = el("span", "text");
  if (row.prefix) text.appendChild(el("span", "prefix", row.prefix));
  if (row.tag) text.appendChild(el("span", "tag", row.tag));
  text.appendChild(el("span", "body", row.text || ""));
  text.title = [row.prefix, row.tag, row.text].filter(Boolean).join("");
  main.appendChild(text);
  if (row.owner !== undefined && row.owner !== null) main.appendChild(el("span", "owner", row.owner));
  const flags = el("span", "flags");
  (row.flags || []).forEach((f) => {
    const chip = el("span", `flag ${f.tone || ""}`, f.text);
    if (f.help) chip.title = f.help;
    flags.appendChild(chip);
  });
  main.appendChild(flags);
  const status = el("span", `status ${row.status ? row.status.tone || "" : ""}`);
  if (row.status) {
    status.appendChild(el("span", "icon", row.status.icon));
    if (row.status.word) status.appendChild(el("span", "word", row.status.word));
    status.title = row.status.help || row.status.word || "";
  }
  main.appendChild(status);
  const when = el("span", "when", row.when || "");
  if (row.when_help) when.title = row.when_help;
  main.appendChild(when);

  main.addEventListener("click", (ev) => {
    // Ctrl/Cmd/Shift-click or a middle click: the browser opens the real link in a new tab.
    if (ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    state.focus = i;
    open(state, row);
  });
  li.appendChild(main);
  return li;
}

function render(state) {
  const { data } = state;
  state.rows = data.rows || [];
  const ids = new Set(state.rows.map((r) => r.id));
  if (state.epoch !== data.epoch) {
    // The server changed the selection (an action finished, a page turned): take its word.
    state.epoch = data.epoch;
    state.selected = new Set(data.selected || []);
  }
  state.selected = new Set([...state.selected].filter((id) => ids.has(id)));
  state.root.classList.remove("leaving");
  state.root.classList.toggle("selectable", !!data.selectable);
  // Every refresh of the page hands the rows again. Rows that did not change keep their element,
  // so a click that lands while the list refreshes (mouse down on one element, up on its
  // replacement) is never lost; only changed rows are drawn anew.
  const frame = JSON.stringify([data.selectable, data.open_event]);
  const old = state.frame === frame ? state.byKey : new Map();
  const byKey = new Map();
  const items = state.rows.map((row, i) => {
    const key = JSON.stringify(row) + "#" + i;
    const li = old.get(key) || renderRow(state, row, i);
    byKey.set(key, li);
    return li;
  });
  state.frame = frame;
  state.byKey = byKey;
  const current = Array.from(state.list.children);
  if (current.length !== items.length || current.some((li, i) => li !== items[i])) {
    state.list.replaceChildren(...items);
  }
  state.focus = Math.min(Math.max(state.focus, 0), Math.max(state.rows.length - 1, 0));
  paintSelection(state);
  paintFocus(state, false);
}

function onKey(state, ev) {
  if (ev.target !== state.root) return;
  const last = state.rows.length - 1;
  if (last < 0) return;
  const key = ev.key;
  if (key === "ArrowDown" || key === "j") state.focus = Math.min(last, state.focus + 1);
  else if (key === "ArrowUp" || key === "k") state.focus = Math.max(0, state.focus - 1);
  else if (key === "Home") state.focus = 0;
  else if (key === "End") state.focus = last;
  else if (key === "Enter") {
    ev.preventDefault();
    open(state, state.rows[state.focus]);
    return;
  } else if (key === "x" || key === " ") {
    ev.preventDefault();
    toggle(state, state.rows[state.focus].id);
    return;
  } else return;
  ev.preventDefault();
  paintFocus(state, true);
}

export default function (component) {
  const { data, parentElement, setTriggerValue, key } = component;
  let state = parentElement[STATE];
  if (!state) {
    const root = el("div", "rows");
    root.tabIndex = 0;
    root.setAttribute("role", "listbox");
    root.setAttribute("aria-multiselectable", "true");
    const list = el("ul", "list");
    root.appendChild(list);
    parentElement.appendChild(root);
    state = parentElement[STATE] = {
      root,
      list,
      rows: [],
      selected: new Set(),
      epoch: null,
      drawn: null,
      focus: 0,
      uid: "rl-" + String(key || "list").replace(/[^a-zA-Z0-9_-]/g, "-"),
    };
    root.addEventListener("keydown", (ev) => onKey(state, ev));
  }
  // Streamlit 1.67 may call this with an older payload after a newer one (a module whose first
  // load was still in flight when the data changed: see pages/row_list.py). The server stamps
  // each payload (``drawn``, larger whenever the rows changed): an older one is not drawn, and its
  // setTriggerValue is not kept.
  const drawn = data && typeof data.drawn === "number" ? data.drawn : null;
  if (drawn !== null && state.drawn !== null && drawn < state.drawn) return;
  state.drawn = drawn;
  state.data = data || {};
  state.setTriggerValue = setTriggerValue;
  state.root.dataset.key = key || "";
  render(state);
}
