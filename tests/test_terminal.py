"""Data never reaches a terminal raw: the CLI run on a real pseudo-terminal with ESC, BEL and C1 bytes in
every kind of data (CSV fields, rejected values, a failure message, advisor fields, summary events, the
root path) prints them escaped; piped CSV and JSON still carry the data exactly."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import pty
import re
import struct
import subprocess
import termios
from pathlib import Path

import pytest

from tests.conftest import HEADER
from tests.daemonproc import cli, daemon_env

TITLE = "\x1b]0;PWNED\x07"  # retitles a terminal
CLEAR = "\x1b[2J"  # clears it
CSI = "\x9b31m"  # the one-byte C1 form of ESC [
MARKUP = "[bold]B[/bold] [/] :x:"  # rich markup and an emoji code: text, not styling
ROWS = [
    f"2025-10-28T01:00:00Z,{TITLE},SELECT,1.5,1,1,true,{CLEAR},idx{CSI},1,1",
    f"2025-10-28T02:00:00Z,h2,SELECT,1.5,1,1,true,{MARKUP},idx,1,1",
    f"2025-10-28T03:00:00Z,h3,SELECT,{TITLE}9,1,1,true,t,idx,1,1",  # rejected: not a number
]
SGR = re.compile(rb"\x1b\[[0-9;]*m")  # the program's own colours


@pytest.fixture
def hostile_root(tmp_path: Path) -> Path:
    """A root whose own path and every input carry terminal escapes; one file fails on its header, one with
    a message quoting its data."""
    root = tmp_path / f"ops{TITLE}"  # no "[": brackets in the root are issue 12 item 13 (paths as globs)
    reports, optimize = root / "g" / "reports", root / "knowledge" / "optimize"
    reports.mkdir(parents=True)
    optimize.mkdir(parents=True)
    (reports / "query_perf_daily_20251028.csv").write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    (reports / "query_perf_daily_20251029.csv").write_text(f"timestamp,{TITLE}\n1,2\n", encoding="utf-8")
    event = {"timestamp": "2025-10-28T04:00:00Z", "event_type": TITLE, "metric_name": CLEAR, "metric_value": 1}
    (optimize / "optimization_summary_20251028.txt").write_text(json.dumps(event) + "\n", encoding="utf-8")
    advisor = {"timestamp": "2025-10-28T05:00:00Z", "recommendations": [{"table": TITLE, "priority": CSI}]}
    (optimize / "index_advisor_report_20251028.json").write_text(json.dumps(advisor), encoding="utf-8")
    undatable = {"timestamp": TITLE, "recommendations": []}  # fails: "report timestamp '...' is not ISO 8601"
    (optimize / "index_advisor_report.json").write_text(json.dumps(undatable), encoding="utf-8")
    return root


def on_terminal(root: Path, *args: str) -> tuple[int, bytes]:
    """Run `parquet-exporter ARGS --root ROOT` with stdin, stdout and stderr on a new pseudo-terminal
    (200 x 50); returns the exit code and every byte the terminal received."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    env = daemon_env({"TERM": "xterm-256color"})
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        cli(*args, "--root", str(root)), stdin=slave, stdout=slave, stderr=slave, cwd=root.parent, env=env
    )
    os.close(slave)
    received = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the last holder of the terminal's other end is gone
            break
        if not chunk:
            break
        received += chunk
    os.close(master)
    return proc.wait(60), bytes(received)


def assert_no_raw_escape(received: bytes) -> None:
    """Apart from the program's own colour codes, no ESC, BEL or C1 byte reached the terminal."""
    data = SGR.sub(b"", received)
    assert b"\x07" not in data, received
    assert b"\x1b]" not in data, received
    assert b"\x1b[2J" not in data, received
    assert "\x9b".encode() not in data, received


def test_every_command_shows_escapes_on_a_terminal(hostile_root: Path) -> None:
    """export, query, logs, status, health, validate and report on a pseudo-terminal: no raw escape from the
    data, and the escaped forms are visible where the data is shown."""
    code, export = on_terminal(hostile_root, "export", "--historical")
    assert 1 == code  # two files fail, the others are written
    assert_no_raw_escape(export)
    assert b"\\x1b]0;PWNED\\x07" in export  # the failure message names the header, escaped
    commands = {
        # the dataset's own columns (the year and month partition keys would not fit 200 columns as well)
        "table": ("query", "SELECT * EXCLUDE (year, month) FROM query_performance ORDER BY timestamp"),
        "narrow": ("query", "SELECT query_hash, table_name, index_used FROM query_performance ORDER BY timestamp"),
        "csv": ("query", "SELECT * FROM optimization_events", "--format", "csv"),
        "markdown": ("query", "SELECT * FROM index_recommendations", "--format", "markdown"),
        "rejects": ("query", "SELECT * FROM rejects"),
        "logs": ("logs", "-n", "all"),
        "logs json": ("logs", "-n", "all", "--json"),
        "status": ("status",),
        "health": ("health",),
        "validate": ("validate",),
        "report": ("report", "--days", "3"),
    }
    seen = {}
    for name, args in commands.items():
        code, seen[name] = on_terminal(hostile_root, *args)
        assert b"internal error" not in seen[name], name
        assert_no_raw_escape(seen[name])
    escaped = b"\\x1b]0;PWNED\\x07"
    for name in ("table", "narrow", "csv", "markdown", "rejects", "logs", "status", "report"):
        assert escaped in seen[name], name
    assert b"\\x1b[2J" in seen["narrow"]
    assert b"\\x9b31m" in seen["narrow"]
    assert MARKUP.encode() in seen["narrow"]  # shown as typed: neither bold nor an emoji
    assert b"\\u001b]0;PWNED\\u0007" in seen["logs json"]  # --json: JSON's own escapes


def test_an_error_naming_a_hostile_root_is_escaped(tmp_path: Path) -> None:
    """`run` on a folder that is not the operations repository names it escaped, in one line."""
    bare = tmp_path / f"bare{TITLE}"
    bare.mkdir()
    code, received = on_terminal(bare, "run", "--once")
    assert 2 == code
    assert_no_raw_escape(received)
    assert 1 == len(received.strip().splitlines())
    assert b"bare\\x1b]0;PWNED\\x07 has neither g/ nor knowledge/" in received


def test_piped_csv_and_json_carry_the_data_exactly(hostile_root: Path) -> None:
    """Not on a terminal, `query` CSV has the raw bytes (no escaping, no colour-code stripping) and JSON
    holds the same strings; the stored rows are as the source had them."""
    subprocess.run(cli("export", "--historical", "--root", str(hostile_root)), env=daemon_env(), check=False)
    sql = "SELECT query_hash, table_name, index_used FROM query_performance ORDER BY timestamp"

    def piped(*fmt: str) -> str:
        done = subprocess.run(
            cli("query", sql, *fmt, "--root", str(hostile_root)),
            env=daemon_env(),
            capture_output=True,
            check=True,
        )
        return done.stdout.decode("utf-8")

    expected = [[TITLE, CLEAR, f"idx{CSI}"], ["h2", MARKUP, "idx"]]
    assert expected == list(csv.reader(io.StringIO(piped("--format", "csv"))))[1:]
    assert expected == list(csv.reader(io.StringIO(piped())))[1:]  # the default when piped
    text = piped("--format", "json")
    assert "\x1b" not in text
    assert "\x9b" not in text
    assert expected == [list(row.values()) for row in json.loads(text)]
