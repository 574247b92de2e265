"""Data quality of one written output: what a person should know about a file beyond "it converted".

Measured right after an output is published, from the file itself, cheaply: the Parquet footer's
statistics answer null counts, negative durations and timestamps outside the file's day whenever the
row groups' min/max prove there are none; only the columns whose statistics cannot answer are scanned.
Duplicates always need a scan: a hash of a few fixed-width columns (timestamp and the numbers) finds
candidate rows, and only candidates are compared on every column. The whole costs a few tens of
milliseconds on a 1M-row file (see README, "Data quality").
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from daemon.specs import DatasetSpec
from daemon.timeutil import parse_week_key, zone

# Columns holding a duration: a negative value is a producer's bug, never a real measurement.
DURATION_SUFFIX = "_ms"
FIXED_WIDTH = ("TIMESTAMP", "DOUBLE", "BIGINT", "BOOLEAN", "DATE")
MAX_CANDIDATES = 10_000  # past this many candidate timestamps, compare every row instead of filtering


@dataclass(frozen=True)
class Quality:
    """Data-quality metrics of one output (counts are rows of the written file unless said otherwise)."""

    rows: int
    rows_rejected: int  # rows of the source that went to rejects instead
    duplicate_rows: int  # rows equal on every column to an earlier row (extra copies only)
    outside_day: int  # timestamps outside the file's day (or ISO week), in the producer's calendar
    negative_durations: int  # negative values in *_ms duration columns
    null_counts: dict[str, int] = field(default_factory=dict)  # every column with at least one NULL
    extra_columns: list[str] = field(default_factory=list)  # in the source, not in the schema (left out)
    missing_columns: list[str] = field(default_factory=list)  # optional columns with no value at all
    seconds: float = 0.0

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


def _q(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _lit(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


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
    """Measure one written output; `calendar` is the timezone whose calendar day the file's name means."""
    started = time.perf_counter()
    src = f"read_parquet({_lit(path)}, hive_partitioning = false)"
    types = {c.name: c.type for c in spec.columns}
    with duckdb.connect() as con:
        con.execute("SET threads = 2")
        footer = con.execute(
            "SELECT path_in_schema, row_group_id, row_group_num_rows, stats_null_count, stats_min_value,"
            f" stats_max_value FROM parquet_metadata({_lit(path)})"
        ).fetchall()
        groups = {g: n for _, g, n, *_ in footer}
        rows = sum(groups.values())
        stats: dict[str, list[tuple[int | None, str | None, str | None]]] = {}
        for name, _, _, nulls, lo, hi in footer:
            top = name.split(".", 1)[0]  # JSON columns are plain strings; nested paths would be "a.b"
            if top in types:
                stats.setdefault(top, []).append((nulls, lo, hi))

        def scan(expr: str) -> int:
            found = con.execute(f"SELECT {expr} FROM {src}").fetchone()
            return int(found[0] or 0) if found else 0

        # null counts: the footer's, unless a row group has none recorded
        null_counts: dict[str, int] = {}
        for name in types:
            groups_stats = stats.get(name, [])
            if groups_stats and all(s[0] is not None for s in groups_stats):
                n = sum(int(s[0] or 0) for s in groups_stats)
            else:
                n = scan(f"count(*) - count({_q(name)})")
            if n:
                null_counts[name] = n

        # negative durations: only columns whose minimum might be negative are scanned
        negative = 0
        for name, typ in types.items():
            if typ != "DOUBLE" or not name.endswith(DURATION_SUFFIX):
                continue
            mins = [s[1] for s in stats.get(name, [])]
            if mins and all(m is not None and float(m) >= 0 for m in mins):
                continue
            if null_counts.get(name, 0) == rows:
                continue
            negative += scan(f"count(*) FILTER (WHERE {_q(name)} < 0)")

        # timestamps outside the file's day
        outside = 0
        if "timestamp" in types and rows:
            lo, hi = day_bounds(spec, key_text, key_day, calendar)
            ranges = stats.get("timestamp", [])
            proven = ranges and all(
                s[1] is not None
                and s[2] is not None
                and dt.datetime.fromisoformat(s[1]) >= lo
                and dt.datetime.fromisoformat(s[2]) < hi
                for s in ranges
            )
            if not proven:
                outside = scan(
                    f"count(*) FILTER (WHERE timestamp < TIMESTAMP {_lit(lo)} OR timestamp >= TIMESTAMP {_lit(hi)})"
                )

        duplicates = _duplicates(con, path, src, spec, rows)
    missing = [
        c.name
        for c in spec.input_columns
        if not c.required and rows and null_counts.get(c.name, 0) == rows and c.name not in ("timestamp",)
    ]
    return Quality(
        rows=rows,
        rows_rejected=rows_rejected,
        duplicate_rows=duplicates,
        outside_day=outside,
        negative_durations=negative,
        null_counts=null_counts,
        extra_columns=list(extra_columns),
        missing_columns=missing,
        seconds=round(time.perf_counter() - started, 4),
    )


def _duplicates(con: duckdb.DuckDBPyConnection, path: Path, src: str, spec: DatasetSpec, rows: int) -> int:
    """Extra copies of rows equal on every column.

    A first pass reads only three fixed-width columns, hashes each row's triple and sorts the hashes (cheaper
    than a hash table of a million keys): equal rows have equal triples, so when no two hashes are equal
    there is no duplicate. Otherwise only the rows at the candidates' timestamps are compared whole.
    """
    if rows < 2:
        return 0
    cheap = [c.name for c in spec.columns if c.type in FIXED_WIDTH and c.name != "date_partition"][:3]
    cheap = cheap or [spec.columns[0].name]  # three make chance candidates rare at 1M rows; more cost more
    key = pl.col(cheap[0]).hash(0)
    for i, name in enumerate(cheap[1:], start=1):
        key = key ^ pl.col(name).hash(i)
    pairs = pl.read_parquet(path, columns=cheap, hive_partitioning=False).with_columns(key.alias("__key"))
    ordered = pairs["__key"].sort()
    repeated = ordered.filter(ordered == ordered.shift(1)).unique()
    if repeated.len() == 0:
        return 0
    values = pairs.filter(pl.col("__key").is_in(repeated.implode()))[cheap[0]].unique().to_list()
    where = ""
    if len(values) <= MAX_CANDIDATES and all(isinstance(v, dt.datetime) for v in values):
        # a literal list lets the Parquet reader skip what no candidate can be in (a subquery would not)
        listed = ", ".join("TIMESTAMP " + _lit(v.isoformat(sep=" ")) for v in values)
        where = f"WHERE {_q(cheap[0])} IN ({listed})"
    every = ", ".join(_q(c.name) for c in spec.columns)
    exact = con.execute(
        f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {src} {where}"
        f" GROUP BY {every} HAVING count(*) > 1)"
    ).fetchone()
    return int(exact[0]) if exact else 0
