"""Logs where the service manager looks: the daemon's JSON lines on stderr, log_file = "-", a terminal's lines."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.daemonproc import LOG, DaemonProcess, Processes, cli, daemon_env, daily_output
from tests.test_daemon_e2e import csv_bytes, source_path, wait_rows

StartDaemon = Callable[..., DaemonProcess]


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of `path` parsed as a JSON object with timestamp, level and event first."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        assert ["timestamp", "level", "event"] == list(record)[:3], line
        records.append(record)
    return records


@pytest.mark.slow
def test_stderr_carries_the_json_log_from_start_to_stop(root: Path, start_daemon: StartDaemon) -> None:
    """With stderr sent to a file, it holds the same JSON lines as the log file, daemon.started to daemon.stopped."""
    proc = start_daemon()
    source_path(root, "20251028").write_bytes(csv_bytes("20251028", 5))
    wait_rows(daily_output(root, "20251028"), 5)
    assert 0 == proc.stop()
    on_stderr = json_lines(proc.stderr)
    assert "daemon.started" == on_stderr[0]["event"]
    assert "daemon.stopped" == on_stderr[-1]["event"]
    assert 1 == [r["event"] for r in on_stderr].count("export.written")
    assert proc.records() == on_stderr, "stderr and the log file carry the same lines, each once"
    assert "" == proc.stdout.read_text()


@pytest.mark.slow
def test_log_file_dash_means_stderr_only(root: Path, start_daemon: StartDaemon) -> None:
    """log_file = "-" writes no log file (and no file named "-"): every line goes to stderr."""
    proc = start_daemon({"PARQUET_EXPORTER_LOG_FILE": "-"})
    assert 0 == proc.stop()
    events = [r["event"] for r in json_lines(proc.stderr)]
    assert ("daemon.started", "daemon.stopped") == (events[0], events[-1])
    assert 1 == events.count("daemon.stopped")
    assert (False, False) == ((root / "-").exists(), (root / LOG).exists())


@pytest.mark.slow
def test_stderr_that_is_the_log_file_gets_each_line_once(root: Path, processes: Processes) -> None:
    """A daemon whose stderr is its own log file (one file for both) writes each line to it once."""
    log = root / LOG
    log.parent.mkdir(parents=True)
    with log.open("ab") as stderr:
        proc = processes.popen(
            cli("run", "--once", "--root", str(root)),
            cwd=root,
            env=daemon_env(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    assert 0 == proc.wait(60)
    events = [r["event"] for r in json_lines(log)]
    assert ["daemon.started", "sweep.started", "sweep.finished", "daemon.stopped"] == events


def test_a_terminal_gets_coloured_human_lines(root: Path) -> None:
    """On a terminal, `run` shows one coloured human line per event instead of JSON (the file keeps JSON)."""
    primary, secondary = os.openpty()
    try:
        done = subprocess.run(
            cli("run", "--once", "--root", str(root)),
            cwd=root,
            env=daemon_env(),
            stdout=subprocess.PIPE,
            stderr=secondary,
            timeout=60,
            check=False,
        )
        os.close(secondary)
        shown = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the terminal's other end is closed and everything was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(primary)
    assert 0 == done.returncode
    text = shown.decode()
    assert "\x1b[" in text, "coloured"
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    lines = [line for line in plain.splitlines() if line.strip()]
    assert ["daemon.started", "sweep.started", "sweep.finished", "daemon.stopped"] == [
        next(word for word in line.split() if "." in word and not word[0].isdigit()) for line in lines
    ]
    assert not any(line.lstrip().startswith("{") for line in lines), "no JSON on a terminal"
    assert "daemon.stopped" == json_lines(root / LOG)[-1]["event"]


@pytest.mark.slow
def test_journald_gets_each_line_with_its_priority(root: Path, start_daemon: StartDaemon) -> None:
    """When stderr is journald's stream ($JOURNAL_STREAM names it), each JSON line carries its syslog priority."""
    stderr = root.parent / f"{root.name}.stderr"  # the file start_daemon sends stderr to (opened again, same inode)
    stderr.touch()
    st = stderr.stat()
    source_path(root, "20251029").write_bytes(b"not,a,report\n1,2,3\n")  # fails: an error line
    proc = start_daemon({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    assert 0 == proc.stop()
    lines = proc.stderr.read_text(encoding="utf-8").splitlines()
    levels = {"debug": "7", "info": "6", "warning": "4", "error": "3", "critical": "2"}
    expected = [f"<{levels[json.loads(line)['level']]}>{line}" for line in proc.log_path.read_text().splitlines()]
    assert expected == lines
    assert {"<6>", "<3>"} <= {line[:3] for line in lines}
