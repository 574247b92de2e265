"""The JSON log under load and rotation, the `logs` viewer's filters and follow, and health's judgement."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from daemon import logconfig
from daemon.analytics.health import CRITICAL, OK, WARNING, Facts, judge
from daemon.cli.logview import Filter, follow, human, parse_since, rotated_files, tail

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
    """human() shows time, padded level, event and key=value fields, with a colour per level."""
    line = json.dumps(record("export.failed", "error", source="a.csv", detail={"x": 1}))
    expected = '2025-10-28 12:00:00 ERROR   export.failed source=a.csv detail={"x": 1}'
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
    heartbeat_age=2.0,
    pid=123,
    next_sweep="2025-10-29T05:00:00+07:00",
    last_sweep="2025-10-28T05:00:00+07:00",
    yesterday="2025-10-27",
    yesterday_present=True,
    files=10,
    rows=1000,
    storage_bytes=10 * 1024**2,
    mean_reduction=80.0,
    success_rate_7d=1.0,
    failures_24h=0,
)
GB = 1024**3


@pytest.mark.parametrize(
    ("changes", "level", "reasons"),
    [
        ({}, OK, []),
        ({"daemon_up": False, "heartbeat_age": None, "pid": None}, CRITICAL, ["daemon not running (no heartbeat)"]),
        ({"daemon_up": False, "heartbeat_age": 125.4}, CRITICAL, ["daemon not running (heartbeat 125 s old)"]),
        ({"yesterday_present": False}, WARNING, ["yesterday's daily export (2025-10-27) is missing"]),
        ({"failures_24h": 2}, WARNING, ["2 failed export(s) in the last 24 h"]),
        ({"storage_bytes": 5 * GB}, OK, []),
        ({"storage_bytes": 6 * GB}, WARNING, ["parquet folder 6.00 GB > 5 GB"]),
        ({"storage_bytes": 11 * GB}, CRITICAL, ["parquet folder 11.00 GB > 2 x 5 GB"]),
        (
            {"yesterday_present": False, "failures_24h": 1},
            WARNING,
            ["yesterday's daily export (2025-10-27) is missing", "1 failed export(s) in the last 24 h"],
        ),
        (
            {"daemon_up": False, "heartbeat_age": None, "yesterday_present": False},
            CRITICAL,
            ["daemon not running (no heartbeat)", "yesterday's daily export (2025-10-27) is missing"],
        ),
        ({"success_rate_7d": 0.5, "mean_reduction": None, "files": 0}, OK, []),
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
    facts = dataclasses.replace(HEALTHY, storage_bytes=GB // 2)
    assert OK == judge(facts, storage_alert_gb=1)[0]
    assert WARNING == judge(facts, storage_alert_gb=0.25)[0]
    assert CRITICAL == judge(facts, storage_alert_gb=0.2)[0]
