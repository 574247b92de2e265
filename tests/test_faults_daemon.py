"""kill -9 of the daemon in the middle of its start-up sweep, and of an export at the one moment between
publishing an output and writing its rejects: nothing partial is ever visible, the state file stays
usable, and the next run completes every row, good and rejected."""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from daemon.convert.writer import read_metadata
from tests import daemonproc
from tests.conftest import HEADER
from tests.test_faults import many_rows

DAILY_FILES = 12
ROWS = 10_000
BAD_EVERY = 3  # every third daily file carries BAD_ROWS rows that cannot be typed
BAD_ROWS = 40
Expected = dict[str, tuple[int, int]]  # source (relative to the root) -> (rows written, rows rejected)
StartDaemon = Callable[..., daemonproc.DaemonProcess]


def bad_lines(day: dt.date, n: int) -> list[str]:
    """`n` query_perf lines whose execution_time_ms is not a number (rejected, not dropped)."""
    return [f"{day.isoformat()}T12:00:00Z,bad{i},SELECT,slow,1,1,true,t,i,0.5,0.5" for i in range(n)]


def build_inputs(root: Path) -> Expected:
    """Daily CSVs (some with bad rows), an index-advisor report and a summary; what each must become."""
    expected: Expected = {}
    for i in range(DAILY_FILES):
        day = dt.date(2025, 9, 1) + dt.timedelta(days=i)
        bad = BAD_ROWS if i % BAD_EVERY == 0 else 0
        path = root / "g" / "reports" / f"query_perf_daily_{day:%Y%m%d}.csv"
        path.write_text("\n".join([HEADER, *many_rows(day, ROWS, seed=i), *bad_lines(day, bad)]) + "\n")
        expected[str(path.relative_to(root))] = (ROWS, bad)
    advisor = root / "knowledge" / "optimize" / "index_advisor_report_20250915.json"
    recommendations = [
        {"table": "orders", "index": "idx_orders_customer", "priority": "high", "estimated_speedup": 3.5},
        {"table": "users", "index": "idx_users_email", "priority": "low", "estimated_speedup": 1.2},
        {"table": "items", "index": "idx_items_sku", "priority": "low", "estimated_speedup": "fast"},
    ]
    advisor.write_text(json.dumps({"timestamp": "2025-09-15T03:00:00Z", "recommendations": recommendations}))
    expected[str(advisor.relative_to(root))] = (2, 1)
    summary = root / "knowledge" / "optimize" / "optimization_summary_20250915.txt"
    summary.write_text("2025-09-15T03:00:00Z index_created count=3 table=orders\nIndexes created: 3\nnonsense\n")
    expected[str(summary.relative_to(root))] = (2, 1)
    return expected


def log_events(root: Path, name: str) -> list[dict[str, object]]:
    """The log's `name` events, tolerating a last line the writer had not finished when it was killed."""
    path = root / daemonproc.LOG
    found = []
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == name:
            found.append(record)
    return found


def check_nothing_partial(root: Path, expected: Expected) -> None:
    """Every visible .parquet is whole (DuckDB reads it to its last row, and an output holds exactly its
    source's good rows, a rejects file its bad rows), and the state file passes SQLite's integrity check."""
    files = sorted((root / daemonproc.OUTPUT).rglob("*.parquet"))
    with duckdb.connect() as con:
        for path in files:
            [(count,)] = con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()
            source = read_metadata(path)["source"]
            good, bad = expected[source]
            assert (bad if "_rejects" in path.parts else good) == count, path
    state = root / daemonproc.STATE / "state.db"
    if state.exists():
        with sqlite3.connect(state) as db:
            assert [("ok",)] == db.execute("PRAGMA integrity_check").fetchall()


def check_every_row_exported(root: Path, expected: Expected) -> None:
    """Each source's good rows are in its one output and its bad rows in the rejects; no temporary is left."""
    output = root / daemonproc.OUTPUT
    good: Counter[str] = Counter()
    with duckdb.connect() as con:
        for path in output.rglob("*.parquet"):
            if "_rejects" not in path.parts:
                [(count,)] = con.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()
                good[read_metadata(path)["source"]] += count
        rejected: Counter[str] = Counter()
        for path in (output / "_rejects").rglob("*.parquet"):
            rejected.update(
                dict(con.execute(f"SELECT source, count(*) FROM read_parquet('{path}') GROUP BY 1").fetchall())
            )
    assert {s: g for s, (g, _) in expected.items()} == dict(good)
    assert {s: b for s, (_, b) in expected.items() if b} == dict(rejected)
    assert [] == [p for p in output.rglob("*") if ".tmp-" in p.name]


@pytest.mark.slow
def test_kill_9_in_the_middle_of_the_startup_sweep_then_one_run_exports_every_row(
    root: Path, start_daemon: StartDaemon
) -> None:
    """kill -9 twice while the daemon's start-up sweep converts: nothing partial is visible and the state
    passes `PRAGMA integrity_check` after each kill, then `run --once` exports every good and bad row."""
    expected = build_inputs(root)
    moments = random.Random(4)
    for resume_after in (1, 3):
        already = len(log_events(root, "export.written"))
        sweeps = len(log_events(root, "sweep.finished"))
        daemon = start_daemon(ready=False)
        target = already + resume_after
        daemonproc.wait_until(
            lambda target=target: len(log_events(root, "export.written")) >= target,
            60,
            f"{resume_after} more export(s)",
            step=0.005,
        )
        time.sleep(moments.uniform(0.0, 0.15))  # somewhere inside the next conversion
        daemon.proc.kill()
        assert -9 == daemon.proc.wait(10)
        assert sweeps == len(log_events(root, "sweep.finished")), "the kill must land in the middle of the sweep"
        check_nothing_partial(root, expected)
    once = daemonproc.run_cli(root, "run", "--once", timeout=120)
    assert 0 == once.returncode, once.stderr
    assert "0 failed" in once.stdout
    check_nothing_partial(root, expected)
    check_every_row_exported(root, expected)
    validate = daemonproc.run_cli(root, "validate")
    assert 0 == validate.returncode, validate.stdout + validate.stderr


CRASH_BEFORE_REJECTS = textwrap.dedent(
    """
    import os, sys
    from daemon.convert.ledger import Ledger

    def crash(*args, **kwargs):
        os._exit(137)  # as kill -9 would: no cleanup, no flush

    Ledger.write_rejects = crash
    from daemon.cli.commands import main
    sys.exit(main(["export", "--historical", "--root", sys.argv[1]]))
    """
)


def test_kill_9_between_publishing_an_output_and_writing_its_rejects_loses_no_rejected_row(
    root: Path, processes: daemonproc.Processes
) -> None:
    """An export killed after publishing an output but before writing its rejects leaves an output whose
    footer matches its source; the next run still writes the rejects instead of skipping the file."""
    day = dt.date(2025, 10, 28)
    source = root / "g" / "reports" / "query_perf_daily_20251028.csv"
    source.write_text("\n".join([HEADER, *many_rows(day, 50), *bad_lines(day, 3)]) + "\n")
    crashed = processes.popen(
        [sys.executable, "-c", CRASH_BEFORE_REJECTS, str(root)],
        cwd=root,
        env=daemonproc.clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert 137 == crashed.wait(60)
    output = daemonproc.daily_output(root, "20251028")
    assert output.exists(), "the crash must come after the output was published"
    assert [] == list((root / daemonproc.OUTPUT / "_rejects").rglob("*.parquet"))
    once = daemonproc.run_cli(root, "run", "--once")
    assert 0 == once.returncode, once.stderr
    check_every_row_exported(root, {str(source.relative_to(root)): (50, 3)})
