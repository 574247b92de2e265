"""A watched folder removed, replaced or moved away under the running daemon: it says so (log, heartbeat,
status, health), watches the folder again when it is back, sweeps it, and never blames the watched path
for a file written into the folder that was moved away."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import HEADER, WriteCsv, daily_rows
from tests.daemonproc import DaemonProcess, daily_output, parquet_rows, run_cli, wait_until

StartDaemon = Callable[..., DaemonProcess]
REPORTS = "g/reports"


def csv_file(folder: Path, key: str) -> None:
    """A valid daily CSV for `key` written into `folder`."""
    day = dt.datetime.strptime(key, "%Y%m%d").date()
    (folder / f"query_perf_daily_{key}.csv").write_text("\n".join([HEADER, *daily_rows(day)]) + "\n")


def converted(root: Path, key: str, timeout: float = 20) -> None:
    wait_until(lambda: parquet_rows(daily_output(root, key)) is not None, timeout, f"{key}'s output")


def watch_of(daemon: DaemonProcess, folder: str) -> str | None:
    watch = daemon.heartbeat().get("watch")
    entry = watch.get(folder) if isinstance(watch, dict) else None
    return entry.get("state") if isinstance(entry, dict) else None


@pytest.mark.parametrize("how", ["rm -rf g/reports; mkdir g/reports", "rm -rf g; mkdir -p g/reports"])
def test_a_removed_and_recreated_folder_is_watched_again(
    root: Path, write_daily: WriteCsv, start_daemon: StartDaemon, how: str
) -> None:
    """After the reports folder (or all of g/) is removed and recreated, a new file in it is converted, and
    the log says `watch.lost` then `watch.restored`."""
    daemon = start_daemon()
    shutil.rmtree(root / ("g" if how.startswith("rm -rf g;") else REPORTS))
    (root / REPORTS).mkdir(parents=True)
    write_daily("20251028")
    converted(root, "20251028")
    assert "watching" == watch_of(daemon, REPORTS)
    assert 0 == daemon.stop()
    assert [REPORTS] == [e["folder"] for e in daemon.events("watch.lost")]
    assert [REPORTS] == [e["folder"] for e in daemon.events("watch.restored")]


def test_replacing_knowledge_optimize_is_watched_again(root: Path, start_daemon: StartDaemon) -> None:
    """`knowledge/optimize` replaced by another folder (moved in over it): a report written there is converted."""
    daemon = start_daemon()
    fresh = root / "knowledge" / "optimize.new"
    fresh.mkdir()
    shutil.rmtree(root / "knowledge" / "optimize")
    fresh.rename(root / "knowledge" / "optimize")
    report = {
        "timestamp": "2025-10-28T03:00:00Z",
        "recommendations": [{"table": "t", "index": "i", "priority": "high"}],
    }
    (root / "knowledge" / "optimize" / "index_advisor_report_20251028.json").write_text(json.dumps(report))
    out = root / "knowledge/optimize/parquet/index_advisor/year=2025/month=10/index_advisor_20251028.parquet"
    wait_until(lambda: parquet_rows(out) is not None, 20, "the advisor report's output")
    assert 0 == daemon.stop()


def test_a_lost_watch_is_shown_by_status_and_health_and_files_in_the_moved_folder_are_not_deleted_sources(
    root: Path, start_daemon: StartDaemon
) -> None:
    """The reports folder moved away: the heartbeat says `lost`, `health` is WARNING naming it, `status` shows it,
    and a file written into the moved folder is not logged as `source.deleted`; moved back, it is swept."""
    daemon = start_daemon()
    moved = root / "g" / "reports.old"
    (root / REPORTS).rename(moved)
    csv_file(moved, "20251028")
    wait_until(lambda: watch_of(daemon, REPORTS) == "lost", 15, "the heartbeat to say the watch is lost")
    health = run_cli(root, "health")
    assert 1 == health.returncode, health.stdout
    assert f"watch lost: {REPORTS}" in health.stdout
    status = run_cli(root, "status")
    assert "lost" in status.stdout
    csv_file(moved, "20251027")
    moved.rename(root / REPORTS)
    converted(root, "20251027")
    converted(root, "20251028")
    wait_until(lambda: watch_of(daemon, REPORTS) == "watching", 15, "the heartbeat to say watching again")
    assert 0 == daemon.stop()
    assert [] == daemon.events("source.deleted")
    assert 1 <= len(daemon.events("sweep.finished", reason="watch-restored"))
