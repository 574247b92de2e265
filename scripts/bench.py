"""The benchmark of issue 5: parquet-exporter against DuckDB's COPY, plain polars and pyarrow, plus the daemon.

Run it through `scripts/bench` (which syncs the locked environment first); `scripts/bench --help` lists the
options and the README's "Benchmarks" section says what each figure means. Everything runs on data this
script generates (seeded, so the same options give the same bytes) in a temporary folder that is removed at
the end, and every process it starts is stopped before it exits. Nothing here touches the network.

Conversions are timed as whole processes (start to exit), peak RSS is the child's `ru_maxrss` from
`os.wait4`, and each figure is the median of `--repeat` runs taken in rotating order after `--warmup`
untimed runs, all on the same input file (read once beforehand, so every tool reads it from the page cache).
The product is only ever run through its command line (`parquet-exporter`), never imported.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import io
import json
import math
import os
import platform
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import polars as pl

from daemon.analytics import views as duck
from daemon.specs import QUERY_PERF

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_JSON = PROJECT_DIR / "bench-results" / "latest.json"
SECTIONS = ("convert", "freshness", "idle", "sweep", "query", "historical")
TOOLS = ("parquet-exporter", "duckdb", "polars", "pyarrow")
MIB = 1024 * 1024

DEFAULTS: dict[str, Any] = {
    "rows": [1_000_000],
    "repeat": 3,
    "warmup": 1,
    "settle_seconds": 1.0,
    "fresh_files": 50,
    "fresh_rows": 2_000,
    "idle_seconds": 60.0,
    "sweep_sizes": [1_000, 10_000],
    "query_files": 30,
    "query_rows": 100_000,
    "query_runs": 10,
    "history_days": 365,
    "history_rows": 2_000,
}
# --quick: every section and every figure, on sizes that finish in seconds (a smoke run; not for numbers).
QUICK: dict[str, Any] = {
    "rows": [20_000],
    "repeat": 1,
    "warmup": 0,
    "settle_seconds": 0.3,
    "fresh_files": 3,
    "fresh_rows": 200,
    "idle_seconds": 1.0,
    "sweep_sizes": [10, 20],
    "query_files": 3,
    "query_rows": 1_000,
    "query_runs": 3,
    "history_days": 5,
    "history_rows": 200,
}

# The goals of issue 5, checked against the figures of the same run.
GOAL_WALL_VS_DUCKDB = 0.80
GOAL_BYTES_VS_DUCKDB = 1.00
GOAL_PEAK_RSS_MIB = 512
GOAL_FRESHNESS_SLACK_S = 0.25
GOAL_IDLE_CPU_PERCENT = 0.5
GOAL_IDLE_RSS_MIB = 150
GOAL_SWEEP_INPUTS, GOAL_SWEEP_S = 10_000, 2.0
GOAL_QUERY_FILES, GOAL_QUERY_ROWS, GOAL_QUERY_MS = 30, 100_000, 50.0
GOAL_HISTORY_DAYS, GOAL_HISTORY_S = 365, 10.0

CONVERT_DAY = dt.date(2025, 10, 28)
FRESH_FIRST_DAY = dt.date(2024, 1, 1)
HISTORY_FIRST_DAY = dt.date(2023, 1, 1)
QUERY_FIRST_DAY = dt.date(2025, 9, 1)
SWEEP_FIRST_DAY = dt.date(1990, 1, 1)

REPORTS = Path("g/reports")
LOG = Path("g/logs/parquet_export.log")
OUTPUT = Path("knowledge/optimize/parquet")

# The anchors: what a user who does not install us would run, each as a separate `python -c` process that
# imports only its own library. argv: source CSV, destination Parquet.
ANCHORS = {
    "duckdb": (
        "import sys, duckdb\n"
        'src, dst = (p.replace("\'", "\'\'") for p in sys.argv[1:3])\n'
        "duckdb.sql(f\"COPY (SELECT * FROM read_csv('{src}')) TO '{dst}' (FORMAT parquet, COMPRESSION zstd)\")\n"
    ),
    "polars": ("import sys, polars as pl\npl.scan_csv(sys.argv[1]).sink_parquet(sys.argv[2], compression='zstd')\n"),
    "pyarrow": (
        "import sys, pyarrow.csv as pacsv, pyarrow.parquet as pq\n"
        "pq.write_table(pacsv.read_csv(sys.argv[1]), sys.argv[2], compression='zstd')\n"
    ),
}

# The work order's validation query, over the view `config/views.sql` defines.
VIEW_SQL = (
    "CREATE OR REPLACE VIEW query_performance AS SELECT * FROM read_parquet({glob}, "
    "hive_partitioning = false, union_by_name = true)"
)
VALIDATION_QUERY = duck.VALIDATION_QUERY  # the same text `validate` runs


# ------------------------------------------------------------------------------------------ data
# Realistic query_perf daily CSVs with the distribution of tests/gen.py's `big_daily` (the work order's
# layout, one timestamp style, rows in time order), generated column-wise by polars so 5M rows take seconds.
# Randomness is a counter-based generator (splitmix64 of the row number and a per-column stream), so a row's
# values depend only on the seed and its row number: the same options give the same bytes, in any chunking.
COLUMNS = tuple(c.name for c in QUERY_PERF.input_columns)  # the CSV header, in schema order
QUERY_TYPES = ("SELECT", "SELECT", "SELECT", "SELECT", "INSERT", "UPDATE", "DELETE")
TABLES = ("embeddings", "query_log", "users", "sessions", "ตาราง_ผู้ใช้")
INDEXES = ("idx_namespace", "PRIMARY", "idx_embeddings(namespace, vector)", "idx covering", "idx_multi line", None)
HASH_POOL = 400
CHUNK_ROWS = 1_000_000
_M64 = 2**64
_GAMMA = 0x9E3779B97F4A7C15


def _u64(value: int) -> pl.Expr:
    return pl.lit(value % _M64, dtype=pl.UInt64)


def _mix(x: pl.Expr) -> pl.Expr:
    """splitmix64's finaliser on a UInt64 expression (polars integer arithmetic wraps)."""
    x = x.xor(x // 2**30) * _u64(0xBF58476D1CE4E5B9)
    x = x.xor(x // 2**27) * _u64(0x94D049BB133111EB)
    return x.xor(x // 2**31)


def _stream(seed: int, column: int) -> pl.Expr:
    """A uniform UInt64 per row of `pl.col("i")` (the row number), independent for each `column`."""
    base = (seed * 1_000_003 + column * 7_919 + 1) * _GAMMA
    return _mix(pl.col("i") * _u64(_GAMMA) + _u64(base))


def _unit(seed: int, column: int) -> pl.Expr:
    """Uniform in [0, 1)."""
    return (_stream(seed, column) // 2**11).cast(pl.Float64) / float(2**53)


def _pick(seed: int, column: int, pool: Sequence[str | None]) -> pl.Expr:
    return pl.lit(pl.Series(list(pool), dtype=pl.String)).gather(_stream(seed, column) % len(pool))


def _rows(seed: int, start: int, stop: int, day: dt.date, seconds: pl.Series, hashes: list[str]) -> pl.DataFrame:
    """Rows start..stop-1 of a day's file; `seconds` are their (sorted) offsets into the UTC day."""
    normal = (-2.0 * (1.0 - _unit(seed, 1)).log()).sqrt() * (2 * math.pi * _unit(seed, 2)).cos()
    execution = (3.0 + 1.2 * normal).exp().round(3)  # lognormal(3.0, 1.2), as tests/gen.py
    examined = (
        pl.when(_unit(seed, 3) < 0.97)
        .then(_stream(seed, 4) % 200_001)
        .otherwise(_stream(seed, 4) % (2**50 - 2**40 + 1) + 2**40)
        .cast(pl.Int64)
    )
    returned = (_stream(seed, 5) % (pl.min_horizontal(pl.col("rows_examined"), 5_000) + 1).cast(pl.UInt64)).cast(
        pl.Int64
    )
    midnight = dt.datetime.combine(day, dt.time())
    return (
        pl.select(i=pl.int_range(start, stop, dtype=pl.UInt64))
        .with_columns(execution_time_ms=execution, rows_examined=examined)
        .select(
            (pl.lit(midnight) + pl.duration(seconds=pl.lit(seconds)))
            .dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            .alias("timestamp"),
            _pick(seed, 10, hashes).alias("query_hash"),
            _pick(seed, 11, QUERY_TYPES).alias("query_type"),
            "execution_time_ms",
            "rows_examined",
            returned.alias("rows_returned"),
            pl.when(_unit(seed, 12) < 0.5).then(pl.lit("true")).otherwise(pl.lit("false")).alias("cache_hit"),
            _pick(seed, 13, TABLES).alias("table_name"),
            _pick(seed, 14, INDEXES).alias("index_used"),
            pl.when(_unit(seed, 6) < 0.9)
            .then((pl.col("execution_time_ms") * (0.1 + 0.8 * _unit(seed, 7))).round(3))
            .alias("cpu_time_ms"),
            pl.when(_unit(seed, 8) < 0.9).then((8.0 * _unit(seed, 9)).round(4)).alias("io_wait_ms"),
        )
    )


def write_daily_csv(out: IO[bytes], rows: int, day: dt.date, seed: int) -> None:
    """Write a daily query_perf CSV of `rows` rows for `day` to `out` (header first, rows in time order)."""
    rng = random.Random(seed)
    hashes = [f"{rng.getrandbits(48):012x}" for _ in range(HASH_POOL)]
    seconds = pl.select(i=pl.int_range(rows, dtype=pl.UInt64)).select(_stream(seed, 0) % 86_400)["i"].sort()
    seconds = seconds.cast(pl.Int64)
    if rows == 0:
        out.write((",".join(COLUMNS) + "\n").encode())
    for start in range(0, rows, CHUNK_ROWS):
        stop = min(rows, start + CHUNK_ROWS)
        chunk = _rows(seed, start, stop, day, seconds.slice(start, stop - start), hashes)
        chunk.write_csv(out, include_header=start == 0)


def daily_csv(rows: int, day: dt.date, seed: int) -> bytes:
    """A daily query_perf CSV as bytes (small files)."""
    buf = io.BytesIO()
    write_daily_csv(buf, rows, day, seed)
    return buf.getvalue()


def file_seed(seed: int, day: dt.date) -> int:
    return seed * 1_000_003 + day.toordinal()


def daily_name(day: dt.date) -> str:
    return f"query_perf_daily_{day:%Y%m%d}.csv"


def daily_output(root: Path, day: dt.date) -> Path:
    """Where the product publishes a daily file's Parquet (README: inputs and outputs)."""
    return root / OUTPUT / "query_perf" / f"year={day:%Y}" / f"month={day:%m}" / f"query_perf_{day:%Y%m%d}.parquet"


def tiny_csv(day: dt.date) -> bytes:
    """A one-row daily file: the sweep measures stat calls, not conversions, so its inputs are cheap to build."""
    row = f"{day.isoformat()}T12:00:00Z,0a1b2c3d4e5f,SELECT,1.5,10,1,true,users,PRIMARY,1.0,0.5"
    return (",".join(COLUMNS) + "\n" + row + "\n").encode()


def new_root(path: Path) -> Path:
    (path / REPORTS).mkdir(parents=True, exist_ok=True)
    (path / "knowledge" / "optimize").mkdir(parents=True, exist_ok=True)
    return path


def write_days(root: Path, first: dt.date, days: int, rows: int, seed: int) -> int:
    """`days` daily files of `rows` rows from `first` on; returns their total bytes."""
    total = 0
    for n in range(days):
        day = first + dt.timedelta(days=n)
        data = daily_csv(rows, day, file_seed(seed, day))
        (root / REPORTS / daily_name(day)).write_bytes(data)
        total += len(data)
    return total


# ------------------------------------------------------------------------------------- processes
@dataclass
class Run:
    """One finished process: wall seconds, its peak RSS as the OS accounted it, exit code."""

    wall_s: float
    peak_rss_mib: float
    user_s: float
    sys_s: float
    exit_code: int
    stderr_tail: str = ""


def _maxrss_mib(ru_maxrss: int) -> float:
    # Linux reports KiB, macOS bytes.
    return ru_maxrss / MIB if sys.platform == "darwin" else ru_maxrss / 1024


# Timed commands are started by this small launcher, not by the benchmark itself: a process's ru_maxrss is at
# least the peak RSS of the memory it was forked from (the kernel records the old address space's high-water
# mark at exec), so a child of this process, which holds generated data and DuckDB, would inherit its peak.
# The launcher (python -S, a few MiB) spawns the command, waits for it and writes its wall time and rusage.
LAUNCHER = """
import json, os, sys, time
result, argv = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(result, "w") as fh:
    json.dump({"wall_s": wall, "maxrss": usage.ru_maxrss, "user_s": usage.ru_utime, "sys_s": usage.ru_stime,
               "exit_code": os.waitstatus_to_exitcode(status)}, fh)
"""


class Children:
    """Every process the benchmark starts; `stop_all()` (always called on the way out) leaves none running."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[tuple[subprocess.Popen[bytes], bool]] = []

    def popen(
        self, argv: Sequence[str], *, name: str, env: dict[str, str], group: bool = False
    ) -> tuple[subprocess.Popen[bytes], Path]:
        """Start `argv` with stdout and stderr to files under the log folder; returns (process, stderr path).

        With `group`, the process leads a new process group, which `stop_all` kills as a whole.
        """
        self.logs.mkdir(parents=True, exist_ok=True)
        out, err = self.logs / f"{name}.stdout", self.logs / f"{name}.stderr"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                list(argv),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                process_group=0 if group else None,
            )
        self.started.append((proc, group))
        return proc, err

    def run(self, argv: Sequence[str], *, name: str, env: dict[str, str]) -> Run:
        """Run `argv` (absolute path first) to completion: wall time from spawn to exit, rusage from wait4."""
        result = self.logs / f"{name}.rusage.json"
        proc, err = self.popen(
            [sys.executable, "-S", "-c", LAUNCHER, str(result), *argv], name=name, env=env, group=True
        )
        proc.wait()
        try:
            facts = json.loads(result.read_text())
        except (OSError, ValueError):
            return Run(0.0, 0.0, 0.0, 0.0, 127, err.read_text(errors="replace")[-2000:] or "launcher failed")
        tail = "" if facts["exit_code"] == 0 else err.read_text(errors="replace")[-2000:]
        peak = _maxrss_mib(facts["maxrss"])
        return Run(facts["wall_s"], peak, facts["user_s"], facts["sys_s"], facts["exit_code"], tail)

    def stop_all(self) -> None:
        for proc, group in self.started:
            if proc.poll() is None:
                if group:
                    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the command it started
                else:
                    proc.kill()
                proc.wait(10)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without PARQUET_EXPORTER_* settings (so defaults apply), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARQUET_EXPORTER_")}
    env.update(extra or {})
    return env


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..100): the smallest value with at least p% of values at or below it."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    return int(pq.read_metadata(path).num_rows)


def log_records(root: Path) -> list[dict[str, Any]]:
    """The product's JSON log lines (current file only), skipping any line that is not a JSON object."""
    path = root / LOG
    records = []
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    records.append(record)
    return records


# ----------------------------------------------------------------------------------------- bench
@dataclass
class Options:
    rows: list[int]
    repeat: int
    warmup: int
    seed: int
    settle_seconds: float
    fresh_files: int
    fresh_rows: int
    idle_seconds: float
    sweep_sizes: list[int]
    query_files: int
    query_rows: int
    query_runs: int
    history_days: int
    history_rows: int
    sections: tuple[str, ...]
    exporter: Path
    json_out: Path
    workdir: Path | None
    keep: bool
    quick: bool


@dataclass
class Bench:
    """One benchmark run: options, where its data lives, its processes, and what it found."""

    opts: Options
    work: Path
    children: Children
    problems: list[str] = field(default_factory=list)
    say: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)
    _history_root: Path | None = None

    def cli(self, *args: str) -> list[str]:
        return [str(self.opts.exporter.absolute()), *args]

    def problem(self, text: str) -> None:
        self.problems.append(text)
        self.say(f"!! {text}")

    def check(self, run: Run, what: str) -> bool:
        if run.exit_code != 0:
            last = run.stderr_tail.strip().splitlines()[-1:] or ["(no stderr)"]
            self.problem(f"{what} exited {run.exit_code}: {last[0]}")
            return False
        return True

    # conversion ----------------------------------------------------------------------------------
    def convert(self, rows: int) -> dict[str, Any]:
        """The four tools on one generated daily CSV of `rows` rows, timed as whole processes."""
        opts = self.opts
        folder = self.work / f"convert-{rows}"
        root = new_root(folder / "root")
        source = root / REPORTS / daily_name(CONVERT_DAY)
        self.say(f"== convert: generating {rows:,} rows")
        with source.open("wb") as fh:
            write_daily_csv(fh, rows, CONVERT_DAY, file_seed(opts.seed, CONVERT_DAY))
        csv_bytes = source.stat().st_size
        with source.open("rb") as fh:  # into the page cache, so no tool pays for the first read
            while fh.read(8 * MIB):
                pass
        outputs = {
            "parquet-exporter": daily_output(root, CONVERT_DAY),
            **{tool: folder / f"{tool}.parquet" for tool in ANCHORS},
        }
        commands = {
            "parquet-exporter": self.cli("export", "--root", str(root), "--date", CONVERT_DAY.isoformat(), "--force"),
            **{tool: [sys.executable, "-c", code, str(source), str(outputs[tool])] for tool, code in ANCHORS.items()},
        }
        runs: dict[str, list[Run]] = {tool: [] for tool in TOOLS}
        total = opts.warmup + opts.repeat
        for n in range(total):
            order = TOOLS[n % len(TOOLS) :] + TOOLS[: n % len(TOOLS)]
            for tool in order:
                outputs[tool].unlink(missing_ok=True)
                label = "warm-up" if n < opts.warmup else f"run {n - opts.warmup + 1}/{opts.repeat}"
                run = self.children.run(commands[tool], name=f"convert-{rows}-{tool}-{n}", env=clean_env())
                self.say(f"   {tool:<16} {label:<9} {run.wall_s:7.2f} s {run.peak_rss_mib:7.0f} MiB")
                if self.check(run, f"{tool} converting {rows:,} rows") and n >= opts.warmup:
                    runs[tool].append(run)
        results: dict[str, Any] = {}
        for tool in TOOLS:
            if not runs[tool] or not outputs[tool].exists():
                results[tool] = None
                continue
            walls = [r.wall_s for r in runs[tool]]
            rss = [r.peak_rss_mib for r in runs[tool]]
            out_bytes = outputs[tool].stat().st_size
            rows_out = parquet_rows(outputs[tool])
            if rows_out != rows:
                self.problem(f"{tool} wrote {rows_out:,} rows of {rows:,}")
            results[tool] = {
                "wall_s": median(walls),
                "walls_s": walls,
                "rows_per_s": rows / median(walls),
                "peak_rss_mib": median(rss),
                "peak_rss_mib_max": max(rss),
                "peak_rss_mibs": rss,
                "cpu_s": median([r.user_s + r.sys_s for r in runs[tool]]),
                "output_bytes": out_bytes,
                "rows_out": rows_out,
                "reduction_pct": 100 * (1 - out_bytes / csv_bytes),
            }
        duck = results.get("duckdb")
        for result in results.values():
            if result is not None and duck is not None:
                result["wall_vs_duckdb"] = result["wall_s"] / duck["wall_s"]
                result["bytes_vs_duckdb"] = result["output_bytes"] / duck["output_bytes"]
                result["rss_vs_duckdb"] = result["peak_rss_mib"] / duck["peak_rss_mib"]
        shutil.rmtree(folder, ignore_errors=True)
        return {
            "rows": rows,
            "csv_bytes": csv_bytes,
            "commands": {"parquet-exporter": "parquet-exporter " + shlex.join(commands["parquet-exporter"][1:])}
            | {tool: code for tool, code in ANCHORS.items()},
            "tools": results,
        }

    # the daemon: freshness, then idle ----------------------------------------------------------------
    def daemon(self, freshness: bool, idle: bool) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Start the real daemon, write daily files one at a time (freshness), then watch it idle."""
        opts = self.opts
        root = new_root(self.work / "daemon")
        env = clean_env({"PARQUET_EXPORTER_SETTLE_SECONDS": str(opts.settle_seconds)})
        files = opts.fresh_files if freshness else 0
        payloads = []
        for n in range(files):
            day = FRESH_FIRST_DAY + dt.timedelta(days=n)
            payloads.append((day, daily_csv(opts.fresh_rows, day, file_seed(opts.seed, day))))
        self.say(f"== daemon: starting (settle_seconds={opts.settle_seconds:g})")
        proc, err = self.children.popen(self.cli("run", "--root", str(root)), name="daemon", env=env)
        fresh: dict[str, Any] | None = None
        quiet: dict[str, Any] | None = None
        try:
            if not self._wait_started(root, proc, err):
                return None, None
            if freshness:
                fresh = self._freshness(root, proc, payloads)
            if idle:
                time.sleep(2.0)  # let the last conversion's bookkeeping finish before the window opens
                quiet = self._idle(proc.pid)
        finally:
            if proc.poll() is None:
                started = time.perf_counter()
                proc.send_signal(signal.SIGTERM)
                try:
                    code = proc.wait(30)
                except subprocess.TimeoutExpired:
                    self.problem("the daemon did not stop within 30 s of SIGTERM")
                    proc.kill()
                    code = proc.wait(10)
                stopped_in = time.perf_counter() - started
                if code != 0:
                    self.problem(f"the daemon exited {code} on SIGTERM: {err.read_text(errors='replace')[-500:]}")
                if quiet is not None:
                    quiet["stop_s"] = stopped_in
        return fresh, quiet

    def _wait_started(self, root: Path, proc: Any, err: Path, timeout: float = 60) -> bool:
        """Wait for this daemon's `daemon.started` and then its start-up `sweep.finished` (it watches by then)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                self.problem(f"the daemon exited {proc.returncode} at start: {err.read_text(errors='replace')[-500:]}")
                return False
            mine = False
            for record in log_records(root):
                if record.get("event") == "daemon.started":
                    mine = record.get("pid") == proc.pid
                elif mine and record.get("event") == "sweep.finished":
                    return True
            time.sleep(0.05)
        self.problem(f"the daemon did not finish its start-up sweep within {timeout:g} s")
        return False

    def _freshness(self, root: Path, proc: Any, payloads: list[tuple[dt.date, bytes]]) -> dict[str, Any]:
        """From each writer's last byte to its Parquet being readable, one daily file at a time."""
        opts = self.opts
        latencies: list[float] = []
        for day, data in payloads:
            target = root / REPORTS / daily_name(day)
            output = daily_output(root, day)
            with target.open("wb", buffering=0) as fh:
                half = len(data) // 2
                fh.write(data[:half])
                fh.write(data[half:])
                last_byte = time.perf_counter()
            deadline = last_byte + opts.settle_seconds + 60
            seen: float | None = None
            while seen is None:
                if output.exists():
                    with contextlib.suppress(Exception):  # not readable (yet): keep polling
                        if parquet_rows(output) == opts.fresh_rows:
                            seen = time.perf_counter()
                            break
                if proc.poll() is not None or time.perf_counter() > deadline:
                    break
                time.sleep(0.005)
            if seen is None:
                self.problem(f"{target.name}: no readable Parquet within {opts.settle_seconds + 60:g} s")
                break
            latencies.append(seen - last_byte)
            self.say(f"   {target.name}: {latencies[-1]:.3f} s")
            time.sleep(0.2)  # files arrive apart, not in a burst
        result: dict[str, Any] = {
            "files": len(payloads),
            "rows_per_file": opts.fresh_rows,
            "bytes_per_file": len(payloads[0][1]) if payloads else 0,
            "settle_seconds": opts.settle_seconds,
            "latencies_s": latencies,
        }
        if latencies:
            result |= {
                "p50_s": percentile(latencies, 50),
                "p95_s": percentile(latencies, 95),
                "max_s": max(latencies),
                "over_settle_p95_s": percentile(latencies, 95) - opts.settle_seconds,
            }
        return result

    def _idle(self, pid: int) -> dict[str, Any] | None:
        """CPU% (utime+stime over the window, of one core) and RSS of the idle daemon, from /proc."""
        opts = self.opts
        proc_dir = Path(f"/proc/{pid}")
        if not proc_dir.exists():
            self.problem("idle: no /proc on this system (Linux only); not measured")
            return None
        self.say(f"== idle: watching pid {pid} for {opts.idle_seconds:g} s")
        ticks = os.sysconf("SC_CLK_TCK")

        def cpu_seconds() -> float:
            stat = (proc_dir / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()  # fields 3.. of proc(5); utime and stime are 14, 15
            return (int(fields[11]) + int(fields[12])) / ticks

        def status(key: str) -> float:
            for line in (proc_dir / "status").read_text().splitlines():
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024  # kB -> MiB
            raise KeyError(key)

        started, cpu0 = time.perf_counter(), cpu_seconds()
        rss = [status("VmRSS")]
        end = started + opts.idle_seconds
        while (now := time.perf_counter()) < end:
            time.sleep(min(1.0, end - now))
            rss.append(status("VmRSS"))
        window = time.perf_counter() - started
        cpu = cpu_seconds() - cpu0
        return {
            "pid": pid,
            "window_s": window,
            "cpu_s": cpu,
            "cpu_percent": 100 * cpu / window,
            "rss_mib_max": max(rss),
            "rss_mib_mean": statistics.fmean(rss),
            "rss_mib_end": rss[-1],
            "peak_rss_mib_lifetime": status("VmHWM"),
        }

    # sweep -------------------------------------------------------------------------------------
    def sweep(self) -> list[dict[str, Any]]:
        """`run --once` over N unchanged inputs: the first run converts them, the timed runs find them unchanged."""
        opts = self.opts
        root = new_root(self.work / "sweep")
        results = []
        made = 0
        for size in sorted(set(opts.sweep_sizes)):
            while made < size:
                day = SWEEP_FIRST_DAY + dt.timedelta(days=made)
                (root / REPORTS / daily_name(day)).write_bytes(tiny_csv(day))
                made += 1
            self.say(f"== sweep: building outputs for {size:,} inputs")
            build = self.children.run(
                self.cli("run", "--once", "--root", str(root)), name=f"sweep-build-{size}", env=clean_env()
            )
            if not self.check(build, f"run --once building {size:,} outputs"):
                continue
            runs, seconds = [], []
            for n in range(opts.repeat):
                run = self.children.run(
                    self.cli("run", "--once", "--root", str(root)), name=f"sweep-{size}-{n}", env=clean_env()
                )
                if not self.check(run, f"run --once over {size:,} unchanged inputs"):
                    continue
                finished = [r for r in log_records(root) if r.get("event") == "sweep.finished"]
                last = finished[-1] if finished else {}
                if last.get("inputs") != size or last.get("unchanged") != size:
                    self.problem(f"sweep over {size:,} inputs logged {last or 'nothing'}")
                    continue
                runs.append(run)
                seconds.append(float(last["seconds"]))
                self.say(f"   run {n + 1}/{opts.repeat}: sweep {seconds[-1]:.3f} s, process {run.wall_s:.2f} s")
            if not runs:
                continue
            results.append(
                {
                    "inputs": size,
                    "build_wall_s": build.wall_s,
                    "sweep_s": median(seconds),
                    "sweeps_s": seconds,
                    "wall_s": median([r.wall_s for r in runs]),
                    "per_input_us": median(seconds) / size * 1e6,
                    "peak_rss_mib": median([r.peak_rss_mib for r in runs]),
                }
            )
        return results

    # historical and query ----------------------------------------------------------------------
    def history_root(self) -> Path | None:
        """A root of `history_days` daily files, exported once (shared by `historical` and the long query)."""
        if self._history_root is None:
            opts = self.opts
            root = new_root(self.work / "history")
            self.say(f"== historical: generating {opts.history_days} x {opts.history_rows:,} rows")
            write_days(root, HISTORY_FIRST_DAY, opts.history_days, opts.history_rows, opts.seed)
            self._history_root = root
        return self._history_root

    def historical(self) -> dict[str, Any] | None:
        """`export --historical --force` of a year of daily files, in one process."""
        opts = self.opts
        root = self.history_root()
        assert root is not None
        runs = []
        for n in range(opts.warmup + opts.repeat):
            run = self.children.run(
                self.cli("export", "--root", str(root), "--historical", "--force"),
                name=f"historical-{n}",
                env=clean_env(),
            )
            label = "warm-up" if n < opts.warmup else f"run {n - opts.warmup + 1}/{opts.repeat}"
            self.say(f"   historical {label:<9} {run.wall_s:7.2f} s {run.peak_rss_mib:7.0f} MiB")
            if self.check(run, "export --historical") and n >= opts.warmup:
                runs.append(run)
        outputs = len(list((root / OUTPUT / "query_perf").rglob("*.parquet")))
        if outputs != opts.history_days:
            self.problem(f"export --historical left {outputs} outputs for {opts.history_days} inputs")
        if not runs:
            return None
        return {
            "files": opts.history_days,
            "rows_per_file": opts.history_rows,
            "wall_s": median([r.wall_s for r in runs]),
            "walls_s": [r.wall_s for r in runs],
            "peak_rss_mib": median([r.peak_rss_mib for r in runs]),
            "per_file_ms": median([r.wall_s for r in runs]) / opts.history_days * 1000,
        }

    def _exported(self, root: Path, days: int) -> bool:
        if len(list((root / OUTPUT / "query_perf").rglob("*.parquet"))) == days:
            return True
        run = self.children.run(
            self.cli("export", "--root", str(root), "--historical"), name="query-build", env=clean_env()
        )
        return self.check(run, "export --historical for the query")

    def query(self) -> list[dict[str, Any]]:
        """The work order's validation query, in-process via DuckDB, over 30 and over 365 daily files."""
        opts = self.opts
        month = new_root(self.work / "query")
        self.say(f"== query: generating {opts.query_files} x {opts.query_rows:,} rows")
        write_days(month, QUERY_FIRST_DAY, opts.query_files, opts.query_rows, opts.seed)
        results = []
        for root, days, rows in (
            (month, opts.query_files, opts.query_rows),
            (self.history_root(), opts.history_days, opts.history_rows),
        ):
            if root is None or not self._exported(root, days):
                continue
            results.append({"files": days, "rows_per_file": rows, **self._time_query(root)})
            self.say(f"   {days} files: median {results[-1]['median_ms']:.1f} ms")
        return results

    def _time_query(self, root: Path) -> dict[str, Any]:
        """Each run on a new connection (as `validate` does); only the query and its fetch are timed."""
        import duckdb

        glob = str(root / OUTPUT / "query_perf" / "**" / "*.parquet").replace("'", "''")
        times, days, total = [], 0, 0
        for _ in range(self.opts.query_runs):
            with duckdb.connect() as con:
                con.execute(VIEW_SQL.format(glob=f"'{glob}'"))
                started = time.perf_counter()
                rows = con.execute(VALIDATION_QUERY).fetchall()
                times.append((time.perf_counter() - started) * 1000)
                days = len(rows)
                if not total:
                    counted = con.execute("SELECT COUNT(*) FROM query_performance").fetchone()
                    total = int(counted[0]) if counted else 0
        return {
            "rows": total,
            "days_returned": days,
            "median_ms": median(times),
            "first_ms": times[0],
            "min_ms": min(times),
            "max_ms": max(times),
            "runs_ms": times,
        }


# --------------------------------------------------------------------------------------- results
def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal of issue 5 with the figure it is judged on; `met` is None when not measured at the goal's size."""
    out: list[dict[str, Any]] = []

    def add(goal: str, measured: str, target: str, met: bool | None) -> None:
        out.append({"goal": goal, "measured": measured, "target": target, "met": met})

    for entry in results.get("convert", []):
        ours = entry["tools"].get("parquet-exporter")
        if not ours or "wall_vs_duckdb" not in ours:
            continue
        rows = f"{entry['rows']:,} rows"
        full = entry["rows"] >= 1_000_000
        add(
            f"1. wall vs DuckDB COPY, {rows}",
            f"{ours['wall_vs_duckdb']:.2f}x ({ours['wall_s']:.2f} s)",
            f"<= {GOAL_WALL_VS_DUCKDB:.2f}x",
            ours["wall_vs_duckdb"] <= GOAL_WALL_VS_DUCKDB if full else None,
        )
        add(
            f"2. bytes vs DuckDB COPY, {rows}",
            f"{ours['bytes_vs_duckdb']:.3f}x ({ours['output_bytes'] / 1e6:.1f} MB)",
            f"<= {GOAL_BYTES_VS_DUCKDB:.2f}x",
            ours["bytes_vs_duckdb"] <= GOAL_BYTES_VS_DUCKDB if full else None,
        )
        add(
            f"3. peak RSS, {rows}",
            f"{ours['peak_rss_mib_max']:.0f} MiB (max of runs)",
            f"<= {GOAL_PEAK_RSS_MIB} MiB",
            ours["peak_rss_mib_max"] <= GOAL_PEAK_RSS_MIB if full else None,
        )
    fresh = results.get("freshness")
    if fresh and "p95_s" in fresh:
        target = fresh["settle_seconds"] + GOAL_FRESHNESS_SLACK_S
        add(
            f"4. freshness p95 ({fresh['files']} files of {fresh['rows_per_file']:,} rows)",
            f"{fresh['p95_s']:.3f} s (p50 {fresh['p50_s']:.3f}, max {fresh['max_s']:.3f})",
            f"<= settle + {GOAL_FRESHNESS_SLACK_S} = {target:.2f} s",
            fresh["p95_s"] <= target if fresh["files"] >= 50 else None,
        )
    idle = results.get("idle")
    if idle:
        long_enough = idle["window_s"] >= 59
        add(
            f"5. idle daemon over {idle['window_s']:.0f} s",
            f"{idle['cpu_percent']:.2f}% CPU, {idle['rss_mib_max']:.0f} MiB RSS",
            f"< {GOAL_IDLE_CPU_PERCENT}% CPU, < {GOAL_IDLE_RSS_MIB} MiB",
            idle["cpu_percent"] < GOAL_IDLE_CPU_PERCENT and idle["rss_mib_max"] < GOAL_IDLE_RSS_MIB
            if long_enough
            else None,
        )
    sweeps = results.get("sweep") or []
    if sweeps:
        big = sweeps[-1]
        scaling = big["per_input_us"] / sweeps[0]["per_input_us"] if len(sweeps) > 1 else None
        measured = f"{big['sweep_s']:.3f} s over {big['inputs']:,} unchanged inputs"
        if scaling is not None:
            measured += f"; per input {scaling:.2f}x that at {sweeps[0]['inputs']:,}"
        add(
            "6. sweep over unchanged inputs",
            measured,
            f"< {GOAL_SWEEP_S:g} s at {GOAL_SWEEP_INPUTS:,}, linear",
            big["sweep_s"] < GOAL_SWEEP_S and (scaling is None or scaling <= 1.5)
            if big["inputs"] >= GOAL_SWEEP_INPUTS
            else None,
        )
    for q in results.get("query") or []:
        at_goal = q["files"] == GOAL_QUERY_FILES and q["rows_per_file"] >= GOAL_QUERY_ROWS
        add(
            f"7. validation query, {q['files']} files x {q['rows_per_file']:,} rows",
            f"{q['median_ms']:.1f} ms median",
            f"< {GOAL_QUERY_MS:g} ms" if q["files"] == GOAL_QUERY_FILES else "reported",
            q["median_ms"] < GOAL_QUERY_MS if at_goal else None,
        )
    hist = results.get("historical")
    if hist:
        add(
            f"8. export --historical, {hist['files']} x {hist['rows_per_file']:,} rows",
            f"{hist['wall_s']:.2f} s",
            f"< {GOAL_HISTORY_S:g} s",
            hist["wall_s"] < GOAL_HISTORY_S if hist["files"] >= GOAL_HISTORY_DAYS else None,
        )
    return out


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f}"


def render(report: dict[str, Any]) -> str:
    """The results as Markdown tables (what BENCHMARKS.md shows)."""
    lines: list[str] = []
    results = report["results"]
    if results.get("convert"):
        opts = report["options"]
        lines += [
            f"Conversion: whole processes, median of {opts['repeat']} runs after {opts['warmup']} warm-up, same input.",
            "",
            "| rows | CSV MB | tool | wall s | rows/s | peak RSS MiB | output MB | reduction | wall vs DuckDB "
            "| bytes vs DuckDB |",
            "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for entry in results["convert"]:
            for tool in TOOLS:
                r = entry["tools"].get(tool)
                if r is None:
                    lines.append(f"| {entry['rows']:,} | {_mb(entry['csv_bytes'])} | {tool} | failed | | | | | | |")
                    continue
                ratio_w = f"{r['wall_vs_duckdb']:.2f}x" if "wall_vs_duckdb" in r else "-"
                ratio_b = f"{r['bytes_vs_duckdb']:.3f}x" if "bytes_vs_duckdb" in r else "-"
                lines.append(
                    f"| {entry['rows']:,} | {_mb(entry['csv_bytes'])} | {tool} | {r['wall_s']:.2f} "
                    f"| {r['rows_per_s']:,.0f} | {r['peak_rss_mib']:.0f} | {_mb(r['output_bytes'])} "
                    f"| {r['reduction_pct']:.1f}% | {ratio_w} | {ratio_b} |"
                )
        lines.append("")
    fresh, idle = results.get("freshness"), results.get("idle")
    other: list[tuple[str, str]] = []
    if fresh and "p95_s" in fresh:
        other.append(
            (
                f"freshness, {fresh['files']} files of {fresh['rows_per_file']:,} rows, "
                f"settle_seconds={fresh['settle_seconds']:g}: p50 / p95 / max",
                f"{fresh['p50_s']:.3f} / {fresh['p95_s']:.3f} / {fresh['max_s']:.3f} s",
            )
        )
    if idle:
        other.append(
            (
                f"idle daemon over {idle['window_s']:.0f} s: CPU, RSS max (mean)",
                f"{idle['cpu_percent']:.2f}% of a core, {idle['rss_mib_max']:.0f} MiB ({idle['rss_mib_mean']:.0f})",
            )
        )
    for s in results.get("sweep") or []:
        other.append(
            (
                f"sweep over {s['inputs']:,} unchanged inputs (`run --once`): sweep.finished, process wall",
                f"{s['sweep_s']:.3f} s ({s['per_input_us']:.0f} us per input), {s['wall_s']:.2f} s",
            )
        )
    for q in results.get("query") or []:
        other.append(
            (
                f"validation query, {q['files']} files x {q['rows_per_file']:,} rows (in-process DuckDB): median",
                f"{q['median_ms']:.1f} ms (first {q['first_ms']:.1f}, max {q['max_ms']:.1f})",
            )
        )
    hist = results.get("historical")
    if hist:
        other.append(
            (
                f"export --historical, {hist['files']} x {hist['rows_per_file']:,} rows, one process",
                f"{hist['wall_s']:.2f} s, {hist['peak_rss_mib']:.0f} MiB peak",
            )
        )
    if other:
        lines += ["| figure | measured |", "|---|---|"]
        lines += [f"| {name} | {value} |" for name, value in other]
        lines.append("")
    if report["goals"]:
        lines += ["Goals of issue 5:", "", "| goal | measured | target | met |", "|---|---|---|---|"]
        for g in report["goals"]:
            met = {True: "yes", False: "**no**", None: "n/a (not at goal size)"}[g["met"]]
            met = "-" if g["target"] == "reported" else met
            lines.append(f"| {g['goal']} | {g['measured']} | {g['target']} | {met} |")
        lines.append("")
    if report["problems"]:
        lines += ["Problems:", ""] + [f"- {p}" for p in report["problems"]] + [""]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        total = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["memory_gib"] = round(int(total) / 1024 / 1024, 1)
    versions = {}
    for package in ("parquet-exporter", "polars", "duckdb", "pyarrow"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    info["versions"] = versions
    git = subprocess.run(
        ["git", "-C", str(PROJECT_DIR), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    status = subprocess.run(
        ["git", "-C", str(PROJECT_DIR), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    )
    if git.returncode == 0:
        changed = [line[3:] for line in status.stdout.splitlines() if line.strip()]
        info["git"] = {"commit": git.stdout.strip(), "dirty": bool(changed), "changed": changed}
    return info


# ------------------------------------------------------------------------------------------- CLI
def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of integers") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive integers")
    return sizes


def _sections(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"sections are {', '.join(SECTIONS)}")
    return chosen


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scripts/bench",
        description="Benchmark parquet-exporter against DuckDB COPY, polars and pyarrow, and measure the daemon.",
    )
    p.add_argument("--rows", type=_sizes, help="CSV sizes to convert, comma-separated (default 1000000).")
    p.add_argument("--repeat", type=int, help="Timed runs per measurement; figures are medians (default 3).")
    p.add_argument("--warmup", type=int, help="Untimed runs before the timed ones (default 1).")
    p.add_argument("--seed", type=int, default=2026, help="Seed of the generated data (default 2026).")
    p.add_argument("--settle-seconds", type=float, help="The daemon's settle_seconds for freshness (default 1).")
    p.add_argument("--fresh-files", type=int, help="Files written one at a time for freshness (default 50).")
    p.add_argument("--fresh-rows", type=int, help="Rows per freshness file (default 2000, a daily file).")
    p.add_argument("--idle-seconds", type=float, help="Window over which the idle daemon is watched (default 60).")
    p.add_argument("--sweep-sizes", type=_sizes, help="Unchanged-input counts for the sweep (default 1000,10000).")
    p.add_argument("--query-files", type=int, help="Daily files for the validation query (default 30).")
    p.add_argument("--query-rows", type=int, help="Rows per validation-query file (default 100000).")
    p.add_argument("--query-runs", type=int, help="Timed runs of the validation query (default 10).")
    p.add_argument("--history-days", type=int, help="Daily files for export --historical (default 365).")
    p.add_argument("--history-rows", type=int, help="Rows per export --historical file (default 2000).")
    p.add_argument(
        "--only",
        type=_sections,
        default=SECTIONS,
        help=f"Run only these sections, comma-separated: {','.join(SECTIONS)}.",
    )
    p.add_argument("--quick", action="store_true", help="Tiny sizes, one run each: a smoke run of every section.")
    p.add_argument(
        "--exporter",
        type=Path,
        default=Path(sys.prefix) / "bin" / "parquet-exporter",
        help="The parquet-exporter executable (default: the one in this environment, .venv/bin).",
    )
    p.add_argument("--json-out", type=Path, default=DEFAULT_JSON, help="Where to write the results (JSON).")
    p.add_argument("--workdir", type=Path, help="Folder for the temporary data (default: the system's temp folder).")
    p.add_argument("--keep", action="store_true", help="Keep the generated data and process logs (path printed).")
    return p


def options(argv: Sequence[str] | None = None) -> Options:
    args = parser().parse_args(argv)
    base = QUICK if args.quick else DEFAULTS
    values = {key: getattr(args, key) if getattr(args, key) is not None else default for key, default in base.items()}
    if values["repeat"] < 1 or values["warmup"] < 0 or values["query_runs"] < 1:
        parser().error("--repeat and --query-runs must be >= 1, --warmup >= 0")
    return Options(
        **values,
        seed=args.seed,
        sections=args.only,
        exporter=args.exporter,
        json_out=args.json_out,
        workdir=args.workdir,
        keep=args.keep,
        quick=args.quick,
    )


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the `finally` that stops children and removes data always runs."""

    def handler(signum: int, _: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(opts: Options, argv: Sequence[str]) -> dict[str, Any]:
    """Run the chosen sections and return the report (also written to `opts.json_out`)."""
    if not opts.exporter.exists():
        raise SystemExit(f"bench: {opts.exporter} not found (run scripts/bench, which syncs .venv first)")
    if opts.workdir is not None:
        opts.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="parquet-exporter-bench-", dir=opts.workdir))
    bench = Bench(opts, work, Children(work / "logs"))
    started = dt.datetime.now(dt.UTC)
    host = machine()  # now: the commit and the changed files are those of the code being measured
    load_before = os.getloadavg()
    if load_before[0] > 0.5 * (os.cpu_count() or 1):
        bench.say(
            f"!! the machine is busy (load {load_before[0]:.1f} on {os.cpu_count()} CPUs): figures will be skewed"
        )
    results: dict[str, Any] = {}
    try:
        with _sigterm_as_exit():
            if "convert" in opts.sections:
                results["convert"] = [bench.convert(rows) for rows in opts.rows]
            if "freshness" in opts.sections or "idle" in opts.sections:
                fresh, idle = bench.daemon("freshness" in opts.sections, "idle" in opts.sections)
                if "freshness" in opts.sections:
                    results["freshness"] = fresh
                if "idle" in opts.sections:
                    results["idle"] = idle
            if "sweep" in opts.sections:
                results["sweep"] = bench.sweep()
            if "historical" in opts.sections:
                results["historical"] = bench.historical()
            if "query" in opts.sections:
                results["query"] = bench.query()
    finally:
        bench.children.stop_all()
        if opts.keep:
            bench.say(f"kept the data and logs in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    options_json = {k: str(v) if isinstance(v, Path) else v for k, v in vars(opts).items()}
    options_json["sections"] = list(opts.sections)
    report = {
        "date": started.isoformat(timespec="seconds"),
        "seconds": round((dt.datetime.now(dt.UTC) - started).total_seconds(), 1),
        "command": "scripts/bench " + shlex.join(argv),
        "machine": host,
        # Other work on the machine skews every figure: the 1-minute load average before and after.
        "load_average_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "options": options_json,
        "results": results,
        "goals": [],
        "problems": bench.problems,
    }
    report["goals"] = goals(results)
    opts.json_out.parent.mkdir(parents=True, exist_ok=True)
    opts.json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    opts = options(argv)
    report = run(opts, argv)
    load = report["load_average_1m"]
    cpus = report["machine"].get("cpus")
    print(f"# {report['command']}  ({report['date']}, {cpus} CPUs, load {load[0]} -> {load[1]})\n")
    print(render(report))
    print(f"results: {opts.json_out}", file=sys.stderr)
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
