"""Event names are constants, and nobody waits for an event that is never sent.

Read from the source (``ast``), not by running it: every ``subscribe(...)`` in
the product names a constant of ``core/events.py``; every constant something
subscribes to is published by ``core`` itself (tests publishing it do not
count); every ``publish(...)`` in ``core`` names constants too.
"""

from __future__ import annotations

import ast
from pathlib import Path

from core import events
from tests.conftest import ROOT

PRODUCT = [ROOT / "core", ROOT / "pages", ROOT / "routes.py", ROOT / "app.py", ROOT / "ui.py", ROOT / "bench"]
CONSTANTS = {name: value for name, value in vars(events).items() if name.isupper() and isinstance(value, str)}


def _files(*roots: Path) -> list[Path]:
    found = []
    for root in roots:
        found += [root] if root.is_file() else sorted(root.rglob("*.py"))
    return found


def _calls(path: Path, method: str):
    """(call, enclosing function or module) for each ``<x>.<method>(...)`` in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    scopes = [tree] + [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for scope in scopes:
        for node in ast.walk(scope):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == method
                and node.args
            ):
                innermost = min(
                    (s for s in scopes if s is not tree and s.lineno <= node.lineno <= (s.end_lineno or s.lineno)),
                    key=lambda s: (s.end_lineno or s.lineno) - s.lineno,
                    default=tree,
                )
                if innermost is scope:
                    yield node, scope


def _constant_names(node: ast.AST) -> set[str]:
    """Every ``events.NAME`` inside ``node``."""
    return {
        n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "events"
    }


def _named_events(call: ast.Call, scope: ast.AST) -> set[str] | None:
    """The constants a call's first argument can be; None when it is not built from constants."""
    arg = call.args[0]
    if isinstance(arg, ast.Constant):
        return None
    direct = _constant_names(arg)
    if isinstance(arg, ast.Attribute):
        return direct
    if isinstance(arg, ast.IfExp):
        branches = [arg.body, arg.orelse]
        return direct if all(isinstance(b, ast.Attribute) for b in branches) else None
    if isinstance(arg, ast.Name):  # e.g. name = events.A if read else events.B; tx.publish(name, ...)
        assigned: set[str] = set()
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == arg.id for t in node.targets):
                assigned |= _constant_names(node.value)
        return assigned or None
    return None


def test_every_subscription_names_an_event_constant():
    bare = []
    for path in _files(*PRODUCT):
        for call, scope in _calls(path, "subscribe"):
            names = _named_events(call, scope)
            if names is None or not names <= set(CONSTANTS):
                bare.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert bare == []


def test_every_publish_in_core_names_event_constants():
    bare = []
    for path in _files(ROOT / "core"):
        for call, scope in _calls(path, "publish"):
            if path.name == "db.py":
                continue  # the method itself
            names = _named_events(call, scope)
            if names is None or not names <= set(CONSTANTS):
                bare.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert bare == []


def test_every_subscribed_event_is_published_by_core():
    subscribed: dict[str, str] = {}
    for path in _files(*PRODUCT):
        for call, scope in _calls(path, "subscribe"):
            for name in _named_events(call, scope) or ():
                subscribed.setdefault(name, f"{path.relative_to(ROOT)}:{call.lineno}")
    published: set[str] = set()
    for path in _files(ROOT / "core"):
        for call, scope in _calls(path, "publish"):
            published |= _named_events(call, scope) or set()
    never = {name: where for name, where in subscribed.items() if name != "EVERY" and name not in published}
    assert never == {}
    assert {"SENDER_CHANGED", "MESSAGE_QUEUED", "MESSAGE_RETRIED"} <= set(subscribed)


def test_the_checks_see_what_they_look_for(tmp_path):
    """The scan itself: a bare string and an unpublished constant are both caught."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from core import events\n"
        "def wire(db, tx, read):\n"
        "    db.subscribe('message.queued', print)\n"
        "    db.subscribe(events.SENDER_CHANGED, print)\n"
        "    name = events.CONVERSATION_READ if read else events.CONVERSATION_UNREAD\n"
        "    tx.publish(name)\n"
    )
    subs = [(_named_events(c, s), c.lineno) for c, s in _calls(sample, "subscribe")]
    assert subs == [(None, 3), ({"SENDER_CHANGED"}, 4)]
    pubs = [_named_events(c, s) for c, s in _calls(sample, "publish")]
    assert pubs == [{"CONVERSATION_READ", "CONVERSATION_UNREAD"}]
