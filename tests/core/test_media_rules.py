"""Per-channel attachment rules, checked before a message is stored."""

from __future__ import annotations

import datetime as dt

import pytest

from core.errors import ValidationError
from core.media_rules import (
    KB,
    MB,
    check_attachment,
    check_attachments_total,
    download_name,
    media_kind,
    normalize_content_type,
    safe_filename,
)


@pytest.mark.parametrize(
    "name, ctype",
    [
        ("photo.jpg", "image/jpeg"),
        ("photo.png", "image/png"),
        ("party.gif", "image/gif"),
        ("clip.mp4", "video/mp4"),
        ("song.mp3", "audio/mpeg"),
        ("menu.pdf", "application/pdf"),
        ("card.vcf", "text/vcard"),
    ],
)
def test_mms_accepts_twilio_types(name, ctype):
    assert check_attachment("sms", name, ctype, 100 * KB) == name


@pytest.mark.parametrize(
    "name, ctype",
    [
        ("photo.jpg", "image/jpeg"),
        ("photo.png", "image/png"),
        ("clip.mp4", "video/mp4"),
        ("clip.3gp", "video/3gpp"),
        ("voice.aac", "audio/aac"),
        ("voice.amr", "audio/amr"),
        ("voice.mp3", "audio/mpeg"),
        ("voice.m4a", "audio/mp4"),
        ("voice.ogg", "audio/ogg"),
        ("menu.pdf", "application/pdf"),
        ("notes.txt", "text/plain"),
        ("plan.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("prices.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("smile.webp", "image/webp"),
    ],
)
def test_whatsapp_accepts_meta_types(name, ctype):
    assert check_attachment("whatsapp", name, ctype, 50 * KB) == name


@pytest.mark.parametrize(
    "ctype, size, message",
    [
        ("video/mp4", 16 * MB + 1, "Videos over 16 MB cannot be sent on WhatsApp."),
        ("image/jpeg", 5 * MB + 1, "Images over 5 MB cannot be sent on WhatsApp."),
        ("audio/ogg", 16 * MB + 1, "Audio files over 16 MB cannot be sent on WhatsApp."),
        ("application/pdf", 100 * MB + 1, "Documents over 100 MB cannot be sent on WhatsApp."),
        ("image/webp", 100 * KB + 1, "Stickers over 100 KB cannot be sent on WhatsApp."),
    ],
)
def test_whatsapp_size_limits_by_kind(ctype, size, message):
    with pytest.raises(ValidationError) as caught:
        check_attachment("whatsapp", "file", ctype, size)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "ctype, limit",
    [
        ("video/mp4", 16 * MB),
        ("image/png", 5 * MB),
        ("application/pdf", 100 * MB),
        ("image/webp", 100 * KB),
    ],
)
def test_whatsapp_limits_are_inclusive(ctype, limit):
    assert check_attachment("whatsapp", "file", ctype, limit)


def test_mms_file_over_five_mb_is_refused():
    assert check_attachment("sms", "a.jpg", "image/jpeg", 5 * MB) == "a.jpg"
    with pytest.raises(ValidationError) as caught:
        check_attachment("sms", "a.jpg", "image/jpeg", 5 * MB + 1)
    assert str(caught.value) == "SMS/MMS attachments must total 5 MB or less."


def test_unknown_type_is_refused_everywhere():
    for channel in ("sms", "whatsapp"):
        with pytest.raises(ValidationError) as caught:
            check_attachment(channel, "setup.exe", "application/x-msdownload", 1000)
        assert str(caught.value) == "Files of type application/x-msdownload cannot be sent."


def test_type_fine_on_one_channel_says_where_it_is_refused():
    with pytest.raises(ValidationError, match=r"^Files of type image/gif cannot be sent on WhatsApp\.$"):
        check_attachment("whatsapp", "party.gif", "image/gif", 1000)
    with pytest.raises(ValidationError, match=r"^Files of type image/webp cannot be sent by SMS/MMS\.$"):
        check_attachment("sms", "smile.webp", "image/webp", 1000)


def test_empty_file_is_refused():
    with pytest.raises(ValidationError, match="“blank.pdf” is empty"):
        check_attachment("sms", "blank.pdf", "application/pdf", 0)


def test_content_type_spellings_are_normalised():
    assert normalize_content_type("Image/JPG; charset=binary") == "image/jpeg"
    assert normalize_content_type("audio/mp3") == "audio/mpeg"
    assert check_attachment("sms", "p.jpg", "image/jpg", 10) == "p.jpg"


def test_missing_content_type_is_guessed_from_the_extension():
    assert check_attachment("sms", "menu.pdf", "", 10) == "menu.pdf"
    assert check_attachment("whatsapp", "clip.mp4", "application/octet-stream", 10) == "clip.mp4"
    with pytest.raises(ValidationError, match="no content type"):
        check_attachment("sms", "mystery", None, 10)


def test_name_gets_the_extension_of_the_type_actually_sent():
    assert check_attachment("sms", "invoice.exe", "application/pdf", 10) == "invoice.exe.pdf"
    assert check_attachment("whatsapp", "photo", "image/jpeg", 10) == "photo.jpg"
    assert check_attachment("sms", "PHOTO.JPEG", "image/jpeg", 10) == "PHOTO.JPEG"


def test_unknown_channel_is_refused():
    with pytest.raises(ValidationError, match="cannot be sent on the “fax” channel"):
        check_attachment("fax", "a.pdf", "application/pdf", 10)  # type: ignore[arg-type]


def test_mms_count_and_total_limits():
    check_attachments_total("sms", [500 * KB] * 10)
    with pytest.raises(ValidationError, match="at most 10 files"):
        check_attachments_total("sms", [KB] * 11)
    check_attachments_total("sms", [3 * MB, 2 * MB])
    with pytest.raises(ValidationError) as caught:
        check_attachments_total("sms", [3 * MB, 2 * MB + 1])
    assert str(caught.value) == "SMS/MMS attachments must total 5 MB or less."


def test_whatsapp_carries_one_attachment_per_message():
    check_attachments_total("whatsapp", [15 * MB])
    with pytest.raises(ValidationError, match="one attachment"):
        check_attachments_total("whatsapp", [KB, KB])


@pytest.mark.parametrize(
    "ctype, kind",
    [
        ("image/jpeg", "image"),
        ("IMAGE/PNG", "image"),
        ("image/webp", "sticker"),
        ("video/mp4", "video"),
        ("audio/ogg; codecs=opus", "audio"),
        ("application/pdf", "document"),
        ("text/vcard", "document"),
        ("", "document"),
        (None, "document"),
    ],
)
def test_media_kind(ctype, kind):
    assert media_kind(ctype) == kind


@pytest.mark.parametrize(
    "raw, safe",
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\system.ini", "system.ini"),
        ("/var/tmp/report.pdf", "report.pdf"),
        ("..", "attachment"),
        ("", "attachment"),
        (None, "attachment"),
        ("   ", "attachment"),
        ("...hidden", "hidden"),
        ("bad\x00name.pdf", "badname.pdf"),
        ("line\nbreak\t.txt", "line break.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # right-to-left override disguising an .exe
        ("a\u2066b\u2069c\u200b.png", "abc.png"),
        ('what?*<>|:".txt', "what_______.txt"),
        ("CON.txt", "_CON.txt"),
        ("trailing. . .", "trailing"),
        ("Café menú.pdf", "Café menú.pdf"),
    ],
)
def test_safe_filename(raw, safe):
    assert safe_filename(raw) == safe


def test_safe_filename_limits_length_and_keeps_the_extension():
    name = safe_filename("x" * 500 + ".pdf")
    assert len(name) == 100
    assert name.endswith("xx.pdf")
    assert safe_filename("y" * 50, max_length=10) == "y" * 10


def test_safe_filename_does_not_treat_a_long_suffix_as_an_extension():
    name = safe_filename("a." + "b" * 200)
    assert len(name) == 100
    assert name.startswith("a.bbb")


# ---- the name a downloaded attachment is saved under --------------------------------------------

RECEIVED = dt.datetime(2026, 12, 4, 20, 32)  # 3:32 PM in New York


@pytest.mark.parametrize(
    "stored, ctype, saved",
    [
        ("ME0123456789abcdef0123456789abcdef", "image/jpeg", "image-2026-12-04-1532.jpg"),  # a Twilio media sid
        ("1234567890123456", "audio/ogg; codecs=opus", "audio-2026-12-04-1532.ogg"),  # a WhatsApp media id
        ("wamid.HBgLMTQxNTU1NTAxMDAVAgASGBQzQTRGM0M5", "video/mp4", "video-2026-12-04-1532.mp4"),
        ("attachment-1.jpeg", "image/jpeg", "image-2026-12-04-1532.jpg"),  # the name Parley made up
        ("attachment-2.plain", "text/plain", "document-2026-12-04-1532.txt"),
        (None, "application/octet-stream", "document-2026-12-04-1532.bin"),
        ("Invoice March.pdf", "application/pdf", "Invoice March.pdf"),  # the sender's own name, kept
        ("IMG_2041.png", "image/png", "IMG_2041.png"),
        ("scan", "application/pdf", "scan.pdf"),  # a real name without an extension gets one
        ("../../etc/passwd", "text/plain", "passwd.txt"),
    ],
)
def test_download_name_says_what_the_file_is(stored, ctype, saved):
    assert download_name(stored, ctype, RECEIVED, "America/New_York") == saved


def test_download_name_without_a_reader_is_in_utc():
    assert download_name(None, "image/png", RECEIVED) == "image-2026-12-04-2032.png"
