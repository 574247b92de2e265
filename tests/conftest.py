"""Shared fixtures: a fresh repository root, its settings, and helpers that write report files."""

from __future__ import annotations

import builtins
import datetime as dt
import errno
import io
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog

from daemon.cli.commands import main
from daemon.settings import Settings, resolve
from tests import daemonproc, gen

HEADER = (
    "timestamp,query_hash,query_type,execution_time_ms,rows_examined,rows_returned,"
    "cache_hit,table_name,index_used,cpu_time_ms,io_wait_ms"
)
SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPORA = SHARED / "corpora"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty repository root with the two input folders."""
    (tmp_path / "g" / "reports").mkdir(parents=True)
    (tmp_path / "knowledge" / "optimize").mkdir(parents=True)
    return tmp_path


@pytest.fixture
def settings(root: Path) -> Settings:
    """Default settings for `root`, ignoring the caller's environment."""
    return resolve({"root": root}, env={})


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def daily_rows(day: dt.date, n: int = 5) -> list[str]:
    """`n` valid query_perf CSV lines for `day` (UTC timestamps spread over the day)."""
    rows = []
    for i in range(n):
        ts = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=i * (86400 // max(n, 1)))
        rows.append(
            f"{ts.isoformat()}Z,h{i:04x},SELECT,{i * 1.5 + 0.25},{i * 10},{i},{'true' if i % 2 else 'false'},"
            f"table_{i % 3},idx_{i % 2},{i * 0.5},{i * 0.125}"
        )
    return rows


WriteCsv = Callable[..., Path]


@pytest.fixture
def write_daily(root: Path) -> WriteCsv:
    """Write `g/reports/query_perf_daily_<key>.csv` with the given lines (default: five valid rows)."""

    def write(key: str, lines: Sequence[str] | None = None, header: str = HEADER, newline: str = "\n") -> Path:
        if lines is None:
            lines = daily_rows(dt.datetime.strptime(key, "%Y%m%d").date())
        path = root / "g" / "reports" / f"query_perf_daily_{key}.csv"
        path.write_bytes((newline.join([header, *lines]) + newline).encode())
        return path

    return write


@pytest.fixture
def write_advisor(root: Path) -> Callable[..., Path]:
    """Write an index-advisor report (undated name unless `key` is given)."""

    def write(document: object, key: str | None = None) -> Path:
        name = f"index_advisor_report_{key}.json" if key else "index_advisor_report.json"
        path = root / "knowledge" / "optimize" / name
        path.write_text(json.dumps(document) if not isinstance(document, str) else document, encoding="utf-8")
        return path

    return write


@dataclass(frozen=True)
class CliResult:
    """What one `main([...])` call returned and printed."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


RunCli = Callable[..., CliResult]


def call_main(*args: str | Path) -> CliResult:
    """Call `daemon.cli.commands.main` with `args`, capturing stdout and stderr without pytest's fixtures."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in args])
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """Call `daemon.cli.commands.main` with the given arguments; returns its exit code and what it printed."""

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@dataclass(frozen=True)
class ExportedRoot:
    """A generated root after one `export --historical --json`, with what that run printed."""

    generated: gen.GeneratedRoot
    result: CliResult

    @property
    def root(self) -> Path:
        return self.generated.root


@pytest.fixture(scope="module")
def exported_root(tmp_path_factory: pytest.TempPathFactory) -> ExportedRoot:
    """The month-long realistic root (tests/gen.py), exported once for the whole module: read it, never change it."""
    generated = gen.build_root(tmp_path_factory.mktemp("month"))
    result = call_main("export", "--historical", "--json", "--root", generated.root)
    structlog.reset_defaults()
    return ExportedRoot(generated, result)


@pytest.fixture
def small_root(tmp_path: Path) -> gen.GeneratedRoot:
    """A few days across the year and ISO-year edge (2025-12-29..2026-01-02), every input kind, not exported."""
    return gen.build_root(
        tmp_path,
        seed=11,
        first=dt.date(2025, 12, 29),
        last=dt.date(2026, 1, 2),
        weeks=((2025, 52), (2026, 1)),
        rows_per_day=(5, 12),
    )


@pytest.fixture
def corpora() -> Path:
    """The public bad-input corpora in ../shared/corpora (skips when the folder is absent)."""
    if not CORPORA.is_dir():
        pytest.skip(f"public corpora not found at {CORPORA} (see the workspace's shared/corpora/README.md)")
    return CORPORA


@pytest.fixture
def fast_settings(root: Path) -> Settings:
    """Settings for driving the daemon in-process: 50 ms settle, 100 ms heartbeat, no renice, tiny retry waits."""
    return resolve(
        {"root": root, "settle_seconds": 0.05, "heartbeat_seconds": 0.1, "nice": 0, "retry_max_wait_seconds": 0.01},
        env={},
    )


@pytest.fixture
def processes() -> Iterator[daemonproc.Processes]:
    """Start subprocesses through this; every one still running is killed at teardown."""
    started = daemonproc.Processes()
    try:
        yield started
    finally:
        started.kill_all()


@pytest.fixture
def start_daemon(root: Path, processes: daemonproc.Processes) -> Callable[..., daemonproc.DaemonProcess]:
    """Start the real daemon on `root` as a subprocess (settle 0.3 s, heartbeat 0.2 s); killed at teardown."""

    def start(env: dict[str, str] | None = None, *, ready: bool = True) -> daemonproc.DaemonProcess:
        proc = daemonproc.start_daemon(processes, root, env)
        if ready:
            proc.wait_ready()
        return proc

    return start


@dataclass(frozen=True)
class Mounted:
    """A tmpfs mounted over a folder; `remount("ro")` and `remount("rw")` flip it (as root)."""

    target: Path

    def remount(self, *options: str) -> None:
        subprocess.run(["mount", "-o", ",".join(("remount", *options)), str(self.target)], check=True)


@pytest.fixture
def output_tmpfs(root: Path) -> Iterator[Mounted]:
    """A 16 MiB tmpfs mounted over the output folder, unmounted at teardown (skips without root and mount(8))."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount(8): a read-only mount is the only way to stop root writing the output folder")
    target = root / daemonproc.OUTPUT
    target.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(target)], capture_output=True, text=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.strip()}")
    try:
        yield Mounted(target)
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


@pytest.fixture
def make_unreadable(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """Make a file unreadable: chmod 000 when not root; as root (whom permissions do not stop), Python's
    `open` raises PermissionError for that path, at the OS boundary the exporter reads through."""
    blocked: set[str] = set()
    chmodded: list[tuple[Path, int]] = []
    real_open = builtins.open

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, str | os.PathLike) and os.fspath(file) in blocked:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    def block(path: Path) -> None:
        if os.geteuid() != 0:
            chmodded.append((path, path.stat().st_mode))
            path.chmod(0)
            return
        blocked.add(os.fspath(path))
        monkeypatch.setattr(builtins, "open", guarded_open)
        monkeypatch.setattr(io, "open", guarded_open)

    try:
        yield block
    finally:
        for path, mode in chmodded:
            path.chmod(mode)
