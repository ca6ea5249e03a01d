"""The hostile values of issue 17's suite, by name: what a careless or malicious person types or posts.

Each test module crosses these with its inputs (pytest ids ``<input>-<value>``) and writes, per
pair, the literal answer it expects. ``python -m pytest tests/core/test_hostile_inputs.py
tests/routes/test_hostile_routes.py --collect-only -q`` lists and counts the cases.
"""

from __future__ import annotations

MEGABYTE = 1_000_000

VALUES: dict[str, str] = {
    "script": '<script>alert("x")</script>',
    "img_onerror": "<img src=x onerror=alert(1)>",
    "md_link": "[click](javascript:alert(1))",
    "md_image": "![p](http://evil.example/x.png)",
    "sql": "Robert'); DROP TABLE contacts;--",
    "like_wildcards": "%_%",
    "regex": ".*(a+)+$[",
    "nul": "a\x00b",
    "rtl_override": "\u202egnp.exe",
    "one_megabyte": "A" * MEGABYTE,
    # b"caf\xe9" (Latin-1, not UTF-8) as Python decodes it with surrogateescape, and as a JSON
    # "\udce9" escape arrives: a lone surrogate no UTF-8 store can hold.
    "invalid_utf8": "caf\udce9",
    "path_traversal": "../../etc/passwd",
    "template_braces": "{{first_name}}",
    "formula": '=HYPERLINK("http://evil.example","x")',
}
NAMES = list(VALUES)

# The same thing as raw bytes where an input takes bytes (a CSV file, a webhook body).
INVALID_UTF8_BYTES = b"caf\xe9"

# What Parley answers when text holds a lone surrogate (core.db.NOT_UNICODE), written out.
NOT_UNICODE = (
    "That text holds a character that is not valid Unicode (part of a broken emoji or a stray byte); "
    "remove it and try again."
)

# Everything a page or export could turn into live markup if it were not kept as text.
ACTIVE_MARKUP = ("<script", "<img", "](javascript:", "![p](")


# Bookkeeping a write adds beside its own rows (events and the reporting facts they make).
# So is the contacts search index (a side table of name and number keys, kept with each write).
BOOKKEEPING = {
    "events",
    "report_facts",
    "report_conversation_state",
    "report_rollup",
    "report_rollup_mark",
    "contact_search",
    "contact_search_recent",
}


def tables(db) -> list[str]:
    return [r[0] for r in db.fetchall("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1")]


# Quarter-hour counts a timer worker folds from the facts whenever it wakes: derived, so left out.
DERIVED_BY_TIMER = {"report_rollup", "report_rollup_mark"}


def snapshot(db) -> dict[str, set[str]]:
    """Every row of every table (but the timer-derived ones), as text (a set per table)."""
    return {
        t: {repr(row) for row in db.fetchall(f'SELECT * FROM "{t}"')} for t in tables(db) if t not in DERIVED_BY_TIMER
    }


def changes(before: dict[str, set[str]], after: dict[str, set[str]]) -> dict[str, tuple[int, int]]:
    """table -> (rows gone or changed, rows new or changed), for the tables that differ."""
    return {t: (len(before[t] - after[t]), len(after[t] - before[t])) for t in after if before.get(t) != after[t]}
