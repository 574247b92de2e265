"""Seeded generators of realistic report roots: the files producers write, and what each output must hold.

The content generators are pure functions of their arguments (a seeded `random.Random` included) and
the `build_*` functions only add writing the files, so a failing test reproduces exactly. Expected rows
are tuples in the output's column order and in output order (sorted by timestamp, ties in file order),
with timestamps as naive UTC and `date_partition` as the calendar date in Asia/Bangkok. For
optimization_summary rows, `metadata` is the parsed JSON (a dict).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

BANGKOK = ZoneInfo("Asia/Bangkok")
OUTPUT_DIR = "knowledge/optimize/parquet"
REPORTS = "g/reports"
OPTIMIZE = "knowledge/optimize"

QP_COLUMNS = (
    "timestamp",
    "query_hash",
    "query_type",
    "execution_time_ms",
    "rows_examined",
    "rows_returned",
    "cache_hit",
    "table_name",
    "index_used",
    "cpu_time_ms",
    "io_wait_ms",
)
REQUIRED = QP_COLUMNS[:9]
BOOLEANS = {
    "true": True,
    "false": False,
    "TRUE": True,
    "False": False,
    "1": True,
    "0": False,
    "t": True,
    "F": False,
    "yes": True,
    "No": False,
}
QUERY_TYPES = ("SELECT", "SELECT", "SELECT", "SELECT", "INSERT", "UPDATE", "DELETE")
TABLES = ("embeddings", "query_log", "users", "sessions", "ตาราง_ผู้ใช้")
INDEXES = (
    "idx_namespace",
    "PRIMARY",
    "idx_embeddings(namespace, vector)",  # a comma: quoted by the producer
    'idx "covering"',  # quotes: doubled by the producer
    "idx_multi\nline",  # a newline inside a quoted field
    "",  # no index: NULL
)

Row = tuple[Any, ...]


def utc_naive(instant: dt.datetime) -> dt.datetime:
    """An aware instant as the naive UTC value DuckDB shows for a TIMESTAMP."""
    return instant.astimezone(dt.UTC).replace(tzinfo=None)


def bangkok_date(instant: dt.datetime) -> dt.date:
    """The calendar date in Asia/Bangkok of an aware (or naive-UTC) instant."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(BANGKOK).date()


def partition(dataset: str, day: dt.date, key: str) -> str:
    """The output path (relative to the root) of `dataset` with key `key` filed under `day`'s month."""
    return f"{OUTPUT_DIR}/{dataset}/year={day.year:04d}/month={day.month:02d}/{dataset}_{key}.parquet"


def by_timestamp(rows: Sequence[Row]) -> list[Row]:
    """Rows in output order: sorted by timestamp, ties kept in file order (the exporter's stable sort)."""
    return sorted(rows, key=lambda r: r[0])


@dataclass(frozen=True)
class Dialect:
    """How a producer writes one CSV file."""

    newline: str = "\n"
    bom: bool = False
    delimiter: str = ","
    quote_all: bool = False
    columns: tuple[str, ...] = QP_COLUMNS

    def record(self, cells: Sequence[str]) -> str:
        """One CSV record (with its line terminator) in this dialect."""
        buf = io.StringIO(newline="")
        quoting = csv.QUOTE_ALL if self.quote_all else csv.QUOTE_MINIMAL
        csv.writer(buf, delimiter=self.delimiter, lineterminator=self.newline, quoting=quoting).writerow(cells)
        return buf.getvalue()

    def encode(self, text: str) -> bytes:
        return (codecs.BOM_UTF8 if self.bom else b"") + text.encode("utf-8")

    def file(self, rows: Sequence[dict[str, str]]) -> bytes:
        """The whole file: header, then each row's cells in this dialect's column order."""
        text = self.record(self.columns) + "".join(self.record([r.get(c, "") for c in self.columns]) for r in rows)
        return self.encode(text)


@dataclass(frozen=True)
class Expected:
    """One output the export must write: its dataset, source, output path and every row in output order."""

    dataset: str
    source: str
    output: str
    rows: list[Row]


@dataclass
class GeneratedRoot:
    """A generated root and the outputs an `export --historical` must produce from it."""

    root: Path
    outputs: list[Expected] = field(default_factory=list)

    def by_source(self) -> dict[str, Expected]:
        return {e.source: e for e in self.outputs}

    def write(self, relative: str, data: bytes) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path


# ------------------------------------------------------------------------------------- query_perf
def timestamp_text(rng: random.Random, instant: dt.datetime) -> tuple[str, dt.datetime]:
    """A producer's spelling of an aware instant, and the naive UTC value that spelling denotes."""
    style = rng.choice(("z", "z_ms", "bangkok_us", "naive", "minus5_ms"))
    if style in ("z", "naive"):
        instant = instant.replace(microsecond=0)
    elif style in ("z_ms", "minus5_ms"):
        instant = instant.replace(microsecond=instant.microsecond // 1000 * 1000)
    utc = instant.astimezone(dt.UTC)
    if style == "z":
        text = utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    elif style == "z_ms":
        text = utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    elif style == "bangkok_us":
        text = utc.astimezone(BANGKOK).isoformat(timespec="microseconds")
    elif style == "naive":  # naive text is read in source_timezone (default UTC)
        text = utc.replace(tzinfo=None).isoformat(sep=" ")
    else:
        text = utc.astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat(timespec="milliseconds")
    return text, utc_naive(instant)


def perf_row(rng: random.Random, instant: dt.datetime, hashes: Sequence[str]) -> tuple[dict[str, str], dict[str, Any]]:
    """One query_perf row: its CSV cells (empty = NULL) and the typed values DuckDB must show."""
    ts_text, ts = timestamp_text(rng, instant)
    examined = rng.randint(0, 200_000) if rng.random() < 0.97 else rng.randint(2**40, 2**50)
    returned = rng.randint(0, min(examined, 5_000))
    execution = round(rng.lognormvariate(3.0, 1.2), 3)
    cpu = round(execution * rng.uniform(0.1, 0.9), 3) if rng.random() < 0.9 else None
    io_wait = round(rng.uniform(0.0, 8.0), 4) if rng.random() < 0.9 else None
    spelling = rng.choice(tuple(BOOLEANS))
    index = rng.choice(INDEXES)
    cells = {
        "timestamp": ts_text,
        "query_hash": rng.choice(hashes),
        "query_type": rng.choice(QUERY_TYPES),
        "execution_time_ms": repr(execution),
        "rows_examined": str(examined),
        "rows_returned": str(returned),
        "cache_hit": spelling,
        "table_name": rng.choice(TABLES),
        "index_used": index,
        "cpu_time_ms": "" if cpu is None else repr(cpu),
        "io_wait_ms": "" if io_wait is None else repr(io_wait),
        "host": f"db-{rng.randint(1, 3)}",
    }
    typed = {
        "timestamp": ts,
        "query_hash": cells["query_hash"],
        "query_type": cells["query_type"],
        "execution_time_ms": execution,
        "rows_examined": examined,
        "rows_returned": returned,
        "cache_hit": BOOLEANS[spelling],
        "table_name": cells["table_name"],
        "index_used": index or None,
        "cpu_time_ms": cpu,
        "io_wait_ms": io_wait,
    }
    return cells, typed


def perf_expected(typed: dict[str, Any], columns: Sequence[str]) -> Row:
    """The output row of a query_perf input row, given which columns the file carried."""
    values = tuple(typed[c] if c in columns else None for c in QP_COLUMNS)
    return (*values, bangkok_date(typed["timestamp"]))


def hash_pool(rng: random.Random, n: int = 300) -> list[str]:
    return [f"{rng.getrandbits(48):012x}" for _ in range(n)]


def perf_file(
    rng: random.Random,
    start: dt.datetime,
    span: dt.timedelta,
    n: int,
    dialect: Dialect,
    hashes: Sequence[str],
    *,
    in_order: bool = False,
) -> tuple[bytes, list[Row]]:
    """A query_perf CSV of `n` rows with instants in [start, start + span), and its expected output rows."""
    seconds = span.total_seconds()
    instants = [start + dt.timedelta(seconds=rng.uniform(0, seconds)) for _ in range(n)]
    if in_order:
        instants.sort()
    cells, expected = [], []
    for instant in instants:
        row_cells, typed = perf_row(rng, instant, hashes)
        cells.append(row_cells)
        expected.append(perf_expected(typed, dialect.columns))
    return dialect.file(cells), by_timestamp(expected)


def dialects(rng: random.Random) -> list[Dialect]:
    """The CSV dialects real producers were seen writing; files cycle through them."""
    shuffled = tuple(rng.sample(QP_COLUMNS, len(QP_COLUMNS)))
    reshuffled = tuple(rng.sample(QP_COLUMNS, len(QP_COLUMNS)))
    return [
        Dialect(),  # LF, the work order's layout
        Dialect(newline="\r\n"),  # CRLF
        Dialect(bom=True),  # UTF-8 with BOM
        Dialect(newline="\r\n", bom=True, columns=shuffled),  # columns reordered
        Dialect(columns=REQUIRED),  # cpu_time_ms and io_wait_ms absent (the work order's sample)
        Dialect(quote_all=True, columns=reshuffled),  # every field quoted
        Dialect(delimiter=";", newline="\r\n"),  # semicolon-separated
        Dialect(columns=(*QP_COLUMNS, "host")),  # an extra column: left out, logged as schema.drift
    ]


# ---------------------------------------------------------------------------------- index_advisor
def advisor_report(
    rng: random.Random, ts_text: str, ts: dt.datetime, *, schema_keys: bool, n: int
) -> tuple[dict[str, Any], list[Row]]:
    """An index-advisor report document and its expected rows (`ts` is the report's naive UTC time)."""
    recommendations: list[dict[str, Any]] = []
    rows: list[Row] = []
    patterns = ("WHERE namespace = ? AND vector LIKE ?", "ORDER BY created_at DESC", "WHERE email = 'a@b.c'")
    for i in range(n):
        table = rng.choice(TABLES)
        index = f"idx_{table}_{i}" if i % 3 else f'idx "{table}" (a, b)'
        pattern = rng.choice(patterns)
        speedup: float | int | None = rng.choice((round(rng.uniform(1.1, 9.0), 2), rng.randint(2, 5), None))
        cost = round(rng.uniform(0.5, 500.0), 3) if rng.random() < 0.6 else None
        priority = rng.choice(("high", "medium", "low"))
        status = rng.choice(("pending", "applied", None))
        item: dict[str, Any] = {
            ("table_name" if schema_keys else "table"): table,
            ("recommended_index" if schema_keys else "index"): index,
            "query_pattern": pattern,
            "estimated_speedup": speedup,
            "priority": priority,
        }
        if cost is not None:
            item["estimated_cost"] = cost
        if status is not None:
            item["status"] = status
        if i == 0:
            item["notes"] = "extra key: left out"
        recommendations.append(item)
        rows.append(
            (
                ts,
                table,
                index,
                pattern,
                None if speedup is None else float(speedup),
                cost,
                priority,
                status,
                bangkok_date(ts),
            )
        )
    return {"timestamp": ts_text, "generator": "optimizer 7.7", "recommendations": recommendations}, rows


# --------------------------------------------------------------------------- optimization_summary
def summary_file(rng: random.Random, start: dt.datetime, newline: str = "\n") -> tuple[bytes, list[Row]]:
    """An optimization summary in all three line grammars (plus comments and blanks), and its rows."""
    lines = [f"# Optimizer run {start.astimezone(BANGKOK):%Y-%m-%d}", ""]
    rows: list[Row] = []

    def add(instant: dt.datetime, event: str, metric: str, value: float, metadata: dict[str, Any] | None) -> None:
        rows.append((utc_naive(instant), event, metric, value, metadata, bangkok_date(instant)))

    run_id = f"{rng.getrandbits(32):08x}"
    lines.append(f"{start.astimezone(BANGKOK).isoformat()} optimizer_start duration_ms=0 run_id={run_id}")
    add(start, "optimizer_start", "duration_ms", 0.0, {"run_id": run_id})

    t1 = start + dt.timedelta(seconds=rng.randint(5, 90), microseconds=rng.randint(0, 999) * 1000)
    speedup = round(rng.uniform(1.1, 6.0), 2)
    lines.append(
        f"{t1.astimezone(dt.UTC).isoformat(timespec='milliseconds').replace('+00:00', 'Z')} index_created"
        f' speedup={speedup} table=embeddings index="idx emb, v2"'
    )
    add(t1, "index_created", "speedup", speedup, {"table": "embeddings", "index": "idx emb, v2"})

    t2 = t1 + dt.timedelta(seconds=rng.randint(5, 90))
    pages = rng.randint(10, 100_000)
    event = {
        "timestamp": t2.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "event_type": "vacuum",
        "metric_name": "pages_freed",
        "metric_value": pages,
        "host": "db-1",
        "metadata": {"phase": 2, "note": 'ทดสอบ "quoted"'},
    }
    lines.append(json.dumps(event, ensure_ascii=False))
    add(t2, "vacuum", "pages_freed", float(pages), {"phase": 2, "note": 'ทดสอบ "quoted"', "host": "db-1"})

    lines.append("")
    created, analyzed, average = rng.randint(0, 9), rng.randint(100, 50_000), round(rng.uniform(1.0, 4.0), 2)
    lines += [f"Indexes Created: {created}", f"Queries Analyzed (total): {analyzed}", f"Avg Speedup: {average}"]
    add(t2, "summary", "indexes_created", float(created), None)
    add(t2, "summary", "queries_analyzed_total", float(analyzed), None)
    add(t2, "summary", "avg_speedup", average, None)

    t3 = (t2 + dt.timedelta(seconds=rng.randint(60, 600))).replace(microsecond=0)
    duration = rng.randint(1_000, 900_000)
    lines.append(f"{t3.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} optimizer_done duration_ms={duration}")
    add(t3, "optimizer_done", "duration_ms", float(duration), None)
    lines.append("Tables Scanned: 12")
    add(t3, "summary", "tables_scanned", 12.0, None)
    return (newline.join(lines) + newline).encode("utf-8"), by_timestamp(rows)


# ------------------------------------------------------------------------------------------- roots
def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def build_root(
    root: Path,
    *,
    seed: int = 2026,
    first: dt.date = dt.date(2025, 12, 15),
    last: dt.date = dt.date(2026, 1, 14),
    weeks: Sequence[tuple[int, int]] = ((2025, 51), (2025, 52), (2026, 1), (2026, 2)),
    rows_per_day: tuple[int, int] = (20, 40),
    optimizer_files: bool = True,
) -> GeneratedRoot:
    """A month of reports across a month, a year and an ISO-year boundary, in several CSV dialects.

    Daily rows carry UTC instants of their file's UTC day, so those after 17:00 UTC fall on the next
    Bangkok day. 2025-12-29..2026-01-04 is ISO week 2026-W01, filed under 2026/01 (its Thursday).
    """
    rng = random.Random(seed)
    gen = GeneratedRoot(root)
    for folder in (REPORTS, OPTIMIZE):
        (root / folder).mkdir(parents=True, exist_ok=True)
    hashes = hash_pool(rng)
    styles = dialects(rng)

    day, i = first, 0
    while day <= last:
        key = f"{day:%Y%m%d}"
        data, rows = perf_file(
            rng, day_start(day), dt.timedelta(days=1), rng.randint(*rows_per_day), styles[i % len(styles)], hashes
        )
        source = f"{REPORTS}/query_perf_daily_{key}.csv"
        gen.write(source, data)
        gen.outputs.append(Expected("query_perf", source, partition("query_perf", day, key), rows))
        day, i = day + dt.timedelta(days=1), i + 1

    for j, (year, week) in enumerate(weeks):
        monday = dt.date.fromisocalendar(year, week, 1)
        key = f"{year:04d}{week:02d}"
        n = rng.randint(rows_per_day[0] * 2, rows_per_day[1] * 2)
        data, rows = perf_file(rng, day_start(monday), dt.timedelta(days=7), n, styles[(j * 3) % len(styles)], hashes)
        source = f"{REPORTS}/query_perf_weekly_{key}.csv"
        gen.write(source, data)
        thursday = dt.date.fromisocalendar(year, week, 4)
        gen.outputs.append(Expected("query_perf_weekly", source, partition("query_perf_weekly", thursday, key), rows))

    if not optimizer_files:
        return gen
    # Index-advisor reports: the undated current one is dated by its timestamp in Bangkok (2026-01-15),
    # dated copies by their names; both key spellings (work order's and schema's) appear.
    advisors = [
        (None, "2026-01-14T18:30:00Z", dt.datetime(2026, 1, 14, 18, 30), False, False),
        ("20251215", "2025-12-15T04:00:00+07:00", dt.datetime(2025, 12, 14, 21, 0), True, True),
        ("20251231", "2025-12-31T04:00:00.250+07:00", dt.datetime(2025, 12, 30, 21, 0, 0, 250_000), False, False),
        ("20260101", "2025-12-31T21:00:00Z", dt.datetime(2025, 12, 31, 21, 0), True, False),
    ]
    for name_key, ts_text, ts, schema_keys, bom in advisors:
        if name_key is not None and name_key > f"{last:%Y%m%d}":
            continue
        document, rows = advisor_report(rng, ts_text, ts, schema_keys=schema_keys, n=rng.randint(3, 6))
        text = json.dumps(document, indent=2, ensure_ascii=False)
        if bom:
            text = "\ufeff" + text.replace("\n", "\r\n")
        name = f"index_advisor_report_{name_key}.json" if name_key else "index_advisor_report.json"
        key = name_key or f"{bangkok_date(ts):%Y%m%d}"
        source = f"{OPTIMIZE}/{name}"
        gen.write(source, text.encode("utf-8"))
        key_day = dt.date(int(key[:4]), int(key[4:6]), int(key[6:]))
        gen.outputs.append(
            Expected("index_advisor", source, partition("index_advisor", key_day, key), by_timestamp(rows))
        )

    summaries = [
        (None, dt.datetime(2026, 1, 14, 21, 5, tzinfo=dt.UTC), "\n"),
        ("20251231", dt.datetime(2025, 12, 30, 21, 0, tzinfo=dt.UTC), "\r\n"),
        ("20260101", dt.datetime(2025, 12, 31, 21, 0, tzinfo=dt.UTC), "\n"),
    ]
    for name_key, start, newline in summaries:
        data, rows = summary_file(rng, start, newline)
        name = f"optimization_summary_{name_key}.txt" if name_key else "optimization_summary.txt"
        key = name_key or f"{bangkok_date(start):%Y%m%d}"
        source = f"{OPTIMIZE}/{name}"
        gen.write(source, data)
        key_day = dt.date(int(key[:4]), int(key[4:6]), int(key[6:]))
        gen.outputs.append(
            Expected("optimization_summary", source, partition("optimization_summary", key_day, key), rows)
        )
    return gen


def big_daily(rng: random.Random, day: dt.date, n: int) -> bytes:
    """A realistic large daily CSV: the work order's layout, one timestamp style, rows in time order."""
    hashes = hash_pool(rng, 400)
    lines = [",".join(QP_COLUMNS)]
    start = day_start(day)
    instants = sorted(start + dt.timedelta(seconds=rng.uniform(0, 86_400)) for _ in range(n))
    for instant in instants:
        cells, _ = perf_row(rng, instant, hashes)
        cells["timestamp"] = instant.strftime("%Y-%m-%dT%H:%M:%SZ")
        cells["cache_hit"] = "true" if cells["cache_hit"] in ("true", "TRUE", "1", "t", "yes") else "false"
        cells["index_used"] = cells["index_used"].replace("\n", " ").replace('"', "")
        lines.append(Dialect().record([cells[c] for c in QP_COLUMNS]).rstrip("\n"))
    return ("\n".join(lines) + "\n").encode("utf-8")


# ---------------------------------------------------------------------------------------- hostile
@dataclass(frozen=True)
class Reject:
    """One rejected record: its 1-based start line, its raw text, and a fragment its reason must contain."""

    line: int
    raw: str
    reason: str


@dataclass
class HostileRoot:
    """A root of good and hostile files, and how each must end."""

    generated: GeneratedRoot
    failures: dict[str, str] = field(default_factory=dict)  # source -> fragment its error must contain
    rejects: dict[str, tuple[str, list[Reject]]] = field(default_factory=dict)  # source -> (rejects path, rows)
    ignored: list[str] = field(default_factory=list)


def build_hostile(root: Path, seed: int = 7) -> HostileRoot:
    """Good files next to an impossible date, a missing column, mostly-bad rows, a few bad rows, and junk."""
    rng = random.Random(seed)
    first, last = dt.date(2025, 12, 18), dt.date(2025, 12, 19)
    hostile = HostileRoot(build_root(root, seed=seed, first=first, last=last, weeks=(), optimizer_files=False))
    gen = hostile.generated
    hashes = hash_pool(rng, 20)
    plain = Dialect()

    # A few bad rows among good ones: the good rows are written, the bad ones go to the rejects dataset.
    key = "20251220"
    source = f"{REPORTS}/query_perf_daily_{key}.csv"
    text = plain.record(QP_COLUMNS)
    good: list[Row] = []
    bad_records = [
        ("2025-12-20T03:00:00Z,abc123,SELECT,fast,10,1,true,users,PRIMARY,1.0,0.5", "execution_time_ms"),
        ("2025-12-20T04:00:00Z,abc123,SELECT,1.5,10,1,maybe,users,PRIMARY,1.0,0.5", "cache_hit"),
        ("2025-12-20T25:61:00Z,abc123,SELECT,1.5,10,1,true,users,PRIMARY,1.0,0.5", "timestamp"),
        ("2025-12-20T05:00:00Z,abc123,SELECT,1.5", "expected 11 fields, found 4"),
        (",abc123,SELECT,1.5,10,1,true,users,PRIMARY,1.0,0.5", "timestamp"),
        ("2025-12-20T06:00:00Z,abc123,SELECT,1.5,12.5,1,true,users,PRIMARY,1.0,0.5", "rows_examined"),
        ('2025-12-20T07:00:00Z,"two\nlines",SELECT', "expected 11 fields, found 3"),
    ]
    rejected: list[Reject] = []
    for i in range(20):
        cells, typed = perf_row(rng, day_start(dt.date(2025, 12, 20)) + dt.timedelta(minutes=37 * i), hashes)
        cells["index_used"] = "idx_multi\nline" if i % 5 == 0 else cells["index_used"]
        typed["index_used"] = cells["index_used"] or None
        text += plain.record([cells[c] for c in QP_COLUMNS])
        good.append(perf_expected(typed, QP_COLUMNS))
        if i % 3 == 1 and bad_records:
            raw, reason = bad_records.pop(0)
            rejected.append(Reject(text.count("\n") + 1, raw, reason))
            text += raw + "\n"
    assert not bad_records
    gen.write(source, text.encode("utf-8"))
    day = dt.date(2025, 12, 20)
    gen.outputs.append(Expected("query_perf", source, partition("query_perf", day, key), by_timestamp(good)))
    rejects_path = f"{OUTPUT_DIR}/_rejects/query_perf/year=2025/month=12/query_perf_{key}_rejects.parquet"
    hostile.rejects[source] = (rejects_path, rejected)

    # More than half the rows bad: the file fails and writes nothing.
    mostly_bad = [
        "2025-12-21T01:00:00Z,h1,SELECT,1.0,1,1,true,users,PRIMARY,0.1,0.1",
        "2025-12-21T02:00:00Z,h2,SELECT,slow,1,1,true,users,PRIMARY,0.1,0.1",
        "2025-12-21T03:00:00Z,h3,SELECT,2.0,1,1,perhaps,users,PRIMARY,0.1,0.1",
        "not a timestamp,h4,SELECT,2.0,1,1,true,users,PRIMARY,0.1,0.1",
        "2025-12-21T05:00:00Z,h5,SELECT,2.0,1,1,true,users,PRIMARY,0.1,0.1",
    ]
    source = f"{REPORTS}/query_perf_daily_20251221.csv"
    gen.write(source, "\n".join([",".join(QP_COLUMNS), *mostly_bad, ""]).encode())
    hostile.failures[source] = "3 of 5 rows rejected"

    # A required column missing: the file fails, naming it.
    header = [c for c in QP_COLUMNS if c != "rows_examined"]
    source = f"{REPORTS}/query_perf_daily_20251222.csv"
    gen.write(
        source, ",".join(header).encode() + b"\n2025-12-22T01:00:00Z,h1,SELECT,1.0,1,true,users,PRIMARY,0.1,0.1\n"
    )
    hostile.failures[source] = "rows_examined"

    # A duplicated column: the file fails, naming it.
    source = f"{REPORTS}/query_perf_daily_20251224.csv"
    gen.write(source, (",".join((*QP_COLUMNS, "Cache_Hit")) + "\n").encode())
    hostile.failures[source] = "'cache_hit'"

    # An impossible date in the name: a failed input, never a partition (month=13).
    source = f"{REPORTS}/query_perf_daily_20251301.csv"
    gen.write(source, perf_file(rng, day_start(dt.date(2025, 12, 31)), dt.timedelta(days=1), 3, plain, hashes)[0])
    hostile.failures[source] = "20251301"

    # An impossible ISO week in the name (2025 has 52 weeks).
    source = f"{REPORTS}/query_perf_weekly_202553.csv"
    gen.write(source, perf_file(rng, day_start(dt.date(2025, 12, 29)), dt.timedelta(days=7), 3, plain, hashes)[0])
    hostile.failures[source] = "202553"

    # A truncated JSON report.
    source = f"{OPTIMIZE}/index_advisor_report_20251223.json"
    gen.write(source, b'{"timestamp": "2025-12-23T04:00:00Z", "recommendations": [{"table": "users", "ind')
    hostile.failures[source] = "invalid JSON"

    # Temporary, editor and backup files: ignored silently.
    junk = [
        f"{REPORTS}/.DS_Store",
        f"{REPORTS}/query_perf_daily_20251028.csv.swp",
        f"{REPORTS}/~lock",
        f"{REPORTS}/.~lock.query_perf_daily_20251219.csv#",
        f"{REPORTS}/query_perf_daily_20251219.csv~",
        f"{REPORTS}/query_perf_daily_20251219.CSV",
        f"{OPTIMIZE}/.DS_Store",
        f"{OPTIMIZE}/~$index_advisor_report.json",
        f"{OPTIMIZE}/index_advisor_report.json.bak",
    ]
    for name in junk:
        gen.write(name, b"\x00\x01 not a report \xff")
    hostile.ignored = junk
    return hostile
