"""How an SMS body is encoded and into how many segments it is split.

Carriers bill and deliver per segment, so the composer shows the count as
the agent types. One character outside GSM-7 (an emoji, a curly quote)
switches the whole message to UCS-2 and more than halves the room per
segment; ``non_gsm_characters`` tells the agent which ones did it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

import emoji

Encoding = Literal["GSM-7", "UCS-2"]

# GSM 03.38 default alphabet (one septet each). ESC (0x1B) is left out: it
# only introduces the extension table and is never typed.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: sent as ESC + character, so each counts two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

# (whole message fits in one segment, room per part once split). The split
# parts are smaller because each carries a 6-byte concatenation header.
LIMITS: dict[str, tuple[int, int]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@dataclass(frozen=True)
class SegmentInfo:
    encoding: Encoding
    characters: int  # as a person counts them: 👍🏽 or 🇺🇸 is one
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment_limit: int  # 160/70 while it fits in one segment, 153/67 once split
    remaining_in_segment: int  # units left before another segment starts


def is_gsm7(text: str) -> bool:
    """True when every character can be sent in GSM-7."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def non_gsm_characters(text: str) -> list[str]:
    """The distinct characters forcing UCS-2, in order of first appearance."""
    seen: dict[str, None] = {}
    for ch in text:
        if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION:
            seen.setdefault(ch, None)
    return list(seen)


def visible_length(text: str) -> int:
    """Characters as a person sees them: an emoji sequence or a letter with its accents is one."""
    if is_gsm7(text):
        return len(text)  # GSM-7 has no emoji or combining marks: skip the slow analysis
    count = 0
    for token in emoji.analyze(text, non_emoji=True, join_emoji=True):
        if isinstance(token.value, emoji.EmojiMatch):
            count += 1
        else:
            # Combining accents, joiners and variation selectors attach to the previous character.
            count += sum(1 for ch in token.chars if not _attaches_to_previous(ch))
    return count


def _attaches_to_previous(ch: str) -> bool:
    return unicodedata.combining(ch) != 0 or ch in "\u200d\ufe0e\ufe0f"


# The characters that take two units: an extension character (ESC + it) in GSM-7; in UTF-16, one
# beyond the Basic Multilingual Plane (a surrogate pair).
_PAIRS = {
    "GSM-7": re.compile("[" + re.escape("".join(sorted(GSM7_EXTENSION))) + "]"),
    "UCS-2": re.compile("[\U00010000-\U0010ffff]"),
}


def _packed_units(text: str, encoding: Encoding, part_limit: int) -> tuple[int, int]:
    """(units, units once split into parts of ``part_limit``). A pair of units is never split across
    segments: one that would start on a part's last unit starts the next part, leaving that unit
    unused. Found by the pairs' positions alone (a campaign counts thousands of texts this way)."""
    pairs = wasted = 0
    for match in _PAIRS[encoding].finditer(text):
        if (match.start() + pairs + wasted) % part_limit == part_limit - 1:
            wasted += 1
        pairs += 1
    return len(text) + pairs, len(text) + pairs + wasted


def segments_of(text: str, encoding: Encoding) -> int:
    """``sms_segments(text).segments`` when ``text``'s encoding is already known: what a campaign
    counts for each of thousands of texts (``core.campaigns.estimate``)."""
    single_limit, part_limit = LIMITS[encoding]
    units, packed = _packed_units(text, encoding, part_limit)
    if units <= single_limit:
        return 1 if units else 0
    return -(-packed // part_limit)


def sms_segments(text: str | None) -> SegmentInfo:
    """Encoding, length and segment count of an SMS body."""
    text = text or ""
    encoding: Encoding = "GSM-7" if is_gsm7(text) else "UCS-2"
    single_limit, part_limit = LIMITS[encoding]
    units, packed = _packed_units(text, encoding, part_limit)
    characters = visible_length(text)
    if units <= single_limit:
        segments = 1 if units else 0
        return SegmentInfo(encoding, characters, units, segments, single_limit, single_limit - units)
    # Parts are filled in turn; an escape pair or surrogate pair that does not fit in the current
    # part starts the next one, leaving a unit unused (counted in ``packed``).
    segments = -(-packed // part_limit)
    used = packed - (segments - 1) * part_limit
    return SegmentInfo(encoding, characters, units, segments, part_limit, part_limit - used)


def describe_segments(info: SegmentInfo) -> str:
    """Short line for the composer, e.g. '161 characters · 2 segments (GSM-7)'."""
    if info.segments == 0:
        return f"0 characters · {info.per_segment_limit} fit in one SMS"
    noun = "segment" if info.segments == 1 else "segments"
    chars = "character" if info.characters == 1 else "characters"
    return f"{info.characters} {chars} · {info.segments} {noun} ({info.encoding})"
