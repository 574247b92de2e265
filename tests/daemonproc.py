"""The real daemon as a subprocess, for end-to-end tests: start, wait until it watches, read its JSON log, stop."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from daemon.cli.logview import rotated_files
from daemon.state.heartbeat import read_heartbeat

SETTLE_SECONDS = 0.3
HEARTBEAT_SECONDS = 0.2
LOG = Path("g/logs/parquet_export.log")
STATE = Path("g/state/parquet_export")
OUTPUT = Path("knowledge/optimize/parquet")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without any PARQUET_EXPORTER_* setting of the caller, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARQUET_EXPORTER_")}
    env.update(extra or {})
    return env


def daemon_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the e2e daemons run with: short settle and heartbeat times."""
    return clean_env(
        {
            "PARQUET_EXPORTER_SETTLE_SECONDS": str(SETTLE_SECONDS),
            "PARQUET_EXPORTER_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
            "PYTHONUNBUFFERED": "1",
            **(extra or {}),
        }
    )


def cli(*args: str) -> list[str]:
    """The command line of `parquet-exporter ARGS` through this interpreter."""
    return [sys.executable, "-m", "daemon", *args]


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.02) -> Any:
    """Poll until `predicate()` is truthy and return its value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def parquet_rows(path: Path) -> pl.DataFrame | None:
    """The Parquet file's rows, or None while it does not exist (outputs appear atomically).

    The bytes are read through one open file first: `pl.read_parquet(path)` opens the path more than
    once, so a read racing the daemon's atomic replace can mix the old file's footer with the new file.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return pl.read_parquet(io.BytesIO(data))


def daily_output(root: Path, key: str) -> Path:
    return root / OUTPUT / "query_perf" / f"year={key[:4]}" / f"month={key[4:6]}" / f"query_perf_{key}.parquet"


class Processes:
    """Every subprocess a test starts; `kill_all()` at teardown leaves none running."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def popen(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(args, **kwargs)
        self.started.append(proc)
        return proc

    def kill_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


@dataclass
class DaemonProcess:
    """A running `parquet-exporter run --root R` and where its output goes."""

    root: Path
    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    stopped_in: float | None = field(default=None)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def log_path(self) -> Path:
        return self.root / LOG

    def heartbeat(self) -> dict[str, object]:
        return read_heartbeat(self.root / STATE) or {}

    def wait_ready(self, timeout: float = 20) -> None:
        """Wait until the daemon watches and its start-up sweep is done (a heartbeat says so)."""

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}: {self.stderr.read_text()}")
            beat = self.heartbeat()
            return beat.get("pid") == self.pid and beat.get("running") is True and beat.get("last_sweep") is not None

        wait_until(ready, timeout, "the daemon to be ready")

    def records(self) -> list[dict[str, Any]]:
        """Every line of the JSON log (rotated files first), each checked to be a JSON object."""
        lines: list[str] = []
        for path in rotated_files(self.log_path, 100):
            lines += path.read_text(encoding="utf-8").splitlines()
        records = []
        for line in lines:
            record = json.loads(line)
            assert isinstance(record, dict), line
            assert ["timestamp", "level", "event"] == list(record)[:3], line
            records.append(record)
        return records

    def events(self, name: str, **match: object) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["event"] == name and all(r.get(k) == v for k, v in match.items())]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        """Send `sig`, wait for the exit (failing after `timeout`), and return the exit code."""
        started = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"daemon did not exit within {timeout} s of signal {sig}") from None
        self.stopped_in = time.monotonic() - started
        return code


def start_daemon(
    processes: Processes, root: Path, env: Mapping[str, str] | None = None, args: Sequence[str] = ()
) -> DaemonProcess:
    """Start the daemon for `root` (stdout and stderr to files beside the root) without waiting."""
    out, err = root.parent / f"{root.name}.stdout", root.parent / f"{root.name}.stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = processes.popen(
            cli("run", "--root", str(root), *args), cwd=root, env=daemon_env(env), stdout=stdout, stderr=stderr
        )
    return DaemonProcess(root, proc, out, err)


def run_cli(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run one parquet-exporter command for `root` to completion and capture its output."""
    return subprocess.run(
        cli(*args, "--root", str(root)),
        cwd=root,
        env=daemon_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
