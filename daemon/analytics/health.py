"""`status` and `health`: what the daemon and the datasets look like right now.

Gathering reads the heartbeat, the state and the output folder; judging (`judge`) is a pure
function from those facts to a Nagios-style level, so it is tested over tables.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon.convert.quality import Quality
from daemon.settings import Settings
from daemon.specs import QUERY_PERF
from daemon.state.database import State
from daemon.state.heartbeat import heartbeat_age, read_heartbeat
from daemon.timeutil import next_sweep, parse_sweep_time, partition_dir, zone

OK, WARNING, CRITICAL = 0, 1, 2
LEVEL_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL"}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def folder_bytes(folder: Path) -> int:
    total = 0
    for dirpath, _, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(dirpath, name)).st_size
    return total


@dataclass
class Facts:
    """Everything `status` shows and `health` judges."""

    daemon_up: bool
    heartbeat_age: float | None
    pid: int | None
    next_sweep: str
    last_sweep: str | None
    yesterday: str
    yesterday_present: bool
    files: int
    rows: int
    storage_bytes: int
    mean_reduction: float | None
    success_rate_7d: float | None
    failures_24h: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    recent: list[dict[str, Any]] = field(default_factory=list)
    quality: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, Any] = field(default_factory=dict)
    watch: dict[str, Any] = field(default_factory=dict)  # the running daemon's watched folders (heartbeat)
    state_damaged: str | None = None  # why the state file could not be read (read as empty until set aside)


def gather(settings: Settings, now: dt.datetime | None = None) -> Facts:
    now = now or dt.datetime.now(dt.UTC)
    tz = zone(settings.timezone)
    beat = read_heartbeat(settings.state_path) or {}
    age = heartbeat_age(beat, now) if beat else None
    raw_pid = beat.get("pid")
    pid = raw_pid if isinstance(raw_pid, int) else None
    fresh = age is not None and age <= 3 * settings.heartbeat_seconds + 10
    up = bool(beat.get("running")) and fresh and pid is not None and pid_alive(pid)
    yesterday = (now.astimezone(tz) - dt.timedelta(days=1)).date()
    key = yesterday.strftime("%Y%m%d")
    expected = settings.output_path / QUERY_PERF.name / partition_dir(yesterday) / QUERY_PERF.output_name(key)
    state_file = settings.state_file
    files = rows = 0
    reductions: list[float] = []
    failures: list[dict[str, Any]] = []
    recent: list[dict[str, Any]] = []
    quality: list[dict[str, Any]] = []
    success_rate = None
    failures_24h = 0
    state_damaged = None
    if state_file.exists():
        with State(state_file, readonly=True) as state:
            state_damaged = state.damaged
            outputs = state.outputs()
            files = len(outputs)
            rows = sum(o.rows_written for o in outputs)
            reductions = [1 - o.parquet_bytes / o.source_bytes for o in outputs if o.source_bytes]
            failures = [
                {"source": f.source, "error": f.error, "since": f.updated_at, "status": f.status}
                for f in state.failures()
            ]
            recent = state.runs(10)
            quality = [quality_entry(row) for row in state.quality(10, latest_per_output=True)]
            week = state.runs(100_000)
            week_start = (now - dt.timedelta(days=7)).isoformat().replace("+00:00", "Z")
            day_start = (now - dt.timedelta(days=1)).isoformat().replace("+00:00", "Z")
            in_week = [r for r in week if str(r["at"]) >= week_start]
            done = [r for r in in_week if r["outcome"] in ("written", "failed")]
            if done:
                success_rate = sum(r["outcome"] == "written" for r in done) / len(done)
            failures_24h = sum(1 for r in in_week if r["outcome"] == "failed" and str(r["at"]) >= day_start)
    sweep_at = beat.get("next_sweep") if up else None
    if not isinstance(sweep_at, str):
        sweep_at = next_sweep(now, parse_sweep_time(settings.sweep_time), tz).isoformat()
    return Facts(
        daemon_up=up,
        heartbeat_age=age,
        pid=pid if up else None,
        next_sweep=sweep_at,
        last_sweep=beat.get("last_sweep") if isinstance(beat.get("last_sweep"), str) else None,  # type: ignore[arg-type]
        yesterday=yesterday.isoformat(),
        yesterday_present=expected.exists(),
        files=files,
        rows=rows,
        storage_bytes=folder_bytes(settings.output_path),
        mean_reduction=100 * sum(reductions) / len(reductions) if reductions else None,
        success_rate_7d=success_rate,
        failures_24h=failures_24h,
        failures=failures,
        recent=recent,
        quality=quality,
        counters=beat.get("counters") if isinstance(beat.get("counters"), dict) else {},  # type: ignore[arg-type]
        state_damaged=state_damaged,
        watch=beat.get("watch") if up and isinstance(beat.get("watch"), dict) else {},  # type: ignore[arg-type]
    )


def quality_entry(row: dict[str, Any]) -> dict[str, Any]:
    """A row of the state's quality table as `status` shows it: lists and maps parsed, problems spelled out."""
    q = Quality.from_row(row)
    return {
        "at": row["at"],
        "dataset": row["dataset"],
        "output": row["output"],
        **q.to_json(),
        "problems": q.problems(),
    }


def judge(facts: Facts, storage_alert_gb: float) -> tuple[int, list[str]]:
    """Nagios level (0 OK, 1 WARNING, 2 CRITICAL) and the reasons for it."""
    level, reasons = OK, []

    def raise_to(new: int, reason: str) -> None:
        nonlocal level
        level = max(level, new)
        reasons.append(reason)

    if not facts.daemon_up:
        age = "no heartbeat" if facts.heartbeat_age is None else f"heartbeat {facts.heartbeat_age:.0f} s old"
        raise_to(CRITICAL, f"daemon not running ({age})")
    if facts.state_damaged:
        raise_to(WARNING, f"state file damaged ({facts.state_damaged}): set aside and rebuilt at the next start")
    for folder, watch in sorted(facts.watch.items()):
        if isinstance(watch, dict) and watch.get("state") == "lost":
            raise_to(
                WARNING, f"watch lost: {folder} ({watch.get('reason') or 'folder gone'} since {watch.get('since')})"
            )
    if not facts.yesterday_present:
        raise_to(WARNING, f"yesterday's daily export ({facts.yesterday}) is missing")
    if facts.failures_24h:
        raise_to(WARNING, f"{facts.failures_24h} failed export(s) in the last 24 h")
    limit = storage_alert_gb * 1024**3
    if facts.storage_bytes > 2 * limit:
        raise_to(CRITICAL, f"parquet folder {facts.storage_bytes / 1024**3:.2f} GB > 2 x {storage_alert_gb:g} GB")
    elif facts.storage_bytes > limit:
        raise_to(WARNING, f"parquet folder {facts.storage_bytes / 1024**3:.2f} GB > {storage_alert_gb:g} GB")
    return level, reasons
