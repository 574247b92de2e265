"""The real daemon in a subprocess with the real watcher, driven from outside like its neighbours."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import HEADER
from tests.daemonproc import (
    OUTPUT,
    SETTLE_SECONDS,
    STATE,
    DaemonProcess,
    daily_output,
    parquet_rows,
    run_cli,
    wait_until,
)

StartDaemon = Callable[..., DaemonProcess]


def csv_bytes(key: str, n: int, tag: str = "h") -> bytes:
    """A query_perf daily CSV for `key` with `n` valid rows whose query_hash is `<tag><i>`, spread over the file's
    day in Asia/Bangkok (the default `timezone`), from 17:00 UTC the day before."""
    day = dt.datetime.strptime(key, "%Y%m%d") - dt.timedelta(hours=7)
    lines = [HEADER]
    for i in range(n):
        ts = day + dt.timedelta(seconds=i * 86400 // max(n, 1))
        lines.append(f"{ts.isoformat()}Z,{tag}{i},SELECT,{i + 0.5},{i * 3},{i},true,orders,idx_a,1.0,0.5")
    return ("\n".join(lines) + "\n").encode()


def source_path(root: Path, key: str) -> Path:
    return root / "g" / "reports" / f"query_perf_daily_{key}.csv"


def wait_rows(path: Path, n: int, timeout: float = 15, tag: str | None = None) -> float:
    """Wait until `path` is readable with `n` rows (and hashes tagged `tag`); return the monotonic time."""

    def done() -> float | None:
        frame = parquet_rows(path)
        if frame is None or frame.height != n:
            return None
        if tag is not None and not frame["query_hash"].str.starts_with(tag).all():
            return None
        return time.monotonic()

    found: float = wait_until(done, timeout, f"{path.name} with {n} rows", step=0.01)
    return found


def stop_cleanly(proc: DaemonProcess) -> None:
    """SIGTERM, then check exit 0, a `daemon.stopped` line, an all-JSON log, and on stderr JSON lines only,
    from daemon.started to daemon.stopped, none an error."""
    assert 0 == proc.stop()
    assert 1 == len(proc.events("daemon.stopped"))
    on_stderr = [json.loads(line) for line in proc.stderr.read_text().splitlines()]
    assert ("daemon.started", "daemon.stopped") == (on_stderr[0]["event"], on_stderr[-1]["event"])
    assert [] == [r for r in on_stderr if r["level"] in ("error", "critical")]


def test_files_present_before_start_are_converted(root: Path, start_daemon: StartDaemon) -> None:
    """Reports already in the input folders when the daemon starts are converted by its start-up sweep."""
    for key in ("20251026", "20251027", "20251028"):
        source_path(root, key).write_bytes(csv_bytes(key, 7))
    proc = start_daemon()
    for key in ("20251026", "20251027", "20251028"):
        wait_rows(daily_output(root, key), 7)
    [finished] = proc.events("sweep.finished", reason="startup")
    assert (3, 3) == (finished["inputs"], finished["written"])
    stop_cleanly(proc)


@pytest.mark.slow
def test_slow_chunked_writer_never_yields_a_truncated_parquet(root: Path, start_daemon: StartDaemon) -> None:
    """A producer writing in chunks with pauses shorter than settle ends in one complete Parquet file."""
    proc = start_daemon()
    key, rows = "20251028", 3000
    data = csv_bytes(key, rows)
    out = daily_output(root, key)
    chunks = 12
    size = len(data) // chunks + 1
    with source_path(root, key).open("wb") as fh:
        for i in range(chunks):
            fh.write(data[i * size : (i + 1) * size])  # cuts lines in the middle on purpose
            fh.flush()
            os.fsync(fh.fileno())
            assert not out.exists(), f"converted mid-write after chunk {i}"
            time.sleep(SETTLE_SECONDS / 2)
    wait_rows(out, rows)
    time.sleep(2 * SETTLE_SECONDS)
    written = proc.events("export.written", source=f"g/reports/query_perf_daily_{key}.csv")
    assert [rows] == [w["rows"] for w in written]
    assert [] == proc.events("export.failed")
    assert [] == proc.events("export.rejected_rows")
    stop_cleanly(proc)


@pytest.mark.parametrize("staging", ["same-folder", "other-folder"])
def test_write_then_rename_into_place_is_converted(root: Path, start_daemon: StartDaemon, staging: str) -> None:
    """A report written under a temporary name and renamed into place is converted; the temp name is not."""
    proc = start_daemon()
    key = "20251028"
    folder = root / "g" / "reports" if staging == "same-folder" else root / "staging"
    folder.mkdir(exist_ok=True)
    tmp = folder / f".query_perf_daily_{key}.csv.tmp"
    tmp.write_bytes(csv_bytes(key, 9))
    time.sleep(2 * SETTLE_SECONDS)  # the temporary file alone must not be picked up
    assert not daily_output(root, key).exists()
    os.replace(tmp, source_path(root, key))
    wait_rows(daily_output(root, key), 9)
    stop_cleanly(proc)


def test_replaced_source_is_reexported_with_the_new_values(root: Path, start_daemon: StartDaemon) -> None:
    """Rewriting a converted report with new content re-exports it with the new rows and values."""
    key = "20251028"
    source_path(root, key).write_bytes(csv_bytes(key, 5, tag="old"))
    proc = start_daemon()
    wait_rows(daily_output(root, key), 5, tag="old")
    source_path(root, key).write_bytes(csv_bytes(key, 8, tag="new"))
    wait_rows(daily_output(root, key), 8, tag="new")
    # The output is readable a moment before `export.written` is logged (its quality is measured first).
    wait_until(lambda: len(proc.events("export.written")) == 2, 5, "the second export.written")
    assert [5, 8] == [w["rows"] for w in proc.events("export.written")]
    stop_cleanly(proc)


@pytest.mark.slow
def test_event_storm_ends_with_the_final_content(
    root: Path, start_daemon: StartDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    """200 rapid rewrites of one report end with a Parquet file holding the last version, and few conversions."""
    proc = start_daemon()
    key = "20251028"
    path = source_path(root, key)
    for i in range(1, 201):
        path.write_bytes(csv_bytes(key, i, tag=f"v{i}-"))
    wait_rows(daily_output(root, key), 200, tag="v200-")
    time.sleep(3 * SETTLE_SECONDS)
    written = proc.events("export.written")
    assert 200 == written[-1]["rows"]
    assert len(written) <= 3, f"the storm caused {len(written)} conversions"
    assert 200 == parquet_rows(daily_output(root, key)).height  # type: ignore[union-attr]
    with capsys.disabled():
        print(f"\n[e2e] event storm: 200 rewrites -> {len(written)} conversion(s)")
    stop_cleanly(proc)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file the daemon might write, except its heartbeat."""
    files = [*(root / "g").rglob("*"), *(root / OUTPUT).rglob("*")]
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in files
        if p.is_file() and "heartbeat" not in p.name
    }


@pytest.mark.slow
def test_idle_daemon_writes_and_logs_nothing(
    root: Path, start_daemon: StartDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once settled, an idle daemon's log, state and outputs do not change over 3 s (only the heartbeat does)."""
    source_path(root, "20251028").write_bytes(csv_bytes("20251028", 5))
    proc = start_daemon()
    wait_rows(daily_output(root, "20251028"), 5)
    time.sleep(3 * SETTLE_SECONDS)
    before, beat = snapshot(root), proc.heartbeat()["updated"]
    log_size = proc.log_path.stat().st_size
    time.sleep(3.0)
    grown = proc.log_path.stat().st_size - log_size
    with capsys.disabled():
        print(f"\n[e2e] idle 3.0 s: log grew {grown} bytes")
    assert 0 == grown
    assert before == snapshot(root)
    assert beat != proc.heartbeat()["updated"], "the heartbeat must keep going while idle"
    stop_cleanly(proc)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_with_exit_0_and_a_json_log(
    root: Path, start_daemon: StartDaemon, sig: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGTERM/SIGINT end the daemon with exit 0 within 10 s, a `daemon.stopped` line, and JSON lines only."""
    source_path(root, "20251028").write_bytes(csv_bytes("20251028", 5))
    proc = start_daemon()
    wait_rows(daily_output(root, "20251028"), 5)
    assert 0 == proc.stop(sig, timeout=10)
    assert proc.stopped_in is not None
    assert proc.stopped_in < 10
    with capsys.disabled():
        print(f"\n[e2e] {signal.Signals(sig).name} -> exit 0 in {proc.stopped_in:.2f} s")
    records = proc.records()  # raises on any non-JSON line
    assert "daemon.started" == records[0]["event"]
    assert "daemon.stopped" == records[-1]["event"]
    assert (1, 1) == (records[-1]["written"], records[-1]["sweeps"])
    assert {"info"} == {r["level"] for r in records}
    assert all(r["timestamp"].endswith("Z") for r in records)
    assert proc.heartbeat()["running"] is False


def test_sighup_reopens_the_log_file(root: Path, start_daemon: StartDaemon) -> None:
    """After the log is moved away, SIGHUP makes the daemon write later lines to a new file at the old path."""
    proc = start_daemon()
    moved = proc.log_path.with_name("parquet_export.log.moved")
    os.replace(proc.log_path, moved)
    proc.proc.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    source_path(root, "20251028").write_bytes(csv_bytes("20251028", 5))
    wait_rows(daily_output(root, "20251028"), 5)
    wait_until(lambda: proc.events("export.written"), 5, "export.written in the new log")
    assert "daemon.started" in moved.read_text()
    stop_cleanly(proc)


def test_second_run_on_the_same_root_exits_1(root: Path, start_daemon: StartDaemon) -> None:
    """A second `run` on a root whose daemon is up exits 1 with "already running (pid N)" on stderr."""
    proc = start_daemon()
    second = run_cli(root, "run")
    assert 1 == second.returncode
    assert f"already running (pid {proc.pid})" in second.stderr
    assert "Traceback" not in second.stderr
    assert 1 == len(proc.events("daemon.started")), "the second run must not log a start"
    stop_cleanly(proc)


def test_run_once_prints_counts_and_exits(root: Path) -> None:
    """`run --once` converts what is there, prints counts and exits; a second one has nothing to do."""
    source_path(root, "20251027").write_bytes(csv_bytes("20251027", 4))
    source_path(root, "20251028").write_bytes(csv_bytes("20251028", 6))
    first = run_cli(root, "run", "--once")
    assert (0, "2 written, 0 skipped, 0 failed (10 rows, 0 rejected)\n") == (first.returncode, first.stdout)
    second = run_cli(root, "run", "--once")
    assert (0, "0 written, 0 skipped, 0 failed (0 rows, 0 rejected)\n") == (second.returncode, second.stdout)
    source_path(root, "20251029").write_bytes(b"not,a,report\n1,2,3\n")
    third = run_cli(root, "run", "--once")
    assert 1 == third.returncode
    assert third.stdout.startswith("0 written, 0 skipped, 1 failed")


def test_status_json_while_running(root: Path, start_daemon: StartDaemon) -> None:
    """`status --json` says daemon_up with the daemon's pid while it runs, and down after it stopped."""
    source_path(root, "20251028").write_bytes(csv_bytes("20251028", 5))
    proc = start_daemon()
    up = json.loads(run_cli(root, "status", "--json").stdout)
    assert (True, proc.pid) == (up["daemon_up"], up["pid"])
    assert (1, 5) == (up["totals"]["files"], up["totals"]["rows"])
    assert 1 == up["counters"]["written"]
    stop_cleanly(proc)
    down = json.loads(run_cli(root, "status", "--json").stdout)
    assert (False, None) == (down["daemon_up"], down["pid"])


def test_health_exit_codes(root: Path, start_daemon: StartDaemon) -> None:
    """`health` exits 2 with no daemon, 0 when up with yesterday's export, 1 when yesterday's export is missing."""
    yesterday = (dt.datetime.now(ZoneInfo("Asia/Bangkok")).date() - dt.timedelta(days=1)).strftime("%Y%m%d")
    source_path(root, yesterday).write_bytes(csv_bytes(yesterday, 5))
    down = run_cli(root, "health")
    assert 2 == down.returncode
    assert down.stdout.startswith("CRITICAL - daemon not running")
    proc = start_daemon()
    wait_rows(daily_output(root, yesterday), 5)
    ok = run_cli(root, "health")
    assert 0 == ok.returncode
    assert ok.stdout.startswith("OK - daemon up, exports current | failing=0;;;0 ")
    daily_output(root, yesterday).unlink()
    warning = run_cli(root, "health")
    assert 1 == warning.returncode
    assert warning.stdout.startswith("WARNING - yesterday's daily export")
    stop_cleanly(proc)
    assert 2 == run_cli(root, "health").returncode


@pytest.mark.slow
def test_manual_export_while_the_daemon_runs(root: Path, start_daemon: StartDaemon) -> None:
    """Forced manual exports running while the daemon converts new files leave every output valid."""
    for day in range(1, 6):
        key = f"202510{day:02d}"
        source_path(root, key).write_bytes(csv_bytes(key, 50 + day))
    proc = start_daemon()
    keys = [f"202510{day:02d}" for day in range(1, 13)]

    def producer() -> None:
        for day, key in enumerate(keys[5:], start=6):
            source_path(root, key).write_bytes(csv_bytes(key, 50 + day))
            time.sleep(0.1)

    thread = threading.Thread(target=producer)
    thread.start()
    manual = [run_cli(root, "export", "--historical", "--force", "--json") for _ in range(2)]
    thread.join()
    for day, key in enumerate(keys, start=1):
        wait_rows(daily_output(root, key), 50 + day)
    assert [0, 0] == [m.returncode for m in manual], [m.stderr for m in manual]
    assert all(json.loads(m.stdout)["failed"] == [] for m in manual)
    valid = run_cli(root, "validate")
    assert 0 == valid.returncode, valid.stdout
    assert [] == proc.events("export.failed")
    assert [] == [p for p in (root / OUTPUT).rglob("*") if ".tmp-" in p.name]
    stop_cleanly(proc)


@pytest.mark.slow
def test_latency_from_last_byte_to_readable_parquet(
    root: Path, start_daemon: StartDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    """For 10 reports, the time from the writer's last byte to a readable Parquet file stays near settle."""
    proc = start_daemon()
    latencies = []
    for i in range(10):
        key = f"202511{i + 1:02d}"
        data = csv_bytes(key, 100 + i)
        half = len(data) // 2
        with source_path(root, key).open("wb") as fh:
            fh.write(data[:half])
            fh.flush()
            time.sleep(0.05)
            fh.write(data[half:])
        last_byte = time.monotonic()
        latencies.append(wait_rows(daily_output(root, key), 100 + i) - last_byte)
    p50 = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20, method="inclusive")[-1]
    with capsys.disabled():
        print(
            f"\n[e2e] latency last byte -> readable Parquet, settle {SETTLE_SECONDS} s, n={len(latencies)}:"
            f" p50 {p50:.3f} s, p95 {p95:.3f} s, max {max(latencies):.3f} s"
        )
    assert p95 <= SETTLE_SECONDS + 1.0
    assert min(latencies) >= SETTLE_SECONDS * 0.9, "converted before the file had settled"
    stop_cleanly(proc)


def test_heartbeat_file_tracks_the_daemon(root: Path, start_daemon: StartDaemon) -> None:
    """The heartbeat in the state folder carries the daemon's pid and is refreshed every few tenths of a second."""
    proc = start_daemon()
    first = proc.heartbeat()
    assert proc.pid == first["pid"]
    wait_until(lambda: proc.heartbeat().get("updated") != first["updated"], 5, "a fresher heartbeat")
    assert (root / STATE / "daemon.pid").read_text().strip() == str(proc.pid)
    stop_cleanly(proc)
