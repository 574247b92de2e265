"""Soak the real daemon: a stream of report files over minutes, some bad, some rewritten, then check every row.

Run it through `scripts/soak` (the project's interpreter, where DuckDB is):

    scripts/soak --short                  # 25 s of 250 files, then the checks (what tests/test_soak.py runs)
    scripts/soak --minutes 10 --files 6000 --series soak.json

It starts `.venv/bin/parquet-exporter run --root TMP` (settle 0.2 s) on a fresh root, writes `--files` inputs
of every kind at an even pace for `--minutes`: daily and weekly CSVs, index-advisor and summary reports; some
carry rows that cannot be typed (they go to the rejects), a few cannot be read at all (they must fail), and
about one in ten is rewritten later, by an atomic rename or in place in chunks slower than a writer flushes.
While it runs it samples the daemon's RSS, open file descriptors and threads from /proc every second.

When the stream ends and the daemon has caught up, DuckDB counts the rows of every output and of the rejects:
each input's final content must be exported exactly (its footer hash, its good rows, its bad rows in the
rejects), each unreadable input recorded as failed, nothing missed, no internal error; and RSS and descriptors
must be flat (the last third's peak at most 1.5 x the first third's peak plus a little). It prints a summary,
writes the samples as JSON with `--series`, stops the daemon with SIGTERM, and exits 1 on any failure.
Linux only (/proc). Nothing here touches the network.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import datetime as dt
import hashlib
import heapq
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
VENV = PROJECT / ".venv"
HEADER = (
    "timestamp,query_hash,query_type,execution_time_ms,rows_examined,rows_returned,"
    "cache_hit,table_name,index_used,cpu_time_ms,io_wait_ms"
)
OUTPUT = Path("knowledge/optimize/parquet")
STATE_DB = Path("g/state/parquet_export/state.db")
LOG = Path("g/logs/parquet_export.log")
MIB = 1024 * 1024
RSS_SLACK_KB = 48 * 1024  # allocator noise: arenas grow in steps
FD_SLACK = 8


# ------------------------------------------------------------------------------------------ inputs
@dataclass
class Input:
    """One input file and what its final content must become."""

    kind: str  # query_perf | query_perf_weekly | index_advisor | optimization_summary
    key: str
    relative: str
    day: dt.date  # the day whose month files the output
    content: bytes = b""
    good: int = 0
    bad: int = 0
    broken: bool = False  # unreadable as a whole: must be recorded as failed
    versions: int = 0

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def output(self) -> str:
        return (
            f"{OUTPUT}/{self.kind}/year={self.day.year:04d}/month={self.day.month:02d}/{self.kind}_{self.key}.parquet"
        )


def perf_rows(rng: random.Random, start: dt.datetime, seconds: int, n: int, tag: str) -> list[str]:
    rows = []
    for i in range(n):
        ts = start + dt.timedelta(seconds=rng.randrange(seconds))
        rows.append(
            f"{ts.isoformat()}Z,{tag}{i:05d},{rng.choice(['SELECT', 'UPDATE', 'INSERT'])},{rng.random() * 500:.3f},"
            f"{rng.randrange(10**6)},{rng.randrange(1000)},{rng.choice(['true', 'false', '1', 'no'])},"
            f"t{rng.randrange(20)},idx_{rng.randrange(9)},{rng.random():.4f},{rng.random():.4f}"
        )
    return rows


def bad_perf_rows(rng: random.Random, n: int, tag: str) -> list[str]:
    """Rows that cannot be typed: a timestamp that is not one, a word for a number, a ragged record."""
    makers = [
        lambda i: f"not-a-time,{tag}b{i},SELECT,1,1,1,true,t,i,0.1,0.1",
        lambda i: f"2025-10-28T00:00:00Z,{tag}b{i},SELECT,slow,1,1,true,t,i,0.1,0.1",
        lambda i: f"2025-10-28T00:00:00Z,{tag}b{i},SELECT,1,1",
    ]
    return [rng.choice(makers)(i) for i in range(n)]


def fill(item: Input, rng: random.Random, version: int) -> None:
    """Give `item` new content (a new tag each version, so every rewrite changes its hash)."""
    tag = f"v{version}x"
    item.versions = version
    item.broken = rng.random() < 0.04 and version == 0
    good = rng.randrange(20, 200)
    bad = rng.randrange(1, good // 4) if rng.random() < 0.2 else 0
    if item.kind in ("query_perf", "query_perf_weekly"):
        if item.kind == "query_perf":
            start, span = dt.datetime.combine(item.day, dt.time()), 86_400
        else:
            monday = item.day - dt.timedelta(days=3)
            start, span = dt.datetime.combine(monday, dt.time()), 7 * 86_400
        header = HEADER if not item.broken else HEADER.replace("query_hash,", "")
        rows = perf_rows(rng, start, span, good, tag) + bad_perf_rows(rng, bad, tag)
        rng.shuffle(rows)
        text = "\n".join([header, *rows]) + "\n"
        item.content = (codecs.BOM_UTF8 if rng.random() < 0.1 else b"") + text.encode()
    elif item.kind == "index_advisor":
        good, bad = rng.randrange(2, 12), rng.randrange(0, 2)
        recs: list[object] = [
            {
                "table": f"{tag}t{i}",
                "index": f"idx_{i}",
                "priority": rng.choice(["high", "low"]),
                "estimated_speedup": round(rng.random() * 9, 2),
                "estimated_cost": rng.randrange(100),
            }
            for i in range(good)
        ]
        recs += [{"table": f"{tag}bad{i}", "estimated_speedup": "fast"} for i in range(bad)]
        rng.shuffle(recs)
        stamp = f"{item.day.isoformat()}T03:00:00Z"
        document: object = [] if item.broken else {"timestamp": stamp, "recommendations": recs}
        item.content = json.dumps(document, indent=rng.choice([None, 2])).encode()
    else:
        good = rng.randrange(3, 30)
        bad = rng.randrange(0, max(1, good // 4))
        lines = [
            f"{item.day.isoformat()}T03:{i % 60:02d}:00Z {tag}event metric_{i}={rng.random() * 100:.2f} run={i}"
            for i in range(good)
        ]
        lines += [f"{tag} nonsense line {i}" for i in range(bad)]
        rng.shuffle(lines)
        if item.broken:
            good, bad = 0, len(lines)
            lines = [f"nonsense {i}" for i in range(len(lines))]
        item.content = ("# soak\n" + "\n".join(lines) + "\n").encode()
    item.good, item.bad = (0, 0) if item.broken else (good, bad)


def make_inputs(n: int, rng: random.Random) -> list[Input]:
    """`n` inputs with distinct keys: mostly daily CSVs, some weekly CSVs, index-advisor and summary reports."""
    items: list[Input] = []
    counters = {"query_perf": 0, "query_perf_weekly": 0, "index_advisor": 0, "optimization_summary": 0}
    for _ in range(n):
        kind = rng.choices(list(counters), weights=[80, 8, 6, 6])[0]
        i = counters[kind]
        counters[kind] += 1
        if kind == "query_perf_weekly":
            year, week = 1990 + i // 52, i % 52 + 1
            key, day = f"{year:04d}{week:02d}", dt.date.fromisocalendar(year, week, 4)
            relative = f"g/reports/query_perf_weekly_{key}.csv"
        else:
            day = dt.date(2000, 1, 1) + dt.timedelta(days=i)
            key = day.strftime("%Y%m%d")
            relative = {
                "query_perf": f"g/reports/query_perf_daily_{key}.csv",
                "index_advisor": f"knowledge/optimize/index_advisor_report_{key}.json",
                "optimization_summary": f"knowledge/optimize/optimization_summary_{key}.txt",
            }[kind]
        item = Input(kind, key, relative, day)
        fill(item, rng, 0)
        items.append(item)
    return items


def write_input(root: Path, item: Input, rng: random.Random, settle: float) -> str:
    """Write `item`'s content the way producers do: at once, by an atomic rename, or in chunks."""
    path = root / item.relative
    how = rng.choices(["direct", "rename", "chunks"], weights=[5, 3, 2])[0]
    if how == "direct":
        path.write_bytes(item.content)
    elif how == "rename":
        tmp = path.with_name(f".{path.name}.part")  # not an input name: ignored until renamed
        tmp.write_bytes(item.content)
        os.replace(tmp, path)
    else:
        cut = sorted(rng.sample(range(1, max(2, len(item.content))), k=min(2, max(1, len(item.content) - 1))))
        with path.open("wb") as fh:
            start = 0
            for end in [*cut, len(item.content)]:
                fh.write(item.content[start:end])
                fh.flush()
                start = end
                if end != len(item.content):
                    time.sleep(settle / 5)  # pauses shorter than the settle time: one conversion, at the end
    return how


# ----------------------------------------------------------------------------------------- sampling
@dataclass
class Sample:
    t: float
    rss_kb: int
    fds: int
    threads: int


@dataclass
class Sampler:
    """Samples a process's RSS, open descriptors and threads from /proc until stopped."""

    pid: int
    every: float
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _started: float = field(default_factory=time.monotonic)

    def sample(self) -> Sample | None:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
            fds = len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return None
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        rss_kb = int(fields.get("VmRSS", "0 kB").split()[0])
        return Sample(round(time.monotonic() - self._started, 2), rss_kb, fds, int(fields.get("Threads", "0")))

    def run(self) -> None:
        while not self._stop.wait(self.every):
            sample = self.sample()
            if sample is not None:
                self.samples.append(sample)

    def start(self) -> None:
        threading.Thread(target=self.run, name="sampler", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


def thirds(samples: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    n = len(samples)
    return samples[: max(1, n // 3)], samples[n - max(1, n // 3) :]


def flatness(samples: list[Sample]) -> tuple[dict[str, object], list[str]]:
    """The series' summary and any growth beyond the allowance (last third's peak vs first third's)."""
    if len(samples) < 6:
        return {"samples": len(samples)}, [f"only {len(samples)} RSS/FD samples: too few to judge"]
    first, last = thirds(samples)
    summary: dict[str, object] = {"samples": len(samples)}
    problems = []
    for name, slack in (("rss_kb", RSS_SLACK_KB), ("fds", FD_SLACK), ("threads", 4)):
        values = [getattr(s, name) for s in samples]
        early, late = max(getattr(s, name) for s in first), max(getattr(s, name) for s in last)
        summary[name] = {"min": min(values), "first_third_max": early, "last_third_max": late, "end": values[-1]}
        if late > early * 1.5 + slack:
            problems.append(f"{name} grew: last third's peak {late} > 1.5 x first third's {early} + {slack}")
    return summary, problems


# -------------------------------------------------------------------------------------------- daemon
@contextlib.contextmanager
def daemon(root: Path, settle: float) -> Iterator[subprocess.Popen[bytes]]:
    """The real daemon on `root`; SIGTERM (then SIGKILL) at the end, whatever happens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARQUET_EXPORTER_")}
    env.update(PARQUET_EXPORTER_SETTLE_SECONDS=str(settle), PARQUET_EXPORTER_HEARTBEAT_SECONDS="1")

    def die_with_parent() -> None:  # the daemon must not outlive a soak that is killed
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    err = (root.parent / f"{root.name}.daemon.err").open("wb")
    proc = subprocess.Popen(
        [str(VENV / "bin" / "parquet-exporter"), "run", "--root", str(root)],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=err,
        preexec_fn=die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509 - no threads yet
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        err.close()


def heartbeat_ready(root: Path, pid: int) -> bool:
    try:
        beat = json.loads((root / "g/state/parquet_export/heartbeat.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(beat.get("pid") == pid and beat.get("running") and beat.get("last_sweep"))


def state_rows(root: Path) -> dict[str, tuple[str, str, int, int]]:
    """source -> (status, sha256, size, mtime_ns) from the daemon's state (read-only; the daemon writes it)."""
    db = root / STATE_DB
    if not db.exists():
        return {}
    try:
        with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5)) as con:
            rows = con.execute("SELECT source, status, sha256, size, mtime_ns FROM sources").fetchall()
    except sqlite3.Error:
        return {}
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def caught_up(root: Path, items: list[Input]) -> list[Input]:
    """The inputs whose final content the daemon has not yet dealt with (by its state)."""
    rows = state_rows(root)
    behind = []
    for item in items:
        row = rows.get(item.relative)
        if row is None:
            behind.append(item)
        elif item.broken:
            st = (root / item.relative).stat()
            if row[0] != "failed" or (row[2], row[3]) != (st.st_size, st.st_mtime_ns):
                behind.append(item)
        elif row[0] not in ("written", "skipped") or row[1] != item.sha256:
            behind.append(item)
    return behind


# -------------------------------------------------------------------------------------------- checks
def verify(root: Path, items: list[Input]) -> tuple[dict[str, int], list[str]]:
    """Count every output's and every rejects file's rows with DuckDB and compare them with the inputs."""
    import duckdb

    problems: list[str] = []
    out = root / OUTPUT
    counts: dict[str, int] = {}
    hashes: dict[str, str] = {}
    with duckdb.connect() as con:
        for kind in sorted({i.kind for i in items}):
            pattern = f"{out}/{kind}/**/*.parquet"
            if not list((out / kind).rglob("*.parquet")):
                continue
            for name, n in con.execute(
                f"SELECT filename, count(*) FROM read_parquet('{pattern}', filename = true,"
                " hive_partitioning = false) GROUP BY filename"
            ).fetchall():
                counts[str(Path(name).relative_to(root))] = n
            for name, value in con.execute(
                f"SELECT file_name, decode(value) FROM parquet_kv_metadata('{pattern}')"
                " WHERE decode(key) = 'parquet_exporter.source_sha256'"
            ).fetchall():
                hashes[str(Path(name).relative_to(root))] = value
        rejected: dict[str, tuple[str, int]] = {}
        if list((out / "_rejects").rglob("*.parquet")):
            for source, sha, n in con.execute(
                f"SELECT source, source_sha256, count(*) FROM read_parquet('{out}/_rejects/**/*.parquet',"
                " hive_partitioning = false) GROUP BY ALL"
            ).fetchall():
                if source in rejected:
                    problems.append(f"{source}: rejects from two versions in the rejects dataset")
                rejected[source] = (sha, n)
    expected_outputs = set()
    for item in items:
        if item.broken:
            if item.output in counts:
                problems.append(f"{item.relative}: unreadable, yet {item.output} exists")
            continue
        expected_outputs.add(item.output)
        if item.output not in counts:
            problems.append(f"{item.relative}: missed, {item.output} does not exist")
            continue
        if hashes.get(item.output) != item.sha256:
            problems.append(f"{item.relative}: {item.output} is not of the final content (version {item.versions})")
        if counts[item.output] != item.good:
            problems.append(f"{item.relative}: {counts[item.output]} rows written, expected {item.good}")
        got = rejected.get(item.relative)
        if item.bad and got != (item.sha256, item.bad):
            problems.append(f"{item.relative}: rejects {got}, expected {item.bad} rows of the final content")
        if not item.bad and got is not None:
            problems.append(f"{item.relative}: stale rejects {got} for content without bad rows")
    extra = sorted(set(counts) - expected_outputs)
    if extra:
        problems.append(f"{len(extra)} outputs nobody asked for, e.g. {extra[0]}")
    totals = {
        "outputs": len(counts),
        "good_rows": sum(counts.values()),
        "rejected_rows": sum(n for _, n in rejected.values()),
        "rejects_files": len(rejected),
    }
    expected_good = sum(i.good for i in items if not i.broken)
    expected_bad = sum(i.bad for i in items if not i.broken)
    if (totals["good_rows"], totals["rejected_rows"]) != (expected_good, expected_bad):
        problems.append(
            f"totals: {totals['good_rows']} good and {totals['rejected_rows']} rejected rows,"
            f" expected {expected_good} and {expected_bad}"
        )
    return totals, problems


def log_problems(root: Path) -> tuple[dict[str, int], list[str]]:
    events: dict[str, int] = {}
    for path in sorted((root / LOG).parent.glob(LOG.name + "*")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line).get("event", "?")
                events[event] = events.get(event, 0) + 1
    problems = [f"{n} export.internal_error in the log" for n in [events.get("export.internal_error", 0)] if n]
    err = (root.parent / f"{root.name}.daemon.err").read_text(errors="replace")
    if "Traceback" in err:
        problems.append("a traceback on the daemon's stderr")
    return events, problems


# ---------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="25 s of 250 files (the test suite's mode)")
    parser.add_argument("--minutes", type=float, default=5.0, help="how long the stream of files lasts (default 5)")
    parser.add_argument("--files", type=int, default=3000, help="how many inputs to write (default 3000)")
    parser.add_argument("--settle", type=float, default=0.2, help="the daemon's settle_seconds (default 0.2)")
    parser.add_argument("--rewrite-fraction", type=float, default=0.1, help="inputs rewritten later (default 0.1)")
    parser.add_argument("--sample-every", type=float, default=1.0, help="seconds between /proc samples")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="max seconds to wait for the daemon")
    parser.add_argument("--seed", type=int, default=20251028)
    parser.add_argument("--root", type=Path, help="work here (kept) instead of a temporary folder (removed)")
    parser.add_argument("--series", type=Path, help="write the RSS/FD samples and the summary as JSON here")
    args = parser.parse_args(argv)
    if args.short:
        args.minutes, args.files, args.drain_timeout = 25 / 60, 250, 30.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path("/proc/self/status").exists():
        print("soak: needs /proc (Linux)", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup below when told to stop
    rng = random.Random(args.seed)
    workdir: Path | None = None
    if args.root:
        root = args.root.resolve()
    else:
        workdir = Path(tempfile.mkdtemp(prefix="soak-"))
        root = workdir / "root"
    for folder in ("g/reports", "knowledge/optimize"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    items = make_inputs(args.files, rng)
    duration = args.minutes * 60
    plan: list[tuple[float, int, int]] = [(duration * i / len(items), i, 0) for i in range(len(items))]
    for i in rng.sample(range(len(items)), int(len(items) * args.rewrite_fraction)):
        at = plan[i][0] + rng.uniform(1.0, max(1.5, duration / 5))
        plan.append((min(at, duration), i, 1))
    heapq.heapify(plan)
    problems: list[str] = []
    ways: dict[str, int] = {}
    started = time.monotonic()
    try:
        with daemon(root, args.settle) as proc:
            deadline = time.monotonic() + 30
            while not heartbeat_ready(root, proc.pid):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"soak: the daemon did not start (exit {proc.poll()})")
                time.sleep(0.05)
            sampler = Sampler(proc.pid, args.sample_every)
            sampler.start()
            stream_start = time.monotonic()
            rewrites = 0
            while plan:
                at, i, version = heapq.heappop(plan)
                delay = stream_start + at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                item = items[i]
                if version:
                    fill(item, rng, item.versions + 1)
                    rewrites += 1
                how = write_input(root, item, rng, args.settle)
                ways[how] = ways.get(how, 0) + 1
                if proc.poll() is not None:
                    raise SystemExit(f"soak: the daemon died (exit {proc.returncode})")
            streamed_in = time.monotonic() - stream_start
            drain_start = time.monotonic()
            behind = caught_up(root, items)
            while behind and time.monotonic() - drain_start < args.drain_timeout and proc.poll() is None:
                time.sleep(0.25)
                behind = caught_up(root, items)
            drained_in = time.monotonic() - drain_start
            time.sleep(min(3.0, 2 * args.sample_every))  # a few idle samples
            sampler.stop()
            if behind:
                problems.append(
                    f"the daemon had not caught up after {args.drain_timeout:g} s: {len(behind)} inputs,"
                    f" e.g. {behind[0].relative}"
                )
            if proc.poll() is not None:
                problems.append(f"the daemon died (exit {proc.returncode})")
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(15)
            if code != 0:
                problems.append(f"the daemon exited {code} on SIGTERM")
        totals, found = verify(root, items)
        problems += found
        events, found = log_problems(root)
        problems += found
        series_summary, found = flatness(sampler.samples)
        problems += found
        failed = sum(1 for i in items if i.broken)
        report = {
            "files": len(items),
            "rewrites": rewrites,
            "ways": ways,
            "broken": failed,
            "streamed_s": round(streamed_in, 1),
            "drained_s": round(drained_in, 1),
            "total_s": round(time.monotonic() - started, 1),
            "totals": totals,
            "events": {k: v for k, v in sorted(events.items()) if k.startswith(("export.", "sweep.", "daemon."))},
            "series": series_summary,
            "problems": problems,
        }
        print_summary(report)
        if args.series:
            args.series.write_text(json.dumps({**report, "samples": [asdict(s) for s in sampler.samples]}, indent=1))
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if problems else 0


def print_summary(report: dict[str, object]) -> None:
    totals = report["totals"]
    series = report["series"]
    assert isinstance(totals, dict)
    assert isinstance(series, dict)
    print(
        f"soak: {report['files']} files + {report['rewrites']} rewrites {report['ways']} streamed in"
        f" {report['streamed_s']} s, caught up {report['drained_s']} s later ({report['total_s']} s in all)"
    )
    print(
        f"  {totals['outputs']} outputs, {totals['good_rows']:,} rows; {totals['rejected_rows']:,} rejected rows in"
        f" {totals['rejects_files']} rejects files; {report['broken']} unreadable inputs; events {report['events']}"
    )
    if "rss_kb" in series:
        rss, fds, threads = series["rss_kb"], series["fds"], series["threads"]
        print(
            f"  RSS MiB: min {rss['min'] / 1024:.1f}, first third max {rss['first_third_max'] / 1024:.1f},"
            f" last third max {rss['last_third_max'] / 1024:.1f}, end {rss['end'] / 1024:.1f}"
            f" | FDs: first third max {fds['first_third_max']}, last third max {fds['last_third_max']},"
            f" end {fds['end']} | threads: {threads['first_third_max']} -> {threads['last_third_max']}"
            f" ({series['samples']} samples)"
        )
    problems = report["problems"]
    assert isinstance(problems, list)
    for problem in problems[:20]:
        print(f"  FAIL {problem}")
    print("soak: " + ("FAILED" if problems else "OK"))


if __name__ == "__main__":
    sys.exit(main())
