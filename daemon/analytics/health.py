"""`status` and `health`: what the daemon and the datasets look like right now.

Gathering reads the heartbeat, the state and the output folder; judging (`judge`) is a pure
function from those facts to a Nagios-style level, so it is tested over tables.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from daemon.analytics.figures import dataset_bytes, reduction_pct
from daemon.convert.inputs import Key, output_path
from daemon.convert.quality import Quality
from daemon.settings import Settings
from daemon.specs import BY_NAME, DATASETS, QUERY_PERF
from daemon.state.database import SourceRecord, State
from daemon.state.heartbeat import heartbeat_age, read_heartbeat
from daemon.timeutil import next_sweep, parse_sweep_time, zone

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
LEVEL_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Totals:
    """The current outputs: byte-weighted compression (`figures.reduction_pct`) and the Parquet on disk."""

    files: int = 0
    rows: int = 0
    source_bytes: int = 0
    parquet_bytes: int = 0
    reduction_pct: float | None = None
    storage_bytes: int = 0  # every Parquet file of the datasets on disk (rejects included; no report, no temporary)


@dataclass
class DailyExport:
    """The daily-export rule (`daily_export_dataset`, `daily_export_by`): yesterday's output of a dataset."""

    dataset: str
    day: str  # yesterday in `timezone`
    due: bool  # the local time is past `daily_export_by`
    present: bool


@dataclass
class Facts:
    """Everything `status` shows and `health` judges; key names carry their units."""

    daemon_up: bool
    daemon: str  # "running", "not responding" (a live process whose heartbeat is stale) or "not running"
    heartbeat_age_seconds: float | None
    pid: int | None
    next_sweep: str
    last_sweep: str | None
    daily_export: DailyExport | None
    totals: Totals
    success_7d_pct: float | None
    failures_24h: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    recent: list[dict[str, Any]] = field(default_factory=list)
    quality: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, Any] = field(default_factory=dict)
    # publishing (output_url): outputs written but not yet published, and the oldest one's age
    publish_target: str = ""
    pending_uploads: int = 0
    oldest_pending_seconds: float | None = None
    publish_alert_age_seconds: float = 3600.0

    watch: dict[str, Any] = field(default_factory=dict)  # the running daemon's watched folders (heartbeat)
    state_damaged: str | None = None  # why the state file could not be read (read as empty until set aside)

    def to_json(self) -> dict[str, Any]:
        """The facts for `status --json`: recent runs' durations in seconds (rounded to the millisecond)."""
        doc = asdict(self)
        doc["recent"] = [_run_json(r) for r in self.recent]
        doc["quality"] = [{**q, "seconds": _round(q.get("seconds"), 3)} for q in self.quality]
        for q in doc["quality"]:
            q["scan_seconds"] = q.pop("seconds")
        return doc


def _round(value: Any, digits: int) -> Any:
    return round(value, digits) if isinstance(value, float) else value


def _run_json(run: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in run.items() if k != "duration_ms"}
    ms = run.get("duration_ms")
    out["duration_seconds"] = round(ms / 1000, 3) if isinstance(ms, int | float) else None
    return out


def failing(settings: Settings, state: State) -> list[SourceRecord]:
    """Inputs failing now: their last attempt failed and the file is still there (a deleted source's failure
    is over; a source that converted since is no longer `failed` in the state)."""
    return [f for f in state.failures() if (settings.root / f.source).exists()]


def gather(settings: Settings, now: dt.datetime | None = None) -> Facts:
    now = now or dt.datetime.now(dt.UTC)
    tz = zone(settings.timezone)
    beat = read_heartbeat(settings.state_path) or {}
    age = heartbeat_age(beat, now) if beat else None
    raw_pid = beat.get("pid")
    pid = raw_pid if isinstance(raw_pid, int) else None
    fresh = age is not None and age <= 3 * settings.heartbeat_seconds + 10
    up = bool(beat.get("running")) and fresh and pid is not None and pid_alive(pid)
    alive = pid is not None and pid_alive(pid)
    daemon = "running" if up else "not responding" if bool(beat.get("running")) and alive else "not running"
    state_file = settings.state_file
    totals = Totals()
    failures: list[dict[str, Any]] = []
    recent: list[dict[str, Any]] = []
    quality: list[dict[str, Any]] = []
    success_pct = None
    failures_24h = 0
    pending, oldest_unix = 0, None
    state_damaged = None
    if state_file.exists():
        with State(state_file, readonly=True) as state:
            state_damaged = state.damaged
            pending, oldest_unix = state.outbox_summary()
            outputs = state.outputs()
            totals.files = len(outputs)
            totals.rows = sum(o.rows_written for o in outputs)
            totals.source_bytes = sum(o.source_bytes for o in outputs)
            totals.parquet_bytes = sum(o.parquet_bytes for o in outputs)
            totals.reduction_pct = reduction_pct(totals.source_bytes, totals.parquet_bytes)
            failures = [
                {"source": f.source, "error": f.error, "since": f.updated_at, "status": f.status}
                for f in failing(settings, state)
            ]
            recent = state.runs(10)
            quality = [quality_entry(row) for row in state.quality(10, latest_per_output=True)]
            week = state.runs(100_000)
            week_start = (now - dt.timedelta(days=7)).isoformat().replace("+00:00", "Z")
            day_start = (now - dt.timedelta(days=1)).isoformat().replace("+00:00", "Z")
            in_week = [r for r in week if str(r["at"]) >= week_start]
            done = [r for r in in_week if r["outcome"] in ("written", "failed")]
            if done:
                success_pct = round(100 * sum(r["outcome"] == "written" for r in done) / len(done), 1)
            still = {f["source"] for f in failures}  # a recovered or deleted source's failures are over
            failures_24h = sum(
                1 for r in in_week if r["outcome"] == "failed" and str(r["at"]) >= day_start and r["source"] in still
            )
    totals.storage_bytes = dataset_bytes(settings.output_path, [spec.name for spec in DATASETS] + ["_rejects"])
    sweep_at = beat.get("next_sweep") if up else None
    if not isinstance(sweep_at, str):
        sweep_at = next_sweep(now, parse_sweep_time(settings.sweep_time), tz).isoformat()
    return Facts(
        daemon_up=up,
        daemon=daemon,
        heartbeat_age_seconds=round(age, 1) if age is not None else None,
        pid=pid if up or daemon == "not responding" else None,
        next_sweep=sweep_at,
        last_sweep=beat.get("last_sweep") if isinstance(beat.get("last_sweep"), str) else None,  # type: ignore[arg-type]
        daily_export=daily_export(settings, now),
        totals=totals,
        success_7d_pct=success_pct,
        failures_24h=failures_24h,
        failures=failures,
        recent=recent,
        quality=quality,
        counters=beat.get("counters") if isinstance(beat.get("counters"), dict) else {},  # type: ignore[arg-type]
        publish_target=settings.output_url,
        pending_uploads=pending,
        oldest_pending_seconds=None if oldest_unix is None else round(max(now.timestamp() - oldest_unix, 0.0), 1),
        publish_alert_age_seconds=settings.publish_alert_age_seconds,
        state_damaged=state_damaged,
        watch=beat.get("watch") if up and isinstance(beat.get("watch"), dict) else {},  # type: ignore[arg-type]
    )


def daily_export(settings: Settings, now: dt.datetime) -> DailyExport | None:
    """Yesterday's output of `daily_export_dataset` (None when the rule is off): present, and due yet?"""
    if not settings.daily_export_dataset:
        return None
    spec = BY_NAME[settings.daily_export_dataset]
    local = now.astimezone(zone(settings.timezone))
    yesterday = (local - dt.timedelta(days=1)).date()
    expected = output_path(settings, spec, Key(f"{yesterday:%Y%m%d}", yesterday))
    due = local.time() >= parse_sweep_time(settings.daily_export_by)
    return DailyExport(spec.name, yesterday.isoformat(), due, expected.exists())


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
        age = (
            "no heartbeat"
            if facts.heartbeat_age_seconds is None
            else f"heartbeat {facts.heartbeat_age_seconds:.0f} s old"
        )
        if facts.daemon == "not responding":
            raise_to(CRITICAL, f"daemon not responding ({age}, pid {facts.pid})")
        else:
            raise_to(CRITICAL, f"daemon not running ({age})")
    if facts.state_damaged:
        raise_to(WARNING, f"state file damaged ({facts.state_damaged}): set aside and rebuilt at the next start")
    for folder, watch in sorted(facts.watch.items()):
        if isinstance(watch, dict) and watch.get("state") == "lost":
            raise_to(
                WARNING, f"watch lost: {folder} ({watch.get('reason') or 'folder gone'} since {watch.get('since')})"
            )
    daily = facts.daily_export
    if daily is not None and daily.due and not daily.present:
        name = "daily export" if daily.dataset == QUERY_PERF.name else f"daily {daily.dataset} export"
        raise_to(WARNING, f"yesterday's {name} ({daily.day}) is missing")
    if facts.failures_24h:
        raise_to(WARNING, f"{facts.failures_24h} failed export(s) in the last 24 h")
    if facts.oldest_pending_seconds is not None and facts.oldest_pending_seconds > facts.publish_alert_age_seconds:
        raise_to(
            WARNING,
            f"{facts.pending_uploads} output(s) not yet published, the oldest for"
            f" {facts.oldest_pending_seconds:.0f} s (> {facts.publish_alert_age_seconds:g} s)",
        )
    limit = storage_alert_gb * 1024**3
    stored = facts.totals.storage_bytes
    if stored > 2 * limit:
        raise_to(CRITICAL, f"parquet datasets {stored / 1024**3:.2f} GB > 2 x {storage_alert_gb:g} GB")
    elif stored > limit:
        raise_to(WARNING, f"parquet datasets {stored / 1024**3:.2f} GB > {storage_alert_gb:g} GB")
    return level, reasons


def perfdata(facts: Facts, storage_alert_gb: float) -> str:
    """Nagios performance data (after the `|`): label=value[unit];warn;crit;min."""
    t = facts.totals
    limit = int(storage_alert_gb * 1024**3)
    parts = [
        f"failing={len(facts.failures)};;;0",
        f"failed_24h={facts.failures_24h};1;;0",
        f"files={t.files};;;0",
        f"rows={t.rows};;;0",
        f"storage_bytes={t.storage_bytes}B;{limit};{2 * limit};0",
    ]
    if t.reduction_pct is not None:
        parts.append(f"reduction_pct={t.reduction_pct}%")
    if facts.heartbeat_age_seconds is not None:
        parts.append(f"heartbeat_age_seconds={facts.heartbeat_age_seconds}s;;;0")
    return " ".join(parts)
