"""The rules of the layers, checked on the source: pages stay UI, text stays text, the map is true.

- ``pages/`` holds no SQL, no ``execute(``, no database reads and no HTTP (DESIGN.md, *Layers*).
- Every path README's *Where things live* names exists, and every module of ``core`` that
  writes to the database is named there (itself or its folder).
- In ``pages/``, what Streamlit renders as Markdown — ``st.markdown``, ``st.caption``, the
  alerts, ``st.toast``, ``st.write``, titles and headers, and every widget label, help text and
  image caption — is a string literal, ``esc(...)`` or ``md("literal template", ...)``
  (``pages/text.py``), or a choice between those; never an f-string, a concatenation, a
  ``str(exc)`` or a bare variable, which is how people's names and file names became links
  and images. ``unsafe_allow_html`` is never used.

Each checker is a function over source text, and is tested on planted violations below, so
that a checker that finds nothing because it looks at nothing fails too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "pages").glob("*.py"))
README = ROOT / "README.md"

# ---- Markdown sinks ------------------------------------------------------------------------------

# Calls whose first positional argument (or ``body=``) is rendered as Markdown.
MARKDOWN_BODY = {
    "markdown",
    "caption",
    "error",
    "warning",
    "info",
    "success",
    "toast",
    "write",
    "title",
    "header",
    "subheader",
    "spinner",
}
# Widgets whose first positional argument (or ``label=``) is a Markdown label.
LABELLED = {
    "button",
    "download_button",
    "form_submit_button",
    "link_button",
    "checkbox",
    "toggle",
    "radio",
    "selectbox",
    "multiselect",
    "select_slider",
    "slider",
    "text_input",
    "text_area",
    "number_input",
    "date_input",
    "time_input",
    "file_uploader",
    "camera_input",
    "color_picker",
    "segmented_control",
    "pills",
    "expander",
    "popover",
    "status",
    "metric",
    "chat_input",
}
# Keyword arguments rendered as Markdown wherever they appear.
MARKDOWN_KEYWORDS = {"label", "help", "caption", "body", "text"}
# Receivers that are not Streamlit (logging).
NOT_STREAMLIT = {"log", "logger", "logging", "warnings"}
SAFE_CALLS = {"esc", "md"}
# Choice widgets whose options (and format_func's output) are Markdown too.
MARKDOWN_OPTIONS = {"radio", "segmented_control", "pills"}


def _callee_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _receiver(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id
    return None


def _is_constant_name(node: ast.expr) -> bool:
    """A module constant of ours (UPPER_CASE): our own words, fixed when the module loads."""
    return isinstance(node, ast.Name) and node.id.isupper()


def _safe(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant) and (isinstance(node.value, str) or node.value is None):
        return True
    if isinstance(node, ast.IfExp):
        return _safe(node.body) and _safe(node.orelse)
    if isinstance(node, ast.Call) and _callee_name(node.func) in SAFE_CALLS:
        if _callee_name(node.func) == "md":
            # md's template is ours: a literal (or a module constant), never a value.
            return bool(node.args) and (
                (isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str))
                or _is_constant_name(node.args[0])
            )
        return True
    return False


def _literal(node: ast.expr) -> bool:
    if isinstance(node, ast.IfExp):
        return _literal(node.body) and _literal(node.orelse)
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def badge_violations(call: ast.Call) -> list[ast.expr]:
    """``st.badge`` escapes square brackets itself, which undoes ``esc``: its label must be our literal."""
    if _callee_name(call.func) != "badge" or _receiver(call.func) in NOT_STREAMLIT:
        return []
    labels = call.args[:1] + [k.value for k in call.keywords if k.arg == "label"]
    return [label for label in labels if not _literal(label)]


def _sinks(call: ast.Call) -> list[tuple[str, ast.expr]]:
    """(what, argument) pairs of a call that reach Markdown."""
    func = call.func
    found: list[tuple[str, ast.expr]] = []
    # getattr(st, kind)(text) and (st.warning if x else st.success)(text): alerts chosen at run time.
    dynamic = (
        isinstance(func, ast.Call)
        and _callee_name(func.func) == "getattr"
        and func.args
        and isinstance(func.args[0], ast.Name)
        and func.args[0].id == "st"
    ) or (
        isinstance(func, ast.IfExp)
        and any(_callee_name(branch) in MARKDOWN_BODY for branch in (func.body, func.orelse))
    )
    name = _callee_name(func)
    if _receiver(func) in NOT_STREAMLIT:
        return []
    if dynamic or name in MARKDOWN_BODY or name in LABELLED:
        if call.args:
            found.append((f"{name or 'alert'}(…)", call.args[0]))
    if name in MARKDOWN_BODY or name in LABELLED or name in ("page_link", "image", "progress", "tabs"):
        for kw in call.keywords:
            if kw.arg in MARKDOWN_KEYWORDS:
                found.append((f"{name}({kw.arg}=…)", kw.value))
    if name == "tabs" and call.args and isinstance(call.args[0], (ast.List, ast.Tuple)):
        found += [("tabs([…])", element) for element in call.args[0].elts]
    if name in MARKDOWN_OPTIONS:
        options = (
            call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "options"), None)
        )
        if isinstance(options, (ast.List, ast.Tuple)):
            found += [(f"{name}(options=[…])", element) for element in options.elts]
        elif options is not None and not _constant_options(options):
            found.append((f"{name}(options=…)", options))
        found += [(f"{name}(format_func=…)", k.value) for k in call.keywords if k.arg == "format_func"]
    return found


def _constant_options(node: ast.expr) -> bool:
    """``list(CHOICES)`` or ``CHOICES``: options that are our own module constant."""
    if _is_constant_name(node):
        return True
    return (
        isinstance(node, ast.Call)
        and _callee_name(node.func) == "list"
        and len(node.args) == 1
        and _is_constant_name(node.args[0])
    )


def markdown_violations(source: str, filename: str = "<source>") -> list[str]:
    """Each place where something other than a literal, esc(...) or md(...) reaches Markdown."""
    problems = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.keyword) and node.arg == "unsafe_allow_html":
            problems.append(f"{filename}:{node.value.lineno}: unsafe_allow_html")
        if not isinstance(node, ast.Call):
            continue
        for label in badge_violations(node):
            problems.append(
                f"{filename}:{label.lineno}: badge(…) gets {ast.unparse(label)[:80]} (use st.markdown(md(...)))"
            )
        for what, arg in _sinks(node):
            if not _safe(arg):
                problems.append(f"{filename}:{arg.lineno}: {what} gets {ast.unparse(arg)[:80]}")
    return problems


# ---- callbacks check the session ------------------------------------------------------------------------

CALLBACK_KEYWORDS = {"on_click", "on_change", "on_select", "on_dismiss", "on_submit"}
NOT_WIDGETS = {"render"}  # our own functions that take an on_change hook, not Streamlit widgets


def callback_violations(source: str, filename: str = "<source>") -> list[str]:
    """Widget callbacks run before the page script checks the session: each goes through ``guarded``."""
    problems = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call) or _callee_name(node.func) in NOT_WIDGETS:
            continue
        for kw in node.keywords:
            if kw.arg not in CALLBACK_KEYWORDS:
                continue
            value = kw.value
            if isinstance(value, ast.Constant) and value.value in ("ignore", "rerun", None):
                continue
            if isinstance(value, ast.Call) and _callee_name(value.func) == "guarded":
                continue
            problems.append(f"{filename}:{value.lineno}: {kw.arg}={ast.unparse(value)[:60]} is not guarded(...)")
    return problems


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_every_widget_callback_checks_the_session_first(path):
    assert callback_violations(path.read_text(), path.name) == []


def test_the_callback_checker_finds_unguarded_callbacks():
    planted = """
st.button("Send", on_click=_send, args=(1,))
st.dataframe(df, on_select=partial(pick, 1))
st.selectbox("x", [], on_change=lambda: None)
@st.dialog("Ask", on_dismiss=forget)
def ask(): ...
st.button("Ok", on_click=guarded(_send))
st.download_button("Get", data=b"", on_click="ignore")
thread_view.render(rt, user, cid, on_change=hook)
"""
    found = callback_violations(planted)
    assert [int(p.split(":")[1]) for p in found] == [2, 3, 4, 5], found


# ---- fragments and dialogs check the session ----------------------------------------------------------------

RUNS_ON_ITS_OWN = {"fragment", "dialog"}  # st.fragment, st.dialog (a dialog is a fragment too)


def _runs_on_its_own(decorator: ast.expr) -> bool:
    return _callee_name(decorator.func if isinstance(decorator, ast.Call) else decorator) in RUNS_ON_ITS_OWN


def _preamble(statement: ast.stmt) -> bool:
    """A docstring, an import, or ``rt = runtime.current()``: what may come before the check."""
    if isinstance(statement, ast.Import | ast.ImportFrom):
        return True
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return True
    value = statement.value if isinstance(statement, ast.Assign) else None
    return isinstance(value, ast.Call) and ast.unparse(value.func) == "runtime.current"


def fragment_violations(source: str, filename: str = "<source>") -> list[str]:
    """A fragment's or dialog's run of its own skips ui.py's session check: before it reads or draws
    anything, each calls ``fragment_user`` (pages/session.py), which checks the session as ui.py does."""
    problems = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.FunctionDef) or not any(_runs_on_its_own(d) for d in node.decorator_list):
            continue
        first = next((stmt for stmt in node.body if not _preamble(stmt)), None)
        checks = first is not None and any(
            isinstance(n, ast.Call) and _callee_name(n.func) == "fragment_user" for n in ast.walk(first)
        )
        if not checks:
            problems.append(f"{filename}:{node.lineno}: {node.name} does not start with fragment_user(...)")
    return problems


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_every_fragment_and_dialog_checks_the_session_first(path):
    assert fragment_violations(path.read_text(), path.name) == []


def test_the_fragment_checker_finds_fragments_that_do_not_check_first():
    planted = """
@st.fragment
def live(user_id):
    user = get_user(rt.db, user_id)
@st.fragment(run_every=5)
def ticking(rt, user):
    rows = list_campaigns(rt.db, user)
    user = fragment_user(rt, user)
@st.dialog("Assign")
def ask(key, user):
    st.write("Who?")
@st.fragment
def good(user):
    \"\"\"Checked.\"\"\"
    from core import runtime

    rt = runtime.current()
    user = session.fragment_user(rt, user)
@st.dialog("Sure?")
def fine(key, user):
    user_id = fragment_user(runtime.current(), user).id
def helper(user):
    return get_user(rt.db, user)
"""
    found = fragment_violations(planted)
    assert [int(p.split(":")[1]) for p in found] == [3, 6, 10], found


# ---- pages stay UI -------------------------------------------------------------------------------------

SQL = re.compile(r"\b(SELECT\b[\s\S]+\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b")
DATABASE_CALLS = {"execute", "executemany", "fetchall", "fetchone", "fetchdf", "scalar", "dicts", "sql"}
HTTP_MODULES = {"requests", "httpx", "urllib.request", "http.client", "socket", "aiohttp", "duckdb"}


def layer_violations(source: str, filename: str = "<source>") -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
            problems.append(f"{filename}:{node.lineno}: SQL in a string")
        elif isinstance(node, ast.Call) and _callee_name(node.func) in DATABASE_CALLS:
            if isinstance(node.func, ast.Attribute):
                problems.append(f"{filename}:{node.lineno}: .{node.func.attr}(…) reads or writes the database")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                if name in HTTP_MODULES or any(name.startswith(m + ".") for m in HTTP_MODULES):
                    problems.append(f"{filename}:{node.lineno}: imports {name}")
    return problems


# ---- the map -----------------------------------------------------------------------------------------------

WRITES = re.compile(r"\b(INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b")


def map_paths(readme: str) -> list[str]:
    """Every path named in README's *Where things live* table."""
    section = readme.split("## Where things live", 1)[1].split("\n## ", 1)[0]
    paths = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        paths += re.findall(r"`([^`]+)`", first_cell)
    return paths


def named_in_map(module: str, paths: list[str]) -> bool:
    return any(module == p or (p.endswith("/") and module.startswith(p)) for p in paths)


# ---- the rules, on the real source ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_pages_hold_no_sql_no_database_calls_and_no_http(path):
    assert layer_violations(path.read_text(), path.name) == []


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_only_literals_and_escaped_text_reach_markdown(path):
    assert markdown_violations(path.read_text(), path.name) == []


def test_every_path_in_the_map_exists():
    paths = map_paths(README.read_text())
    assert len(paths) >= 20, paths  # the table was found and read
    missing = [p for p in paths if not (ROOT / p.rstrip("/")).exists()]
    assert missing == []


def test_every_module_that_writes_to_the_database_is_on_the_map():
    paths = map_paths(README.read_text())
    writers = sorted(
        str(f.relative_to(ROOT))
        for f in (ROOT / "core").rglob("*.py")
        if "migrations" not in f.parts and WRITES.search(f.read_text())
    )
    assert writers, "no writer found: the pattern looks at nothing"
    assert [w for w in writers if not named_in_map(w, paths)] == []


# ---- the checkers catch what they are for ------------------------------------------------------------------


PLANTED_MARKDOWN = """
import streamlit as st
from pages.text import esc, md

name = contact["name"]
st.markdown(f"**{name}**")                          # 1 f-string
st.caption("From " + name)                          # 2 concatenation
st.error(str(exc))                                  # 3 a sentence quoting a name
st.toast(message)                                   # 4 bare variable
row.button(f"Open {who}", key="x")                  # 5 widget label
st.page_link(page, label=label)                     # 6 label=
st.image(data, caption=filename)                    # 7 caption=
st.download_button(f"{icon} {name}", data=b"")      # 8 download label
getattr(st, kind)(text)                             # 9 alert chosen at run time
(st.warning if bad else st.success)(summary)        # 10
st.selectbox("Pick", options, help=tip)             # 11 help=
st.header("Inbox " + badge)                         # 12
st.markdown(md(template, name=name))                # 13 a template that is not ours
st.expander(title)                                  # 14
st.markdown(body, unsafe_allow_html=True)           # 15, 16
st.tabs(["One", name])                              # 17
st.radio("Who", names, format_func=label_of)        # 18, 19
st.pills("Tags", ["a", tag])                        # 20
st.badge(esc(name), color="blue")                   # 21 badge re-escapes brackets
"""

PLANTED_FINE = """
import logging
import streamlit as st
from pages.text import esc, md

log = logging.getLogger(__name__)
st.markdown("**Literal**")
st.caption(esc(name))
st.error(esc(exc))
st.toast(md("Assigned to **{who}**.", who=name), icon="✅")
row.button(md("Open {who}", who=who), key="x", help="Literal help")
st.page_link(page, label=esc(label))
st.image(data, caption=esc(filename))
getattr(st, kind)(esc(text))
(st.warning if bad else st.success)(esc(summary))
st.info("a" if x else esc(y))
st.markdown(md(TEMPLATE, n=3))
log.warning("%s", name)
st.text(name)
st.dataframe(frame)
st.segmented_control("Show", list(SHOW), key="s")
st.radio("Kind", ["SMS", "WhatsApp"])
st.badge("Closed", color="gray")
st.markdown(md(":blue-badge[Unread for {who}]", who=name))
"""


def test_the_markdown_checker_finds_every_planted_violation():
    found = markdown_violations(PLANTED_MARKDOWN, "planted.py")
    lines = sorted({int(p.split(":")[1]) for p in found})
    source_lines = PLANTED_MARKDOWN.splitlines()
    planted = [i + 1 for i, line in enumerate(source_lines) if re.search(r"#\s+\d+", line)]
    assert lines == planted, "\n".join(found)
    assert len(found) == 21, "\n".join(found)


def test_the_markdown_checker_lets_literals_and_escaped_text_through():
    assert markdown_violations(PLANTED_FINE) == []


def test_the_layer_checker_finds_sql_database_calls_and_http():
    planted = """
import requests
from http.client import HTTPConnection
rows = rt.db.fetchall("SELECT id FROM conversations")
rt.db.execute("DELETE FROM contacts")
n = db.scalar(q)
"""
    found = layer_violations(planted)
    assert len(found) == 7, found  # 2 imports, 2 SQL strings, 3 database calls
    assert layer_violations('st.button("Select a row from the list")') == []


def test_the_map_reader_reads_the_first_column():
    readme = "x\n## Where things live\n\n| path | what |\n|---|---|\n| `a.py`, `b/` | the `c.py` thing |\n\n## Next\n| `d.py` | |\n"
    assert map_paths(readme) == ["a.py", "b/"]
    assert named_in_map("b/x.py", ["b/"]) and not named_in_map("bx.py", ["b"])
