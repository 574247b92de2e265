"""The careful path: a CSV streamed by polars with a reason for every row it rejects.

A line scan finds blank lines and ragged records, a scan of every value as text feeds the typing
(`daemon.convert.coerce`), and two sinks write the good rows and the rejected ones. Memory stays flat
whatever the file's size. A file this path cannot read (a record spanning lines, a stray quote, bytes
that are not UTF-8) goes to the csv-module reader (`records.py`).
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from daemon.convert.coerce import ERROR, LINE, REASON, RECORD, bad_rows, good_rows, staged
from daemon.convert.csv.head import CsvHead, csv_head
from daemon.convert.csv.streamed import (
    Metadata,
    Streamed,
    counts,
    footer,
    open_attempt,
    sort_by_timestamp,
    sorted_by_timestamp,
)
from daemon.convert.writer import parquet_options
from daemon.errors import map_error
from daemon.settings import Settings
from daemon.specs import DatasetSpec

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
        glob=False,  # a path, never a pattern: a root may be named `ops [prod]`
    )


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
        glob=False,
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


class _RowCounter:
    """Counts the rows that flow through it (batches may arrive on several threads)."""

    def __init__(self) -> None:
        self.rows = 0
        self._lock = threading.Lock()

    def __call__(self, batch: pl.Series) -> pl.Series:
        with self._lock:
            self.rows += len(batch)
        return batch


def stream_csv(
    scan: CsvScan,
    spec: DatasetSpec,
    dest: Path,
    settings: Settings,
    metadata: Metadata,
    *,
    write: bool = True,
) -> Streamed | None:
    """Type and write `scan` to a temporary file next to `dest`, sorted by timestamp.

    Returns None when the value scan and the line scan disagree about the records (the caller then
    uses the csv-module reader). With `write=False` nothing is written (a dry run): only counts.
    """
    frame = staged(scan.frame, spec, settings.source_timezone, decimal_comma=scan.decimal_comma)
    good = good_rows(frame, spec, settings.timezone)
    bad = bad_rows(frame).select(LINE, REASON)
    what = f"writing {dest.name}"
    if not write:
        try:
            counted, rejected = pl.collect_all([good.select(pl.len()), bad], engine="streaming")
        except pl.exceptions.PolarsError as exc:
            mapped = map_error(exc, what, side="writing")
            if mapped is not None:
                raise mapped from None
            return None
        return _checked(scan, None, int(counted.item()), rejected)
    counter = _RowCounter()
    counted_rows = good.with_columns(
        pl.col("timestamp").map_batches(counter, return_dtype=pl.Datetime("us"), is_elementwise=True)
    )
    attempt = open_attempt(dest, what)
    tmp, tmp_bad = attempt.path("rows"), attempt.path("rejects")
    try:
        pl.collect_all(
            [
                counted_rows.sink_parquet(
                    tmp,
                    metadata=footer(metadata, lambda: (scan.rows_in, counter.rows)),
                    lazy=True,
                    **parquet_options(settings, scan.source_bytes),
                ),
                bad.sink_parquet(tmp_bad, lazy=True),
            ],
            engine="streaming",
        )
        rejected = pl.read_parquet(tmp_bad, glob=False)
        result = _checked(scan, tmp, counter.rows, rejected)
        if result is None:
            return None
        if not sorted_by_timestamp(tmp, counter.rows):
            sort_by_timestamp(tmp, settings, {**metadata(), **counts(scan.rows_in, counter.rows)}, scan.source_bytes)
        result.tmp = attempt.keep(tmp)
        return result
    except BaseException as exc:
        mapped = map_error(exc, what, side="writing") if isinstance(exc, pl.exceptions.PolarsError | OSError) else None
        if mapped is not None:
            raise mapped from None
        if isinstance(exc, pl.exceptions.PolarsError):
            return None  # polars cannot parse something the line scan let through: the csv module decides
        raise
    finally:
        attempt.discard()


def _checked(scan: CsvScan, tmp: Path | None, written: int, rejected: pl.DataFrame) -> Streamed | None:
    if written + rejected.height != scan.rows_in:
        return None
    lines = rejected[LINE].to_list()
    raw = scan.raw_lines(lines)
    with_text = rejected.select(
        LINE,
        pl.Series(RECORD, [scan.record_of(n) for n in lines], dtype=pl.Int64),
        pl.Series("__raw", [raw.get(n, "") for n in lines], dtype=pl.String),
        REASON,
    ).rename({"__raw": "__raw"})
    return Streamed(tmp, scan.rows_in, written, with_text)
