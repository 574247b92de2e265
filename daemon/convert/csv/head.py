"""The head of a CSV report: its delimiter, its header checked against the spec, its first row.

Read from the first 64 KiB only; it decides whether the polars paths can read the file at all (see
`daemon.convert.csv.convert_csv`), and a header that lacks a required column fails the file here.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

from daemon.errors import SchemaMismatch
from daemon.specs import DatasetSpec

_DELIMITERS = (",", ";", "\t", "|")


def sniff_delimiter(text: str) -> str:
    """Pick the delimiter that splits the header line into the most names (comma on a tie)."""
    first = next((line for line in io.StringIO(text, newline="") if line.strip()), "")
    best, best_count = ",", 0
    for delimiter in _DELIMITERS:
        count = len(next(csv.reader([first], delimiter=delimiter), []))
        if count > best_count:
            best, best_count = delimiter, count
    return best


def normalise_header(name: str) -> str:
    return name.strip().strip('"').strip().lower()


@dataclass(frozen=True)
class Header:
    """A CSV header checked against a spec: where each known column is, and what is extra."""

    names: list[str]
    positions: dict[str, int]
    extra: list[str]

    @property
    def width(self) -> int:
        return len(self.names)


def check_header(header: list[str], spec: DatasetSpec) -> Header:
    names = [normalise_header(h) for h in header]
    seen: set[str] = set()
    duplicated = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if duplicated:
        # repr: an empty or multi-line name stays visible and the reason stays on one line
        raise SchemaMismatch(f"duplicated column(s): {', '.join(repr(n) for n in duplicated)}")
    known = {c.name for c in spec.input_columns}
    missing = [c.name for c in spec.input_columns if c.required and c.name not in names]
    if missing:
        raise SchemaMismatch(f"missing required column(s): {', '.join(missing)}")
    positions = {name: i for i, name in enumerate(names) if name in known}
    extra = [header[i].strip() for i, name in enumerate(names) if name not in known]
    return Header(names, positions, extra)


def _head(source: Path | bytes, size: int = 65536) -> bytes:
    if isinstance(source, bytes):
        return source[:size]
    with open(source, "rb") as fh:
        return fh.read(size)


@dataclass(frozen=True)
class CsvHead:
    """What the first line of a CSV tells the polars paths: the delimiter and the checked header."""

    delimiter: str
    header: Header
    header_line: bytes  # the raw first line (BOM and line end removed)
    # The first data record's fields, when the head holds all of it on one line (None: no such line there).
    first_row: list[str] | None = None

    @property
    def width(self) -> int:
        return self.header.width

    @property
    def extra_columns(self) -> list[str]:
        return self.header.extra


def csv_head(source: Path | bytes, spec: DatasetSpec) -> CsvHead | None:
    """The delimiter and header of a CSV the polars paths can read, or None when it needs the csv module.

    None for UTF-16, a header that is not UTF-8, spans lines, holds a `\\r` or is blank; a header that
    lacks required columns raises SchemaMismatch.
    """
    head = _head(source)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    body = head[3:] if head.startswith(codecs.BOM_UTF8) else head
    first_end = body.find(b"\n")
    if first_end < 0 and len(head) == 65536:
        return None
    first = body[: first_end if first_end >= 0 else len(body)].rstrip(b"\r")
    if not first.strip() or b"\r" in first:
        return None
    try:
        first_text = first.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if first_text.count('"') % 2:
        return None
    delimiter = sniff_delimiter(first_text)
    header = check_header(next(csv.reader([first_text], delimiter=delimiter)), spec)
    return CsvHead(delimiter, header, first, _first_row(body[first_end + 1 :] if first_end >= 0 else b"", delimiter))


def _first_row(rest: bytes, delimiter: str) -> list[str] | None:
    """The fields of the line after the header, when it is whole in `rest`, UTF-8 and a record by itself
    (an even number of quotes); only a guess at the first record (the caller checks what it decides)."""
    end = rest.find(b"\n")
    if end < 0:
        return None
    line = rest[:end].rstrip(b"\r")
    if not line or b"\r" in line or line.count(b'"') % 2:
        return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return next(csv.reader([text], delimiter=delimiter)) if '"' in text else text.split(delimiter)
