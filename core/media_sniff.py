"""What a downloaded attachment really is, from its bytes (never trusting the claimed type).

A provider's webhook says what an attachment is (``MediaContentType0``,
``mime_type``), and a sender can say anything: an "image/png" that is a PDF,
an HTML page, or nothing readable. ``true_type`` looks at the first bytes
(and, for images, whether they decode), so that what Parley stores, and the
thread shows as a picture, is what the file is. Anything unknown that
claimed to be a picture, a sound or a video becomes a plain download.
"""

from __future__ import annotations

import io
import re

OCTET = "application/octet-stream"
ZIP_BASED = ("application/vnd.openxmlformats", "application/vnd.oasis.opendocument", "application/zip")

_SIGNATURES: list[tuple[bytes, int, str]] = [  # (bytes, offset, type)
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"%PDF-", 0, "application/pdf"),
    (b"OggS", 0, "audio/ogg"),
    (b"#!AMR", 0, "audio/amr"),
    (b"ID3", 0, "audio/mpeg"),
    (b"BEGIN:VCARD", 0, "text/vcard"),
    (b"\x1aE\xdf\xa3", 0, "video/webm"),
]
RENDERED = ("image/", "audio/", "video/")
# Types a browser shows as a page, scripts and all: never kept from a claim.
PAGES = ("text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml")
# 'type/subtype' and nothing else (RFC 6838's characters and lengths): what a claim must be to be kept.
_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


def sniff(data: bytes) -> str | None:
    """The type the bytes announce, or None when they announce nothing known."""
    if not data:
        return None
    head = data[:64]
    for magic, offset, kind in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand.startswith(b"3g"):
            return "video/3gpp"
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        return "video/mp4"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:  # ADTS: 12 sync bits, then layer 00
        return "audio/aac"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG audio frame (layer 1-3)
        return "audio/mpeg"
    if head[:4] == b"PK\x03\x04":
        return "application/zip"
    lowered = head.lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return "text/html"
    if b"\x00" not in data[:4096]:
        try:
            data[:4096].decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < 4090:  # not just a character cut at the end of the sample
                return None
        return "text/plain"
    return None


def is_picture(data: bytes) -> bool:
    """Bytes a browser can show as a picture (a known image header and they decode)."""
    found = sniff(data)
    return found is not None and found.startswith("image/") and (found == "image/webp" or _decodes_as_image(data))


def _decodes_as_image(data: bytes) -> bool:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        return True
    except Exception:  # PIL raises many kinds for bad data: any of them means "not a picture"
        return False


def true_type(data: bytes, claimed: str | None) -> str:
    """The type to store for these bytes: what they are, else what was claimed if that is harmless."""
    claimed = (claimed or OCTET).split(";")[0].strip().lower() or OCTET
    if not _TYPE.fullmatch(claimed):
        claimed = OCTET  # not a type (line breaks, spaces, no subtype): nothing to keep
    found = sniff(data)
    if found is not None and found.startswith("image/") and found != "image/webp" and not _decodes_as_image(data):
        found = None  # a picture's header on bytes that do not decode: not a picture
    if found == "application/zip" and claimed.startswith(ZIP_BASED):
        return claimed  # a Word or OpenDocument file is a zip inside
    if found == "text/plain" and claimed.startswith("text/") and claimed not in PAGES:
        return claimed  # text/csv, text/calendar...: the bytes cannot tell them apart
    if found is not None:
        return found
    if claimed.startswith(RENDERED) or claimed in PAGES:
        return OCTET  # never shown as a picture, a player or a page
    return claimed
