"""End-to-end smoke tests of the export command through `main()`."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from daemon.cli.commands import main
from tests.conftest import WriteCsv


def test_export_writes_partitioned_parquet_with_exact_schema(
    root: Path, write_daily: WriteCsv, capsys: pytest.CaptureFixture[str]
) -> None:
    """A daily CSV becomes query_perf/year=YYYY/month=MM/query_perf_YYYYMMDD.parquet with the schema's types."""
    write_daily("20251028")
    assert main(["export", "--root", str(root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    out = root / "knowledge/optimize/parquet/query_perf/year=2025/month=10/query_perf_20251028.parquet"
    assert [w["output"] for w in report["written"]] == [str(out.relative_to(root))]
    described = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{out}', hive_partitioning=false)").fetchall()
    assert [(r[0], r[1]) for r in described] == [
        ("timestamp", "TIMESTAMP"),
        ("query_hash", "VARCHAR"),
        ("query_type", "VARCHAR"),
        ("execution_time_ms", "DOUBLE"),
        ("rows_examined", "BIGINT"),
        ("rows_returned", "BIGINT"),
        ("cache_hit", "BOOLEAN"),
        ("table_name", "VARCHAR"),
        ("index_used", "VARCHAR"),
        ("cpu_time_ms", "DOUBLE"),
        ("io_wait_ms", "DOUBLE"),
        ("date_partition", "DATE"),
    ]
    assert duckdb.execute(f"SELECT count(*) FROM '{out}'").fetchall() == [(5,)]


def test_second_run_skips(root: Path, write_daily: WriteCsv, capsys: pytest.CaptureFixture[str]) -> None:
    """A rerun writes nothing and says "already exists, skipping"."""
    write_daily("20251028")
    assert main(["export", "--root", str(root)]) == 0
    capsys.readouterr()
    assert main(["export", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "query_perf_20251028.parquet already exists, skipping" in out
    assert "(0 new files, 1 skipped, 0 failed)" in out


def test_usage_error_exits_2(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--date with a non-date is a usage error with exit code 2."""
    assert main(["export", "--root", str(root), "--date", "2025-13-01"]) == 2
    assert "not a YYYY-MM-DD date" in capsys.readouterr().err


def test_run_refuses_a_root_that_is_not_an_operations_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` on a folder with neither g/ nor knowledge/ exits 2 with a one-line hint instead of watching it."""
    assert 2 == main(["run", "--once", "--root", str(tmp_path)])
    err = capsys.readouterr().err
    assert "neither g/ nor knowledge/" in err
    assert 1 == len(err.strip().splitlines())
    assert [] == list(tmp_path.iterdir())


def test_dry_run_with_a_failing_input_and_an_existing_state(
    root: Path, write_daily: WriteCsv, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dry run after a real export reports a failing input as failed and writes nothing, state included."""
    write_daily("20251028")
    assert 0 == main(["export", "--root", str(root)])
    (root / "g/reports/query_perf_daily_20251301.csv").write_text("timestamp\n")
    state = root / "g/state/parquet_export/state.db"
    before = state.read_bytes()
    capsys.readouterr()
    assert 1 == main(["export", "--root", str(root), "--historical", "--dry-run"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "✗ query_perf_daily_20251301.csv: '20251301' is not a real date" in captured.err
    assert before == state.read_bytes()


def test_unexpected_error_is_one_line_not_a_traceback(
    root: Path, write_daily: WriteCsv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error nobody planned for (here: a bug raising inside the export command) ends as one line on stderr
    and exit 1."""
    import daemon.cli.commands

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.delenv("PARQUET_EXPORTER_DEBUG", raising=False)
    monkeypatch.setattr(daemon.cli.commands, "likely_csv_sources", boom)
    write_daily("20251028")
    assert 1 == main(["export", "--root", str(root)])
    err = capsys.readouterr().err
    assert err.startswith("error: internal error: RuntimeError: boom")
    assert 1 == len(err.strip().splitlines())


def test_the_program_exits_fast_with_its_output_log_and_state_complete(root: Path, write_daily: WriteCsv) -> None:
    """`parquet-exporter` skips the interpreter's teardown (`daemon.cli.program`): what it printed into a pipe, its
    log lines and its state must all be there after it exits, and its exit code must be the command's."""
    import sqlite3
    import subprocess
    import sys

    write_daily("20251028")
    done = subprocess.run(
        [sys.executable, "-m", "daemon", "export", "--root", str(root), "--json"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (0, "") == (done.returncode, done.stderr)
    assert 5 == json.loads(done.stdout)["written"][0]["rows_written"]
    events = [json.loads(line)["event"] for line in (root / "g/logs/parquet_export.log").read_text().splitlines()]
    assert "export.written" in events
    with sqlite3.connect(root / "g/state/parquet_export/state.db") as db:
        assert db.execute("SELECT count(*) FROM outputs").fetchone() == (1,)
    failed = subprocess.run(
        [sys.executable, "-m", "daemon", "export", "--root", str(root), "--date", "2025-02-30"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert 2 == failed.returncode
    assert "2025-02-30" in failed.stderr
