"""Symbolic links named like inputs (a loop, a dangling link): that input's failure with a clear reason,
never an error that stops the export, `run --once` or the daemon, and never a `source.deleted`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.conftest import RunCli, WriteCsv
from tests.daemonproc import DaemonProcess, daily_output, parquet_rows, run_cli, wait_until

StartDaemon = Callable[..., DaemonProcess]


def loop_link(root: Path, key: str) -> Path:
    """`query_perf_daily_<key>.csv -> itself`: every open of it fails with ELOOP."""
    path = root / "g" / "reports" / f"query_perf_daily_{key}.csv"
    os.symlink(path.name, path)
    return path


def dangling_link(root: Path, key: str) -> Path:
    """`query_perf_daily_<key>.csv -> missing.csv`: a link whose target does not exist."""
    path = root / "g" / "reports" / f"query_perf_daily_{key}.csv"
    os.symlink("missing.csv", path)
    return path


def test_a_symlink_loop_fails_alone_and_the_file_beside_it_is_exported(
    root: Path, write_daily: WriteCsv, run_cli: RunCli
) -> None:
    """`export --historical` with a self-looping link beside a valid file: the valid file is written, the link
    is one failure naming the loop, and nothing is reported as an internal error."""
    write_daily("20251027")
    loop_link(root, "20251028")
    result = run_cli("export", "--historical", "--json", "--root", root)
    assert 1 == result.code, result.err
    report = result.json()
    assert ["g/reports/query_perf_daily_20251027.csv"] == [o["source"] for o in report["written"]]
    [failed] = report["failed"]
    assert "g/reports/query_perf_daily_20251028.csv" == failed["source"]
    assert "symbolic link loop" in failed["error"]
    assert "internal error" not in result.err


def test_a_dangling_symlink_fails_alone_with_its_reason(root: Path, write_daily: WriteCsv, run_cli: RunCli) -> None:
    """A link to a missing file is one failure saying the link dangles (not a vanished file retried forever)."""
    write_daily("20251027")
    dangling_link(root, "20251028")
    result = run_cli("export", "--historical", "--json", "--root", root)
    report = result.json()
    assert ["g/reports/query_perf_daily_20251027.csv"] == [o["source"] for o in report["written"]]
    [failed] = report["failed"]
    assert "dangling symbolic link" in failed["error"]
    assert False is failed.get("transient", False)


def test_run_once_survives_a_symlink_loop(root: Path, write_daily: WriteCsv) -> None:
    """`run --once` (a real process) with a loop beside a valid file converts the valid one and says 1 failed."""
    write_daily("20251027")
    loop_link(root, "20251028")
    once = run_cli(root, "run", "--once")
    assert "1 written, 0 skipped, 1 failed" in once.stdout, once.stderr
    assert "internal error" not in once.stderr
    frame = parquet_rows(daily_output(root, "20251027"))
    assert 5 == (frame.height if frame is not None else None)


def test_the_daemon_starts_beside_a_loop_and_reports_a_new_dangling_link_as_a_failure(
    root: Path, write_daily: WriteCsv, start_daemon: StartDaemon
) -> None:
    """The daemon starts with a loop in its folder, and a dangling link made while it runs is logged as that
    input's failure ("dangling symbolic link"), not as `source.deleted`; a valid file after it is converted."""
    loop_link(root, "20251026")
    daemon = start_daemon()
    dangling_link(root, "20251028")
    source = "g/reports/query_perf_daily_20251028.csv"
    wait_until(lambda: daemon.events("export.failed", source=source), 15, "the dangling link's failure")
    write_daily("20251027")
    wait_until(lambda: parquet_rows(daily_output(root, "20251027")) is not None, 15, "the valid file's output")
    [failure] = daemon.events("export.failed", source=source)
    assert "dangling symbolic link" in failure["error"]
    assert [] == daemon.events("source.deleted")
    assert 0 == daemon.stop()
