"""The csv-module reader: any CSV the polars paths decline (UTF-16, records spanning lines, stray quotes).

Record by record in memory, with the csv module's own rules; each record keeps its line, its number and
its raw text, and a structurally broken one is marked (`__error`) so it is rejected with a reason.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator

from daemon.convert.coerce import ERROR, LINE, RAW, RECORD, RawTable
from daemon.convert.csv.head import check_header, sniff_delimiter
from daemon.convert.readers import decode, empty_bookkeeping, frame_of, undecodable
from daemon.errors import UnreadableInput
from daemon.specs import DatasetSpec

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


# --------------------------------------------------------------------------------------------- CSV
def _records(text: str, delimiter: str | None = None) -> Iterator[tuple[int, str, list[str]]]:
    """Yield (start_line, raw_text, fields) for each CSV record; blank lines are skipped."""
    consumed: list[str] = []
    line_no = 0

    def lines() -> Iterator[str]:
        nonlocal line_no
        for line in io.StringIO(text, newline=""):
            line_no += 1
            consumed.append(line)
            yield line

    delimiter = delimiter or sniff_delimiter(text)
    reader = csv.reader(lines(), delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            start = line_no - len(consumed) + 1
            raw = "".join(consumed)
            consumed.clear()
            yield start, raw.rstrip("\r\n"), ["\x00csv-error", str(exc)]
            continue
        start = line_no - len(consumed) + 1
        raw = "".join(consumed).rstrip("\r\n")
        consumed.clear()
        if not fields or not raw.strip():
            continue
        yield start, raw, fields


def read_csv_records(data: bytes, spec: DatasetSpec) -> RawTable:
    """The csv-module reader: any file the polars path declines, record by record."""
    text = decode(data, lenient=True)  # a record with bytes that are not UTF-8 is rejected, not the file
    delimiter = sniff_delimiter(text)
    records = _records(text, delimiter)
    try:
        header_line, header_raw, header_fields = next(records)
    except StopIteration:
        raise UnreadableInput("empty file: no header row") from None
    if header_fields and header_fields[0] == "\x00csv-error":
        raise UnreadableInput(f"unreadable header (line {header_line}): {header_fields[1]}")
    bad_header = undecodable(header_raw)
    if bad_header is not None:
        raise UnreadableInput(f"header (line {header_line}) {bad_header[1]}")
    header = check_header(header_fields, spec)
    width = header.width
    columns: dict[str, list[str | None]] = {name: [] for name in header.positions}
    book = empty_bookkeeping()
    for record_no, (line, raw, fields) in enumerate(records, start=1):
        book[LINE].append(line)
        book[RECORD].append(record_no)
        bad = undecodable(raw)
        book[RAW].append(raw if bad is None else bad[0])
        malformed = bool(fields) and fields[0] == "\x00csv-error"
        ok = bad is None and not malformed and len(fields) == width
        if bad is not None:
            book[ERROR].append(bad[1])
        elif malformed:
            book[ERROR].append(f"malformed CSV: {fields[1]}")
        elif not ok and "\n" in raw and raw.count('"') % 2:
            end = line + raw.count("\n")
            book[ERROR].append(f"unbalanced quote: one record swallowed lines {line}-{end}")
        elif not ok:
            book[ERROR].append(f"expected {width} fields, found {len(fields)}")
        else:
            book[ERROR].append(None)
        for name, index in header.positions.items():
            columns[name].append(fields[index] if ok else None)
    return RawTable(frame=frame_of(spec, columns, book), extra_columns=header.extra, decimal_comma=delimiter != ",")
