"""A damaged, read-only or deleted state: the state is a cache of facts the outputs' footers also hold, so a
damaged file is set aside (kept) and rebuilt, a read-only folder is a one-line error naming it, and a
folder deleted under the daemon is recreated while the single-instance lock still holds."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daemon.state.database import State
from tests.conftest import RunCli, WriteCsv
from tests.daemonproc import (
    STATE,
    DaemonProcess,
    Processes,
    cli,
    daemon_env,
    daily_output,
    parquet_rows,
    run_cli,
    wait_until,
)

StartDaemon = Callable[..., DaemonProcess]
KEYS = ("20251026", "20251027")


def exported(root: Path, write_daily: WriteCsv, run: RunCli) -> dict[Path, int]:
    """Two daily files exported; each output's mtime_ns."""
    for key in KEYS:
        write_daily(key)
    assert 0 == run("export", "--historical", "--root", root).code
    return {daily_output(root, key): daily_output(root, key).stat().st_mtime_ns for key in KEYS}


def scribble(path: Path, start: int = 0) -> bytes:
    """Overwrite `path` with random bytes from offset `start` to its end; return the whole damaged content."""
    size = path.stat().st_size
    noise = random.Random(7).randbytes(size - start)
    with path.open("r+b") as f:
        f.seek(start)
        f.write(noise)
    return path.read_bytes()


def set_aside(root: Path) -> list[Path]:
    return sorted((root / STATE).glob("state.db.damaged-*"))


def test_random_bytes_over_the_state_are_set_aside_and_nothing_is_rewritten(
    root: Path, write_daily: WriteCsv, run_cli: RunCli
) -> None:
    """Random bytes over state.db: `export` sets the file aside (kept, byte for byte), rebuilds from the
    footers, skips both current outputs without rewriting them, and `status` answers with both files."""
    mtimes = exported(root, write_daily, run_cli)
    damaged = scribble(root / STATE / "state.db")
    again = run_cli("export", "--historical", "--json", "--root", root)
    assert 0 == again.code, again.err
    assert (0, 2) == (len(again.json()["written"]), len(again.json()["skipped"]))
    assert mtimes == {path: path.stat().st_mtime_ns for path in mtimes}
    [kept] = set_aside(root)
    assert damaged == kept.read_bytes()
    status = run_cli("status", "--json", "--root", root)
    assert 3 == status.code, status.err  # no daemon runs on this root (systemctl's convention)
    assert 2 == status.json()["totals"]["files"]
    assert None is status.json()["state_damaged"]


def test_status_and_health_read_a_damaged_state_as_empty_and_say_so(
    root: Path, write_daily: WriteCsv, run_cli: RunCli
) -> None:
    """Before anything sets it aside, `status` reads a damaged state as empty and names the damage, and `health`
    is at least WARNING with that reason; the file is left as it was."""
    exported(root, write_daily, run_cli)
    damaged = scribble(root / STATE / "state.db")
    status = run_cli("status", "--root", root)
    assert 3 == status.code, status.err  # no daemon runs on this root
    assert "state:         damaged (file is not a database)" in status.out
    health = run_cli("health", "--root", root)
    assert "state file damaged (file is not a database)" in health.out
    assert damaged == (root / STATE / "state.db").read_bytes()


def test_damage_in_later_pages_only_is_found_and_the_daemon_starts(
    root: Path, write_daily: WriteCsv, run_cli: RunCli, start_daemon: StartDaemon
) -> None:
    """Only the later pages of a larger state damaged (page 1 intact, so it opens): `status` answers, and the
    daemon starts, logs `state.damaged` with where the file was put, and converts a new file."""
    exported(root, write_daily, run_cli)
    state_file = root / STATE / "state.db"
    with State(state_file) as state:
        for i in range(3000):
            state.add_run(dataset="query_perf", source=f"g/reports/x{i}.csv", output=None, outcome="failed", error="x")
    with sqlite3.connect(state_file) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    scribble(state_file, start=8 * 4096)
    status = run_cli("status", "--root", root)
    assert 3 == status.code, status.err  # no daemon runs on this root
    daemon = start_daemon()
    [damaged] = daemon.events("state.damaged")
    [kept] = set_aside(root)
    assert kept.name in damaged["set_aside"]
    write_daily("20251028")
    wait_until(lambda: parquet_rows(daily_output(root, "20251028")) is not None, 15, "a new file's output")
    assert 0 == daemon.stop()


@pytest.fixture
def state_tmpfs(root: Path) -> Iterator[Path]:
    """A tmpfs mounted over the state folder (root's permissions do not stop root; a read-only mount does)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount(8) for a read-only state folder")
    target = root / STATE
    target.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(target)], capture_output=True, text=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def test_a_read_only_state_folder_is_a_one_line_error_naming_it(
    root: Path, write_daily: WriteCsv, state_tmpfs: Path
) -> None:
    """`export` and `run --once` with a read-only state folder: exit 1, one line naming the folder, no
    internal error."""
    write_daily("20251027")
    subprocess.run(["mount", "-o", "remount,ro", str(state_tmpfs)], check=True)
    for args in (("export",), ("run", "--once")):
        result = run_cli(root, *args)
        assert 1 == result.returncode, result.stderr
        [line] = result.stderr.splitlines()
        assert str(state_tmpfs) in line
        assert "internal error" not in line


def test_a_state_folder_deleted_under_the_daemon_is_recreated_and_still_locked(
    root: Path, write_daily: WriteCsv, start_daemon: StartDaemon, processes: Processes
) -> None:
    """`rm -rf` of the state folder while the daemon runs: a second daemon started meanwhile is refused, the
    first recreates the folder (state, heartbeat, pid file) and records the next conversion in it."""
    first = start_daemon()
    shutil.rmtree(root / STATE)
    second = start_daemon_process(processes, root)
    assert 1 == second.proc.wait(30), second.stderr.read_text()
    assert "already running" in second.stderr.read_text()
    wait_until(lambda: first.heartbeat().get("pid") == first.pid, 15, "the recreated heartbeat")
    assert str(first.pid) == (root / STATE / "daemon.pid").read_text().strip()
    write_daily("20251028")
    wait_until(lambda: parquet_rows(daily_output(root, "20251028")) is not None, 15, "a new file's output")

    def recorded() -> bool:
        with State(root / STATE / "state.db", readonly=True) as state:
            return state.source("g/reports/query_perf_daily_20251028.csv") is not None

    wait_until(recorded, 10, "the conversion recorded in the new state")
    assert 0 == first.stop()


def start_daemon_process(processes: Processes, root: Path) -> DaemonProcess:
    """A second daemon on `root`, its stdout and stderr in files of its own."""
    out, err = root.parent / "second.stdout", root.parent / "second.stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = processes.popen(
            cli("run", "--root", str(root)), cwd=root, env=daemon_env(), stdout=stdout, stderr=stderr
        )
    return DaemonProcess(root, proc, out, err)
