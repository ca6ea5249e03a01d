"""The files attached in generated workspaces (a picture, a voice note, a form, a contact card),
built in a few lines each with zlib, struct and fpdf2 rather than stored in the repository.

Apart from ``generator.content`` because these are code that makes bytes, not data:
``generator.write`` stores them once in the media store and attaches them by hash.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
import zlib

# ---- files ------------------------------------------------------------------------------


def png_gradient(width: int, height: int, c1: tuple[int, int, int], c2: tuple[int, int, int]) -> bytes:
    """A small diagonal-gradient RGB PNG, written with zlib and struct."""
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            t = (x / max(1, width - 1) + y / max(1, height - 1)) / 2
            row += bytes(int(a + (b - a) * t) for a, b in zip(c1, c2))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def wav_tone(seconds: float = 0.6, rate: int = 8000) -> bytes:
    """A short mono 16-bit WAV: two soft tones, standing in for a voice note."""
    n = int(seconds * rate)
    samples = b"".join(
        struct.pack("<h", int(6000 * math.sin(2 * math.pi * (440 if i < n // 2 else 523) * i / rate))) for i in range(n)
    )
    return (
        b"RIFF"
        + struct.pack("<I", 36 + len(samples))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", len(samples))
        + samples
    )


def pdf_form() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(dt.datetime(2026, 1, 5, tzinfo=dt.UTC))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 12, "Brightside Dental - New patient form", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    for label in (
        "Full name",
        "Date of birth",
        "Phone",
        "Insurance provider",
        "Member ID",
        "Medications",
        "Allergies",
        "Signature",
    ):
        pdf.cell(0, 10, f"{label}: ________________________________", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


VCARD = (
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Brightside Dental\r\nORG:Brightside Dental\r\n"
    b"TEL;TYPE=WORK,VOICE:+1-415-555-0100\r\nADR;TYPE=WORK:;;120 Main Street, Suite 4;Springfield;;;USA\r\n"
    b"URL:https://example.com/brightside\r\nEND:VCARD\r\n"
)


def sample_files() -> list[dict]:
    """The files attached in generated workspaces: who sends them, and a caption to go with them."""
    return [
        {
            "direction": "in",
            "filename": "insurance-card.png",
            "content_type": "image/png",
            "data": png_gradient(64, 48, (30, 90, 200), (240, 240, 255)),
            "caption": "Here's my insurance card",
        },
        {
            "direction": "in",
            "filename": "IMG_2041.png",
            "content_type": "image/png",
            "data": png_gradient(64, 48, (200, 60, 80), (255, 220, 120)),
            "caption": "This is the tooth that hurts 😣",
        },
        {
            "direction": "in",
            "filename": "voice-note.wav",
            "content_type": "audio/wav",
            "data": wav_tone(),
            "caption": "",
        },
        {
            "direction": "out",
            "filename": "new-patient-form.pdf",
            "content_type": "application/pdf",
            "data": pdf_form(),
            "caption": "Our new patient form — please fill it in before your visit 📄",
        },
        {
            "direction": "out",
            "filename": "parking-map.png",
            "content_type": "image/png",
            "data": png_gradient(64, 48, (20, 140, 90), (230, 250, 200)),
            "caption": "Here's where to park 🅿️",
        },
        {
            "direction": "out",
            "filename": "brightside-dental.vcf",
            "content_type": "text/vcard",
            "data": VCARD,
            "caption": "",
        },
    ]
