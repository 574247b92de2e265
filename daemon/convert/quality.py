"""Data quality of one written output: what a person should know about a file beyond "it converted".

Measured right after an output is published, from the file itself, cheaply: the Parquet footer's
statistics (daemon/convert/footer.py) answer null counts, negative durations and timestamps outside the
file's day whenever the row groups' min/max prove there are none; only the columns whose statistics
cannot answer are scanned, with polars (no DuckDB on the CSV path). Duplicates always need a scan,
kept to one to three fixed-width columns unless candidates turn up (see `_duplicates`). The whole
costs a few tens of milliseconds on a 1M-row file (README, "Data quality").
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from daemon.convert.footer import column_stats
from daemon.convert.writer import in_slices
from daemon.specs import DatasetSpec
from daemon.timeutil import parse_week_key, zone

# Columns holding a duration: a negative value is a producer's bug, never a real measurement.
DURATION_SUFFIX = "_ms"
FIXED_WIDTH = ("TIMESTAMP", "DOUBLE", "BIGINT", "BOOLEAN", "DATE")
BATCH_ROWS = 1_000_000  # rows hashed and compared at a time by the duplicate check (bounds its memory)


@dataclass(frozen=True)
class Quality:
    """Data-quality metrics of one output (counts are rows of the written file unless said otherwise)."""

    rows: int
    rows_rejected: int  # rows of the source that went to rejects instead
    duplicate_rows: int  # rows equal on every column to an earlier row (extra copies only)
    outside_day: int  # timestamps outside the file's day (or ISO week), in the calendar of its name (`timezone`)
    negative_durations: int  # negative values in *_ms duration columns
    null_counts: dict[str, int] = field(default_factory=dict)  # every column with at least one NULL
    extra_columns: list[str] = field(default_factory=list)  # in the source, not in the schema (left out)
    missing_columns: list[str] = field(default_factory=list)  # optional columns with no value at all
    seconds: float = 0.0
    scanned: list[str] = field(default_factory=list)  # checks the footer's statistics could not answer

    @property
    def drift(self) -> bool:
        return bool(self.extra_columns or self.missing_columns)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def problems(self) -> list[str]:
        """Short phrases for people, empty when the file is clean (nulls in optional columns are normal)."""
        out = []
        if self.rows_rejected:
            out.append(f"{self.rows_rejected:,} rejected")
        if self.duplicate_rows:
            out.append(f"{self.duplicate_rows:,} duplicate rows")
        if self.outside_day:
            out.append(f"{self.outside_day:,} timestamps outside the file's day")
        if self.negative_durations:
            out.append(f"{self.negative_durations:,} negative durations")
        if self.extra_columns:
            out.append("extra columns " + ", ".join(self.extra_columns))
        if self.missing_columns:
            out.append("no values in " + ", ".join(self.missing_columns))
        return out

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Quality:
        """Rebuild from a row of the state's `quality` table."""
        return cls(
            rows=int(row["rows"]),
            rows_rejected=int(row["rows_rejected"]),
            duplicate_rows=int(row["duplicate_rows"]),
            outside_day=int(row["outside_day"]),
            negative_durations=int(row["negative_durations"]),
            null_counts=json.loads(row["null_counts"] or "{}"),
            extra_columns=json.loads(row["extra_columns"] or "[]"),
            missing_columns=json.loads(row["missing_columns"] or "[]"),
            seconds=float(row["seconds"] or 0.0),
        )


def day_bounds(spec: DatasetSpec, key_text: str, key_day: dt.date, calendar: str) -> tuple[dt.datetime, dt.datetime]:
    """The file's day (or ISO week) in `calendar` as naive-UTC bounds [start, end), like stored timestamps."""
    if spec.key_kind == "week":
        year, week = parse_week_key(key_text)
        first = dt.date.fromisocalendar(year, week, 1)
        last = first + dt.timedelta(days=7)
    else:
        first, last = key_day, key_day + dt.timedelta(days=1)
    tz = zone(calendar)

    def utc(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC).replace(tzinfo=None)

    return utc(first), utc(last)


def measure(
    path: Path,
    spec: DatasetSpec,
    *,
    key_text: str,
    key_day: dt.date,
    calendar: str,
    rows_rejected: int,
    extra_columns: list[str],
) -> Quality:
    """Measure one written output; `calendar` is the timezone whose calendar day the file's name means: the
    `timezone` setting for every kind, the calendar of `date_partition` too (a CSV's `source_timezone` only
    says how to read its naive timestamps: a Bangkok day read in UTC would flag 7 of its 24 hours)."""
    started = time.perf_counter()
    types = {c.name: c.type for c in spec.columns}
    rows, stats = column_stats(path)
    lazy = pl.scan_parquet(path, hive_partitioning=False, glob=False)
    scanned: list[str] = []

    def scan(expr: pl.Expr, check: str) -> int:
        scanned.append(check)
        return int(lazy.select(expr.alias("n")).collect(engine="streaming").item() or 0)

    # null counts: the footer's, unless a row group has none recorded
    null_counts: dict[str, int] = {}
    for name in types:
        chunks = stats.get(name, [])
        if chunks and all(c.null_count is not None for c in chunks):
            n = sum(int(c.null_count or 0) for c in chunks)
        else:
            n = scan(pl.col(name).null_count(), f"nulls:{name}")
        if n:
            null_counts[name] = n

    # negative durations: only columns whose minimum may be negative are scanned
    negative = 0
    for name, typ in types.items():
        if typ != "DOUBLE" or not name.endswith(DURATION_SUFFIX) or null_counts.get(name, 0) == rows:
            continue
        lows = [c.min for c in stats.get(name, []) if c.null_count != c.rows]
        if lows and all(isinstance(m, float) and m >= 0 for m in lows):
            continue
        negative += scan((pl.col(name) < 0).sum(), f"negative:{name}")

    # timestamps outside the file's day: none when every row group's range is inside it
    outside = 0
    if "timestamp" in types and rows:
        lo, hi = day_bounds(spec, key_text, key_day, calendar)
        chunks = [c for c in stats.get("timestamp", []) if c.null_count != c.rows]
        inside = all(
            isinstance(c.min, dt.datetime) and isinstance(c.max, dt.datetime) and c.min >= lo and c.max < hi
            for c in chunks
        )
        if not inside:
            outside = scan(((pl.col("timestamp") < lo) | (pl.col("timestamp") >= hi)).sum(), "outside_day")

    missing = [c.name for c in spec.input_columns if not c.required and rows and null_counts.get(c.name, 0) == rows]
    return Quality(
        rows=rows,
        rows_rejected=rows_rejected,
        duplicate_rows=_duplicates(path, lazy, spec, rows),
        outside_day=outside,
        negative_durations=negative,
        null_counts=null_counts,
        extra_columns=list(extra_columns),
        missing_columns=missing,
        seconds=round(time.perf_counter() - started, 4),
        scanned=scanned,
    )


def _duplicates(path: Path, lazy: pl.LazyFrame, spec: DatasetSpec, rows: int) -> int:
    """Extra copies of rows equal on every column, in memory bounded by a batch (and the longest timestamp run).

    Outputs are sorted by timestamp, so equal rows sit in runs of equal timestamps. Batch by batch, in
    file order, a hash of three fixed-width columns is compared within the batch plus the previous
    batch's last run; equal rows have equal hashes, so only rows whose hash repeats there are read
    whole and compared. An unsorted file (none of ours) is compared whole.
    """
    if rows < 2:
        return 0
    cheap = [c.name for c in spec.columns if c.type in FIXED_WIDTH and c.name != "date_partition"][:3]
    cheap = cheap or [spec.columns[0].name]  # three make chance candidates rare at 1M rows; more cost more
    first = cheap[0]
    key = pl.col(first).hash(0)
    for i, name in enumerate(cheap[1:], start=1):
        key = key ^ pl.col(name).hash(i)
    # physical values: an instant after year 9999 has no Python datetime to compare with
    keyed = lazy.select(pl.col(first).to_physical(), key.alias("__key"))
    candidates: list[pl.Series] = []
    carry: pl.DataFrame | None = None  # the previous batch's rows at its last value of `first`
    for offset, sliced in in_slices(keyed, rows, BATCH_ROWS):
        if sliced.height == 0:
            continue
        batch = sliced.with_row_index("__row", offset=offset)
        values = batch[first]
        if not values.is_sorted() or (carry is not None and carry[first][0] > values[0]):
            return _compare_all(lazy)
        window = batch if carry is None else pl.concat([carry, batch])
        if window["__key"].n_unique() < window.height:  # counting distinct keys is ~4x cheaper than marking them
            candidates.append(window.filter(pl.col("__key").is_duplicated())["__row"])
        last = values[-1]
        carry = window.filter(pl.col(first) == last) if last is not None else window.filter(pl.col(first).is_null())
    if not candidates:
        return 0
    rows_to_compare = pl.concat(candidates).unique()
    frame = (
        lazy.with_row_index("__row")
        .filter(pl.col("__row").is_in(rows_to_compare.implode()))
        .drop("__row")
        .collect(engine="streaming")
    )
    return frame.height - frame.unique().height


def _compare_all(lazy: pl.LazyFrame) -> int:
    frame = lazy.collect()
    return frame.height - frame.unique().height
