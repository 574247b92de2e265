"""Publishing's cost: throughput to an S3 server on loopback, and the latency it adds to freshness.

Starts moto's S3 server (the test suite's server: a dev dependency) on 127.0.0.1, generates a root of
daily query-performance CSVs (seeded), and measures through the product's own command line and classes:

- throughput: every output of the root converted locally first (publishing off), then all of them queued
  and published by one `Publisher.drain()`: files/s and MB/s of Parquet;
- freshness: for one new daily file, the conversion and then the drain the daemon's loop runs right after
  it, each timed in this process (median of --repeat): the drain is what publishing adds before the bucket
  has the file;
- one large output (--large-rows rows of incompressible text): its single PUT, timed.

Run: .venv/bin/python scripts/bench_publish.py [--days 120 --rows 2000 --repeat 5]. Nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = (
    "timestamp,query_hash,query_type,execution_time_ms,rows_examined,rows_returned,"
    "cache_hit,table_name,index_used,cpu_time_ms,io_wait_ms"
)
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def write_day(folder: Path, day: dt.date, rows: int, rng: random.Random, wide: bool = False) -> Path:
    path = folder / f"query_perf_daily_{day:%Y%m%d}.csv"
    start = dt.datetime.combine(day, dt.time())
    lines = [HEADER]
    for i in range(rows):
        ts = (start + dt.timedelta(seconds=i * 86400 // rows)).isoformat()
        qhash = f"{rng.getrandbits(512):0128x}" if wide else f"q{rng.randrange(5000):05d}"
        lines.append(
            f"{ts}Z,{qhash},{rng.choice(['SELECT', 'UPDATE', 'INSERT'])},{rng.expovariate(0.02):.3f},"
            f"{rng.randrange(10**6)},{rng.randrange(1000)},{rng.choice(['true', 'false'])},t{rng.randrange(40)},"
            f"idx{rng.randrange(9)},{rng.random() * 50:.3f},{rng.random() * 5:.3f}"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(root: Path, env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "daemon", *args, "--root", str(root)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=REPO,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=120, help="daily files for the throughput run")
    parser.add_argument("--rows", type=int, default=2000, help="rows per daily file")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each freshness measurement")
    parser.add_argument("--large-rows", type=int, default=160_000, help="rows of the large output (~12 MB)")
    args = parser.parse_args()

    import logging

    import structlog

    from daemon.convert.exporter import Exporter, Selection
    from daemon.publish.outbox import Publisher
    from daemon.settings import resolve
    from daemon.state.database import State
    from tests.s3server import ACCESS_KEY, SECRET_KEY, start_server

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        base = Path(tmp)
        server = start_server(base / "requests.jsonl")
        try:
            server.client().create_bucket(Bucket="fleet-bench")
            root = base / "root"
            (root / "g/reports").mkdir(parents=True)
            (root / "knowledge/optimize").mkdir(parents=True)
            first = dt.date(2025, 9, 1)
            for n in range(args.days):
                write_day(root / "g/reports", first + dt.timedelta(days=n), args.rows, rng)
            local_env = {k: v for k, v in os.environ.items() if not k.startswith("PARQUET_EXPORTER_")}
            local_env |= {"PARQUET_EXPORTER_FLEET_HOST": "bench", "AWS_ACCESS_KEY_ID": ACCESS_KEY}
            local_env |= {"AWS_SECRET_ACCESS_KEY": SECRET_KEY}
            fleet_env = local_env | {
                "PARQUET_EXPORTER_OUTPUT_URL": "s3://fleet-bench/fleet",
                "PARQUET_EXPORTER_S3_ENDPOINT_URL": server.endpoint,
                "PARQUET_EXPORTER_S3_REGION": "us-east-1",
            }
            convert_s = cli(root, local_env, "export", "--historical")
            os.environ.update(fleet_env)
            settings = resolve({"root": root})
            outputs = sorted(settings.output_path.rglob("*.parquet"))
            total = sum(p.stat().st_size for p in outputs)
            with State(settings.state_path / "state.db") as state:
                publisher = Publisher(settings, state)
                for path in outputs:
                    publisher.enqueue(path)
                started = time.perf_counter()
                drained = publisher.drain(force=True)
                publish_s = time.perf_counter() - started
            assert drained.created == len(outputs), drained
            print(f"converted {len(outputs)} daily files ({args.rows} rows each) locally in {convert_s:.2f} s")
            print(
                f"published {len(outputs)} files, {total / 1e6:.2f} MB in {publish_s:.2f} s:"
                f" {len(outputs) / publish_s:.1f} files/s, {total / 1e6 / publish_s:.2f} MB/s"
            )

            convert_ms, publish_ms = [], []
            with State(settings.state_path / "state.db") as state:
                exporter, publisher = Exporter(settings, state), Publisher(settings, state)
                for i in range(args.repeat):
                    day = first + dt.timedelta(days=args.days + i)
                    write_day(root / "g/reports", day, args.rows, rng)
                    t0 = time.perf_counter()
                    exporter.export(Selection(mode="date", date=day))
                    t1 = time.perf_counter()
                    drained = publisher.drain()  # what the daemon's loop does right after a conversion
                    t2 = time.perf_counter()
                    assert drained.created == 1, drained
                    convert_ms.append((t1 - t0) * 1000)
                    publish_ms.append((t2 - t1) * 1000)
            print(
                f"freshness, one new daily file ({args.rows} rows), median of {args.repeat}: converted in"
                f" {statistics.median(convert_ms):.0f} ms, then published in {statistics.median(publish_ms):.1f} ms"
                f" (max {max(publish_ms):.1f} ms): publishing adds that before the bucket has it"
            )

            large = write_day(root / "g/reports", dt.date(2026, 6, 1), args.large_rows, rng, wide=True)
            cli(root, local_env, "export", "--date", "2026-06-01")
            out = next(settings.output_path.rglob("query_perf_20260601.parquet"))
            with State(settings.state_path / "state.db") as state:
                publisher = Publisher(settings, state)
                publisher.enqueue(out)
                started = time.perf_counter()
                publisher.drain(force=True)
                large_s = time.perf_counter() - started
            size = out.stat().st_size
            print(
                f"one large output ({large.stat().st_size / 1e6:.1f} MB CSV -> {size / 1e6:.1f} MB Parquet):"
                f" one PUT in {large_s:.2f} s, {size / 1e6 / large_s:.1f} MB/s"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
