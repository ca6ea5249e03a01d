"""Lines that need HarfBuzz (right-to-left, joined or combining text), shaped and drawn without fpdf2's cell.

fpdf2's ``cell`` with text shaping costs about 0.7 ms a line on this machine,
most of it Python around the shaping (fragments, graphics-state copies,
per-glyph font-table lookups); HarfBuzz itself takes about 15 µs. A
10,000-message Arabic transcript spent 11 s there. This module does the same
work the way fpdf2 does it, keeping what repeats:

1. bidi: fpdf2's own Unicode bidi algorithm (``BidiParagraph``) splits the line
   into left-to-right and right-to-left fragments, ordered for display exactly
   as fpdf2's ``TextLine.get_ordered_fragments`` does. The common lines skip
   the full algorithm (70 µs a line) with the same answer: no right-to-left
   letters, one left-to-right fragment; right-to-left letters and neutrals
   only, one right-to-left fragment; right-to-left with numbers but no
   left-to-right letters or embeddings, the weak rules alone
   (``_right_to_left_with_numbers``);
2. fonts: each fragment is split into runs of one font, the line's main font
   where it has the character, else the first font that has it (so Latin
   words inside a Hebrew line keep their letters);
3. shaping: HarfBuzz shapes each run in its direction; the glyphs it returns
   are mapped into the font's subset with the characters they stand for
   (the PDF's ToUnicode map, which text extraction reads), as fpdf2's
   ``TTFFont.shape_text`` does. Results are kept per run and per glyph:
   names, statuses and common words repeat on every page;
4. drawing: one text object a line, glyphs positioned where HarfBuzz put
   them, wrapped in ``q … Q`` so the font and colour set here never leak
   into fpdf2's own text.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING

import uharfbuzz as hb
from fpdf.bidi import BidiParagraph, auto_detect_base_direction
from fpdf.enums import PDFResourceType, TextDirection

if TYPE_CHECKING:
    from fpdf.fonts import TTFFont

    from core.transcripts.pdf import TranscriptPDF

# Glyphs drawn together: where the first one goes (x, y from the run's start, in 1/1000 em) and their
# codes in the font's subset, escaped for a PDF string. A new chunk starts wherever HarfBuzz's position
# differs from what the font's own advance widths would give (marks, kerning).
Chunk = tuple[float, float, str]
Run = tuple["TTFFont", tuple[Chunk, ...], float]  # font, chunks in visual order, advance in 1/1000 em

_EXPLICIT = frozenset({"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"})
_NOT_PLAIN_LTR = _EXPLICIT | {"R", "AL", "AN"}
_NOT_PLAIN_RTL = _EXPLICIT | {"L", "EN", "AN"}
_NOT_SIMPLE_RTL = _EXPLICIT | {"L", "BN", "B", "S"}
_CACHE_LIMIT = 50_000


class LineShaper:
    """Shapes and draws lines into one PDF (subset codes belong to that document, so caches do too)."""

    def __init__(self, pdf: TranscriptPDF) -> None:
        self.pdf = pdf
        self._bidi: dict[str, tuple[tuple[tuple[str, bool], ...], bool]] = {}
        self._runs: dict[tuple[str, str, bool], tuple[tuple[Chunk, ...], float]] = {}
        self._glyphs: dict[tuple[int, int, tuple[int, ...]], tuple[str, int] | None] = {}

    # ---- layout -------------------------------------------------------------------------

    def layout(self, line: str, role: str) -> tuple[list[Run], float]:
        """The runs of ``line`` in display order and its advance in 1/1000 em (times the size in pt: points)."""
        fragments, paragraph_rtl = self.bidi(line)
        pieces: list[tuple[list[Run], bool]] = []  # (runs of one bidi fragment in logical order, rtl)
        for text, rtl in fragments:
            runs = [self.shape(r, t, rtl) for r, t in self.font_runs(text, role)]
            pieces.append((runs, rtl))
        # fpdf2's order: directional groups of fragments, the groups reversed in a right-to-left
        # paragraph, the fragments of a right-to-left group reversed (HarfBuzz already returns
        # each run's glyphs in visual order).
        groups: list[list[tuple[list[Run], bool]]] = []
        for piece in pieces:
            if groups and groups[-1][0][1] == piece[1]:
                groups[-1].append(piece)
            else:
                groups.append([piece])
        if paragraph_rtl:
            groups.reverse()
        ordered: list[Run] = []
        for group in groups:
            runs = [run for runs, _ in group for run in runs]
            ordered.extend(reversed(runs) if group[0][1] else runs)
        return ordered, sum(run[2] for run in ordered)

    def bidi(self, line: str) -> tuple[tuple[tuple[str, bool], ...], bool]:
        """Fragments of ``line`` in logical order with their direction (True: right to left), and
        whether the paragraph is right to left; as fpdf2's ``BidiParagraph`` finds them."""
        hit = self._bidi.get(line)
        if hit is not None:
            return hit
        types = list(map(unicodedata.bidirectional, line))
        classes = set(types)
        if not classes & _NOT_PLAIN_LTR:
            result = ((line, False),), False
        elif not classes & _NOT_PLAIN_RTL:
            result = ((line, True),), True  # right-to-left letters and neutrals only: one level
        elif not classes & _NOT_SIMPLE_RTL and classes & {"R", "AL"}:  # (so the paragraph is right to left)
            result = _right_to_left_with_numbers(line, types), True
        else:
            direction = auto_detect_base_direction(line)
            paragraph = BidiParagraph(text=line, base_direction=direction, preserve_bn_chars=True)
            fragments = tuple((text, d == TextDirection.RTL) for text, d in paragraph.get_bidi_fragments())
            result = fragments, direction == TextDirection.RTL
        if len(self._bidi) < _CACHE_LIMIT:
            self._bidi[line] = result
        return result

    def font_runs(self, text: str, role: str) -> list[tuple[str, str]]:
        """(role, text) runs: the main font where it has the character; spaces and combining marks stay
        with the run before them when its font has them, so a word is never cut in two."""
        if self.pdf.chars_of(role).issuperset(text):
            return [(role, text)]
        covers = self.pdf.cmaps  # role → code points the font has
        runs: list[tuple[str, str]] = []
        for ch in text:
            code = ord(ch)
            if runs and (ch.isspace() or unicodedata.combining(ch) or 0x200B <= code <= 0x200F or code == 0xFE0F):
                previous = runs[-1][0]
                if code in covers[previous]:
                    runs[-1] = (previous, runs[-1][1] + ch)
                    continue
            chosen = role if code in covers[role] else (self.pdf.font_for(ch) or role)
            if runs and runs[-1][0] == chosen:
                runs[-1] = (chosen, runs[-1][1] + ch)
            else:
                runs.append((chosen, ch))
        return runs

    def shape(self, role: str, text: str, rtl: bool) -> Run:
        family = self.pdf.fonts_by_role[role]
        font = self.pdf.fonts[family.lower()]
        key = (family, text, rtl)
        hit = self._runs.get(key)
        if hit is None:
            hit = self._shape(font, text, rtl)
            if len(self._runs) < _CACHE_LIMIT:
                self._runs[key] = hit
        return font, hit[0], hit[1]

    def _shape(self, font: TTFFont, text: str, rtl: bool) -> tuple[tuple[Chunk, ...], float]:
        buf = hb.Buffer()
        buf.cluster_level = 1  # as fpdf2: marks keep their own cluster, so each character is mapped
        buf.add_str(text)
        buf.guess_segment_properties()
        buf.direction = "rtl" if rtl else "ltr"
        hb.shape(font.hbfont, buf, {})
        infos, positions = buf.glyph_infos, buf.glyph_positions
        # The characters a glyph stands for: those of its cluster, given to the cluster's first glyph.
        starts = sorted({info.cluster for info in infos})
        ends = dict(zip(starts, [*starts[1:], len(text)]))
        seen: set[int] = set()
        scale = font.scale  # 1000 / units per em
        chunks: list[Chunk] = []
        codes: list[str] = []
        start_x = start_y = pen_x = pen_y = 0.0
        for info, pos in zip(infos, positions):
            cluster = info.cluster
            if cluster in seen:
                chars: tuple[int, ...] = ()
            else:
                seen.add(cluster)
                # (characters before the first cluster belong to it)
                chars = tuple(map(ord, text[0 if cluster == starts[0] else cluster : ends[cluster]]))
            mapped = self._glyph(font, info.codepoint, chars)
            x_adv, y_adv, x_off, y_off = (
                pos.x_advance * scale,
                pos.y_advance * scale,
                pos.x_offset * scale,
                pos.y_offset * scale,
            )
            if mapped is None:  # (.notdef: fpdf2 leaves it out too; callers only send covered text)
                pen_x += x_adv
                pen_y += y_adv
                if codes:
                    chunks.append((start_x, start_y, "".join(codes)))
                    codes = []
                start_x, start_y = pen_x, pen_y
                continue
            if x_off or y_off:  # a mark placed on its base
                if codes:
                    chunks.append((start_x, start_y, "".join(codes)))
                    codes = []
                start_x, start_y = pen_x + x_off, pen_y + y_off
            codes.append(mapped[0])
            pen_x += x_adv
            pen_y += y_adv
            if x_off or y_off or y_adv or abs(x_adv - mapped[1]) > 0.5:  # the font's own advance would drift
                chunks.append((start_x, start_y, "".join(codes)))
                codes = []
                start_x, start_y = pen_x, pen_y
        if codes:
            chunks.append((start_x, start_y, "".join(codes)))
        return tuple(chunks), pen_x

    def _glyph(self, font: TTFFont, gid: int, chars: tuple[int, ...]) -> tuple[str, int] | None:
        key = (font.i, gid, chars)
        if key in self._glyphs:
            return self._glyphs[key]
        name = font.ttfont.getGlyphName(gid)
        width = round(font.scale * font.ttfont["hmtx"].metrics[name][0])
        glyph = font.subset.get_glyph(glyph=gid, unicode=chars, glyph_name=name, glyph_width=width)
        mapped = None
        if glyph is not None:
            mapped = (font.escape_text(chr(font.subset.pick_glyph(glyph))), width)
        self._glyphs[key] = mapped
        return mapped

    # ---- drawing ------------------------------------------------------------------------

    def draw(self, runs: list[Run], size: float, x: float, baseline: float) -> None:
        """Glyphs from ``x`` (mm) on the ``baseline`` (mm from the top), in the current text colour."""
        pdf = self.pdf
        unit = size * 0.001  # 1/1000 em → points
        pen_x, pen_y = x * pdf.k, (pdf.h - baseline) * pdf.k
        out = ["q", pdf.text_color.serialize().lower(), "BT"]
        current = None
        for font, chunks, advance in runs:
            if chunks and font is not current:
                out.append(f"/F{font.i} {size:.2f} Tf")
                pdf._resource_catalog.add(PDFResourceType.FONT, font.i, pdf.page)
                current = font
            for dx, dy, codes in chunks:
                out.append(f"1 0 0 1 {pen_x + dx * unit:.2f} {pen_y + dy * unit:.2f} Tm ({codes}) Tj")
            pen_x += advance * unit
        out.append("ET Q")
        pdf._out(" ".join(out))


def _right_to_left_with_numbers(line: str, types: list[str]) -> tuple[tuple[str, bool], ...]:
    """The bidi fragments of a right-to-left line without left-to-right letters or embeddings: its
    numbers (with the separators and signs the algorithm joins to them) are the left-to-right ones.

    With no L and no embeddings the paragraph is one isolating run at level 1 whose start and end
    are R, so the weak rules W1-W6 decide everything: every neutral then resolves to R (N1/N2, and
    N0 cannot find an L), and only characters left as EN or AN rise to level 2 (I2). This is the
    usual Arabic or Hebrew message with a number in it; fpdf2's full algorithm costs 70 µs a line.
    """
    types = types[:]
    previous = "R"  # W1: a mark takes the type of what it sits on (sos is R)
    for i, kind in enumerate(types):
        if kind == "NSM":
            types[i] = previous
        previous = types[i]
    strong = "R"  # W2: European digits after Arabic letters are Arabic numbers; W3: AL is R
    for i, kind in enumerate(types):
        if kind in ("R", "AL"):
            strong = kind
            types[i] = "R"
        elif kind == "EN" and strong == "AL":
            types[i] = "AN"
    for i in range(1, len(types) - 1):  # W4: one separator between two numbers of the same kind
        before, kind, after = types[i - 1], types[i], types[i + 1]
        if before == after and ((kind == "ES" and before == "EN") or (kind == "CS" and before in ("EN", "AN"))):
            types[i] = before
    i = 0
    while i < len(types):  # W5: currency and percent signs next to European numbers join them
        if types[i] != "ET":
            i += 1
            continue
        end = i
        while end < len(types) and types[end] == "ET":
            end += 1
        if (i > 0 and types[i - 1] == "EN") or (end < len(types) and types[end] == "EN"):
            types[i:end] = ["EN"] * (end - i)
        i = end
    fragments: list[tuple[str, bool]] = []
    start = 0
    for i in range(1, len(line) + 1):
        if i == len(line) or (types[i] in ("EN", "AN")) != (types[start] in ("EN", "AN")):
            fragments.append((line[start:i], types[start] not in ("EN", "AN")))
            start = i
    return tuple(fragments)
