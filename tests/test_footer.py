"""The Parquet footer reader agrees with DuckDB's parquet_metadata(), and quality works without statistics."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

from daemon.convert.footer import ColumnStats, FooterError, column_stats
from daemon.convert.quality import measure
from daemon.specs import BY_NAME
from tests.conftest import ExportedRoot


def test_statistics_equal_duckdbs_for_every_output(exported_root: ExportedRoot) -> None:
    """Row counts, null counts and min/max of every column chunk of every dataset equal DuckDB's reading."""
    files = sorted((exported_root.root / "knowledge/optimize/parquet").rglob("*.parquet"))
    assert len(files) > 40
    for path in files:
        rows, stats = column_stats(path)
        con = duckdb.connect()
        expected = con.execute(
            "SELECT path_in_schema, row_group_num_rows, stats_null_count, stats_min_value, stats_max_value"
            " FROM parquet_metadata(?) ORDER BY row_group_id, column_id",
            [str(path)],
        ).fetchall()
        total = con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone()
        con.close()
        assert total is not None
        assert total[0] == rows
        mine = [(name, s) for name, chunks in stats.items() for s in chunks]
        assert len(expected) == len(mine), path
        got: dict[str, list[ColumnStats]] = {name: [] for name, _ in mine}
        for name, s in mine:
            got[name].append(s)
        for name, group_rows, nulls, low, high in expected:
            s = got[name.split(".")[0]].pop(0)
            assert (group_rows, nulls) == (s.rows, s.null_count), (path, name)
            if isinstance(s.min, float):
                assert (float(low), float(high)) == (s.min, s.max), (path, name)
            elif isinstance(s.min, dt.datetime | dt.date):
                assert (low, high) == (_duck_text(s.min), _duck_text(s.max)), (path, name)


def _duck_text(v: dt.date) -> str:
    if isinstance(v, dt.datetime):
        text = v.isoformat(sep=" ")
        return text.rstrip("0") if "." in text else text
    return v.isoformat()


def test_a_file_that_is_not_parquet_is_a_footer_error(tmp_path: Path) -> None:
    """A CSV is not mistaken for Parquet."""
    path = tmp_path / "x.parquet"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(FooterError):
        column_stats(path)


def test_quality_scans_what_a_footer_without_statistics_cannot_answer(tmp_path: Path) -> None:
    """A file written without statistics still gets exact null, negative and outside-day counts."""
    spec = BY_NAME["query_perf"]
    day = dt.datetime(2025, 10, 28)
    frame = pl.DataFrame(
        {
            "timestamp": [day, day + dt.timedelta(hours=1), day - dt.timedelta(seconds=1)],
            "query_hash": ["a", None, "c"],
            "query_type": ["SELECT"] * 3,
            "execution_time_ms": [1.0, -2.0, 3.0],
            "rows_examined": [1, 2, 3],
            "rows_returned": [1, 2, 3],
            "cache_hit": [True, False, None],
            "table_name": ["t"] * 3,
            "index_used": [None, None, "i"],
            "cpu_time_ms": [None, None, None],
            "io_wait_ms": [0.5, -0.25, None],
            "date_partition": [day.date()] * 3,
        },
        schema_overrides={"cpu_time_ms": pl.Float64},
    )
    path = tmp_path / "bare.parquet"
    frame.write_parquet(path, statistics=False)
    assert all(s.null_count is None for chunks in column_stats(path)[1].values() for s in chunks)
    q = measure(path, spec, key_text="20251028", key_day=day.date(), calendar="UTC", rows_rejected=0, extra_columns=[])
    expected_nulls = {"query_hash": 1, "cache_hit": 1, "index_used": 2, "cpu_time_ms": 3, "io_wait_ms": 1}
    assert expected_nulls == q.null_counts
    assert (2, 1, ["cpu_time_ms"]) == (q.negative_durations, q.outside_day, q.missing_columns)
