"""A conversion past `conversion_timeout` is really ended: the daemon's worker process is killed, so its core
and memory come back at once, nothing is published, and the daemon converts the next file."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import WriteCsv
from tests.daemonproc import DaemonProcess, daily_output, parquet_rows, wait_until
from tests.test_faults_abandoned import slow_env

StartDaemon = Callable[..., DaemonProcess]


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie counts as gone: it holds no CPU or memory)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_timed_out_conversion_is_killed_and_the_next_file_is_converted(
    root: Path, write_daily: WriteCsv, start_daemon: StartDaemon
) -> None:
    """With conversion_timeout = 3 and a conversion that spins for a minute: after the timeout the process that
    converted is gone, the daemon uses no CPU while idle, no output appears for it, and the next file is
    converted."""
    mark = root / "slow.mark"
    env = {**slow_env(mark, 60), "PARQUET_TEST_SLOW_MATCH": "20251028", "PARQUET_EXPORTER_CONVERSION_TIMEOUT": "3"}
    daemon = start_daemon(env)
    write_daily("20251028")
    wait_until(mark.exists, 20, "the slow conversion to start")
    [converter] = [int(pid) for pid in mark.read_text().split()]
    wait_until(lambda: daemon.events("export.failed"), 10, "the timeout")
    wait_until(lambda: not alive(converter), 5, f"the converting process {converter} to end")
    before = cpu_seconds(daemon.pid)
    time.sleep(1.0)
    assert cpu_seconds(daemon.pid) - before < 0.3, "the daemon must not keep a core busy after the timeout"
    write_daily("20251027")
    wait_until(lambda: parquet_rows(daily_output(root, "20251027")) is not None, 60, "the next file's output")
    assert parquet_rows(daily_output(root, "20251028")) is None
    [failed] = daemon.events("export.failed")
    assert "Abandoned" == failed["error_type"]
    assert 0 == daemon.stop()
    assert [] == [p for p in (root / "knowledge/optimize/parquet").rglob("*") if ".tmp" in p.name]
