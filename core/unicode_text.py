"""Text that is not valid Unicode: lone surrogates.

Python strings can hold them (a JSON ``"\\udce9"`` escape, bytes decoded with
``surrogateescape``); UTF-8 cannot, so neither DuckDB nor the browser's
protocol can carry them. What a person typed is refused with one sentence
(nothing is stored; the page keeps their text); what a provider sent is kept
with each such character replaced by U+FFFD, so the message still arrives.
"""

from __future__ import annotations

import json
import re
from typing import Any

from core.errors import ValidationError

NOT_UNICODE = (
    "That text holds a character that is not valid Unicode (part of a broken emoji or a stray byte); "
    "remove it and try again."
)

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def is_valid(text: str) -> bool:
    return text.isascii() or _LONE_SURROGATE.search(text) is None


def require_valid(text: str) -> str:
    """``text`` itself, or ``ValidationError(NOT_UNICODE)``."""
    if not is_valid(text):
        raise ValidationError(NOT_UNICODE)
    return text


def replace_invalid(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (what a browser shows for a broken byte)."""
    return text if is_valid(text) else _LONE_SURROGATE.sub("\ufffd", text)


def loads_json(body: bytes | str) -> Any:
    """``json.loads``, with any lone surrogate a ``\\uXXXX`` escape made replaced by U+FFFD.

    Meta and the simulator escape every non-ASCII character (``ensure_ascii``); half of an emoji's
    pair, sent alone, would otherwise reach the database and fail the whole payload.
    """
    data = json.loads(body)
    if (b"\\u" if isinstance(body, bytes) else "\\u") not in body:
        return data  # no escapes, no surrogates: the usual small payload costs nothing more
    return _replace_in(data)


def _replace_in(value: Any) -> Any:
    if isinstance(value, str):
        return replace_invalid(value)
    if isinstance(value, list):
        return [_replace_in(v) for v in value]
    if isinstance(value, dict):
        return {replace_invalid(k): _replace_in(v) for k, v in value.items()}
    return value
