"""What a transcript says, before it is laid out as text or PDF.

Everything people typed (bodies, names, file names, provider reasons) goes
through ``visible``: characters that would reorder or hide the text around
them (right-to-left overrides and the other bidi controls, C0/C1 controls
other than line breaks and tabs) are shown as ``[U+202E]`` instead, so a
name cannot turn the rest of a line around and nothing is dropped silently.
Joiners, variation selectors and the left/right marks stay: emoji and
scripts need them and they reorder nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core import media_rules, phones

# Bidi embeddings, overrides and isolates; C0 and C1 controls except \t and \n.
_HIDDEN = re.compile("[\u202a-\u202e\u2066-\u2069\x00-\x08\x0b-\x1f\x7f-\x9f]")

STATUS_TEXT = {
    "received": "Received",
    "queued": "Queued",
    "sending": "Sending",
    "sent": "Sent",
    "delivered": "Delivered",
    "read": "Read",
    "failed": "Failed",
    "undelivered": "Undelivered",
    "not_sent": "Not sent",
    "interrupted": "Interrupted (may or may not have been sent)",
}
MEDIA_SYMBOL = "📎"


def visible(text: Any) -> str:
    """``text`` with every character that would hide or reorder others written as ``[U+XXXX]``."""
    if text is None:
        return ""
    # Every line break is a line feed: editors and str.splitlines() also break at LINE and
    # PARAGRAPH SEPARATOR, which would start a line the layout did not indent.
    text = str(text).replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    return _HIDDEN.sub(lambda m: f"[U+{ord(m.group(0)):04X}]", text)


def one_line(text: Any) -> str:
    """``visible`` text on one line (header fields, names)."""
    return " ".join(visible(text).split())


@dataclass
class MediaLine:
    kind: str  # image, video, audio, sticker, document
    filename: str
    content_type: str
    size: int
    missing: bool  # the file is no longer on disk

    def label(self) -> str:
        note = " (file missing)" if self.missing else ""
        return f"[{MEDIA_SYMBOL} {self.kind}: {one_line(self.filename) or 'attachment'}{note}]"


@dataclass
class Line:
    """One message as the transcript shows it."""

    message_id: int
    when: str  # date and time in the exporter's zone
    direction: str  # 'in' | 'out'
    author: str
    status: str  # 'Delivered', 'Failed: 30003 Unreachable handset', ...
    body: str
    media: list[MediaLine] = field(default_factory=list)
    # Attachments sent that Parley could not download, each with why: "[📎 Attachment 1 could not be downloaded: …]"
    missing_media: list[str] = field(default_factory=list)

    @property
    def arrow(self) -> str:
        return "IN" if self.direction == "in" else "OUT"


@dataclass
class Header:
    conversation_id: int
    contact: str  # name (number), or the number
    contact_phone: str
    channel: str
    sender: str  # label and number
    period: str  # first to last message, or "no messages"
    timezone: str
    exported_by: str
    exported_at: str
    message_count: int


@dataclass
class TranscriptData:
    header: Header
    lines: list[Line]
    base_name: str  # safe descriptive file name without extension


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def when(value: dt.datetime, tz: ZoneInfo) -> str:
    local = value.replace(tzinfo=dt.UTC).astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def status_text(row: dict[str, Any], tz: ZoneInfo) -> str:
    if row["direction"] == "in":
        return STATUS_TEXT["received"]
    status = row["status"]
    words = STATUS_TEXT.get(status, status)
    if status == "queued" and row.get("release_at"):
        words = f"Queued until {when(row['release_at'], tz)}"
    if status in ("failed", "undelivered", "not_sent"):
        reason = one_line(row.get("error_reason"))  # provider reasons already name their code
        code = one_line(row.get("error_code"))
        if code and code not in reason:
            reason = f"{reason} (error {code})" if reason else f"error {code}"
        if reason:
            words = f"{words}: {reason}"
    return words


# The applier joins one sentence per attachment it could not download (core.ingest_apply).
_EACH_ATTACHMENT = re.compile(r";\s+(?=Attachment \d+ could not be downloaded)")


def missing_media(row: dict[str, Any]) -> list[str]:
    """An incoming message's attachments that could not be downloaded, one line each with why
    (the reason the applier recorded), so the transcript shows that one was sent (rule 8)."""
    if row["direction"] != "in" or not row.get("error_reason"):
        return []
    return [f"[{MEDIA_SYMBOL} {one_line(part)}]" for part in _EACH_ATTACHMENT.split(str(row["error_reason"]))]


def author(row: dict[str, Any], contact: str) -> str:
    if row["direction"] == "in":
        return contact
    if row.get("campaign_id") is not None:
        name = one_line(row.get("campaign_name")) or f"campaign {row['campaign_id']}"
        by = one_line(row.get("author_name"))
        return f"Campaign “{name}”" + (f" ({by})" if by else "")
    if row.get("author_name"):
        return one_line(row["author_name"])
    return "Parley (automatic reply)"


def contact_label(name: str | None, phone: str) -> str:
    shown = phones.format_phone_display(phone)
    name = one_line(name)
    return f"{name} · {shown}" if name else shown


def media_line(item: dict[str, Any], missing: bool, tz: ZoneInfo) -> MediaLine:
    """A file as the thread names it and a download saves it (``media_rules.download_name``): the
    sender's own name, else what it is and when it came in the exporter's zone, never a media id."""
    filename, ctype = item["filename"], item["content_type"]
    if not media_rules.names_itself(filename):
        filename = media_rules.download_name(filename, ctype, item["created_at"], tz.key)
    return MediaLine(
        kind=media_rules.media_kind(ctype),
        filename=filename or "attachment",
        content_type=item["content_type"],
        size=int(item.get("size") or 0),
        missing=missing,
    )


def slug(text: str | None) -> str:
    """ASCII letters, digits and single dashes: safe in a file name on every system."""
    folded = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "-", folded).strip("-").lower()[:40].strip("-")


def base_name(conversation_id: int, contact_name: str | None, phone: str, exported: dt.datetime) -> str:
    """``transcript-maria-lopez-14155550100-c42-2026-03-10``: who, which, when; nothing else."""
    who = slug(contact_name)
    digits = re.sub(r"\D", "", phone or "")
    parts = ["transcript", who, digits, f"c{conversation_id}", f"{exported:%Y-%m-%d}"]
    return "-".join(p for p in parts if p)
