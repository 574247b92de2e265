"""The fast path: a clean CSV is one typed polars scan written straight into a temporary Parquet file.

Clean is proven after the write, never assumed: see `stream_fast`. A file that is not clean is left to
the careful path, which gives the same rows for a clean file (tests/test_fast_path.py checks it).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path

import polars as pl

from daemon.convert.coerce import (
    LINE,
    POLARS_TYPES,
    RAW,
    REASON,
    RECORD,
    common_timestamps,
    parse_timestamps,
    steady_around,
    steady_offset,
    zone_dates,
)
from daemon.convert.csv.head import CsvHead
from daemon.convert.csv.streamed import (
    Metadata,
    Streamed,
    counts,
    footer,
    open_attempt,
    sort_by_timestamp,
    sorted_by_timestamp,
)
from daemon.convert.footer import ColumnStats, FooterError, column_stats
from daemon.convert.writer import parquet_options
from daemon.errors import map_error
from daemon.settings import Settings
from daemon.specs import DatasetSpec

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

    The plan has no Python in it when it can (each Python step adds to the peak memory; BENCHMARKS.md has
    the figures): timestamps in the common `...Z` form are typed natively (the producer's first row decides;
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
        glob=False,  # a path, never a pattern: a root may be named `ops [prod]`
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
    date_partition = (ts + offset).dt.date() if offset is not None else zone_dates(ts, settings.timezone)
    frame = scan.select(columns).with_columns(date_partition.alias("date_partition"))

    def records() -> int:
        """Data rows by the separator count (-1 when it says the file is not clean)."""
        found = separators()
        if found is None or found % (head.width - 1):
            return -1
        return found // (head.width - 1) - 1

    source_bytes = path.stat().st_size
    what = f"writing {dest.name}"
    attempt = open_attempt(dest, what)
    tmp = attempt.path("rows")
    try:
        frame.sink_parquet(
            tmp, metadata=footer(metadata, lambda: (records(), records())), **parquet_options(settings, source_bytes)
        )
        written, stats = column_stats(tmp)
        times = stats.get("timestamp", [])
        if written == 0 or written != records() or any(c.null_count != 0 for c in times):
            return None
        if _infinite(stats, spec):
            return None  # `1e400` or `inf`: the careful path tells an overflow from a named infinity
        if offset is not None and _steady_over(times, settings.timezone) != offset:
            return None  # the zone's offset changes within the file's span: the careful path converts each row
        if not sorted_by_timestamp(tmp, written):
            sort_by_timestamp(tmp, settings, {**metadata(), **counts(written, written)}, source_bytes)
        kept = attempt.keep(tmp)
    except BaseException as exc:
        mapped = map_error(exc, what, side="writing") if isinstance(exc, pl.exceptions.PolarsError | OSError) else None
        if mapped is not None:
            raise mapped from None
        if isinstance(exc, pl.exceptions.PolarsError | FooterError):
            # The footer asks for the source's hash: a source that changed or vanished meanwhile fails the
            # digest, and that (raised here by `separators()`) says more than polars' wrapping of it.
            separators()
            return None  # a value, a row or a byte polars' typed reader refuses: the careful path decides
        raise
    finally:
        attempt.discard()
    empty = pl.DataFrame(schema={LINE: pl.Int64, RECORD: pl.Int64, RAW: pl.String, REASON: pl.String})
    return Streamed(kept, written, written, empty, route="fast")


def _timestamps(
    scan: pl.LazyFrame, head: CsvHead, column: str, extra: list[pl.Expr], source_timezone: str
) -> tuple[pl.Expr, dt.datetime | None] | None:
    """The typing of the timestamp column, and the first row's instant (None when it has none).

    Native for the common form, else (or with extra columns, which must be parsed too)
    `coerce.parse_timestamps` per batch. None when the file has no data row. The first row decides; it
    comes from the head already read when it is there (a polars read of one row is slow in a new
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


def _infinite(stats: dict[str, list[ColumnStats]], spec: DatasetSpec) -> bool:
    """Whether a written DOUBLE column holds an infinity (polars' reader reads an overflow as one)."""
    doubles = [c.name for c in spec.input_columns if c.type == "DOUBLE"]
    bounds = [v for name in doubles for c in stats.get(name, []) for v in (c.min, c.max)]
    return any(isinstance(v, float) and math.isinf(v) for v in bounds)


def _steady_over(times: list[ColumnStats], timezone: str) -> dt.timedelta | None:
    """The zone's offset over the written timestamps' span (the footer's min and max), if it is steady."""
    lows = [c.min for c in times]
    highs = [c.max for c in times]
    if not lows or not all(isinstance(v, dt.datetime) for v in (*lows, *highs)):
        return None  # no statistics, or an instant past year 9999 (no Python datetime)
    return steady_offset(timezone, min(lows), max(highs))
