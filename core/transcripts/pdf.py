"""The transcript as a PDF (fpdf2), readable in any script a customer can send.

Fonts come from Python packages pinned in requirements.txt, so a fresh
install draws the same glyphs everywhere: Noto Sans (Latin, Greek,
Cyrillic), Noto Sans Arabic and Hebrew, Noto Sans Symbols, the monochrome
Noto Emoji (``manimgx-fonts``) and Noto Sans CJK (``noto-cjk-sans-jp-regular``).

Each line is prepared before it is drawn:

- an emoji that is one character the emoji or symbol font has is drawn as
  its glyph; a sequence (skin tone, flag, family) or one no font has is
  written as its name, ``:thumbs_up_medium_skin_tone:``;
- any other character no font has becomes ``[U+XXXX]``: never a blank,
  never a dropped character;
- a line with right-to-left or complex-script text (Arabic, Hebrew,
  Devanagari, Thai, combining marks) goes through the Unicode bidi
  algorithm and HarfBuzz (``uharfbuzz``), one line at a time, in
  ``shaping.py``: letters join and come out in the right order, and a
  paragraph that starts right-to-left is right-aligned. fpdf2's own
  ``cell`` with text shaping does the same at 0.7 ms a line: 11 s for a
  10,000-message Arabic transcript;
- every other line, most of them in most transcripts, is written in runs of
  one font straight from the fonts' character codes; lines are wrapped by
  this module from the fonts' advance widths: fpdf2's ``multi_cell`` costs
  about 6 ms a message, which would make a 10,000-message transcript take
  a minute instead of a couple of seconds.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import emoji
from fpdf import FPDF

from core.transcripts.model import Line, TranscriptData
from core.transcripts.shaping import LineShaper, Run
from core.transcripts.txt import FSI, PDI, header_lines

Progress = Callable[[float, str], None]

MAIN, ARABIC, HEBREW, CJK, SYMBOLS, EMOJI = "main", "arabic", "hebrew", "cjk", "symbols", "emoji"
FALLBACK_ORDER = (ARABIC, HEBREW, CJK, SYMBOLS, EMOJI)
EXTRA_SCRIPTS = ("Devanagari", "Bengali", "Tamil", "Telugu", "Thai", "Georgian", "Armenian", "Ethiopic", "Khmer")

PAGE_MARGIN = 15.0
BODY_SIZE, META_SIZE, TITLE_SIZE = 10.0, 8.0, 16.0
BODY_LEAD, META_LEAD = 5.0, 4.2
GREY, BLACK, RED = (110, 110, 110), (20, 20, 20), (170, 30, 30)

# Characters that need HarfBuzz and the bidi algorithm to come out right.
_COMPLEX = re.compile(
    "[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff"  # Hebrew, Arabic, Syriac, Thaana, presentation forms
    "\u0900-\u0dff\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"  # Indic, Thai, Lao, Myanmar, Khmer
    "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"  # combining marks
    "\u200c\u200d\u200e\u200f\u061c]"
)
_CJK = re.compile("[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0003ffff]")
_SEPARATOR = re.compile("( · )")  # a name and its number are laid out apart: neither reorders the other
_TOKENS = re.compile(r"\s+|[^\s]+")
_MAYBE_EMOJI = re.compile("[\u00a9\u00ae\u2000-\u3300\ufe0f\U0001f000-\U0001faff]")  # cheap test before emoji.analyze


@functools.cache
def font_files() -> dict[str, Path]:
    """Where the installed font packages put their files (first use imports them)."""
    import manimgx_fonts
    import noto_cjk_sans_jp_regular

    base = Path(manimgx_fonts.__file__).parent
    files = {
        MAIN: base / "NotoSans[wght].ttf",
        ARABIC: base / "NotoSansArabic[wght].ttf",
        HEBREW: base / "NotoSansHebrew[wght].ttf",
        CJK: Path(str(noto_cjk_sans_jp_regular.FONT_PATH)),
        SYMBOLS: base / "NotoSansSymbols[wght].ttf",
        EMOJI: base / "NotoEmoji[wght].ttf",
    }
    for script in EXTRA_SCRIPTS:
        path = base / f"NotoSans{script}[wght].ttf"
        if path.exists():
            files[script.lower()] = path
    return files


@functools.cache
def font_tables(role: str) -> tuple[frozenset[int], dict[int, int]]:
    """(characters the font has, advance widths in 1/1000 em): read once per process, so a transcript
    loads into the PDF only the fonts its text needs (the CJK font alone takes a second to parse)."""
    from fontTools.ttLib import TTFont

    with TTFont(str(font_files()[role]), lazy=True) as font:
        cmap = font.getBestCmap() or {}
        metrics = font["hmtx"].metrics
        scale = 1000 / font["head"].unitsPerEm
        widths = {code: round(scale * metrics[name][0]) for code, name in cmap.items() if name in metrics}
    return frozenset(cmap), widths


@functools.cache
def font_chars(roles: tuple[str, ...]) -> frozenset[str]:
    """The characters any of these fonts has, as strings: ``issuperset(text)`` checks a whole line at C speed."""
    return frozenset(chr(code) for role in roles for code in font_tables(role)[0])


class TranscriptPDF(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4", unit="mm")
        self.running_title = title
        self.set_auto_page_break(False)
        self.c_margin = 0
        self.set_margins(PAGE_MARGIN, PAGE_MARGIN, PAGE_MARGIN)
        self.fonts_by_role = {role: f"parley-{role}" for role in font_files()}
        tables = {role: font_tables(role) for role in font_files()}
        self.cmaps = {role: t[0] for role, t in tables.items()}
        self.widths = {role: t[1] for role, t in tables.items()}
        self.loaded: list[str] = []
        self._font_of: dict[str, str | None] = {}
        self._units: dict[str, int] = {}
        self._char_units: dict[str, int] = {}
        self._codes: dict[str, dict[str, str]] = {}  # role → character → its code in the subset, escaped
        self.main_chars = font_chars((MAIN,))
        self.any_chars = font_chars(tuple(font_files()))
        known = [*FALLBACK_ORDER, *(s.lower() for s in EXTRA_SCRIPTS)]
        self.order = [MAIN, *[r for r in known if r in self.fonts_by_role]]
        self._layouts: dict[str, tuple[list[Run], float]] = {}
        self.shaper = LineShaper(self)
        self.use(MAIN)

    def use(self, *roles: str) -> None:
        """Load fonts into this PDF the first time its text needs them (each font is chosen per
        character by ``font_for``, never by fpdf2's fallback fonts)."""
        for role in roles:
            if role not in self.loaded:
                self.add_font(self.fonts_by_role[role], fname=str(font_files()[role]))
                self.loaded.append(role)

    # Every line is written with its own font operator (``LineShaper.draw``), never with ``FPDF.text``:
    # fpdf2 only re-sends the font when it believes the page lacks it, and pages revisited by
    # ``number_pages`` would show text with no font.

    def header(self) -> None:
        if self.page_no() > 1:
            self.set_text_color(*GREY)
            self.shaper.draw([self.plain_run(MAIN, self.running_title)], META_SIZE, PAGE_MARGIN, PAGE_MARGIN - 6)

    def number_pages(self) -> None:
        """'Page n of N' on every page, written once N is known (fpdf2's {nb} alias needs its own text path)."""
        total = self.pages_count
        for number in range(1, total + 1):
            self.page = number
            self.set_text_color(*GREY)
            label = f"Page {number:,} of {total:,}"
            x = self.w - PAGE_MARGIN - self.width(label, META_SIZE)
            self.shaper.draw([self.plain_run(MAIN, label)], META_SIZE, x, self.h - 8)

    # ---- preparing text -----------------------------------------------------------------

    def chars_of(self, role: str) -> frozenset[str]:
        return font_chars((role,))

    def font_for(self, ch: str) -> str | None:
        role = self._font_of.get(ch, "")
        if role == "":
            code = ord(ch)
            role = next((r for r in self.order if code in self.cmaps[r]), None)
            self._font_of[ch] = role
        return role

    def drawable(self, text: str) -> str:
        """Emoji a font has stay; other emoji become names; uncovered characters become [U+XXXX]."""
        if not _MAYBE_EMOJI.search(text):
            return self._covered(text)
        out: list[str] = []
        for token in emoji.analyze(text, non_emoji=True, join_emoji=True):
            if isinstance(token.value, str):
                out.append(self._covered(token.chars))
                continue
            bare = token.chars.replace("\ufe0f", "")
            role = self.font_for(bare) if len(bare) == 1 else None
            out.append(
                bare if role in (EMOJI, SYMBOLS, MAIN) else token.value.data.get("en", "") or self._covered(bare)
            )
        return "".join(out)

    def _covered(self, text: str) -> str:
        if text.isascii() or self.main_chars.issuperset(text) or self.any_chars.issuperset(text):
            return text  # (controls are already [U+..])
        return "".join(
            c
            if c in "\n\t" or self.font_for(c) is not None or unicodedata.category(c) in ("Zs",)
            else f"[U+{ord(c):04X}]"
            for c in text
        )

    def width(self, text: str, size: float) -> float:
        """Advance width of ``text`` in mm, from the fonts' tables (words repeat: each measured once)."""
        units = self._units.get(text)
        if units is None:
            try:
                units = sum(map(self._char_units.__getitem__, text))
            except KeyError:
                for ch in set(text) - self._char_units.keys():
                    role = self.font_for(ch) or MAIN
                    self._char_units[ch] = self.widths[role][ord(ch)] if ord(ch) in self.cmaps[role] else 500
                units = sum(map(self._char_units.__getitem__, text))
            if len(self._units) < 200_000:
                self._units[text] = units
        return units * size * 0.001 / self.k

    # ---- drawing ------------------------------------------------------------------------

    def ensure_room(self, height: float) -> None:
        if self.y + height > self.h - PAGE_MARGIN - 4:
            self.add_page()
            self.set_y(PAGE_MARGIN)

    def paragraph(self, text: str, size: float, lead: float, color: tuple[int, int, int], indent: float = 0.0) -> None:
        """Wrapped lines of ``text`` (logical order) at the current y, page breaks included."""
        self.set_text_color(*color)
        x = PAGE_MARGIN + indent
        usable = self.w - PAGE_MARGIN - x
        for raw in text.split("\n"):
            prepared = self.drawable(raw.replace("\t", "    "))
            complex_ = bool(_COMPLEX.search(prepared))
            rtl = complex_ and _starts_rtl(prepared)
            for line in self.wrap(prepared, size, usable * (0.93 if complex_ else 1.0)):
                self.ensure_room(lead)
                if complex_:
                    self.shaped_line(line, size, lead, x, usable, rtl)
                else:
                    self.run_line(line, size, lead, x)
                self.y += lead

    def segments(
        self, parts: list[tuple[str, tuple[int, int, int]]], size: float, lead: float, indent: float = 0.0
    ) -> None:
        """One line made of separately laid-out parts (date, direction, a name in any script, status),
        so a right-to-left name never reorders what stands around it; wrapped part by part if too long."""
        pieces = [(piece, color) for text, color in parts for piece in _SEPARATOR.split(text) if piece]
        prepared: list[tuple[str, tuple[int, int, int]]] = []
        for text, color in pieces:  # simple neighbours of one colour are drawn together
            text = self.drawable(text)
            if prepared and prepared[-1][1] == color and not _COMPLEX.search(text + prepared[-1][0]):
                prepared[-1] = (prepared[-1][0] + text, color)
            else:
                prepared.append((text, color))
        widths = [
            self.shaped_width(text, size) if _COMPLEX.search(text) else self.width(text, size) for text, _ in prepared
        ]
        if sum(widths) > self.w - 2 * PAGE_MARGIN - indent:
            for text, color in parts:
                self.paragraph(text, size, lead, color, indent)
            return
        self.ensure_room(lead)
        x = PAGE_MARGIN + indent
        for (text, color), w in zip(prepared, widths):
            self.set_text_color(*color)
            if _COMPLEX.search(text):
                self.shaped_line(text, size, lead, x, w, False)
            else:
                self.run_line(text, size, lead, x)
            x += w
        self.y += lead

    def wrap(self, text: str, size: float, usable: float) -> list[str]:
        if not text.strip():
            return [""]
        lines: list[str] = []
        current, current_w = "", 0.0
        for token in _TOKENS.findall(text):
            pieces = list(token) if _CJK.search(token) else [token]
            for piece in pieces:
                w = self.width(piece, size)
                if current and current_w + w > usable and not piece.isspace():
                    lines.append(current.rstrip())
                    current, current_w = "", 0.0
                if not current and piece.isspace():
                    continue
                if w > usable:  # one word wider than the page: cut it where it overflows
                    for ch in piece:
                        cw = self.width(ch, size)
                        if current and current_w + cw > usable:
                            lines.append(current)
                            current, current_w = "", 0.0
                        current += ch
                        current_w += cw
                    continue
                current += piece
                current_w += w
        lines.append(current.rstrip())
        return lines

    def shaped_width(self, text: str, size: float) -> float:
        """The width HarfBuzz gives ``text`` in mm."""
        return self.shaped_layout(text)[1] * size * 0.001 / self.k + 0.3

    def shaped_layout(self, line: str) -> tuple[list[Run], float]:
        """Glyph runs in display order and advance (1/1000 em); names and statuses repeat: laid out once."""
        hit = self._layouts.get(line)
        if hit is None:
            # The font covering most of the line carries it (spaces and punctuation shaped with its letters).
            self.use(*{self.font_for(ch) or MAIN for ch in set(line)})
            hit = self.shaper.layout(line, self.dominant_role(line))
            if len(line) <= 80 and len(self._layouts) < 20_000:
                self._layouts[line] = hit
        return hit

    def dominant_role(self, line: str) -> str:
        counts: dict[str, int] = {}
        for ch, n in Counter(line).items():
            if not ch.isspace():
                role = self.font_for(ch) or MAIN
                counts[role] = counts.get(role, 0) + n
        return max(counts, key=counts.get) if counts else MAIN

    def run_line(self, line: str, size: float, lead: float, x: float = PAGE_MARGIN) -> None:
        runs = [(MAIN, line)] if self.main_chars.issuperset(line) else _runs(line, self.font_for)
        self.shaper.draw([self.plain_run(role, text) for role, text in runs], size, x, self.y + lead * 0.78)

    def plain_run(self, role: str, text: str) -> Run:
        """Text one font draws as it is, character by character (what ``FPDF.text`` writes, without
        its per-call font and graphics-state work: most lines of a transcript are drawn here)."""
        self.use(role)
        font = self.fonts[self.fonts_by_role[role].lower()]
        codes = self._codes.setdefault(role, {})
        try:
            encoded = "".join(map(codes.__getitem__, text))
        except KeyError:
            for ch in set(text) - codes.keys():
                mapped = font.subset.pick(ord(ch))
                codes[ch] = "" if mapped is None else font.escape_text(chr(mapped))
            encoded = "".join(map(codes.__getitem__, text))
        return font, ((0.0, 0.0, encoded),), self.width(text, 1000 * self.k)

    def shaped_line(self, line: str, size: float, lead: float, x: float, usable: float, rtl: bool) -> None:
        runs, units = self.shaped_layout(line)
        if rtl:
            x += usable - units * size * 0.001 / self.k
        self.shaper.draw(runs, size, x, self.y + lead * 0.78)


def _runs(line: str, font_for: Callable[[str], str | None]) -> list[tuple[str, str]]:
    roles = [font_for(ch) or MAIN for ch in line]
    if all(r == MAIN for r in roles):
        return [(MAIN, line)]
    runs: list[tuple[str, str]] = []
    for ch, role in zip(line, roles):
        if ch == " " and runs:
            role = runs[-1][0]  # spaces stay with the run they are in
        if runs and runs[-1][0] == role:
            runs[-1] = (role, runs[-1][1] + ch)
        else:
            runs.append((role, ch))
    return runs


def _starts_rtl(text: str) -> bool:
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("L",):
            return False
        if kind in ("R", "AL"):
            return True
    return False


def render_pdf(data: TranscriptData, progress: Progress | None = None) -> tuple[bytes, int]:
    """The PDF bytes and its page count."""
    say = progress or (lambda fraction, text: None)
    h = data.header
    pdf = TranscriptPDF(title=f"Parley transcript · conversation {h.conversation_id} · exported {h.exported_at}")
    pdf.add_page()
    pdf.set_y(PAGE_MARGIN)
    pdf.paragraph("Parley conversation transcript", TITLE_SIZE, 9.0, BLACK)
    pdf.y += 2
    key_width = max(pdf.width(f"{key}:", BODY_SIZE) for key, _ in header_lines(data)) + 3
    for key, value in header_lines(data):
        value = value.replace(FSI, "").replace(PDI, "")  # (the PDF lays each value out on its own)
        pdf.ensure_room(BODY_LEAD)
        pdf.set_text_color(*GREY)
        pdf.run_line(f"{key}:", BODY_SIZE, BODY_LEAD)  # the key, then its value beside it
        pdf.segments([(value, BLACK)], BODY_SIZE, BODY_LEAD, indent=key_width)
    pdf.y += 2
    pdf.set_draw_color(*GREY)
    pdf.line(PAGE_MARGIN, pdf.y, pdf.w - PAGE_MARGIN, pdf.y)
    pdf.y += 4
    if not data.lines:
        pdf.paragraph("This conversation has no messages yet.", BODY_SIZE, BODY_LEAD, GREY)
    total = len(data.lines)
    for i, line in enumerate(data.lines):
        if i % 250 == 0:
            say(i / max(1, total), f"Laying out message {i + 1:,} of {total:,}")
        _message(pdf, line)
    say(1.0, "Writing the PDF")
    pdf.number_pages()
    return bytes(pdf.output()), pdf.pages_count


def _message(pdf: TranscriptPDF, line: Line) -> None:
    pdf.ensure_room(META_LEAD + BODY_LEAD)
    failed = line.status.startswith(("Failed", "Undelivered", "Not sent", "Interrupted"))
    pdf.segments(
        [
            (f"{line.when} · {line.arrow} · ", GREY),
            (line.author, GREY),
            (" · " + line.status, RED if failed else GREY),
        ],
        META_SIZE,
        META_LEAD,
    )
    if line.body:
        pdf.paragraph(line.body, BODY_SIZE, BODY_LEAD, BLACK)
    for media in line.media:
        pdf.paragraph(media.label(), BODY_SIZE, BODY_LEAD, (40, 80, 160))
    for missing in line.missing_media:  # sent, but not downloaded: said, in red, with why
        pdf.paragraph(missing, BODY_SIZE, BODY_LEAD, RED)
    pdf.y += 2.5
