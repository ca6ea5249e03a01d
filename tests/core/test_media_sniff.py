"""What an attachment really is, from its bytes (issue 18.10)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.media_sniff import is_picture, true_type


def picture(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    "data, claimed, stored",
    [
        (picture("PNG"), "image/png", "image/png"),
        (picture("PNG"), "image/jpeg", "image/png"),  # the bytes win
        (picture("JPEG"), "application/octet-stream", "image/jpeg"),
        (picture("GIF"), "image/gif", "image/gif"),
        (b"%PDF-1.7\n...", "image/png", "application/pdf"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "image/png", "text/html"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00not really" * 20, "image/png", "application/octet-stream"),  # a header only
        (bytes(range(256)) * 4, "image/png", "application/octet-stream"),  # unknown binary claiming a picture
        (bytes(range(256)) * 4, "application/vnd.ms-excel", "application/vnd.ms-excel"),  # harmless claim kept
        (
            b"PK\x03\x04" + b"\x00" * 40,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),  # fmt: skip
        (b"PK\x03\x04" + b"\x00" * 40, "image/jpeg", "application/zip"),
        (b"name,phone\nAna,+14155550100\n", "text/csv", "text/csv"),
        (b"just words", "video/mp4", "text/plain"),
        (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 20, "video/mp4", "video/mp4"),
        (b"\x00\x00\x00\x18ftyp3gp4" + b"\x00" * 20, "audio/amr", "video/3gpp"),
        (b"OggS\x00\x02" + b"\x00" * 30, "audio/ogg; codecs=opus", "audio/ogg"),
        (b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\x00" * 30, "audio/aac", "audio/aac"),  # ADTS (WhatsApp's AAC)
        (b"\xff\xf9\x50\x80\x02\x1f\xfc" + b"\x00" * 30, "audio/mpeg", "audio/aac"),  # the bytes win
        (b"\xff\xfb\x90\x64" + b"\x00" * 30, "audio/aac", "audio/mpeg"),  # an MP3 frame (MPEG-1 layer 3)
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp", "image/webp"),
        (b"BEGIN:VCARD\r\nVERSION:3.0\r\n", "text/x-vcard", "text/vcard"),
        (b"", "image/png", "application/octet-stream"),
    ],
)
def test_the_stored_type_is_what_the_bytes_are(data, claimed, stored):
    assert true_type(data, claimed) == stored


@pytest.mark.parametrize(
    "data, claimed, stored",
    [
        # Not a type at all: a header value Parley would send back (a download's Content-Type), which
        # the server refuses to write, so the file could not be downloaded.
        (bytes(range(256)) * 4, "application/x-foo\r\nSet-Cookie: a=b", "application/octet-stream"),
        (b"name,phone\n", "text/csv\r\nX-Injected: 1", "text/plain"),
        (bytes(range(256)) * 4, "application/pdf extra words", "application/octet-stream"),
        (bytes(range(256)) * 4, "x" * 300 + "/y", "application/octet-stream"),
        # Types a browser shows as a page (scripts and all) are never kept from a claim.
        (bytes(range(256)) * 4, "application/xhtml+xml", "application/octet-stream"),
        (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "text/xml", "text/plain"),
        (b"<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'/>", "application/xml", "text/plain"),
        (bytes(range(256)) * 4, "Application/VND.MS-Excel; name=x.xls", "application/vnd.ms-excel"),  # still fine
    ],
)
def test_a_claim_that_is_not_a_plain_type_is_not_kept(data, claimed, stored):
    assert true_type(data, claimed) == stored


def test_only_decodable_pictures_are_shown_as_pictures():
    assert is_picture(picture("PNG")) and is_picture(picture("JPEG"))
    assert not is_picture(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    assert not is_picture(b"<html></html>")
