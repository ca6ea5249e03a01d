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

Every such call in ``pages/`` passes a string literal, ``esc(...)`` or
``md(...)``; ``tests/test_architecture.py`` fails on anything else.
"""

from __future__ import annotations

import re
from typing import Any

# Every character Markdown (and Streamlit's extensions: :colour[...], $maths$, :emoji:) gives a meaning to.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=^&\"'@%])")


def esc(value: Any) -> str:
    """``value`` as literal text inside Markdown: shown exactly as typed."""
    if value is None:
        return ""
    return _MD_SPECIAL.sub(r"\\\1", str(value)).replace("\n", "  \n")


def md(template: str, /, **values: Any) -> str:
    """Our Markdown ``template`` with every ``{field}`` filled by an escaped value."""
    return template.format(**{name: esc(value) for name, value in values.items()})
