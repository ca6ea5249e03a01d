"""The one way text reaches the screen: our words may be Markdown, people's never are.

Streamlit renders Markdown in ``st.markdown``, ``st.caption``, ``st.error``
and the other alerts, ``st.toast``, headers, and every widget's label. A
contact name, a message, a file name, a provider's error or a sentence from
``core`` that quotes any of them must come out as the characters typed: no
link, no image fetched from elsewhere, no emphasis, no colour.

- ``esc(value)``: any value as literal Markdown text.
- ``md(template, **values)``: our own Markdown ``template`` (``str.format``
  fields) with each value escaped. Use it whenever a sentence mixes our
  formatting with someone's text.

Both return ``Markdown``, a ``str`` that is already safe: ``md`` inserts a
``Markdown`` value as it is, so pieces built with ``esc``/``md`` (a status
line with its coloured icon, say) compose into larger sentences, while any
other value is escaped.

Every such call in ``pages/`` passes a string literal, ``esc(...)`` or
``md(...)``; ``tests/test_architecture.py`` fails on anything else.
"""

from __future__ import annotations

import re
from typing import Any

# What gives text a meaning in Streamlit's Markdown (CommonMark, GitHub's extensions, and
# Streamlit's own :colour[...], :emoji: / :material/icon:, $maths$), escaped only where it acts,
# so that a plain sentence ("Marked 2 conversations read.") comes out unchanged:
# - anywhere: \ ` * _ [ ] < > | ~ $ (emphasis, code, links and images, HTML, tables,
#   strike-through, maths);
# - ``:`` before a letter, ``/``, ``+``, ``-``, ``_`` or ``digits:`` (emoji and icon codes,
#   Streamlit directives, URL schemes such as ``javascript:``; "8:00 AM" stays);
# - ``&`` that starts an entity (``&lt;``, ``&#60;``);
# - at the start of a line: ``#`` (headings), ``-`` ``+`` ``=`` (lists, rules, underlines),
#   ``1.`` / ``1)`` (numbered lists).
_ANYWHERE = re.compile(
    r"([\\`*_\[\]<>|~$])"
    r"|(:)(?=[A-Za-z/+_\-]|\d+:)"
    r"|(&)(?=#?\w+;)"
)
_LINE_START = re.compile(r"^([ \t]{0,3})(?:([#+=\-])|(\d{1,9})([.)]))", re.MULTILINE)
# GitHub's bare links (``http://…``, ``www.…``, ``a@b.co``) and emoji codes (``:smile:``) are
# found *after* parsing, in the text with its escapes already resolved, so no backslash stops
# them: an invisible word joiner (U+2060) between ``http``/``www``/the address/the colon and what
# follows does, and shows nothing.
WORD_JOINER = "\u2060"
_AFTER_PARSE = re.compile(
    r"(?i)(?<=https)(?=://)|(?<=http)(?=://)|(?<=www)(?=\.)|(?<=[\w.+\-])(?=@[\w\-])|(?<=:)(?=[\w+\-/]+:)"
)


class Markdown(str):
    """Text already made safe for Markdown by ``esc`` or ``md``."""

    __slots__ = ()


def esc(value: Any) -> Markdown:
    """``value`` as literal text inside Markdown: shown exactly as typed, never as a link, image or format."""
    if value is None:
        return Markdown("")
    if isinstance(value, Markdown):  # made safe already
        return value
    text = _AFTER_PARSE.sub(WORD_JOINER, str(value))
    text = _ANYWHERE.sub(lambda m: "\\" + next(g for g in m.groups() if g is not None), text)
    text = _LINE_START.sub(
        lambda m: m.group(1) + (f"\\{m.group(2)}" if m.group(2) else f"{m.group(3)}\\{m.group(4)}"), text
    )
    return Markdown(text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "  \n"))


def md(template: str, /, **values: Any) -> Markdown:
    """Our Markdown ``template`` with every ``{field}`` filled by an escaped value (``Markdown`` values as they are)."""
    return Markdown(template.format(**{name: v if isinstance(v, Markdown) else esc(v) for name, v in values.items()}))
