"""What may be attached to an outgoing SMS/MMS or WhatsApp message.

Checked before a message is stored, so the agent hears why at once instead
of a provider error minutes later. Limits are Twilio's MMS rules (10 files,
5 MB in all) and Meta's per-type WhatsApp limits; a WhatsApp message
carries a single attachment. Sizes use decimal megabytes (1 MB = 1,000,000
bytes), the stricter reading of the providers' "MB".
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import os
import re
import unicodedata
from typing import Literal
from zoneinfo import ZoneInfo

from core import media_sniff
from core.errors import ValidationError

Channel = Literal["sms", "whatsapp"]
MediaKind = Literal["image", "video", "audio", "document", "sticker"]

KB = 1_000
MB = 1_000_000

MMS_MAX_TOTAL = 5 * MB
MMS_MAX_FILES = 10
WHATSAPP_MAX_FILES = 1

# Content type → extensions a file of that type may carry (first = default).
MMS_TYPES: dict[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "image/gif": (".gif",),
    "image/bmp": (".bmp",),
    "image/tiff": (".tif", ".tiff"),
    "image/heic": (".heic",),
    "image/heif": (".heif",),
    "video/mp4": (".mp4",),
    "video/mpeg": (".mpeg", ".mpg"),
    "video/quicktime": (".mov",),
    "video/3gpp": (".3gp",),
    "video/3gpp2": (".3g2",),
    "video/webm": (".webm",),
    "audio/mpeg": (".mp3",),
    "audio/mp4": (".m4a", ".mp4"),
    "audio/ogg": (".ogg", ".oga", ".opus"),
    "audio/amr": (".amr",),
    "audio/3gpp": (".3gp",),
    "audio/basic": (".au", ".snd"),
    "audio/vnd.wave": (".wav",),
    "audio/webm": (".weba", ".webm"),
    "text/vcard": (".vcf",),
    "text/x-vcard": (".vcf",),
    "text/calendar": (".ics",),
    "text/csv": (".csv",),
    "text/rtf": (".rtf",),
    "application/pdf": (".pdf",),
    "application/vnd.apple.pkpass": (".pkpass",),
}

_OFFICE = {
    "application/msword": (".doc",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
    "application/vnd.ms-excel": (".xls",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
    "application/vnd.ms-powerpoint": (".ppt",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (".pptx",),
}
# Content type → (kind, byte limit, allowed extensions) for WhatsApp.
WHATSAPP_TYPES: dict[str, tuple[MediaKind, int, tuple[str, ...]]] = {
    "image/jpeg": ("image", 5 * MB, (".jpg", ".jpeg")),
    "image/png": ("image", 5 * MB, (".png",)),
    "video/mp4": ("video", 16 * MB, (".mp4",)),
    "video/3gpp": ("video", 16 * MB, (".3gp",)),
    "audio/aac": ("audio", 16 * MB, (".aac",)),
    "audio/amr": ("audio", 16 * MB, (".amr",)),
    "audio/mpeg": ("audio", 16 * MB, (".mp3",)),
    "audio/mp4": ("audio", 16 * MB, (".m4a", ".mp4")),
    "audio/ogg": ("audio", 16 * MB, (".ogg", ".opus")),
    "application/pdf": ("document", 100 * MB, (".pdf",)),
    "text/plain": ("document", 100 * MB, (".txt",)),
    **{ctype: ("document", 100 * MB, exts) for ctype, exts in _OFFICE.items()},
    # Animated stickers may be 500 KB, but nothing here can tell them apart.
    "image/webp": ("sticker", 100 * KB, (".webp",)),
}

# Spellings browsers and phones use for the same types.
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/mp3": "audio/mpeg",
    "audio/x-m4a": "audio/mp4",
    "audio/wav": "audio/vnd.wave",
    "audio/x-wav": "audio/vnd.wave",
    "video/3gp": "video/3gpp",
    "application/vcard": "text/vcard",
    "audio/opus": "audio/ogg",
}
_KIND_NAMES = {
    "image": "Images",
    "video": "Videos",
    "audio": "Audio files",
    "document": "Documents",
    "sticker": "Stickers",
}

MAX_FILENAME = 100
_FORBIDDEN_IN_NAMES = re.compile(r'[<>:"/\\|?*]')
# Device names Windows refuses as file names, whatever the extension.
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def normalize_content_type(content_type: str | None) -> str:
    """'Image/JPG; charset=x' → 'image/jpeg'."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def media_kind(content_type: str | None) -> MediaKind:
    """How a file is presented: WhatsApp sends webp images as stickers; anything unknown is a document."""
    ctype = normalize_content_type(content_type)
    if ctype == "image/webp":
        return "sticker"
    major = ctype.split("/", 1)[0]
    return major if major in ("image", "video", "audio") else "document"  # type: ignore[return-value]


def safe_filename(name: str | None, max_length: int = MAX_FILENAME) -> str:
    """A file name safe to store and offer for download; never empty.

    Drops any directory part (so '../' cannot climb), control and invisible
    format characters (NUL, right-to-left overrides that disguise
    'photo\u202egpj.exe'), characters Windows forbids, and leading dots.
    """
    text = unicodedata.normalize("NFC", str(name or ""))
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(" " if ch.isspace() else ch for ch in text)  # tabs and newlines read as spaces
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    text = _FORBIDDEN_IN_NAMES.sub("_", text)
    text = " ".join(text.split())
    text = text.strip(" .")  # no hidden files, no '..', no trailing dot (Windows drops it)
    stem, ext = os.path.splitext(text)
    if stem.lower() in _WINDOWS_RESERVED:
        stem = "_" + stem
    if len(ext) > 16:  # not an extension anyone relies on: keep it as part of the name
        stem, ext = stem + ext, ""
    stem = stem[: max(1, max_length - len(ext))].rstrip(" .")
    return (stem or "attachment") + ext


def _with_extension(name: str, extensions: tuple[str, ...]) -> str:
    """Append the type's extension when the name lacks a matching one ('invoice.exe' → 'invoice.exe.pdf').

    The stored content type is what we serve; the name must not suggest otherwise.
    """
    if os.path.splitext(name)[1].lower() in extensions:
        return name
    return safe_filename(name, MAX_FILENAME - len(extensions[0])) + extensions[0]


def _size_text(limit: int) -> str:
    return f"{limit // MB} MB" if limit >= MB else f"{limit // KB} KB"


def attachment_type(channel: Channel, filename: str | None, content_type: str | None) -> str:
    """The type ``check_attachment`` checks a file as, and so the one to store and tell providers:
    the claimed type normalized ('Image/JPG' → 'image/jpeg'), or, when the browser did not know
    (nothing, or application/octet-stream), the type of the file name's extension."""
    ctype = normalize_content_type(content_type)
    if ctype in ("", "application/octet-stream"):  # browsers say this when they do not know
        ctype = _type_from_extension(safe_filename(filename), channel) or ctype
    return ctype


def check_attachment(channel: Channel, filename: str | None, content_type: str | None, size: int) -> str:
    """Validate one attachment for ``channel``; returns the safe file name to store (its type to
    store is ``attachment_type``)."""
    name = safe_filename(filename)
    ctype = attachment_type(channel, filename, content_type)
    if size <= 0:
        raise ValidationError(f"The file “{name}” is empty.")
    if channel == "sms":
        if ctype not in MMS_TYPES:
            raise ValidationError(_refusal(ctype, "by SMS/MMS"))
        if size > MMS_MAX_TOTAL:
            raise ValidationError(f"SMS/MMS attachments must total {_size_text(MMS_MAX_TOTAL)} or less.")
        return _with_extension(name, MMS_TYPES[ctype])
    if channel == "whatsapp":
        if ctype not in WHATSAPP_TYPES:
            raise ValidationError(_refusal(ctype, "on WhatsApp"))
        kind, limit, extensions = WHATSAPP_TYPES[ctype]
        if size > limit:
            raise ValidationError(f"{_KIND_NAMES[kind]} over {_size_text(limit)} cannot be sent on WhatsApp.")
        return _with_extension(name, extensions)
    raise ValidationError(f"Attachments cannot be sent on the “{channel}” channel.")


# Pictures whose bytes Parley can check (a known header, and they decode): what a thread shows inline.
CHECKED_PICTURES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def content_type_of(channel: Channel, filename: str | None, checked_type: str, data: bytes) -> str:
    """The type to store for an attachment ``check_attachment`` accepted as ``checked_type``, from what
    its bytes are: a web page passed off as anything else, or a picture that does not open, is
    refused with a sentence; a picture of another kind than its name says (a PNG called .jpg) is
    stored as what it is. Other files keep the type they were checked as (their bytes cannot tell
    a voice note's container or a spreadsheet apart well enough to overrule it)."""
    name = safe_filename(filename)
    found = media_sniff.sniff(data)
    if found == "text/html" and checked_type != "text/html":
        raise ValidationError(f"“{name}” is a web page, not the file its name says; attach the file itself.")
    if checked_type not in CHECKED_PICTURES:
        return checked_type
    if not media_sniff.is_picture(data):
        raise ValidationError(f"“{name}” cannot be opened as a picture; attach the picture itself.")
    if found == checked_type:
        return checked_type
    allowed = MMS_TYPES if channel == "sms" else WHATSAPP_TYPES
    if found not in allowed:
        raise ValidationError(_refusal(found or "", "by SMS/MMS" if channel == "sms" else "on WhatsApp"))
    return found


def _type_from_extension(name: str, channel: Channel) -> str | None:
    ext = os.path.splitext(name)[1].lower()
    table = {t: spec[2] for t, spec in WHATSAPP_TYPES.items()} if channel == "whatsapp" else MMS_TYPES
    return next((ctype for ctype, extensions in table.items() if ext and ext in extensions), None)


def _refusal(ctype: str, where: str) -> str:
    if not ctype:
        return "This file has no content type, so it cannot be sent."
    if ctype in MMS_TYPES or ctype in WHATSAPP_TYPES:  # fine elsewhere: say where it is not
        return f"Files of type {ctype} cannot be sent {where}."
    return f"Files of type {ctype} cannot be sent."


def check_attachments_total(channel: Channel, sizes: list[int]) -> None:
    """Count and total-size limits for all attachments of one message."""
    if channel == "sms":
        if len(sizes) > MMS_MAX_FILES:
            raise ValidationError(f"An MMS can carry at most {MMS_MAX_FILES} files.")
        if sum(sizes) > MMS_MAX_TOTAL:
            raise ValidationError(f"SMS/MMS attachments must total {_size_text(MMS_MAX_TOTAL)} or less.")
    elif channel == "whatsapp":
        if len(sizes) > WHATSAPP_MAX_FILES:
            raise ValidationError("A WhatsApp message can carry one attachment; send the others in separate messages.")
    else:
        raise ValidationError(f"Attachments cannot be sent on the “{channel}” channel.")


# Names Parley gave a file the provider sent without one ("attachment-1.jpeg"), and a provider's
# media id offered as a name (Twilio ``ME`` + 32 hex, WhatsApp's long number, an opaque token):
# neither says what the file is, so a download gets a descriptive name instead.
_PLACEHOLDER_NAME = re.compile(r"attachment(-\d+)?", re.IGNORECASE)
_MEDIA_ID_NAME = re.compile(
    r"ME[0-9a-fA-F]{32}|\d{10,}|wamid\.[A-Za-z0-9_=-]+|(?=[^.]*\d)(?=[^.]*[A-Za-z])[A-Za-z0-9_-]{24,}"
)


def extension_for(content_type: str | None) -> str:
    """'.jpg' for image/jpeg: the usual extension of a content type ('.bin' when none is known)."""
    ctype = normalize_content_type(content_type)
    known = MMS_TYPES.get(ctype) or (WHATSAPP_TYPES[ctype][2] if ctype in WHATSAPP_TYPES else None)
    if known:
        return known[0]
    return mimetypes.guess_extension(ctype, strict=False) or ".bin"


def _name_parts(filename: str | None) -> tuple[str, str, str]:
    name = safe_filename(filename) if filename else ""
    stem, ext = os.path.splitext(name)
    if len(ext) > 16:  # 'wamid.HBgL…': a dot inside an id, not an extension
        stem, ext = name, ""
    return name, stem, ext


def names_itself(filename: str | None) -> bool:
    """Is this the sender's own file name (not one Parley made up, not a provider's media id)?"""
    name, stem, _ = _name_parts(filename)
    return bool(name) and not _PLACEHOLDER_NAME.fullmatch(stem) and not _MEDIA_ID_NAME.fullmatch(stem)


def download_name(
    filename: str | None, content_type: str | None, received_at: dt.datetime, tz_name: str | None = None
) -> str:
    """The name a downloaded attachment is saved under: the sender's own file name when there was
    one (made safe, given the type's extension if it had none), else what it is and when it came,
    in the reader's zone: 'image-2026-12-04-1532.jpg'."""
    name, _, ext = _name_parts(filename)
    if names_itself(filename):
        return name if ext else safe_filename(name + extension_for(content_type))
    at = received_at.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(tz_name or "UTC"))
    return f"{media_kind(content_type)}-{at:%Y-%m-%d-%H%M}{extension_for(content_type)}"
