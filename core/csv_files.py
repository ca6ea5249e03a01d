"""CSV files in and out, whatever they hold: size limit, encoding, separator, formula safety.

``read_csv`` checks the size before reading anything (a file over the limit
is refused in one sentence without being read), detects the encoding
(UTF-8 with or without BOM, UTF-16 with BOM, else Windows-1252, else
Latin-1) and the separator (comma, semicolon, tab or bar), and returns
every cell as text. ``to_csv_bytes`` writes UTF-8 with BOM (so Excel reads
accents) and puts a single quote before every cell a spreadsheet would run
as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
return); ``unquote`` takes that quote off again when such a file comes back.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core.errors import ValidationError

MAX_BYTES = 50 * 1024 * 1024
FORMULA = r"^(?:[=+\-@\t\r]|\s*[=+\-@])"
# Text that starts with quotes before something formula-like gets one more quote on the way out
# (so stored "'+1 for her idea" leaves as "''+1 for her idea"), and ``unquote`` takes exactly one
# off on the way in: an export imports back unchanged, whatever quotes people typed.
NEEDS_QUOTE = r"^'*(?:[=+\-@\t\r]|\s*[=+\-@])"
QUOTED_FORMULA = r"^'(?='*(?:[=+\-@\t\r]|\s*[=+\-@]))"


@dataclass
class CsvFile:
    frame: pd.DataFrame  # every cell text ('' when empty); the index is the data row (0 = row 2)
    encoding: str
    delimiter: str

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    def __len__(self) -> int:
        return len(self.frame)


def _size_of(source: Any) -> int | None:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return len(source)
    if isinstance(source, (str, Path)):
        return os.path.getsize(source)
    size = getattr(source, "size", None)
    if isinstance(size, int):
        return size
    try:
        here = source.tell()
        end = source.seek(0, io.SEEK_END)
        source.seek(here)
        return end - here
    except (AttributeError, OSError, ValueError):
        return None


def _too_big(size: int, limit: int) -> ValidationError:
    return ValidationError(
        f"That file is {size / 1024 / 1024:,.1f} MB, and Parley imports CSV files of up to "
        f"{limit // 1024 // 1024} MB; split it into smaller files and import each."
    )


def _read_bytes(source: Any, limit: int) -> bytes:
    size = _size_of(source)
    if size is not None and size > limit:
        raise _too_big(size, limit)  # checked before a single byte is read
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, Path)):
        with open(source, "rb") as f:
            data = f.read(limit + 1)
    else:
        if getattr(source, "seekable", lambda: False)():
            source.seek(0)
        data = source.read(limit + 1)  # never more than the limit, even when the size was unknown
    if len(data) > limit:
        raise _too_big(size or len(data), limit)
    return data


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding name): UTF-8 (BOM or not), UTF-16 with BOM, else Windows-1252, else Latin-1."""
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[3:].decode("utf-8"), "UTF-8 with BOM"
        except UnicodeDecodeError:
            data = data[3:]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError:
            pass
    for codec, name in (("utf-8", "UTF-8"), ("cp1252", "Windows-1252"), ("latin-1", "Latin-1")):
        try:
            return data.decode(codec), name
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")


def _delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    header = re.sub(r'"[^"]*"', "", header)  # separators inside quoted names do not count
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def read_csv(source: Any, *, max_bytes: int = MAX_BYTES, header: bool = True) -> CsvFile:
    """Read an uploaded CSV (bytes, a path, or a file object) into text cells; one sentence if it cannot.

    ``header=False``: the file has no header line; every line is a row, its cells as they are (as a
    header, an empty cell would read "Unnamed: 1" and a repeated one "X.1"), under the columns
    "0", "1", …"""
    data = _read_bytes(source, max_bytes)
    if data.startswith(b"PK\x03\x04"):
        raise ValidationError("That is an Excel or zip file, not a CSV; in Excel use “Save as… CSV” and import that.")
    text, encoding = decode(data)
    if "\x00" in text:
        raise ValidationError("That file holds binary data, not text; save it as CSV and import that.")
    if not text.strip():
        raise ValidationError("That file is empty.")
    delimiter = _delimiter(text)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            header=0 if header else None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
            quoting=csv.QUOTE_MINIMAL,
        )
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            expected, line, saw = found.groups()
            raise ValidationError(
                f"Line {line} of that file has {saw} cells but its header has {expected}; "
                "put cells that contain the separator in quotes."
            ) from None
        raise ValidationError("That file is not a readable CSV; save it again as CSV (comma-separated).") from None
    except pd.errors.EmptyDataError:
        raise ValidationError("That file is empty.") from None
    frame = frame.fillna("").astype(object)
    frame.columns = _unique([str(c).strip() for c in frame.columns])
    blank = (frame == "").all(axis=1) if len(frame.columns) else pd.Series(False, index=frame.index)
    frame = frame[~blank]
    if frame.empty:
        raise ValidationError("That file has a header line but no rows under it.")
    return CsvFile(frame=frame, encoding=encoding, delimiter=delimiter)


def _unique(names: list[str]) -> list[str]:
    """Trimmed headers, each once: "Phone" and " Phone " become "Phone" and "Phone.1" (as pandas
    names a repeated header), never one name for two columns."""
    taken: set[str] = set()
    unique = []
    for name in names:
        candidate, n = name, 0
        while candidate in taken:
            n += 1
            candidate = f"{name}.{n}"
        taken.add(candidate)
        unique.append(candidate)
    return unique


def unquote(cells: pd.Series) -> pd.Series:
    """Cells without the quote ``to_csv_bytes`` puts before formula-like text."""
    quoted = cells.str.startswith("'")
    if not quoted.any():
        return cells
    return cells.where(~quoted, cells[quoted].str.replace(QUOTED_FORMULA, "", regex=True))


def neutralise(series: pd.Series) -> pd.Series:
    """Prefix cells a spreadsheet would run as a formula with a single quote (and cells that are
    such text behind quotes already, so that ``unquote`` gives them back as they were)."""
    text = series.astype(object)
    risky = text.map(lambda v: isinstance(v, str)).astype(bool)
    risky[risky] = text[risky].str.match(NEEDS_QUOTE)
    return text.mask(risky, "'" + text[risky].astype(str)) if risky.any() else text


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = neutralise(safe[column])
    safe.columns = [neutralise(pd.Series([str(c)])).iloc[0] for c in safe.columns]
    return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")
