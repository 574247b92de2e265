"""The streaming conversion of a CSV report: constant memory, and one pass for a clean file.

`convert_csv()` first tries the fast path: one typed polars scan straight into a temporary Parquet
file, checked after (every timestamp typed, every row with all its fields: see `stream_fast`). A file
that passes is done; one that does not (a value polars' typed reader refuses, a short row, an empty
timestamp) goes to the careful path, `stream_csv()`: a line scan, a scan of every value as text,
typing that says why a row fails, and two sinks, rows and rejects. Both paths give the same rows for
a clean file (tests/test_fast_path.py checks it). The row counts reach the output's footer through a
callable asked when the footer is written. Nothing is published here: the caller renames the
temporary file into place.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from daemon.convert import readers
from daemon.convert.coerce import (
    LINE,
    POLARS_TYPES,
    RAW,
    REASON,
    RECORD,
    bad_rows,
    common_timestamps,
    good_rows,
    local_date,
    parse_timestamps,
    staged,
    steady_around,
    steady_offset,
)
from daemon.convert.footer import ColumnStats, FooterError, column_stats
from daemon.convert.readers import CsvHead, CsvScan
from daemon.convert.writer import META_PREFIX, Attempt, in_slices, is_os_failure, map_engine_error, parquet_options
from daemon.settings import Settings
from daemon.specs import DatasetSpec

Metadata = Callable[[], Mapping[str, str]]  # the footer's provenance, asked for when the footer is written


class _RowCounter:
    """Counts the rows that flow through it (batches may arrive on several threads)."""

    def __init__(self) -> None:
        self.rows = 0
        self._lock = threading.Lock()

    def __call__(self, batch: pl.Series) -> pl.Series:
        with self._lock:
            self.rows += len(batch)
        return batch


@dataclass
class Streamed:
    """What a streaming conversion left behind: the temporary output and the rejected rows."""

    tmp: Path | None
    rows_in: int
    rows_written: int
    rejected: pl.DataFrame  # LINE, RECORD, RAW, REASON
    path: str = "careful"  # which path converted it: "fast" or "careful"

    def discard(self) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


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
            if is_os_failure(exc):
                raise map_engine_error(exc, what) from None
            return None
        return _checked(scan, None, int(counted.item()), rejected)
    counter = _RowCounter()
    counted_rows = good.with_columns(
        pl.col("timestamp").map_batches(counter, return_dtype=pl.Datetime("us"), is_elementwise=True)
    )
    attempt = _open_attempt(dest, what)
    tmp, tmp_bad = attempt.path("rows"), attempt.path("rejects")
    try:
        pl.collect_all(
            [
                counted_rows.sink_parquet(
                    tmp,
                    metadata=_footer(metadata, lambda: (scan.rows_in, counter.rows)),
                    lazy=True,
                    **parquet_options(settings, scan.source_bytes),
                ),
                bad.sink_parquet(tmp_bad, lazy=True),
            ],
            engine="streaming",
        )
        rejected = pl.read_parquet(tmp_bad)
        result = _checked(scan, tmp, counter.rows, rejected)
        if result is None:
            return None
        if not _sorted_by_timestamp(tmp, counter.rows):
            _sort(tmp, settings, {**metadata(), **_counts(scan.rows_in, counter.rows)}, scan.source_bytes)
        result.tmp = attempt.keep(tmp)
        return result
    except BaseException as exc:
        if isinstance(exc, pl.exceptions.PolarsError | OSError) and is_os_failure(exc):
            raise map_engine_error(exc, what) from None
        if isinstance(exc, pl.exceptions.PolarsError):
            return None  # polars cannot parse something the line scan let through: the csv module decides
        raise
    finally:
        attempt.discard()


def _open_attempt(dest: Path, what: str) -> Attempt:
    """A streaming attempt's private folder beside `dest`; an output folder that cannot be written is an error."""
    try:
        return Attempt(dest).open()
    except OSError as exc:
        raise map_engine_error(exc, what) from None


def _counts(rows_in: int, rows_written: int) -> dict[str, str]:
    return {"rows_in": str(rows_in), "rows_written": str(rows_written), "rows_rejected": str(rows_in - rows_written)}


def _footer(metadata: Metadata, counts: Callable[[], tuple[int, int]]) -> Callable[[object], dict[str, str]]:
    """The footer's key-value metadata, built when the footer is written (all rows counted by then);
    `counts` gives (rows in, rows written)."""

    def build(_: object) -> dict[str, str]:
        merged = {**metadata(), **_counts(*counts())}
        return {META_PREFIX + k: v for k, v in merged.items()}

    return build


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


def _sorted_by_timestamp(path: Path, rows: int, batch_rows: int = 1_000_000) -> bool:
    """Whether a written file of `rows` rows is in timestamp order (NULLs last), read a batch at a time
    (memory stays flat).

    Compared as microseconds: an instant after year 9999 has no Python datetime.
    """
    last: int | None = None
    nulls_seen = False
    scan = pl.scan_parquet(path)
    for _, batch in in_slices(scan.select(pl.col("timestamp").cast(pl.Int64)), rows, batch_rows):
        times = batch["timestamp"]
        if times.len() == 0:
            continue
        if not times.is_sorted(nulls_last=True) or (nulls_seen and times.is_not_null().any()):
            return False
        valid = times.drop_nulls()
        if valid.len():
            if last is not None and valid[0] < last:
                return False
            last = int(valid[-1])
        nulls_seen = nulls_seen or times.null_count() > 0
    return True


def _sort(tmp: Path, settings: Settings, metadata: Mapping[str, str], source_bytes: int) -> None:
    """Rewrite an unsorted temporary output sorted by timestamp (input order kept among equal times)."""
    kv = {META_PREFIX + k: v for k, v in metadata.items()}
    sorted_tmp = tmp.with_name(tmp.name + "-sorted")
    try:
        pl.scan_parquet(tmp).sort("timestamp", maintain_order=True, nulls_last=True).sink_parquet(
            sorted_tmp,
            metadata=kv,
            **parquet_options(settings, source_bytes),
        )
        sorted_tmp.replace(tmp)
    finally:
        sorted_tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------ entry point
@dataclass
class CsvResult:
    """A CSV's conversion: the streamed output (None when the csv-module reader must decide) and its drift."""

    streamed: Streamed | None
    extra_columns: list[str]


def convert_csv(
    path: Path,
    spec: DatasetSpec,
    dest: Path,
    settings: Settings,
    metadata: Metadata,
    separators: Callable[[], int | None] | None,
    *,
    write: bool = True,
) -> CsvResult:
    """Convert a CSV by the fast path when it is clean, else by the careful path (see the module docstring).

    `metadata` is called for the footer's provenance once the rows are written; `separators` gives the
    file's field separators (counted beside the conversion, see `daemon.convert.digest`); without it, no fast path.
    """
    head = readers.csv_head(path, spec)
    if head is None:
        return CsvResult(None, [])
    if write and separators is not None:
        fast = stream_fast(path, head, spec, dest, settings, metadata, separators)
        if fast is not None:
            return CsvResult(fast, head.extra_columns)
    scan = readers.scan_csv(path, spec, head)
    streamed = stream_csv(scan, spec, dest, settings, metadata, write=write) if scan is not None else None
    return CsvResult(streamed, head.extra_columns)


# ------------------------------------------------------------------------------------------ the fast path
# The types polars' CSV reader gives these columns itself. It accepts a subset of what `coerce` accepts,
# with the same values (tests/test_fast_path.py); anything else makes it raise and the careful path decide.
_NATIVE = ("DOUBLE", "BIGINT", "BOOLEAN")
# First instants whose half-year either side a Python datetime holds (others convert each row's zone).
FIRST_INSTANT_MIN, FIRST_INSTANT_MAX = dt.datetime(1, 8, 1), dt.datetime(9999, 5, 1)


def stream_fast(
    path: Path,
    head: CsvHead,
    spec: DatasetSpec,
    dest: Path,
    settings: Settings,
    metadata: Metadata,
    separators: Callable[[], int | None],
) -> Streamed | None:
    """One typed scan of a clean CSV into a temporary file next to `dest`; None when the file is not clean.

    Clean means: polars' typed reader takes every value, every timestamp is read, and every record has
    the header's fields. polars refuses a record with too many fields, provided it parses the last
    column (so extra columns are parsed too), but fills one with too few with NULLs without a word; so
    `separators()` (see `daemon.convert.separators`) must be width - 1 for the header and for every row. The
    written file's footer then says the rest: as many rows as records, no NULL timestamp.

    The plan has no Python in it when it can (each Python step costs ~15-35 MiB of peak memory at 5M
    rows): timestamps in the common `...Z` form are typed natively (the producer's first row decides;
    a later row in another form makes the file decline), and where the zone's offset is steady for half
    a year either side of the first row's month the date is the instant plus the offset (the written span must
    then be steady too, or the file declines). A `;`, tab or `|` file, or a file with no rows, is left to
    the careful path.
    """
    if head.delimiter != "," or head.width < 2:
        return None
    positions = {index: name for name, index in head.header.positions.items()}
    types = {c.name: c.type for c in spec.input_columns}
    schema: dict[str, pl.DataType] = {}
    for i in range(head.width):
        kind = types.get(positions.get(i, ""))
        schema[f"__col{i}"] = POLARS_TYPES[kind] if kind in _NATIVE else pl.String()
    scan = pl.scan_csv(
        path,
        has_header=True,
        separator=",",
        quote_char='"',
        infer_schema=False,
        new_columns=list(schema),
        schema_overrides={n: t for n, t in schema.items() if t != pl.String()},
        empty_string_is_null=False,
        truncate_ragged_lines=False,
        encoding="utf8",
    )
    ts_col = f"__col{head.header.positions['timestamp']}"
    extra = [pl.col(f"__col{i}") for i in range(head.width) if i not in positions]
    typed = _timestamps(scan, head, ts_col, extra, settings.source_timezone)
    if typed is None:
        return None
    typed_ts, first_instant = typed
    columns: list[pl.Expr] = []
    for column in spec.input_columns:
        at = head.header.positions.get(column.name)
        if column.name == "timestamp":
            columns.append(typed_ts.alias("timestamp"))
        elif at is None:
            columns.append(pl.lit(None, dtype=POLARS_TYPES[column.type]).alias(column.name))
        elif column.type in _NATIVE:
            columns.append(pl.col(f"__col{at}").alias(column.name))
        else:  # VARCHAR and JSON: the text itself, "" is NULL (as `coerce.typed_expr`)
            raw = pl.col(f"__col{at}")
            columns.append(pl.when(raw == "").then(None).otherwise(raw).alias(column.name))
    # The offset when the zone keeps one for half a year either side of the first row's month; the written
    # span is checked after.
    offset = None
    if first_instant is not None and FIRST_INSTANT_MIN <= first_instant <= FIRST_INSTANT_MAX:
        offset = steady_around(settings.timezone, first_instant.year, first_instant.month)
    ts = pl.col("timestamp")
    date_partition = (ts + offset).dt.date() if offset is not None else local_date(ts, settings.timezone)
    frame = scan.select(columns).with_columns(date_partition.alias("date_partition"))

    def records() -> int:
        """Data rows by the separator count (-1 when it says the file is not clean)."""
        found = separators()
        if found is None or found % (head.width - 1):
            return -1
        return found // (head.width - 1) - 1

    source_bytes = path.stat().st_size
    what = f"writing {dest.name}"
    attempt = _open_attempt(dest, what)
    tmp = attempt.path("rows")
    try:
        frame.sink_parquet(
            tmp, metadata=_footer(metadata, lambda: (records(), records())), **parquet_options(settings, source_bytes)
        )
        written, stats = column_stats(tmp)
        times = stats.get("timestamp", [])
        if written == 0 or written != records() or any(c.null_count != 0 for c in times):
            return None
        if offset is not None and _steady_over(times, settings.timezone) != offset:
            return None  # the zone's offset changes within the file's span: the careful path converts each row
        if not _sorted_by_timestamp(tmp, written):
            _sort(tmp, settings, {**metadata(), **_counts(written, written)}, source_bytes)
        kept = attempt.keep(tmp)
    except BaseException as exc:
        if isinstance(exc, pl.exceptions.PolarsError | OSError) and is_os_failure(exc):
            raise map_engine_error(exc, what) from None
        if isinstance(exc, pl.exceptions.PolarsError | FooterError):
            # The footer asks for the source's hash: a source that changed or vanished meanwhile fails the
            # digest, and that (raised here by `separators()`) says more than polars' wrapping of it.
            separators()
            return None  # a value, a row or a byte polars' typed reader refuses: the careful path decides
        raise
    finally:
        attempt.discard()
    empty = pl.DataFrame(schema={LINE: pl.Int64, RECORD: pl.Int64, RAW: pl.String, REASON: pl.String})
    return Streamed(kept, written, written, empty, path="fast")


def _timestamps(
    scan: pl.LazyFrame, head: CsvHead, column: str, extra: list[pl.Expr], source_timezone: str
) -> tuple[pl.Expr, dt.datetime | None] | None:
    """The typing of the timestamp column, and the first row's instant (None when it has none).

    Native for the common form, else (or with extra columns, which must be parsed too)
    `coerce.parse_timestamps` per batch. None when the file has no data row. The first row decides; it
    comes from the head already read when it is there (a polars read of one row costs ~40 ms in a new
    process), else from polars.
    """
    at = head.header.positions["timestamp"]
    if head.first_row is not None and len(head.first_row) == head.width:
        text: str | None = head.first_row[at]
    else:
        try:
            first_row = scan.select(column).head(1).collect()
        except pl.exceptions.PolarsError:
            return None  # not even a first row polars reads: the careful path says why
        if first_row.height == 0:
            return None
        text = first_row.item()
    native = pl.select(common_timestamps(pl.lit(text, dtype=pl.String))).item()
    if not extra and native is not None:
        return common_timestamps(pl.col(column)), native
    first = native if native is not None else parse_timestamps(pl.Series([text], dtype=pl.String), source_timezone)[0]
    raw: pl.Expr = pl.struct(pl.col(column).alias("t"), *extra) if extra else pl.col(column)

    def typed(batch: pl.Series) -> pl.Series:
        texts = batch.struct.field("t") if batch.dtype == pl.Struct else batch
        return parse_timestamps(texts, source_timezone)

    return raw.map_batches(typed, return_dtype=pl.Datetime("us"), is_elementwise=True), first


def _steady_over(times: list[ColumnStats], timezone: str) -> dt.timedelta | None:
    """The zone's offset over the written timestamps' span (the footer's min and max), if it is steady."""
    lows = [c.min for c in times]
    highs = [c.max for c in times]
    if not lows or not all(isinstance(v, dt.datetime) for v in (*lows, *highs)):
        return None  # no statistics, or an instant past year 9999 (no Python datetime)
    return steady_offset(timezone, min(lows), max(highs))
