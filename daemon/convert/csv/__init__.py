"""CSV reports. `convert_csv` is the one entry point, and the one place that chooses how a CSV is read:

1. the fast path (`fast.py`): one typed polars scan of a clean file, proven clean after the write;
2. the careful path (`careful.py`): a polars stream that gives every rejected row its reason;
3. the csv-module reader (`records.py`): whatever polars cannot read (UTF-16, records spanning lines,
   stray quotes), record by record in memory, typed by `daemon.convert.coerce` like the others.

All three give the same rows and the same reasons for a file they all read (tests/test_fast_path.py,
tests/test_csv_paths.py). `write=False` asks for counts only (a dry run): nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from daemon.convert.coerce import LINE, RAW, REASON, RECORD, coerce
from daemon.convert.csv.careful import scan_csv, stream_csv
from daemon.convert.csv.fast import stream_fast
from daemon.convert.csv.head import csv_head
from daemon.convert.csv.records import read_csv_records
from daemon.convert.csv.streamed import Metadata, Streamed
from daemon.convert.lines import check_lines
from daemon.convert.outcome import Converted
from daemon.settings import Settings
from daemon.specs import DatasetSpec


def convert_csv(
    path: Path,
    spec: DatasetSpec,
    dest: Path,
    settings: Settings,
    metadata: Metadata,
    *,
    separators: Callable[[], int | None] | None = None,
    load: Callable[[], bytes] | None = None,
    write: bool = True,
) -> Converted:
    """Convert the CSV at `path` for `dest` by the first path that can read it.

    `metadata` is asked for the footer's provenance once the rows are written; `separators` gives the
    file's field separators (counted beside the conversion, see `daemon.convert.digest`): without it, no
    fast path. `load` gives the source's bytes, checked against its hash, for the csv-module reader
    (default: read the file). Streamed outputs come back as a temporary file for the caller to publish.
    """
    check_lines(path, settings.max_line_bytes)  # before any reader holds a line whole (see `lines`)
    head = csv_head(path, spec)
    if head is not None:
        if write and separators is not None:
            fast = stream_fast(path, head, spec, dest, settings, metadata, separators)
            if fast is not None:
                return _streamed(fast, head.extra_columns)
        scan = scan_csv(path, spec, head)
        streamed = stream_csv(scan, spec, dest, settings, metadata, write=write) if scan is not None else None
        if streamed is not None:
            return _streamed(streamed, head.extra_columns)
    table = read_csv_records(load() if load is not None else path.read_bytes(), spec)
    coerced = coerce(table, spec, settings.timezone, settings.source_timezone)
    return Converted(
        "csv-module",
        coerced.rows_in,
        coerced.good.height,
        coerced.bad.select(LINE, RECORD, RAW, REASON),
        table.extra_columns,
        good=coerced.good,
    )


def _streamed(streamed: Streamed, extra_columns: list[str]) -> Converted:
    return Converted(
        streamed.route, streamed.rows_in, streamed.rows_written, streamed.rejected, extra_columns, tmp=streamed.tmp
    )
