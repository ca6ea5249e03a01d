"""Right-to-left and complex-script lines of transcript PDFs (core/transcripts/shaping.py): bidi order,
HarfBuzz shaping, fonts per character, and what a reader extracts from the PDF."""

from __future__ import annotations

import io
import random
import unicodedata

import pypdf
import pytest
from fpdf.bidi import BidiParagraph, auto_detect_base_direction
from fpdf.enums import TextDirection

from core.transcripts.pdf import (
    BLACK,
    BODY_LEAD,
    BODY_SIZE,
    GREY,
    MAIN,
    META_LEAD,
    META_SIZE,
    PAGE_MARGIN,
    TranscriptPDF,
)

ARABIC = "مرحبا، أريد موعدا يوم 12"
HEBREW = "שלום, התור שלך ביום 3"
ARABIC_NUMBER = "هل يوجد موقف للسيارات؟ #4821"
HEBREW_LATIN = "שלום Hello עולם"


@pytest.fixture
def pdf():
    document = TranscriptPDF("test")
    document.add_page()
    document.set_y(PAGE_MARGIN)
    return document


def _fold(text: str) -> str:
    """What the transcript tests compare: presentation forms folded, control codes (unmapped) dropped."""
    return "".join(c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c) != "Cc")


def _lines_and_pieces(document: TranscriptPDF) -> tuple[list[str], list[tuple[float, float, str]]]:
    """Extracted lines, and each piece of text pypdf reads with its (y, x) in points."""
    page = pypdf.PdfReader(io.BytesIO(bytes(document.output()))).pages[0]
    pieces: list[tuple[float, float, str]] = []
    text = page.extract_text(visitor_text=lambda t, cm, tm, font, size: pieces.append((tm[5], tm[4], _fold(t))))
    return [_fold(line) for line in text.split("\n")], [p for p in pieces if p[2].strip()]


def _x_of(pieces, y: float, word: str) -> float:
    (x,) = [px for py, px, text in pieces if abs(py - y) < 0.5 and word in text]
    return x


def _line_y(pieces, word: str) -> float:
    return next(py for py, _, text in pieces if word in text)


def test_right_to_left_and_combining_lines_extract_in_reading_order(pdf):
    for line in [ARABIC, HEBREW, "Cafe\u0301 de\u0301ja\u0300 vu", "Hello مرحبا world", "Zoë Ávila 👍 Γειά Привет"]:
        pdf.paragraph(line, BODY_SIZE, BODY_LEAD, BLACK)
    pdf.segments(
        [("2026-03-10 10:00 EDT · IN · ", GREY), ("أحمد العلي", GREY), (" · Received", GREY)], META_SIZE, META_LEAD
    )
    lines, _ = _lines_and_pieces(pdf)
    assert lines == [
        "12 مرحبا، أريد موعدا يوم",
        "3 התור שלך ביום, שלום",
        "Café déjà vu",
        "Hello مرحبا world",
        "Zoë Ávila 👍 Γειά Привет",
        "2026-03-10 10:00 EDT · IN · أحمد العلي · Received",
    ]


def test_right_to_left_lines_are_drawn_right_to_left_and_right_aligned(pdf):
    for line in [HEBREW, ARABIC_NUMBER, HEBREW_LATIN]:
        pdf.paragraph(line, BODY_SIZE, BODY_LEAD, BLACK)
    _, pieces = _lines_and_pieces(pdf)
    y = _line_y(pieces, "התור")
    assert _x_of(pieces, y, "3") < _x_of(pieces, y, "התור") < _x_of(pieces, y, "שלום")  # the first word is rightmost
    y = _line_y(pieces, "للسيارات")
    # The number is read left to right, left of the sentence; '#' belongs to the sentence (Arabic digits
    # do not take European number signs), so it sits between them.
    assert _x_of(pieces, y, "4821") < _x_of(pieces, y, "هل")
    y = _line_y(pieces, "Hello")
    assert _x_of(pieces, y, "עולם") < _x_of(pieces, y, "Hello") < _x_of(pieces, y, "שלום")  # no word dropped
    right_edge_pt = (pdf.w - PAGE_MARGIN) * pdf.k
    assert max(px for py, px, _ in pieces if abs(py - y) < 0.5) > right_edge_pt - 40  # right-aligned


def test_combining_marks_are_composed_or_placed_by_the_font(pdf):
    (run,), advance = pdf.shaped_layout("Cafe\u0301")
    chunks = run[1]
    assert len("".join(codes for _, _, codes in chunks)) == 2 * 4  # four glyphs (two bytes each): é is one
    assert advance == pdf.shaped_layout("Café")[1]
    (run,), _ = pdf.shaped_layout("x\u0323\u0301")  # dot below and acute above, no precomposed letter
    starts = [dx for dx, _, _ in run[1]]
    assert len(starts) == 3 and starts[1] != starts[2]  # each mark placed on its own anchor, not at the pen


def test_a_line_with_combining_marks_is_shaped(pdf):
    pdf.paragraph("x\u0323\u0301", BODY_SIZE, BODY_LEAD, BLACK)  # (drawn as characters, both marks sit at the pen)
    content = pypdf.PdfReader(io.BytesIO(bytes(pdf.output()))).pages[0].get_contents().get_data()
    assert content.count(b" Tm ") == 3  # the letter, then each mark moved to where the font anchors it


@pytest.mark.parametrize(
    ("line", "fragments", "rtl"),
    [
        ("Café, naïve", [("Café, naïve", False)], False),
        ("שלום, עולם!", [("שלום, עולם!", True)], True),
        (HEBREW, [("שלום, התור שלך ביום ", True), ("3", False)], True),
        (ARABIC_NUMBER, [("هل يوجد موقف للسيارات؟ #", True), ("4821", False)], True),
        ("המחיר ₪1,250.50 היום", [("המחיר ", True), ("₪1,250.50", False), (" היום", True)], True),
        ("السعر 1,250.50% اليوم", [("السعر ", True), ("1,250.50", False), ("% اليوم", True)], True),
        ("رقم ١٢٣ فقط", [("رقم ", True), ("١٢٣", False), (" فقط", True)], True),
        (HEBREW_LATIN, [("שלום ", True), ("Hello", False), (" עולם", True)], True),
        ("Hello مرحبا world", [("Hello ", False), ("مرحبا", True), (" world", False)], False),
    ],
)
def test_bidi_fragments(pdf, line, fragments, rtl):
    assert pdf.shaper.bidi(line) == (tuple(fragments), rtl)


def test_the_quick_bidi_paths_agree_with_fpdf2s_full_algorithm(pdf):
    alphabet = [*"مرحباש לוםת0123456789٠١٢٣#%$€₪+-,./:()؟! ", "\u064e", "\u0651", "\u05b7", "\u066a", "\u060c", "°"]
    rng = random.Random(15)
    for _ in range(3000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
        direction = auto_detect_base_direction(line)
        paragraph = BidiParagraph(text=line, base_direction=direction, preserve_bn_chars=True)
        expected = tuple((text, d == TextDirection.RTL) for text, d in paragraph.get_bidi_fragments())
        assert pdf.shaper.bidi(line) == (expected, direction == TextDirection.RTL), line


def test_a_font_change_inside_a_shaped_line_does_not_leak_into_later_text(pdf):
    pdf.paragraph(HEBREW_LATIN, BODY_SIZE, BODY_LEAD, BLACK)
    pdf.paragraph("Plain text after it", BODY_SIZE, BODY_LEAD, BLACK)
    pdf.set_font(pdf.fonts_by_role[MAIN], size=BODY_SIZE)
    pdf.text(PAGE_MARGIN, 100, "Written by fpdf2")
    lines, _ = _lines_and_pieces(pdf)
    assert lines[1:] == ["Plain text after it", "Written by fpdf2"]


def test_every_text_on_every_page_has_its_font(pdf):
    """Viewers refuse text drawn with no font selected ('No font in show'): pages numbered after the fact
    and running titles included."""
    for i in range(150):
        pdf.paragraph(f"{HEBREW} · line {i}" if i % 2 else f"Plain line {i}", BODY_SIZE, BODY_LEAD, BLACK)
    pdf.number_pages()
    reader = pypdf.PdfReader(io.BytesIO(bytes(pdf.output())))
    assert len(reader.pages) == 3
    shows = 0
    for page in reader.pages:
        font, saved = None, []
        for _, operator in pypdf.generic.ContentStream(page.get_contents(), reader).operations:
            if operator == b"q":
                saved.append(font)
            elif operator == b"Q":
                font = saved.pop()
            elif operator == b"Tf":
                font = True
            elif operator in (b"Tj", b"TJ", b"'", b'"'):
                assert font, f"text with no font on page {reader.get_page_number(page) + 1}"
                shows += 1
    assert shows > 300
