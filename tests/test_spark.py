"""Spark reads a fleet's published dataset: two hosts publish into one folder target, Spark (local mode,
loopback only) reads it with the host level as a column.

Spark's own S3 support (hadoop-aws) comes only from Maven, which this machine cannot reach, so the bucket
is proven with DuckDB (tests/test_publish.py) and Spark on a folder filled by the same publisher.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.conftest import HEADER, call_main, daily_rows

pytestmark = pytest.mark.spark

HOST_DAYS = {"alpha": {"20260114": 7, "20260201": 3}, "beta": {"20260114": 5, "20260115": 11}}


def _java_works() -> bool:
    java = shutil.which("java")
    if java is None:
        return False
    return subprocess.run([java, "-version"], capture_output=True, check=False).returncode == 0


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """A local Spark session bound to 127.0.0.1 (skipped, saying why, without Java or pyspark)."""
    if not _java_works():
        pytest.skip("Spark test needs Java (java -version failed); scripts/test runs it where Java is installed")
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        pytest.skip("pyspark is not installed: uv sync --group spark (scripts/test does so when Java works)")
    session = (
        SparkSession.builder.master("local[1]")
        .appName("parquet-exporter-fleet-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # a short-lived JVM: the quick JIT tier and the serial collector start it about twice as fast
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two hosts' roots exported with the same folder target; returns the folder."""
    target = tmp_path / "shared"
    for host, days in HOST_DAYS.items():
        root = tmp_path / host
        (root / "g/reports").mkdir(parents=True)
        (root / "knowledge/optimize").mkdir(parents=True)
        for day, n in days.items():
            lines = daily_rows(dt.datetime.strptime(day, "%Y%m%d").date(), n)
            (root / "g/reports" / f"query_perf_daily_{day}.csv").write_text("\n".join([HEADER, *lines]) + "\n")
        monkeypatch.setenv("PARQUET_EXPORTER_OUTPUT_URL", target.as_uri())
        monkeypatch.setenv("PARQUET_EXPORTER_FLEET_HOST", host)
        result = call_main("export", "--historical", "--json", "--root", root)
        assert 0 == result.code, result.err
        assert {"published"} == {w["publish"] for w in result.json()["written"]}
    return target


def test_spark_reads_two_hosts_values_types_and_counts(spark: Any, shared: Path) -> None:
    """Spark finds both hosts' files, types every column as the schema says, and reads the same rows."""
    frame = spark.read.parquet(str(shared / "query_perf"))
    types = dict(frame.dtypes)
    counts = {row["host"]: row["count"] for row in frame.groupBy("host").count().collect()}
    expected_rows = pl.concat(
        pl.read_parquet(p).with_columns(pl.lit(p.parts[-4].removeprefix("host=")).alias("host"))
        for p in sorted((shared / "query_perf").rglob("*.parquet"))
    ).sort("host", "timestamp", "query_hash")
    spark_rows = frame.select("host", "timestamp", "query_hash", "execution_time_ms", "date_partition").collect()
    actual = sorted(
        (r["host"], r["timestamp"], r["query_hash"], r["execution_time_ms"], r["date_partition"]) for r in spark_rows
    )
    assert {h: sum(days.values()) for h, days in HOST_DAYS.items()} == counts
    assert {
        "timestamp": "timestamp_ntz",
        "query_hash": "string",
        "execution_time_ms": "double",
        "rows_examined": "bigint",
        "cache_hit": "boolean",
        "date_partition": "date",
        "host": "string",
    } == {
        k: types[k]
        for k in (
            "timestamp",
            "query_hash",
            "execution_time_ms",
            "rows_examined",
            "cache_hit",
            "date_partition",
            "host",
        )
    }
    assert (
        sorted(expected_rows.select("host", "timestamp", "query_hash", "execution_time_ms", "date_partition").rows())
        == actual
    )
