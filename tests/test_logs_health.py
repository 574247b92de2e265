"""The JSON log under load and rotation, the `logs` viewer's filters and follow, and health's judgement."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from daemon import logconfig
from daemon.analytics.health import CRITICAL, OK, WARNING, DailyExport, Facts, Totals, judge
from daemon.cli.logview import Filter, Needles, follow, human, parse_since, reversed_lines, rotated_files, tail
from tests import daemonproc
from tests.conftest import RunCli, WriteCsv
from tests.daemonproc import LOG, DaemonProcess, daily_output, wait_until

NOW = dt.datetime(2025, 10, 28, 12, 0, tzinfo=dt.UTC)
log = structlog.get_logger("parquet_exporter")


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """A log path under tmp_path; the logging handlers are closed after the test."""
    path = tmp_path / "g" / "logs" / "parquet_export.log"
    yield path
    logconfig.shutdown()


def read_records(files: list[Path]) -> list[dict[str, Any]]:
    """Every line of `files` parsed as JSON (fails on a non-JSON line)."""
    records = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            assert ["timestamp", "level", "event"] == list(record)[:3]
            records.append(record)
    return records


def test_rotation_under_load_loses_no_line(log_file: Path) -> None:
    """2000 numbered events from 8 threads through 4 kB rotation: each number appears once, every line is JSON."""
    logconfig.configure(log_file, max_bytes=4096, backups=500)
    threads, per_thread = 8, 250

    def emit(worker: int) -> None:
        for i in range(per_thread):
            log.info("load.tick", n=worker * per_thread + i, worker=worker)

    pool = [threading.Thread(target=emit, args=(w,)) for w in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    logconfig.shutdown()
    files = rotated_files(log_file, 500)
    assert 30 < len(files) < 500, "the test must really rotate, and keep every file"
    numbers = [r["n"] for r in read_records(files)]
    assert list(range(threads * per_thread)) == sorted(numbers)
    assert all(f.stat().st_size <= 4096 for f in files)
    for worker in range(threads):  # each thread's lines stay in order across files
        mine = [n for n in numbers if n // per_thread == worker]
        assert sorted(mine) == mine


def test_lines_are_json_with_timestamp_level_event_first(log_file: Path) -> None:
    """A log line starts with an ISO UTC timestamp, the level and the event, then the fields."""
    logconfig.configure(log_file)
    log.warning("export.failed", source="g/reports/x.csv", error="bad", detail={"a": [1, 2]})
    logconfig.shutdown()
    [record] = read_records([log_file])
    assert ["timestamp", "level", "event", "source", "error", "detail"] == list(record)
    assert ("warning", "export.failed") == (record["level"], record["event"])
    assert dt.datetime.fromisoformat(record["timestamp"].replace("Z", "+00:00")).tzinfo is not None


def test_level_setting_drops_debug_lines(log_file: Path) -> None:
    """At the default info level, `watch.event` debug lines are not written."""
    logconfig.configure(log_file, level="info")
    log.debug("watch.event", path="x")
    log.info("sweep.started", reason="test")
    logconfig.shutdown()
    assert ["sweep.started"] == [r["event"] for r in read_records([log_file])]


def test_watchdog_errors_reach_the_log_but_not_its_benign_stop_race(log_file: Path) -> None:
    """watchdog's errors are JSON lines in our log, except its known-benign "thread is inactive" at stop."""
    logconfig.configure(log_file)
    inotify = logging.getLogger("watchdog.observers.inotify")
    inotify.error("InotifyEmitter.queue_events() called when the thread is inactive")
    inotify.error("inotify watch limit reached")
    logging.getLogger("apscheduler.scheduler").warning("Run time of job was missed by 0:00:05")
    logconfig.shutdown()
    records = read_records([log_file])
    assert ["inotify watch limit reached", "Run time of job was missed by 0:00:05"] == [r["event"] for r in records]


def test_reopen_after_the_file_was_moved_starts_a_new_file(log_file: Path) -> None:
    """After an outside rotation (file moved away), reopen() sends later lines to a new file at the old path."""
    logconfig.configure(log_file)
    log.info("before.move")
    moved = log_file.with_name("parquet_export.log.old")
    os.replace(log_file, moved)
    log.info("still.old")  # the open handle still points at the moved file
    logconfig.reopen()
    log.info("after.reopen")
    logconfig.shutdown()
    assert ["before.move", "still.old"] == [r["event"] for r in read_records([moved])]
    assert ["after.reopen"] == [r["event"] for r in read_records([log_file])]


def write_lines(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")


def record(event: str, level: str = "info", at: dt.datetime = NOW, **fields: Any) -> dict[str, Any]:
    stamp = at.isoformat().replace("+00:00", "Z")
    return {"timestamp": stamp, "level": level, "event": event, **fields}


@pytest.fixture
def rotated_log(tmp_path: Path) -> Path:
    """parquet_export.log with two rotated files: events e0..e8, oldest in .2, one non-JSON line in .1."""
    path = tmp_path / "parquet_export.log"
    levels = ["info", "debug", "warning"]
    for suffix, numbers in ((".2", range(3)), (".1", range(3, 6)), ("", range(6, 9))):
        target = path.with_name(path.name + suffix)
        write_lines(
            target,
            [
                record(f"e{n}.{'export' if n % 2 else 'sweep'}", levels[n % 3], NOW + dt.timedelta(minutes=n), n=n)
                for n in numbers
            ],
        )
    with path.with_name(path.name + ".1").open("a") as fh:
        fh.write("Traceback (most recent call last):\n")
    return path


def numbers(lines: list[str]) -> list[int]:
    return [json.loads(line)["n"] for line in lines]


def test_rotated_files_oldest_first(rotated_log: Path) -> None:
    """rotated_files() lists .2, .1, then the live file, skipping numbers that do not exist."""
    names = [p.name for p in rotated_files(rotated_log, 5)]
    assert ["parquet_export.log.2", "parquet_export.log.1", "parquet_export.log"] == names
    assert ["parquet_export.log.1", "parquet_export.log"] == [p.name for p in rotated_files(rotated_log, 1)]


@pytest.mark.parametrize(
    ("n", "flt", "expected"),
    [
        (None, Filter(), list(range(9))),
        (4, Filter(), [5, 6, 7, 8]),
        (100, Filter(), list(range(9))),
        (None, Filter(level="warning"), [2, 5, 8]),
        (None, Filter(level="info"), [0, 2, 3, 5, 6, 8]),
        (None, Filter(level="debug"), list(range(9))),
        (None, Filter(event_prefix="e1"), [1]),
        (None, Filter(since=NOW + dt.timedelta(minutes=6)), [6, 7, 8]),
        (2, Filter(level="info", since=NOW + dt.timedelta(minutes=1)), [6, 8]),
    ],
)
def test_tail_across_rotated_files(rotated_log: Path, n: int | None, flt: Filter, expected: list[int]) -> None:
    """tail() reads the rotated files in order, skips non-JSON lines, and applies level, prefix and since."""
    assert expected == numbers(tail(rotated_log, 5, n, flt))


def test_event_prefix_filter_matches_dotted_names() -> None:
    """An event prefix matches event names that start with it (export. matches export.written)."""
    flt = Filter(event_prefix="export.")
    assert flt.accepts(record("export.written"))
    assert flt.accepts(record("export.retry"))
    assert not flt.accepts(record("sweep.finished"))
    assert not flt.accepts(record("exporter"))


def test_since_filter_rejects_lines_without_a_timestamp() -> None:
    """A line without a parseable timestamp never passes a --since filter."""
    flt = Filter(since=NOW)
    assert not flt.accepts({"event": "x", "level": "info"})
    assert not flt.accepts({"event": "x", "level": "info", "timestamp": "yesterday"})
    assert flt.accepts(record("x", at=NOW))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - dt.timedelta(seconds=90)),
        ("15m", NOW - dt.timedelta(minutes=15)),
        ("1h", NOW - dt.timedelta(hours=1)),
        (" 1.5h ", NOW - dt.timedelta(minutes=90)),
        ("2d", NOW - dt.timedelta(days=2)),
        ("1w", NOW - dt.timedelta(weeks=1)),
        ("2025-10-27T06:00:00Z", dt.datetime(2025, 10, 27, 6, tzinfo=dt.UTC)),
        ("2025-10-27T13:00:00+07:00", dt.datetime(2025, 10, 27, 6, tzinfo=dt.UTC)),
        ("2025-10-27T06:00:00", dt.datetime(2025, 10, 27, 6, tzinfo=dt.UTC)),
        ("2025-10-27", dt.datetime(2025, 10, 27, tzinfo=dt.UTC)),
    ],
)
def test_parse_since(text: str, expected: dt.datetime) -> None:
    """--since takes a duration back from now or an ISO 8601 instant (naive means UTC)."""
    assert expected == parse_since(text, NOW)


@pytest.mark.parametrize("text", ["", "yesterday", "1y", "-1h", "1h30m"])
def test_parse_since_rejects_nonsense(text: str) -> None:
    """Anything else is a ValueError (the CLI turns it into a usage error)."""
    with pytest.raises(ValueError):  # noqa: PT011 - fromisoformat's ValueError is the contract
        parse_since(text, NOW)


def test_human_line() -> None:
    """human() shows time with its zone marker, padded level, event and key=value fields, a colour per level."""
    line = json.dumps(record("export.failed", "error", source="a.csv", detail={"x": 1}))
    expected = '2025-10-28 12:00:00Z ERROR   export.failed source=a.csv detail={"x": 1}'
    assert (expected, "bold red") == human(line)


class Follower:
    """Runs logview.follow() in a thread, collecting its lines until stopped."""

    def __init__(self, path: Path, flt: Filter | None = None) -> None:
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(path, flt or Filter()), daemon=True)

    def _run(self, path: Path, flt: Filter) -> None:
        for line in follow(path, flt, stop=self._stop.is_set, poll=0.01):
            self.lines.append(line)

    def __enter__(self) -> Follower:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        assert not self._thread.is_alive()

    def events(self) -> list[str]:
        return [json.loads(line)["event"] for line in self.lines]

    def wait_for(self, count: int, timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while len(self.lines) < count:
            assert time.monotonic() < deadline, f"follow() yielded {len(self.lines)} of {count} lines"
            time.sleep(0.01)


def warm_up(path: Path, follower: Follower) -> None:
    """Append warm-up lines until follow() shows it reads the file (it starts at the end)."""
    deadline = time.monotonic() + 5
    while not follower.lines:
        assert time.monotonic() < deadline, "follow() never picked up the file"
        write_lines(path, [record("warmup")])
        time.sleep(0.02)
    follower.lines.clear()


def test_follow_picks_up_lines_across_a_rotation(tmp_path: Path) -> None:
    """follow() yields new lines, finishes the old file at a rotation, and continues in the new one."""
    path = tmp_path / "parquet_export.log"
    write_lines(path, [record("old.line")])
    with Follower(path) as follower:
        warm_up(path, follower)
        time.sleep(0.05)
        follower.lines.clear()
        write_lines(path, [record("a1"), record("a2")])
        follower.wait_for(2)
        write_lines(path, [record("a3")])
        os.replace(path, path.with_name(path.name + ".1"))  # rotate: a3 may not have been read yet
        write_lines(path, [record("b1"), record("b2")])
        follower.wait_for(5)
    assert ["a1", "a2", "a3", "b1", "b2"] == follower.events()


def test_follow_applies_the_filter_and_survives_truncation(tmp_path: Path) -> None:
    """follow() only yields matching lines, and starts over when the file is truncated in place."""
    path = tmp_path / "parquet_export.log"
    path.touch()
    with Follower(path) as follower:
        warm_up(path, follower)
        time.sleep(0.05)
        follower.lines.clear()
        write_lines(path, [record("export.written", n=1), record("sweep.started"), record("export.retry", n=2)])
        with Follower(path, Filter(event_prefix="export.")) as exports:
            time.sleep(0.1)
            write_lines(path, [record("export.written", n=3), record("sweep.finished")])
            exports.wait_for(1)
        follower.wait_for(5)
        path.write_text("")  # copytruncate-style rotation
        time.sleep(0.05)
        write_lines(path, [record("after.truncate")])
        follower.wait_for(6)
    assert ["export.written"] == [json.loads(line)["event"] for line in exports.lines]
    assert "after.truncate" == follower.events()[-1]


def test_follow_sees_every_event_through_real_rotation(log_file: Path) -> None:
    """Lines written by the daemon's rotating handler are all followed across several rotations."""
    logconfig.configure(log_file, max_bytes=2048, backups=50)
    log.info("warmup")
    with Follower(log_file) as follower:
        deadline = time.monotonic() + 5
        while not follower.lines:
            assert time.monotonic() < deadline
            log.info("warmup")
            time.sleep(0.02)
        time.sleep(0.05)
        follower.lines.clear()
        for n in range(60):
            log.info("tick", n=n)
            time.sleep(0.005)
        follower.wait_for(60)
    assert list(range(60)) == [json.loads(line)["n"] for line in follower.lines]
    assert len(rotated_files(log_file, 50)) > 2, "the test must really rotate"


HEALTHY = Facts(
    daemon_up=True,
    daemon="running",
    heartbeat_age_seconds=2.0,
    pid=123,
    next_sweep="2025-10-29T05:00:00+07:00",
    last_sweep="2025-10-28T05:00:00+07:00",
    daily_export=DailyExport("query_perf", "2025-10-27", due=True, present=True),
    totals=Totals(files=10, rows=1000, storage_bytes=10 * 1024**2),
    success_7d_pct=100.0,
    failures_24h=0,
)
GB = 1024**3
MISSING = DailyExport("query_perf", "2025-10-27", due=True, present=False)


@pytest.mark.parametrize(
    ("changes", "level", "reasons"),
    [
        ({}, OK, []),
        (
            {"daemon_up": False, "daemon": "not running", "heartbeat_age_seconds": None, "pid": None},
            CRITICAL,
            ["daemon not running (no heartbeat)"],
        ),
        ({"daemon_up": False, "heartbeat_age_seconds": 125.4}, CRITICAL, ["daemon not running (heartbeat 125 s old)"]),
        (
            {"daemon_up": False, "daemon": "not responding", "heartbeat_age_seconds": 125.4},
            CRITICAL,
            ["daemon not responding (heartbeat 125 s old, pid 123)"],
        ),
        ({"daily_export": dataclasses.replace(MISSING, due=False)}, OK, []),
        ({"daily_export": None}, OK, []),
        (
            {"daily_export": dataclasses.replace(MISSING, dataset="index_advisor")},
            WARNING,
            ["yesterday's daily index_advisor export (2025-10-27) is missing"],
        ),
        ({"daily_export": MISSING}, WARNING, ["yesterday's daily export (2025-10-27) is missing"]),
        ({"failures_24h": 2}, WARNING, ["2 failed export(s) in the last 24 h"]),
        ({"totals": Totals(storage_bytes=5 * GB)}, OK, []),
        ({"totals": Totals(storage_bytes=6 * GB)}, WARNING, ["parquet datasets 6.00 GB > 5 GB"]),
        ({"totals": Totals(storage_bytes=11 * GB)}, CRITICAL, ["parquet datasets 11.00 GB > 2 x 5 GB"]),
        (
            {"daily_export": MISSING, "failures_24h": 1},
            WARNING,
            ["yesterday's daily export (2025-10-27) is missing", "1 failed export(s) in the last 24 h"],
        ),
        (
            {"daemon_up": False, "heartbeat_age_seconds": None, "daily_export": MISSING},
            CRITICAL,
            ["daemon not running (no heartbeat)", "yesterday's daily export (2025-10-27) is missing"],
        ),
        ({"success_7d_pct": 50.0, "totals": Totals()}, OK, []),
        ({"watch": {"g/reports": {"state": "watching", "since": "t0"}}}, OK, []),
        (
            {"watch": {"g/reports": {"state": "lost", "since": "t1", "reason": "folder replaced"}}},
            WARNING,
            ["watch lost: g/reports (folder replaced since t1)"],
        ),
    ],
)
def test_judge(changes: dict[str, Any], level: int, reasons: list[str]) -> None:
    """judge() takes the worst level of every check and lists a reason for each failed check."""
    assert (level, reasons) == judge(dataclasses.replace(HEALTHY, **changes), storage_alert_gb=5)


def test_judge_uses_the_configured_storage_limit() -> None:
    """The storage check compares against storage_alert_gb, not a fixed 5 GB."""
    facts = dataclasses.replace(HEALTHY, totals=Totals(storage_bytes=GB // 2))
    assert OK == judge(facts, storage_alert_gb=1)[0]
    assert WARNING == judge(facts, storage_alert_gb=0.25)[0]
    assert CRITICAL == judge(facts, storage_alert_gb=0.2)[0]


# ----------------------------------------------------------------------------- an unwritable log
def test_a_log_path_that_is_a_folder_is_one_line_on_stderr(log_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """When the log file is a folder, ten events give one line on stderr naming the path and why, no traceback."""
    log_file.mkdir(parents=True)
    logconfig.configure(log_file)
    for n in range(10):
        log.info("tick", n=n)
    err = capsys.readouterr().err
    assert [f"parquet-exporter: cannot write the log {log_file}: Is a directory"] == err.splitlines()


def test_a_log_folder_that_is_a_file_is_one_line_and_the_log_resumes_when_fixed(
    log_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file where the log folder should be: configure() does not raise, one line says why; once the
    folder exists the next events are written (and a new failure would be reported again)."""
    log_file.parent.parent.mkdir(parents=True)
    log_file.parent.write_text("not a folder")
    logconfig.configure(log_file)
    log.info("lost.one")
    log.info("lost.two")
    assert [
        f"parquet-exporter: cannot write the log {log_file}: Not a directory"
    ] == capsys.readouterr().err.splitlines()
    log_file.parent.unlink()
    log_file.parent.mkdir()
    log.info("written")
    logconfig.shutdown()
    assert ["written"] == [r["event"] for r in read_records([log_file])]
    assert "" == capsys.readouterr().err


def test_a_read_only_log_folder_is_one_line_on_stderr(log_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A read-only file system under the log folder (a tmpfs mounted ro, since root ignores permissions):
    one line naming the path and "Read-only file system", no traceback."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount(8) to mount a read-only tmpfs over the log folder")
    log_file.parent.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(log_file.parent)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.strip()}")
    try:
        logconfig.configure(log_file)
        for n in range(5):
            log.info("tick", n=n)
        logconfig.shutdown()
    finally:
        subprocess.run(["umount", "-l", str(log_file.parent)], check=False)
    expected = [f"parquet-exporter: cannot write the log {log_file}: Read-only file system"]
    assert expected == capsys.readouterr().err.splitlines()


def test_export_with_an_unwritable_log_still_exports(root: Path, write_daily: WriteCsv) -> None:
    """`export` with its log path a folder exits 0, writes the output, and says once on stderr that the log
    cannot be written."""
    write_daily("20251028")
    (root / LOG).mkdir(parents=True)
    done = daemonproc.run_cli(root, "export")
    assert 0 == done.returncode, done.stderr
    assert [f"parquet-exporter: cannot write the log {root / LOG}: Is a directory"] == done.stderr.splitlines()
    assert daily_output(root, "20251028").exists()


def test_the_daemon_with_an_unwritable_log_says_so_once_and_converts(
    root: Path, write_daily: WriteCsv, start_daemon: Callable[..., DaemonProcess]
) -> None:
    """The daemon with its log path a folder: one stderr line, no traceback, a new file is converted, and
    SIGTERM still ends it with exit 0."""
    (root / LOG).mkdir(parents=True)
    daemon = start_daemon()
    write_daily("20251029")
    wait_until(lambda: daily_output(root, "20251029").exists(), 20, "the daemon to convert a new file")
    assert 0 == daemon.stop()
    err = daemon.stderr.read_text()
    # stderr also carries the daemon's JSON events (for a service manager); the one other line is the complaint
    said = [line for line in err.splitlines() if not line.startswith("{")]
    assert [f"parquet-exporter: cannot write the log {root / LOG}: Is a directory"] == said


# ----------------------------------------------------------------------------- logs -n from the end
def test_reversed_lines_match_the_file_at_any_block_size(tmp_path: Path) -> None:
    """reversed_lines() gives the file's non-empty lines last first, whatever the block size, with multi-byte
    characters split across blocks and no newline at the end."""
    path = tmp_path / "x.log"
    lines = [f"ลำดับ {n} " + "é" * (n % 7) for n in range(200)] + ["", "last without newline"]
    path.write_bytes("\n".join(lines).encode())
    expected = [line.encode() for line in reversed(lines) if line]
    for block in (1, 2, 3, 7, 64, 4096):
        assert expected == list(reversed_lines(path, block)), block


def test_blocks_without_the_needles_are_skipped_but_no_matching_line_is_lost(tmp_path: Path) -> None:
    """With needles, reversed_lines() skips blocks that cannot match, yet every line holding them comes back,
    in order, at any block size."""
    path = tmp_path / "x.log"
    write_lines(
        path, [record(f"{'export' if n % 9 == 0 else 'sweep'}.x", ["info", "ERROR"][n % 4 == 0]) for n in range(300)]
    )
    for flt in (Filter(event_prefix="export."), Filter(level="error"), Filter(level="error", event_prefix="export.")):
        needles = Needles.of(flt)
        assert needles is not None
        expected = [line for line in reversed_lines(path) if needles.found(line)]
        assert 0 < len(expected) < 300
        for block in (1, 5, 64, 1000):
            assert expected == [line for line in reversed_lines(path, block, needles) if needles.found(line)]


def test_tail_reads_a_huge_log_from_its_end(tmp_path: Path) -> None:
    """The last lines of a log behind 64 GiB of (sparse) zeros come back at once: tail -n never reads from
    the start (a forward read would take minutes and hold a 64 GiB 'line')."""
    path = tmp_path / "parquet_export.log"
    with path.open("wb") as fh:
        fh.truncate(64 * 1024**3)
        fh.seek(0, os.SEEK_END)
        fh.write(b"\n" + "".join(json.dumps(record("end", n=n)) + "\n" for n in range(5)).encode())
    started = time.monotonic()
    assert [2, 3, 4] == numbers(tail(path, 5, 3, Filter()))
    assert [4] == numbers(tail(path, 5, 1, Filter(event_prefix="end")))
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (Filter(level="warning"), [2, 5, 8]),
        (Filter(level="error"), []),
        (Filter(event_prefix="e7"), [7]),
        (Filter(event_prefix="e1", level="warning"), []),
    ],
)
def test_tail_with_a_count_and_a_filter_reads_back_through_rotated_files(
    rotated_log: Path, flt: Filter, expected: list[int]
) -> None:
    """With a count and a filter, tail() goes back through the rotated files until enough lines matched."""
    assert expected == numbers(tail(rotated_log, 5, 10, flt))


def test_the_quick_check_never_drops_a_line_the_filter_accepts(tmp_path: Path) -> None:
    """Levels in any case, prefixes with quotes, backslashes and non-ASCII: the counted tail finds the same
    lines as a full read."""
    path = tmp_path / "parquet_export.log"
    events = ['say "hi"', "back\\slash", "ตาราง.x", "export.written", "EXPORT.x"]
    levels = ["WARNING", "info", "Error", "critical", "debug"]
    write_lines(path, [record(e, lv, n=i) for i, (e, lv) in enumerate(zip(events * 3, levels * 3, strict=False))])
    for flt in [Filter(level="warning"), *(Filter(event_prefix=e[:4]) for e in events), Filter(event_prefix="ตา")]:
        assert numbers(tail(path, 0, None, flt)) == numbers(tail(path, 0, 100, flt)), flt


def test_logs_n_zero_prints_nothing_and_all_prints_everything(rotated_log: Path, run_cli: RunCli) -> None:
    """`logs -n 0` prints nothing, like tail; `-n all` prints every line of every rotated file."""
    settings_root = rotated_log.parent
    (settings_root / "g" / "logs").mkdir(parents=True)
    for f in rotated_files(rotated_log, 5):
        os.replace(f, settings_root / "g" / "logs" / f.name)
    nothing = run_cli("logs", "-n", "0", "--json", "--root", settings_root)
    assert (0, "") == (nothing.code, nothing.out)
    every = run_cli("logs", "-n", "all", "--json", "--root", settings_root)
    assert list(range(9)) == numbers(every.out.splitlines())


@pytest.mark.parametrize(
    "args",
    [
        ["logs", "-n", "-5"],
        ["logs", "-n", "99999999999999999999"],
        ["logs", "-n", "ten"],
        ["logs", "--since", "99999999999999999999d"],
        ["report", "--days", "100000000"],
        ["report", "--days", "-1"],
        ["export", "--date", "99999-01-01"],
    ],
)
def test_out_of_range_numbers_are_one_line_usage_errors(root: Path, run_cli: RunCli, args: list[str]) -> None:
    """A number out of range is a usage error: exit 2 and one line on stderr, never an internal error."""
    result = run_cli(*args, "--root", root)
    assert 2 == result.code
    assert 1 == len(result.err.splitlines()), result.err
    assert result.err.startswith("error: ")
    assert "internal error" not in result.err
