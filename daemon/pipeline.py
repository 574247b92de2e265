"""The streaming conversion of a CSV report: one lazy scan, two sinks, constant memory.

Rows to keep go straight to a temporary Parquet file and rejected rows (line and reason only) to a
second one; the row counts reach the first file's footer through a counter the rows pass on their
way to the sink. Nothing is published here: the caller renames the temporary file into place.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from daemon.coerce import LINE, REASON, RECORD, bad_rows, good_rows, staged
from daemon.readers import CsvScan
from daemon.settings import Settings
from daemon.specs import DatasetSpec
from daemon.writer import META_PREFIX, is_os_failure, map_engine_error, parquet_options, temporary_name


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

    def discard(self) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def stream_csv(
    scan: CsvScan,
    spec: DatasetSpec,
    dest: Path,
    settings: Settings,
    metadata: Mapping[str, str],
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
    tmp = temporary_name(dest)
    tmp_bad = tmp.with_name(tmp.name + "-rejects")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        pl.collect_all(
            [
                counted_rows.sink_parquet(
                    tmp,
                    metadata=_footer(metadata, scan.rows_in, counter),
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
            tmp.unlink(missing_ok=True)
            return None
        if not pl.read_parquet(tmp, columns=["timestamp"])["timestamp"].is_sorted(nulls_last=True):
            _sort(tmp, settings, {**metadata, **_counts(scan.rows_in, counter.rows)}, scan.source_bytes)
        return result
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, pl.exceptions.PolarsError | OSError) and is_os_failure(exc):
            raise map_engine_error(exc, what) from None
        if isinstance(exc, pl.exceptions.PolarsError):
            return None  # polars cannot parse something the line scan let through: the csv module decides
        raise
    finally:
        tmp_bad.unlink(missing_ok=True)


def _counts(rows_in: int, rows_written: int) -> dict[str, str]:
    return {"rows_in": str(rows_in), "rows_written": str(rows_written), "rows_rejected": str(rows_in - rows_written)}


def _footer(metadata: Mapping[str, str], rows_in: int, counter: _RowCounter) -> Callable[[object], dict[str, str]]:
    """The footer's key-value metadata, built when the footer is written (all rows counted by then)."""

    def build(_: object) -> dict[str, str]:
        merged = {**metadata, **_counts(rows_in, counter.rows)}
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
