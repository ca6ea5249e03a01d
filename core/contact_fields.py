"""Cleaning what people type (or a CSV holds) into contact fields.

One function per field; each returns the stored value (``None`` for empty)
or raises ``ValidationError`` with one sentence. The contact form and the
CSV import use the same functions, so a value the form refuses is refused
by an import too, with the same words.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import zoneinfo
from collections.abc import Iterable
from typing import Any

from core.errors import ValidationError
from core.phones import DEFAULT_REGION, parse_phone
from core.unicode_text import replace_invalid, require_valid

MAX_NAME = 120
MAX_EMAIL = 254
MAX_TAG = 40
MAX_TAGS = 20
MAX_NOTES = 2000

_EMAIL = re.compile(r"^(?!\.)[^\s@\"(),:;<>\[\]\\]+(?<!\.)@(?:[^\s@.\"(),:;<>\[\]\\]+\.)+[^\s@.\"(),:;<>\[\]\\]{2,}$")
_TAG_SPLIT = re.compile(r"[,;\n]")


def _shown(raw: Any, limit: int = 40) -> str:
    text = " ".join(str(raw).split())
    return text if len(text) <= limit else text[:limit] + "…"


def _text(raw: Any) -> str:
    """The value as text without control characters (tabs and line breaks become spaces)."""
    if raw is None:
        return ""
    if isinstance(raw, float) and raw != raw:  # NaN from pandas
        return ""
    text = require_valid(str(raw))
    if not text.isprintable():
        text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return text


def clean_phone(raw: Any, region: str = DEFAULT_REGION) -> str:
    """E.164, or one sentence saying the number is missing or invalid."""
    return parse_phone(None if raw is None else require_valid(str(raw)), region)


def clean_name(raw: Any) -> str | None:
    text = " ".join(_text(raw).split())
    if not text:
        return None
    if len(text) > MAX_NAME:
        raise ValidationError(f"A name can be at most {MAX_NAME} characters; “{_shown(text)}” is longer.")
    return text


def name_from_provider(raw: Any) -> str | None:
    """A name a provider sent (a WhatsApp profile name) as a contact's name: never refused, made to fit.

    The same text a person could have typed: control characters are spaces, broken characters
    U+FFFD, and a name longer than a name may be is cut.
    """
    text = " ".join(_text(replace_invalid(str(raw or ""))).split())
    return text[:MAX_NAME].rstrip() or None


def clean_email(raw: Any) -> str | None:
    text = _text(raw).strip()
    if not text:
        return None
    if len(text) > MAX_EMAIL or not _EMAIL.match(text):
        raise ValidationError(f"“{_shown(text)}” is not an email address; it should look like name@example.com.")
    return text


def clean_tags(raw: Any) -> str | None:
    """Tags from "vip, kids" or a list: trimmed, duplicates dropped (any case), stored comma-separated."""
    if raw is None:
        parts: Iterable[Any] = []
    elif isinstance(raw, str):
        parts = _TAG_SPLIT.split(raw)
    elif isinstance(raw, float) and raw != raw:
        parts = []
    elif isinstance(raw, Iterable):
        parts = [p for item in raw for p in _TAG_SPLIT.split(_text(item))]
    else:
        parts = _TAG_SPLIT.split(_text(raw))
    tags: dict[str, str] = {}
    for part in parts:
        tag = " ".join(_text(part).split())
        if not tag:
            continue
        if len(tag) > MAX_TAG:
            raise ValidationError(f"A tag can be at most {MAX_TAG} characters; “{_shown(tag)}” is longer.")
        tags.setdefault(tag.casefold(), tag)
    if len(tags) > MAX_TAGS:
        raise ValidationError(f"A contact can have at most {MAX_TAGS} tags.")
    return ", ".join(tags.values()) or None


def split_tags(stored: str | None) -> list[str]:
    return [t.strip() for t in (stored or "").split(",") if t.strip()]


def clean_notes(raw: Any) -> str | None:
    if raw is None or (isinstance(raw, float) and raw != raw):
        return None
    text = "\n".join(_text(line).rstrip() for line in str(raw).replace("\r\n", "\n").split("\n")).strip()
    if len(text) > MAX_NOTES:
        raise ValidationError(f"Notes can be at most {MAX_NOTES:,} characters; these have {len(text):,}.")
    return text or None


@functools.cache
def _zones() -> dict[str, str]:
    return {z.casefold(): z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC"}


def time_zone_choices() -> list[str]:
    """Every IANA zone name the machine knows, sorted (for a picker)."""
    return sorted(_zones().values())


def clean_timezone(raw: Any) -> str | None:
    """An IANA time zone name (any case), or None to use the number's own zone."""
    text = _text(raw).strip()
    if not text:
        return None
    zone = _zones().get(text.casefold())
    if zone is None:
        raise ValidationError(f"“{_shown(text)}” is not a time zone; use a name like America/New_York.")
    return zone


CLEANERS = {
    "name": clean_name,
    "email": clean_email,
    "tags": clean_tags,
    "notes": clean_notes,
    "timezone": clean_timezone,
}
