"""A conversion the daemon abandoned (SIGTERM mid-conversion, a timeout) is not a failure of the data: it is
recorded as abandoned, shown so, and retried by the next start instead of counted unchanged."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.conftest import WriteCsv, daily_rows
from tests.daemonproc import STATE, DaemonProcess, daily_output, parquet_rows, run_cli, wait_until

StartDaemon = Callable[..., DaemonProcess]
SLOW = Path(__file__).resolve().parent / "slow"
SOURCE = "g/reports/query_perf_daily_20251028.csv"


def slow_env(mark: Path, seconds: float = 60) -> dict[str, str]:
    """The environment that makes every CSV conversion spin for `seconds` first (see tests/slow)."""
    return {"PYTHONPATH": str(SLOW), "PARQUET_TEST_SLOW_SECONDS": str(seconds), "PARQUET_TEST_SLOW_MARK": str(mark)}


def source_status(root: Path) -> str | None:
    with sqlite3.connect(root / STATE / "state.db") as db:
        rows = db.execute("SELECT status FROM sources WHERE source = ?", (SOURCE,)).fetchall()
    return rows[0][0] if rows else None


def test_sigterm_mid_conversion_is_retried_by_the_next_run_once(
    root: Path, write_daily: WriteCsv, start_daemon: StartDaemon
) -> None:
    """SIGTERM while the daemon converts (a slow conversion): it stops cleanly, the source is recorded
    'abandoned' and `status` says it will be retried; the next `run --once` writes it (1 written)."""
    write_daily("20251028", daily_rows(dt.date(2025, 10, 28), 9))
    mark = root / "slow.mark"
    daemon = start_daemon(slow_env(mark), ready=False)
    wait_until(mark.exists, 20, "the conversion to be under way")
    assert 0 == daemon.stop(timeout=20)
    assert "abandoned" == source_status(root)
    status = run_cli(root, "status")
    assert "abandoned" in status.stdout, status.stdout
    once = run_cli(root, "run", "--once")
    assert "1 written, 0 skipped, 0 failed" in once.stdout, once.stdout + once.stderr
    frame = parquet_rows(daily_output(root, "20251028"))
    assert 9 == (frame.height if frame is not None else None)
    assert "written" == source_status(root)
