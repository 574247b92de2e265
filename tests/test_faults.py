"""Faults the daemon must survive: a full disk, and kill -9 in the middle of a large conversion."""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from tests import daemonproc
from tests.conftest import WriteCsv

DAY = "20251028"


def can_mount() -> bool:
    return os.geteuid() == 0 and subprocess.run(["which", "mount"], capture_output=True, check=False).returncode == 0


@pytest.fixture
def tiny_output(root: Path) -> Iterator[Callable[[str], None]]:
    """Mount a 64 KiB tmpfs as the output folder; the fixture's function resizes it (e.g. "8m")."""
    if not can_mount():
        pytest.skip("needs root and mount(8) to put the output folder on a tiny tmpfs")
    target = root / daemonproc.OUTPUT
    target.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(target)], check=False)
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")

    def resize(size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(target)], check=True)

    try:
        yield resize
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def many_rows(day: dt.date, n: int, seed: int = 1) -> list[str]:
    """`n` valid, varied query_perf lines for `day` (varied so they do not compress to nothing)."""
    r = random.Random(seed)
    start = dt.datetime.combine(day, dt.time())
    step = 86_400_000_000 // max(n, 1)
    return [
        f"{(start + dt.timedelta(microseconds=i * step)).isoformat()}Z,{r.getrandbits(48):012x},SELECT,"
        f"{r.random() * 100:.3f},{r.randint(0, 10**6)},{r.randint(0, 999)},{r.choice(['true', 'false'])},"
        f"t{r.randint(0, 9)},idx{r.randint(0, 5)},{r.random():.4f},{r.random():.4f}"
        for i in range(n)
    ]


def parquet_files_are_whole(root: Path) -> list[Path]:
    """Every *.parquet under the output folder, each checked to be readable to its last row."""
    files = sorted((root / daemonproc.OUTPUT).rglob("*.parquet"))
    for path in files:
        duckdb.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()
    return files


@pytest.mark.slow
def test_full_disk_is_retried_until_space_is_freed(
    root: Path,
    write_daily: WriteCsv,
    tiny_output: Callable[[str], None],
    start_daemon: Callable[..., daemonproc.DaemonProcess],
) -> None:
    """With the output folder full, the export fails with "no space", leaves no partial file, the daemon
    keeps running and retrying, and the file is exported once space is freed."""
    write_daily(DAY, many_rows(dt.date(2025, 10, 28), 20_000))
    daemon = start_daemon({"PARQUET_EXPORTER_RETRY_MAX_WAIT_SECONDS": "0.05", "PARQUET_EXPORTER_RETRY_ATTEMPTS": "2"})
    daemonproc.wait_until(lambda: daemon.events("export.retry_later"), 20, "a deferred retry after a full disk")
    [first, *_] = daemon.events("export.failed")
    assert "no space left on device" in first["error"]
    assert [] == parquet_files_are_whole(root)
    assert daemon.proc.poll() is None
    tiny_output("16m")
    output = daemonproc.daily_output(root, DAY)
    daemonproc.wait_until(output.exists, 30, "the export once space was freed")
    assert 20_000 == duckdb.execute(f"SELECT count(*) FROM read_parquet('{output}')").fetchall()[0][0]
    assert [output] == parquet_files_are_whole(root)
    assert 0 == daemon.stop()


@pytest.mark.slow
def test_kill_9_during_a_large_conversion_never_leaves_a_partial_file(
    root: Path, write_daily: WriteCsv, processes: daemonproc.Processes
) -> None:
    """kill -9 at several moments of a 1M-row export: no partial .parquet is ever visible, the state file
    stays usable, and one clean run then exports every row."""
    lines = many_rows(dt.date(2025, 10, 28), 1_000_000)
    write_daily(DAY, lines)
    output = daemonproc.daily_output(root, DAY)
    for delay in (0.3, 0.8, 1.4, 2.0):
        proc = processes.popen(
            daemonproc.cli("export", "--root", str(root), "--force"),
            cwd=root,
            env=daemonproc.clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.kill()
        proc.wait(10)
        assert [] == [p for p in parquet_files_are_whole(root) if p != output]
        state = root / daemonproc.STATE / "state.db"
        if state.exists():
            with sqlite3.connect(state) as con:
                assert ("ok",) == con.execute("PRAGMA integrity_check").fetchone()
    done = daemonproc.run_cli(root, "export", "--json", timeout=120)
    assert 0 == done.returncode, done.stderr
    assert len(lines) == duckdb.execute(f"SELECT count(*) FROM read_parquet('{output}')").fetchall()[0][0]
    once = daemonproc.run_cli(root, "run", "--once")  # the daemon's start removes what the kills left
    assert 0 == once.returncode, once.stderr
    assert [] == [p for p in (root / daemonproc.OUTPUT).rglob("*") if ".tmp-" in p.name]
