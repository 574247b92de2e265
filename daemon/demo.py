"""`parquet-exporter demo ROOT`: a new root holding a realistic month of reports, for a first tour.

What the producers of an operations repository write, in the work order's layouts and sizes: a daily
query-performance CSV per day (~1,000-2,000 rows, ~100-200 KB, rows over the file's day in `timezone`,
busier on weekdays and in office hours), a weekly CSV per ISO week, an index-advisor report per week
and an optimizer summary per night, the last day's as the undated current files. One row
of one daily file has an unreadable duration, so the tour shows a rejected row too.

The tests' generator (tests/gen.py) writes hostile files on purpose (dialects, BOMs, multi-line fields)
and knows every expected output row; this one writes the ordinary case people meet first.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

from daemon.errors import ConfigError
from daemon.specs import QUERY_PERF
from daemon.timeutil import zone

COLUMNS = tuple(c.name for c in QUERY_PERF.input_columns)  # the daily CSV's header, as the specs say
QUERY_TYPES = ("SELECT",) * 6 + ("INSERT", "INSERT", "UPDATE", "DELETE")
TABLES = ("embeddings", "query_log", "users", "sessions", "documents", "audit_events")
INDEXES = {
    "embeddings": ("idx_namespace", "idx_embedding_vector", ""),
    "query_log": ("PRIMARY", "idx_query_log_created_at"),
    "users": ("PRIMARY", "idx_users_email"),
    "sessions": ("idx_sessions_user_id", "PRIMARY", ""),
    "documents": ("idx_documents_namespace", ""),
    "audit_events": ("idx_audit_events_at",),
}
PATTERNS = (
    "WHERE namespace = ? AND vector LIKE ?",
    "WHERE user_id = ? ORDER BY created_at DESC",
    "WHERE email = ?",
    "WHERE created_at >= ? AND created_at < ?",
)
HOURLY_WEIGHT = (1, 1, 1, 1, 1, 1, 2, 4, 8, 10, 10, 9, 7, 9, 10, 10, 9, 7, 5, 4, 3, 2, 2, 1)


@dataclass(frozen=True)
class DemoRoot:
    """What `write_demo` wrote."""

    root: Path
    files: int
    bytes: int
    first: dt.date
    last: dt.date


def write_demo(root: Path, *, last: dt.date, days: int = 30, timezone: str = "Asia/Bangkok", seed: int = 1) -> DemoRoot:
    """Write `days` days of reports ending on `last` into `root`, which must not exist or be empty."""
    if days < 1:
        raise ConfigError("--days must be at least 1")
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ConfigError(f"{root} already exists and is not empty: demo writes only into a new root")
    tz = zone(timezone)
    rng = random.Random(seed)
    first = last - dt.timedelta(days=days - 1)
    reports, optimize = root / "g" / "reports", root / "knowledge" / "optimize"
    reports.mkdir(parents=True)
    optimize.mkdir(parents=True)
    hashes = [f"{rng.getrandbits(48):012x}" for _ in range(400)]
    written: list[Path] = []

    def put(path: Path, text: str) -> None:
        path.write_text(text, encoding="utf-8", newline="")
        written.append(path)

    day = first
    while day <= last:
        n = rng.randint(1_000, 2_000) if day.weekday() < 5 else rng.randint(400, 800)
        rows = [_perf_row(rng, _instant(rng, day, tz), hashes) for _ in range(n)]
        if day == first + dt.timedelta(days=min(2, days - 1)):
            rows[len(rows) // 2][3] = "n/a"  # one unreadable duration: the tour's rejected row
        put(reports / f"query_perf_daily_{day:%Y%m%d}.csv", _csv(sorted(rows, key=lambda r: r[0])))
        if day < last:  # the last day's are the undated current files below (a dated copy would be superseded)
            put(optimize / f"optimization_summary_{day:%Y%m%d}.txt", _summary(rng, day, tz))
            if day.weekday() == 0:
                put(optimize / f"index_advisor_report_{day:%Y%m%d}.json", _advisor(rng, day, tz))
        day += dt.timedelta(days=1)

    monday = first - dt.timedelta(days=first.weekday())
    while monday + dt.timedelta(days=6) <= last:  # complete ISO weeks only, as a weekly producer writes them
        year, week, _ = monday.isocalendar()
        rows = [
            _perf_row(rng, _instant(rng, monday + dt.timedelta(days=rng.randrange(7)), tz), hashes)
            for _ in range(rng.randint(4_000, 6_000))
        ]
        put(reports / f"query_perf_weekly_{year:04d}{week:02d}.csv", _csv(sorted(rows, key=lambda r: r[0])))
        monday += dt.timedelta(days=7)

    put(optimize / "index_advisor_report.json", _advisor(rng, last, tz))
    put(optimize / "optimization_summary.txt", _summary(rng, last, tz))
    return DemoRoot(root, len(written), sum(p.stat().st_size for p in written), first, last)


def _instant(rng: random.Random, day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """A moment of `day` in `tz` (busier in office hours), as an aware UTC datetime."""
    hour = rng.choices(range(24), weights=HOURLY_WEIGHT)[0]
    local = dt.datetime.combine(day, dt.time(hour), tz) + dt.timedelta(seconds=rng.uniform(0, 3600))
    return local.astimezone(dt.UTC)


def _perf_row(rng: random.Random, at: dt.datetime, hashes: list[str]) -> list[str]:
    table = rng.choice(TABLES)
    examined = rng.randint(1, 200_000)
    execution = round(rng.lognormvariate(2.5, 1.1), 2)
    return [
        at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        rng.choice(hashes),
        rng.choice(QUERY_TYPES),
        repr(execution),
        str(examined),
        str(rng.randint(0, min(examined, 500))),
        "true" if rng.random() < 0.35 else "false",
        table,
        rng.choice(INDEXES[table]),
        repr(round(execution * rng.uniform(0.2, 0.8), 2)),
        repr(round(rng.uniform(0, 4), 3)) if rng.random() < 0.95 else "",
    ]


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return buf.getvalue()


def _advisor(rng: random.Random, day: dt.date, tz: dt.tzinfo) -> str:
    at = dt.datetime.combine(day, dt.time(4), tz).astimezone(dt.UTC)
    recommendations = []
    for i in range(rng.randint(3, 8)):
        table = rng.choice(TABLES)
        item = {
            "table": table,
            "index": f"idx_{table}_{rng.choice(('namespace', 'created_at', 'user_id', 'email'))}",
            "query_pattern": rng.choice(PATTERNS),
            "estimated_speedup": round(rng.uniform(1.2, 8.0), 1),
            "estimated_cost": round(rng.uniform(1, 300), 1),
            "priority": rng.choice(("high", "medium", "medium", "low")),
        }
        if i % 3 == 0:
            item["status"] = rng.choice(("pending", "applied"))
        recommendations.append(item)
    document = {"timestamp": at.isoformat().replace("+00:00", "Z"), "recommendations": recommendations}
    return json.dumps(document, indent=2) + "\n"


def _summary(rng: random.Random, day: dt.date, tz: dt.tzinfo) -> str:
    start = dt.datetime.combine(day, dt.time(3), tz)
    t1 = start + dt.timedelta(seconds=rng.randint(20, 120))
    t2 = t1 + dt.timedelta(seconds=rng.randint(30, 300))
    done = t2 + dt.timedelta(seconds=rng.randint(60, 900))
    created = rng.randint(0, 4)
    vacuum = {
        "timestamp": t2.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "event_type": "vacuum",
        "metric_name": "pages_freed",
        "metric_value": rng.randint(100, 50_000),
        "metadata": {"table": rng.choice(TABLES)},
    }
    lines = [
        f"# Optimizer run {day:%Y-%m-%d}",
        f"{start.isoformat()} optimizer_start duration_ms=0",
        f"{t1.isoformat()} index_created speedup={rng.uniform(1.2, 6):.2f} table=embeddings",
        json.dumps(vacuum),
        f"{done.isoformat()} optimizer_done duration_ms={int((done - start).total_seconds() * 1000)}",
        f"Indexes Created: {created}",
        f"Queries Analyzed: {rng.randint(5_000, 60_000)}",
        f"Avg Speedup: {rng.uniform(1.0, 3.5):.2f}",
    ]
    return "\n".join(lines) + "\n"
