"""Readers: turn an input's bytes into a RawTable of strings, one reader per input kind.

Readers never type values (that is `coerce`); they find records, match columns, and mark records
that are structurally broken (`__error`) so they are rejected with a reason instead of dropped.
A file that cannot be read at all raises an `InputError` subclass with a one-line reason.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import datetime as dt
import io
import json
import math
import re
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from daemon.convert.coerce import ERROR, LINE, RAW, RECORD, RawTable
from daemon.errors import SchemaMismatch, UnreadableInput
from daemon.specs import DatasetSpec

_DELIMITERS = (",", ";", "\t", "|")
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def decode(data: bytes) -> str:
    """Decode UTF-8 (with or without BOM) or BOM-marked UTF-16; anything else is unreadable."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UnreadableInput(f"invalid UTF-16 at byte {exc.start}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableInput(f"not UTF-8: invalid byte 0x{data[exc.start]:02x} at offset {exc.start}") from None


def _frame(spec: DatasetSpec, columns: dict[str, list[str | None]], bookkeeping: dict[str, list[Any]]) -> pl.DataFrame:
    data: dict[str, pl.Series] = {
        LINE: pl.Series(LINE, bookkeeping[LINE], dtype=pl.Int64),
        RECORD: pl.Series(RECORD, bookkeeping[RECORD], dtype=pl.Int64),
        RAW: pl.Series(RAW, bookkeeping[RAW], dtype=pl.String),
        ERROR: pl.Series(ERROR, bookkeeping[ERROR], dtype=pl.String),
    }
    n = len(bookkeeping[RECORD])
    for column in spec.input_columns:
        values = columns.get(column.name)
        data[column.name] = pl.Series(column.name, values if values is not None else [None] * n, dtype=pl.String)
    return pl.DataFrame(data)


def _empty_bookkeeping() -> dict[str, list[Any]]:
    return {LINE: [], RECORD: [], RAW: [], ERROR: []}


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

    delimiter = delimiter or _sniff_delimiter(text)
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


def _sniff_delimiter(text: str) -> str:
    """Pick the delimiter that splits the header line into the most names (comma on a tie)."""
    first = next((line for line in io.StringIO(text, newline="") if line.strip()), "")
    best, best_count = ",", 0
    for delimiter in _DELIMITERS:
        count = len(next(csv.reader([first], delimiter=delimiter), []))
        if count > best_count:
            best, best_count = delimiter, count
    return best


def parse_csv_records(data: bytes) -> tuple[list[str], list[list[str]]]:
    """The header and data rows of CSV bytes, split by the same decoding and records as `read_csv`.

    Blank lines are skipped; an undecodable file or a record the csv module rejects raises UnreadableInput.
    """
    rows: list[list[str]] = []
    for line, _, fields in _records(decode(data)):
        if fields and fields[0] == "\x00csv-error":
            raise UnreadableInput(f"malformed CSV at line {line}: {fields[1]}")
        rows.append(fields)
    return (rows[0], rows[1:]) if rows else ([], [])


def _normalise_header(name: str) -> str:
    return name.strip().strip('"').strip().lower()


@dataclass(frozen=True)
class _Header:
    """A CSV header checked against a spec: where each known column is, and what is extra."""

    names: list[str]
    positions: dict[str, int]
    extra: list[str]

    @property
    def width(self) -> int:
        return len(self.names)


def _check_header(header: list[str], spec: DatasetSpec) -> _Header:
    names = [_normalise_header(h) for h in header]
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
    return _Header(names, positions, extra)


def read_csv(data: bytes, spec: DatasetSpec) -> RawTable:
    """Read a CSV report: columns matched by header name in any order; ragged records marked.

    The common case (UTF-8, no record spanning lines) is read by polars; anything else by the
    csv module, record by record. Both mark the same records and yield the same values.
    """
    fast = read_csv_polars(data, spec)
    return fast if fast is not None else read_csv_records(data, spec)


def read_csv_records(data: bytes, spec: DatasetSpec) -> RawTable:
    """The csv-module reader: any file the polars path declines, record by record."""
    text = decode(data)
    delimiter = _sniff_delimiter(text)
    records = _records(text, delimiter)
    try:
        header_line, _, header_fields = next(records)
    except StopIteration:
        raise UnreadableInput("empty file: no header row") from None
    if header_fields and header_fields[0] == "\x00csv-error":
        raise UnreadableInput(f"unreadable header (line {header_line}): {header_fields[1]}")
    header = _check_header(header_fields, spec)
    width = header.width
    columns: dict[str, list[str | None]] = {name: [] for name in header.positions}
    book = _empty_bookkeeping()
    for record_no, (line, raw, fields) in enumerate(records, start=1):
        book[LINE].append(line)
        book[RECORD].append(record_no)
        book[RAW].append(raw)
        malformed = bool(fields) and fields[0] == "\x00csv-error"
        ok = not malformed and len(fields) == width
        if malformed:
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
    return RawTable(frame=_frame(spec, columns, book), extra_columns=header.extra, decimal_comma=delimiter != ",")


_QUOTED = r'"(?:[^"]|"")*"'


@dataclass
class CsvScan:
    """A CSV the polars path can stream.

    `frame` is lazy: LINE, ERROR and one String column per spec column, blank lines already left out.
    The raw text and record number of a line are only looked up for the few rows that are rejected.
    """

    source: Path | bytes
    frame: pl.LazyFrame
    rows_in: int
    blank_lines: list[int]
    extra_columns: list[str]
    decimal_comma: bool

    @property
    def source_bytes(self) -> int:
        return len(self.source) if isinstance(self.source, bytes) else self.source.stat().st_size

    def record_of(self, line: int) -> int:
        """1-based record number of the record on physical `line` (the header is line 1)."""
        return line - 1 - bisect.bisect_left(self.blank_lines, line)

    def raw_lines(self, numbers: list[int]) -> dict[int, str]:
        """The text of the given physical lines."""
        if not numbers:
            return {}
        found = (
            _lines(self.source)
            .filter((pl.col("__n") + 1).is_in(numbers))
            .select((pl.col("__n") + 1).alias("n"), pl.col("line").fill_null(""))
            .collect(engine="streaming")
        )
        return dict(zip(found["n"].to_list(), found["line"].to_list(), strict=True))

    def materialise(self) -> RawTable:
        """The whole table in memory, with RECORD and RAW for every row (small files and tests)."""
        frame = self.frame.collect()
        lines = frame[LINE].to_list()
        raw = self.raw_lines(lines)
        frame = frame.with_columns(
            pl.Series(RECORD, [self.record_of(n) for n in lines], dtype=pl.Int64),
            pl.Series(RAW, [raw.get(n, "") for n in lines], dtype=pl.String),
        ).select(LINE, RECORD, RAW, ERROR, *[c for c in frame.columns if c not in (LINE, ERROR)])
        return RawTable(frame=frame, extra_columns=self.extra_columns, decimal_comma=self.decimal_comma)


def _lines(source: Path | bytes) -> pl.LazyFrame:
    """Each physical line as one String (no quoting, \\r stripped), with its 0-based index `__n`."""
    return pl.scan_csv(
        source,
        has_header=False,
        separator="\x1f",
        quote_char=None,
        schema={"line": pl.String},
        encoding="utf8",
        row_index_name="__n",
    )


def _head(source: Path | bytes, size: int = 65536) -> bytes:
    if isinstance(source, bytes):
        return source[:size]
    with open(source, "rb") as fh:
        return fh.read(size)


@dataclass(frozen=True)
class CsvHead:
    """What the first line of a CSV tells the polars paths: the delimiter and the checked header."""

    delimiter: str
    header: _Header
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
    delimiter = _sniff_delimiter(first_text)
    header = _check_header(next(csv.reader([first_text], delimiter=delimiter)), spec)
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


def scan_csv(source: Path | bytes, spec: DatasetSpec, head: CsvHead | None = None) -> CsvScan | None:
    """The polars path over a file (or bytes), or None when the file needs the csv-module reader.

    A first streaming scan of the physical lines finds blank lines, lines with the wrong number of
    fields (quoted parts removed) and any line with an odd number of quotes (a record spanning lines,
    or a stray quote); the values are then scanned lazily, and each record's line number is its row
    index plus two. Files with a record spanning lines, a non-UTF-8 byte, UTF-16, a 0x1f byte or a
    leading blank line go to the csv module instead.
    """
    found_head = head or csv_head(source, spec)
    if found_head is None:
        return None
    delimiter, header = found_head.delimiter, found_head.header
    width = header.width
    line = pl.col("line")
    quotes = line.str.count_matches('"', literal=True)
    unquoted = pl.when(quotes > 0).then(line.str.replace_all(_QUOTED, "")).otherwise(line)
    fields = unquoted.str.count_matches(delimiter, literal=True) + 1
    blank = line.is_null() | (line.str.strip_chars() == "")
    body_lines = _lines(source).filter(pl.col("__n") >= 1)
    try:
        facts, problems = pl.collect_all(
            [
                body_lines.select(pl.len().alias("lines"), (quotes % 2 == 1).any().alias("odd")),
                body_lines.filter(blank | (fields != width)).select(
                    (pl.col("__n") + 1).cast(pl.Int64).alias("n"), blank.alias("blank"), fields.alias("fields")
                ),
            ],
            engine="streaming",
        )
    except (pl.exceptions.PolarsError, ValueError, OSError):
        return None
    if facts["odd"].item():
        return None
    blank_lines = problems.filter(pl.col("blank"))["n"].to_list()
    ragged = problems.filter(~pl.col("blank"))
    values = pl.scan_csv(
        source,
        has_header=True,
        separator=delimiter,
        quote_char='"',
        infer_schema=False,
        truncate_ragged_lines=True,
        empty_string_is_null=False,
        encoding="utf8",
        new_columns=[f"__col{i}" for i in range(width)],
        row_index_name="__i",
    )
    line_no = (pl.col("__i") + 2).cast(pl.Int64)
    found = line_no.replace_strict(ragged["n"], ragged["fields"], default=None, return_dtype=pl.Int64)
    frame = (
        values.with_columns(line_no.alias(LINE))
        .filter(~pl.col(LINE).is_in(blank_lines))
        .with_columns(found.alias("__fields"))
        .select(
            LINE,
            pl.when(pl.col("__fields").is_not_null())
            .then(pl.format("expected {} fields, found {}", pl.lit(width), pl.col("__fields")))
            .alias(ERROR),
            *[
                (
                    pl.when(pl.col("__fields").is_null()).then(pl.col(f"__col{header.positions[c.name]}"))
                    if c.name in header.positions
                    else pl.lit(None, dtype=pl.String)
                ).alias(c.name)
                for c in spec.input_columns
            ],
        )
    )
    rows_in = int(facts["lines"].item()) - len(blank_lines)
    return CsvScan(source, frame, rows_in, blank_lines, header.extra, delimiter != ",")


def read_csv_polars(data: bytes, spec: DatasetSpec) -> RawTable | None:
    """The polars path in memory (small files, tests), or None when the file needs the csv module."""
    scan = scan_csv(data, spec)
    if scan is None:
        return None
    try:
        table = scan.materialise()
    except pl.exceptions.ComputeError:
        return None  # e.g. text after a closing quote: the csv module reads it the way the fallback does
    if table.frame.lazy().select(pl.len()).collect().item() != scan.rows_in:
        return None  # the values scan and the line scan disagree: let the csv module decide
    return table


# ------------------------------------------------------------------------------------------- JSON
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(text: str) -> Any:
    """Strict RFC 8259 JSON: no NaN/Infinity; deep nesting fails cleanly instead of crashing."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise UnreadableInput("JSON nested too deeply") from None
    except ValueError as exc:
        raise UnreadableInput(f"invalid JSON: {exc}") from None


def _is_text(value: str) -> bool:
    """False for strings JSON can carry but Unicode text cannot: an escaped half of a surrogate pair."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_text(value: Any) -> str:
    """`value` as JSON text, kept readable, but escaped where it holds something that is not text."""
    text = json.dumps(value, ensure_ascii=False)
    return text if _is_text(text) else json.dumps(value, ensure_ascii=True)


def _scalar_text(value: Any) -> tuple[str | None, str | None]:
    """A JSON value as text for typing, or an error for values that are not scalars."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    if isinstance(value, str):
        return (value, None) if _is_text(value) else (None, "contains an unpaired UTF-16 surrogate (not text)")
    if isinstance(value, int):
        return str(value), None
    if isinstance(value, float):
        # json.loads turns out-of-range numbers such as 1e400 into inf; reject rather than drop them.
        return (repr(value), None) if math.isfinite(value) else (None, "is out of range for a DOUBLE")
    return None, f"is a JSON {type(value).__name__.replace('dict', 'object').replace('list', 'array')}, not a scalar"


def _report_timestamp(document: Any) -> Any:
    return document.get("timestamp") if isinstance(document, dict) else None


def read_index_advisor(data: bytes, spec: DatasetSpec) -> RawTable:
    """Read an index-advisor report: an object with `timestamp` and a `recommendations` array."""
    document = load_json(decode(data))
    if not isinstance(document, dict) or not isinstance(document.get("recommendations"), list):
        raise UnreadableInput("expected a JSON object with a 'recommendations' array")
    report_ts, problem = _scalar_text(_report_timestamp(document))
    if problem:
        raise UnreadableInput(f"report timestamp {problem}")
    known = {c.name for c in spec.input_columns}
    columns: dict[str, list[str | None]] = {c.name: [] for c in spec.input_columns}
    book = _empty_bookkeeping()
    extra: set[str] = set()
    for record_no, item in enumerate(document["recommendations"], start=1):
        book[LINE].append(None)
        book[RECORD].append(record_no)
        book[RAW].append(_json_text(item)[:10_000])
        values: dict[str, str | None] = {name: None for name in known}
        error: str | None = None
        if not isinstance(item, dict):
            error = f"recommendations[{record_no - 1}] is not an object"
        else:
            values["timestamp"] = report_ts
            for key, value in item.items():
                name = spec.aliases.get(key, key)
                if name not in known:
                    extra.add(key if _is_text(key) else _json_text(key))
                    continue
                text, problem = _scalar_text(value)
                if problem and error is None:
                    error = f"{name} {problem}"
                values[name] = text if text is not None or name != "timestamp" else report_ts
        book[ERROR].append(error)
        for name in known:
            columns[name].append(values[name] if error is None else None)
    return RawTable(frame=_frame(spec, columns, book), extra_columns=sorted(extra))


def index_advisor_timestamp(data: bytes) -> str | None:
    """The report-level timestamp text of an index-advisor report (for its key), if any."""
    document = load_json(decode(data))
    value = _report_timestamp(document)
    return value if isinstance(value, str) else None


# ---------------------------------------------------------------------------------------- summary
_TS = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?"
_EVENT_LINE = re.compile(rf"\[?(?P<ts>{_TS})\]?\s+(?P<event>\S+)(?:\s+(?P<rest>.*))?")
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_LABEL_LINE = re.compile(rf"(?P<label>[A-Za-z][^:]*?)\s*:\s*(?P<value>{_NUMBER})")
_NUMBER_RE = re.compile(_NUMBER)


def snake_case(label: str) -> str:
    """`Indexes Created (total)` -> `indexes_created_total`."""
    words = re.findall(r"[A-Za-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", label))
    return "_".join(w.lower() for w in words)


def _summary_line(text: str, last_ts: str | None) -> tuple[dict[str, str | None], str | None, str | None]:
    """Parse one summary line: (values, error, timestamp seen on this line)."""
    values: dict[str, str | None] = {}
    if text.startswith("{"):
        try:
            obj = load_json(text)
        except UnreadableInput as exc:
            return values, str(exc), None
        if not isinstance(obj, dict):
            return values, "JSON line is not an object", None
        metadata: dict[str, Any] = {}
        if isinstance(obj.get("metadata"), dict):
            metadata.update(obj.pop("metadata"))
        ts_value = obj.pop("timestamp", None)
        ts, problem = _scalar_text(ts_value)
        if problem:
            return values, f"timestamp {problem}", None
        values["timestamp"] = ts if ts is not None else last_ts
        for name in ("event_type", "metric_name", "metric_value"):
            text_value, problem = _scalar_text(obj.pop(name, None))
            if problem:
                return values, f"{name} {problem}", ts
            values[name] = text_value
        metadata.update(obj)
        values["metadata"] = _json_text(metadata) if metadata else None
        if values["timestamp"] is None:
            return values, "no timestamp on this line or any line above", ts
        return values, None, ts
    event = _EVENT_LINE.fullmatch(text)
    if event:
        ts = event["ts"]
        try:
            tokens = shlex.split(event["rest"] or "", comments=False, posix=True)
        except ValueError as exc:
            return values, f"cannot split key=value pairs: {exc}", ts
        pairs = [token.partition("=") for token in tokens]
        if not pairs or not pairs[0][1] or not _NUMBER_RE.fullmatch(pairs[0][2]):
            return values, "expected METRIC=NUMBER after the event type", ts
        bad = [token for token, (_, eq, _) in zip(tokens, pairs, strict=True) if not eq]
        if bad:
            return values, f"expected key=value, found '{bad[0]}'", ts
        metadata = {key: value for key, _, value in pairs[1:]}
        values.update(
            timestamp=ts,
            event_type=event["event"],
            metric_name=pairs[0][0],
            metric_value=pairs[0][2],
            metadata=_json_text(metadata) if metadata else None,
        )
        return values, None, ts
    label = _LABEL_LINE.fullmatch(text)
    if label:
        if last_ts is None:
            return values, "summary line has no timestamped line above it", None
        values.update(
            timestamp=last_ts,
            event_type="summary",
            metric_name=snake_case(label["label"]),
            metric_value=label["value"],
            metadata=None,
        )
        return values, None, None
    return values, "line fits no summary grammar (JSON, 'TIMESTAMP EVENT METRIC=NUMBER', 'Label: NUMBER')", None


def _summary_lines(text: str) -> Iterator[tuple[int, str]]:
    for line_no, line in enumerate(io.StringIO(text, newline=""), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield line_no, stripped


def read_summary(data: bytes, spec: DatasetSpec) -> RawTable:
    """Read an optimization summary: one event per line in one of three grammars."""
    text = decode(data)
    columns: dict[str, list[str | None]] = {c.name: [] for c in spec.input_columns}
    book = _empty_bookkeeping()
    last_ts: str | None = None
    for record_no, (line_no, line) in enumerate(_summary_lines(text), start=1):
        values, error, seen_ts = _summary_line(line, last_ts)
        last_ts = seen_ts or last_ts
        book[LINE].append(line_no)
        book[RECORD].append(record_no)
        book[RAW].append(line)
        book[ERROR].append(error)
        for column in spec.input_columns:
            columns[column.name].append(values.get(column.name) if error is None else None)
    return RawTable(frame=_frame(spec, columns, book))


def first_summary_timestamp(data: bytes) -> str | None:
    """The timestamp text of a summary's first timestamped line (for its key), if any."""
    for _, line in _summary_lines(decode(data)):
        _, _, ts = _summary_line(line, None)
        if ts:
            return ts
    return None


READERS = {"csv": read_csv, "index_advisor": read_index_advisor, "summary": read_summary}


def read(data: bytes, spec: DatasetSpec) -> RawTable:
    """Dispatch to the spec's reader."""
    return READERS[spec.reader](data, spec)


def parse_instant(text: str, source_timezone: dt.tzinfo) -> dt.datetime | None:
    """An ISO 8601 text as an aware datetime (naive = source timezone), or None when unparseable."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=source_timezone)
