"""The launchd job: the rendered template is a valid plist whose command really starts the daemon."""

from __future__ import annotations

import json
import os
import plistlib
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from daemon.cli.launchd import LABEL, PROJECT_DIR, TEMPLATE, main, render_plist
from tests.daemonproc import LOG, STATE, Processes, clean_env, wait_until


@pytest.fixture
def job(root: Path) -> dict[str, Any]:
    """The job rendered for `root` and parsed with plistlib."""
    document = plistlib.loads(render_plist(root).encode("utf-8"))
    assert isinstance(document, dict)
    return document


def test_render_has_the_launchd_keys(job: dict[str, Any], root: Path) -> None:
    """Label, KeepAlive, RunAtLoad, Background, LowPriorityIO, Nice and ThrottleInterval are set."""
    assert "com.02luka.parquet_export" == job["Label"] == LABEL
    assert job["KeepAlive"] is True
    assert job["RunAtLoad"] is True
    assert "Background" == job["ProcessType"]
    assert job["LowPriorityIO"] is True
    assert 10 == job["Nice"]
    assert isinstance(job["ThrottleInterval"], int)
    assert job["ThrottleInterval"] >= 10


def test_render_points_at_this_project_and_root(job: dict[str, Any], root: Path) -> None:
    """ProgramArguments run this project's parquet-exporter for the root; paths are absolute and real."""
    executable = PROJECT_DIR / ".venv" / "bin" / "parquet-exporter"
    assert [str(executable), "run", "--root", str(root.resolve())] == job["ProgramArguments"]
    assert str(root.resolve()) == job["WorkingDirectory"]
    logs = root.resolve() / "g" / "logs"
    assert logs == Path(job["StandardOutPath"]).parent
    assert logs == Path(job["StandardErrorPath"]).parent
    assert job["StandardOutPath"] != job["StandardErrorPath"]
    assert "@" not in json.dumps(job), "a placeholder was left unreplaced"


def test_render_environment(job: dict[str, Any], root: Path) -> None:
    """EnvironmentVariables put the venv first on PATH and leave out an empty config setting."""
    env = job["EnvironmentVariables"]
    assert env["PATH"].split(":")[0] == str(PROJECT_DIR / ".venv" / "bin")
    assert "1" == env["PYTHONUNBUFFERED"]
    assert "PARQUET_EXPORTER_CONFIG" not in env


def test_render_with_a_config_file(root: Path, tmp_path: Path) -> None:
    """With --config, the job carries PARQUET_EXPORTER_CONFIG with the file's absolute path."""
    config = tmp_path / "exporter.toml"
    config.write_text("[parquet_exporter]\nsettle_seconds = 1\n")
    job = plistlib.loads(render_plist(root, config=config).encode())
    assert str(config.resolve()) == job["EnvironmentVariables"]["PARQUET_EXPORTER_CONFIG"]


def test_render_escapes_xml_in_paths(tmp_path: Path) -> None:
    """A root whose path has XML metacharacters still renders a valid plist with the exact path."""
    root = tmp_path / "a&b <c>"
    root.mkdir()
    job = plistlib.loads(render_plist(root).encode())
    assert str(root.resolve()) == job["WorkingDirectory"]


def test_render_cli_prints_the_plist(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m daemon.cli.launchd --root R` prints the rendered plist."""
    assert 0 == main(["--root", str(root)])
    assert LABEL == plistlib.loads(capsys.readouterr().out.encode())["Label"]


def test_template_is_a_valid_plist_with_placeholders() -> None:
    """The committed template parses as a plist and names its placeholders."""
    text = TEMPLATE.read_text(encoding="utf-8")
    assert [] == [p for p in ("@ROOT@", "@PROJECT_DIR@", "@CONFIG@") if p not in text]
    assert LABEL == plistlib.loads(text.encode())["Label"]


@pytest.mark.slow
def test_program_arguments_start_the_daemon(
    job: dict[str, Any], root: Path, processes: Processes, capsys: pytest.CaptureFixture[str]
) -> None:
    """Running the job's ProgramArguments as launchd would starts the daemon; SIGTERM stops it with exit 0."""
    executable = Path(job["ProgramArguments"][0])
    assert os.access(executable, os.X_OK), f"{executable} is not executable (run scripts/run once to bootstrap)"
    env = clean_env(job["EnvironmentVariables"])
    out, err = Path(job["StandardOutPath"]), Path(job["StandardErrorPath"])
    out.parent.mkdir(parents=True, exist_ok=True)
    (root / "g" / "reports" / "query_perf_daily_20251028.csv").write_bytes(
        b"timestamp,query_hash,query_type,execution_time_ms,rows_examined,rows_returned,cache_hit,"
        b"table_name,index_used,cpu_time_ms,io_wait_ms\n"
        b"2025-10-28T01:00:00Z,h1,SELECT,1.5,10,1,true,orders,idx_a,0.5,0.25\n"
    )
    with out.open("ab") as stdout, err.open("ab") as stderr:
        proc = processes.popen(
            job["ProgramArguments"], cwd=job["WorkingDirectory"], env=env, stdout=stdout, stderr=stderr
        )

    def heartbeat() -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((root / STATE / "heartbeat.json").read_text())
        except (OSError, ValueError):
            return {}
        return data

    wait_until(lambda: heartbeat().get("pid") == proc.pid and proc.poll() is None, 15, "the daemon's heartbeat")
    time.sleep(3)
    assert proc.poll() is None, err.read_text()
    assert heartbeat()["running"] is True
    log = [json.loads(line) for line in (root / LOG).read_text().splitlines()]
    expected = ["daemon.started", "sweep.started", "export.written", "export.quality", "sweep.finished"]
    assert expected == [r["event"] for r in log]
    assert str(root.resolve()) == log[0]["root"]
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(10)
    except subprocess.TimeoutExpired:
        raise AssertionError("the daemon did not stop within 10 s of SIGTERM") from None
    with capsys.disabled():
        print(f"\n[launchd] ProgramArguments daemon: SIGTERM -> exit {code} in {time.monotonic() - started:.2f} s")
    assert 0 == code
    events = [json.loads(line)["event"] for line in (root / LOG).read_text().splitlines()]
    assert "daemon.started" == events[0]
    assert "daemon.stopped" == events[-1]
    assert events == [json.loads(line)["event"] for line in err.read_text().splitlines()], "stderr: the same lines"
    assert heartbeat()["running"] is False
