"""Data quality per export: measured from the written file, stored with the run history, shown in `status`."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from daemon.convert.quality import BATCH_ROWS, _duplicates, day_bounds
from daemon.specs import BY_NAME, Column, DatasetSpec
from daemon.state.database import SCHEMA, State
from tests import gen
from tests.conftest import HEADER, RunCli, WriteCsv, daily_rows

BANGKOK = ZoneInfo("Asia/Bangkok")


def bangkok_day_rows(day: dt.date, n: int) -> list[str]:
    """`n` valid query_perf CSV lines spread evenly over `day` in Asia/Bangkok (the default `timezone`), written
    as UTC instants: from 17:00Z the day before to just before 17:00Z on the day."""
    start = dt.datetime.combine(day, dt.time(), BANGKOK).astimezone(dt.UTC).replace(tzinfo=None)
    step = dt.timedelta(seconds=86400 / n)
    return [
        f"{(start + i * step).isoformat()}Z,h{i:05x},SELECT,{1 + i % 97}.5,{i},{i % 7},{'true' if i % 2 else 'false'},"
        f"table_{i % 3},idx_{i % 2},{i % 5}.5,0.125"
        for i in range(n)
    ]


def quality_of(run_cli: RunCli, root: Path, key: str = "20251028") -> dict[str, Any]:
    result = run_cli("export", "--date", f"{key[:4]}-{key[4:6]}-{key[6:]}", "--json", "--root", root)
    assert 0 == result.code, result.err
    (written,) = result.json()["written"]
    quality: dict[str, Any] = written["quality"]
    return quality


def test_a_clean_file_has_no_problems(root: Path, write_daily: WriteCsv, run_cli: RunCli) -> None:
    """Five valid rows of the file's Bangkok day: no duplicates, nothing outside the day, no negative durations."""
    write_daily("20251028", bangkok_day_rows(dt.date(2025, 10, 28), 5))
    q = quality_of(run_cli, root)
    assert (5, 0, 0, 0, 0) == (
        q["rows"],
        q["rows_rejected"],
        q["duplicate_rows"],
        q["outside_day"],
        q["negative_durations"],
    )
    assert {} == q["null_counts"]
    assert ([], []) == (q["extra_columns"], q["missing_columns"])


def test_duplicates_count_extra_copies_of_equal_rows(root: Path, write_daily: WriteCsv, run_cli: RunCli) -> None:
    """A row written twice and another three times make three extra copies."""
    rows = daily_rows(dt.date(2025, 10, 28), 6)
    write_daily("20251028", [*rows, rows[1], rows[4], rows[4]])
    assert 3 == quality_of(run_cli, root)["duplicate_rows"]


def test_rows_sharing_the_cheap_key_but_not_every_column_are_not_duplicates(
    root: Path, write_daily: WriteCsv, run_cli: RunCli
) -> None:
    """Two rows with the same timestamp, execution time and rows examined but another table are distinct."""
    a = "2025-10-28T01:00:00Z,h1,SELECT,2.5,10,1,true,users,idx,0.5,0.1"
    b = "2025-10-28T01:00:00Z,h1,SELECT,2.5,10,1,true,sessions,idx,0.5,0.1"
    write_daily("20251028", [a, b, a])
    assert 1 == quality_of(run_cli, root)["duplicate_rows"]


def test_timestamps_outside_the_files_day_are_counted(root: Path, write_daily: WriteCsv, run_cli: RunCli) -> None:
    """Two rows of the day before and one of the day after, in the calendar of the file's name (Bangkok), are
    outside; the first instant of that day is inside, even though the CSV's naive-time zone (UTC) differs."""
    rows = bangkok_day_rows(dt.date(2025, 10, 28), 4)
    extra = [
        "2025-10-27T16:59:59Z,h9,SELECT,1,1,1,true,t,i,1,1",
        "2025-10-27T10:00:00Z,h8,SELECT,1,1,1,true,t,i,1,1",
        "2025-10-28T17:00:00Z,h7,SELECT,1,1,1,true,t,i,1,1",
        "2025-10-27T17:00:00Z,h6,SELECT,1,1,1,true,t,i,1,1",
    ]
    write_daily("20251028", [*rows, *extra])
    q = quality_of(run_cli, root)
    assert 3 == q["outside_day"]
    assert "outside_day" in q["scanned"]


def test_a_full_bangkok_day_is_inside_its_day_without_a_scan(
    root: Path, write_daily: WriteCsv, run_cli: RunCli
) -> None:
    """86,400 rows, one a second over the file's whole Asia/Bangkok day (source_timezone UTC): none is outside
    the day, every date_partition is the file's date, and the footer's statistics answer without a scan."""
    write_daily("20251028", bangkok_day_rows(dt.date(2025, 10, 28), 86_400))
    q = quality_of(run_cli, root)
    assert (86_400, 0, 0) == (q["rows"], q["outside_day"], q["negative_durations"])
    assert [] == q["scanned"]
    out = root / "knowledge/optimize/parquet/query_perf/year=2025/month=10/query_perf_20251028.parquet"
    partitions = pl.read_parquet(out)["date_partition"].unique().to_list()
    assert [dt.date(2025, 10, 28)] == partitions


def test_negative_durations_are_counted_across_duration_columns(
    root: Path, write_daily: WriteCsv, run_cli: RunCli
) -> None:
    """A negative execution time and a negative CPU time are two negative durations; -0.0 is not one."""
    rows = [
        "2025-10-28T01:00:00Z,h1,SELECT,-3,1,1,true,t,i,0.5,0.1",
        "2025-10-28T02:00:00Z,h2,SELECT,3,1,1,true,t,i,-0.5,-0.0",
        "2025-10-28T03:00:00Z,h3,SELECT,3,1,1,true,t,i,0.5,0.1",
    ]
    write_daily("20251028", rows)
    assert 2 == quality_of(run_cli, root)["negative_durations"]


def test_null_counts_and_rejects_are_reported(root: Path, write_daily: WriteCsv, run_cli: RunCli) -> None:
    """Empty optional fields are null counts per column; an untypable row is a rejected row."""
    rows = [
        "2025-10-28T01:00:00Z,h1,SELECT,1,1,1,true,t,,,0.1",
        "2025-10-28T02:00:00Z,h2,SELECT,1,1,1,true,t,,0.2,",
        "2025-10-28T03:00:00Z,h3,SELECT,1,1,1,true,t,i,0.3,0.3",
        "2025-10-28T04:00:00Z,h4,SELECT,not-a-number,1,1,true,t,i,0.3,0.3",
    ]
    write_daily("20251028", rows)
    q = quality_of(run_cli, root)
    assert {"index_used": 2, "cpu_time_ms": 1, "io_wait_ms": 1} == q["null_counts"]
    assert (1, 3) == (q["rows_rejected"], q["rows"])


def test_schema_drift_is_extra_source_columns_and_optional_columns_without_values(
    root: Path, write_daily: WriteCsv, run_cli: RunCli
) -> None:
    """A header with an unknown column and without io_wait_ms drifts both ways."""
    header = HEADER.replace(",io_wait_ms", ",server")
    rows = [r.rsplit(",", 1)[0] + ",db-1" for r in daily_rows(dt.date(2025, 10, 28), 3)]
    write_daily("20251028", rows, header=header)
    q = quality_of(run_cli, root)
    assert (["server"], ["io_wait_ms"]) == (q["extra_columns"], q["missing_columns"])


def test_quality_is_stored_with_the_run_and_shown_in_status(root: Path, write_daily: WriteCsv, run_cli: RunCli) -> None:
    """The state's quality row points at the written run, and `status` (JSON and text) shows it."""
    rows = daily_rows(dt.date(2025, 10, 28), 3)
    write_daily("20251028", [*rows, rows[0]])
    quality_of(run_cli, root)
    with State(root / "g/state/parquet_export/state.db", readonly=True) as state:
        (stored,) = state.quality()
        (run,) = state.runs()
    assert (run["id"], 1) == (stored["run_id"], stored["duplicate_rows"])
    facts = run_cli("status", "--json", "--root", root).json()
    assert ["1 duplicate rows"] == facts["quality"][0]["problems"]
    text = run_cli("status", "--root", root).out
    assert "query_perf_20251028.parquet  4 rows: 1 duplicate rows" in text


def test_a_state_file_from_before_quality_keeps_working(root: Path, write_daily: WriteCsv, run_cli: RunCli) -> None:
    """An old state file without the quality table reads as no quality rows, and gains the table on the next export."""
    db = root / "g/state/parquet_export/state.db"
    db.parent.mkdir(parents=True)
    con = sqlite3.connect(db)
    old_schema = SCHEMA.split("CREATE TABLE IF NOT EXISTS quality", 1)[0]  # the schema before this change
    con.executescript(
        old_schema + "INSERT INTO runs (at, source, outcome) VALUES ('2025-10-27T00:00:00Z', 'old.csv', 'written');"
    )
    con.close()
    with State(db, readonly=True) as state:
        assert [] == state.quality()
    assert 3 == run_cli("status", "--root", root).code  # 3: no daemon runs (systemctl's convention)
    write_daily("20251028")
    assert 5 == quality_of(run_cli, root)["rows"]
    with State(db, readonly=True) as state:
        assert 1 == len(state.quality())
        assert 2 == len(state.runs())


@pytest.mark.parametrize(
    ("dataset", "key", "day", "calendar", "start", "end"),
    [
        ("query_perf", "20251028", dt.date(2025, 10, 28), "UTC", "2025-10-28T00:00", "2025-10-29T00:00"),
        ("query_perf", "20251028", dt.date(2025, 10, 28), "Asia/Bangkok", "2025-10-27T17:00", "2025-10-28T17:00"),
        ("query_perf_weekly", "202601", dt.date(2026, 1, 1), "UTC", "2025-12-29T00:00", "2026-01-05T00:00"),
        ("query_perf", "20250330", dt.date(2025, 3, 30), "Europe/Berlin", "2025-03-29T23:00", "2025-03-30T22:00"),
    ],
)
def test_day_bounds_are_the_files_day_in_its_calendar_as_utc(
    dataset: str, key: str, day: dt.date, calendar: str, start: str, end: str
) -> None:
    """A day, a DST day and an ISO week map to the naive-UTC interval their timestamps must fall in."""
    bounds = day_bounds(BY_NAME[dataset], key, day, calendar)
    assert (dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end)) == bounds


def test_quality_costs_a_small_share_of_a_large_export(root: Path, run_cli: RunCli) -> None:
    """On a 200,000-row realistic file the quality pass takes well under half the conversion's time."""
    data = gen.big_daily(random.Random(5), dt.date(2025, 10, 28), 200_000)
    (root / "g/reports/query_perf_daily_20251028.csv").write_bytes(data)
    result = run_cli("export", "--date", "2025-10-28", "--json", "--root", root)
    (written,) = result.json()["written"]
    q = written["quality"]
    assert (200_000, 0) == (q["rows"], q["duplicate_rows"])
    assert q["seconds"] < 0.5 * written["seconds"], (q["seconds"], written["seconds"])


def test_a_duplicate_across_a_slice_boundary_is_found(tmp_path: Path) -> None:
    """Two equal rows, the last of one slice of the duplicate walk and the first of the next, count once."""
    n = 2 * BATCH_ROWS
    start = dt.datetime(2025, 10, 28)
    frame = pl.DataFrame(
        {
            "timestamp": pl.datetime_range(
                start, start + dt.timedelta(microseconds=n - 1), "1us", eager=True, time_unit="us"
            ),
            "x": pl.int_range(n, eager=True),
        }
    )
    boundary = BATCH_ROWS  # row BATCH_ROWS becomes a copy of row BATCH_ROWS - 1
    frame = frame.with_columns(
        pl.when(pl.int_range(n) == boundary).then(pl.col(c).shift(1)).otherwise(pl.col(c)).alias(c)
        for c in ("timestamp", "x")
    )
    path = tmp_path / "d.parquet"
    frame.write_parquet(path, row_group_size=100_000)
    spec = DatasetSpec("d", (), "day", "csv", (Column("timestamp", "TIMESTAMP"), Column("x", "BIGINT")), view="")
    assert 1 == _duplicates(path, pl.scan_parquet(path), spec, n)
