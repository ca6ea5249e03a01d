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
