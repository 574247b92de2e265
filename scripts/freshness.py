"""What the conversion worker adds to a daily file's freshness: the time from a settled file to its published
output, converted in the daemon's worker process (`daemon.service.worker`) and in a thread of the daemon.

Run it with the project's interpreter: `.venv/bin/python scripts/freshness.py [--rows N] [--repeat K]`. It
builds a root in a temporary folder (removed at the end), writes a daily CSV of `--rows` generated rows, and
times `Attempts.convert` (the daemon's whole attempt: export lock, conversion, publish, records) `--repeat`
times per mode, alternating the modes, with the source rewritten (new content) before each run so every run
converts and publishes. The worker is started and warmed up with one conversion first, as the daemon's is by
the time a daily file settles. Prints the median and the spread per mode and their difference; nothing here
touches the network.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

HEADER = (
    "timestamp,query_hash,query_type,execution_time_ms,rows_examined,rows_returned,"
    "cache_hit,table_name,index_used,cpu_time_ms,io_wait_ms"
)


def write_daily(path: Path, rows: int, seed: int) -> None:
    """A valid query_perf daily CSV for 2025-10-28 with `rows` varied rows (the seed changes every value)."""
    r = random.Random(seed)
    start = dt.datetime(2025, 10, 28)
    step = 86_400_000_000 // rows
    lines = [HEADER]
    for i in range(rows):
        ts = (start + dt.timedelta(microseconds=i * step)).isoformat()
        lines.append(
            f"{ts}Z,{r.getrandbits(48):012x},SELECT,{r.random() * 100:.3f},{r.randint(0, 10**6)},"
            f"{r.randint(0, 999)},{r.choice(['true', 'false'])},t{r.randint(0, 9)},idx{r.randint(0, 5)},"
            f"{r.random():.4f},{r.random():.4f}"
        )
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the daily file (default 20,000)")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per mode (default 15)")
    args = parser.parse_args()

    from daemon.convert.exporter import Exporter
    from daemon.convert.inputs import classify
    from daemon.convert.ledger import Ledger
    from daemon.service.attempt import Attempts
    from daemon.service.worker import ConversionWorker
    from daemon.settings import resolve
    from daemon.state.database import State

    with tempfile.TemporaryDirectory(prefix="freshness-") as tmp:
        root = Path(tmp)
        (root / "g" / "reports").mkdir(parents=True)
        (root / "knowledge" / "optimize").mkdir(parents=True)
        settings = resolve({"root": root, "nice": 0}, env={})
        source = root / "g" / "reports" / "query_perf_daily_20251028.csv"
        write_daily(source, args.rows, 0)
        item = classify(source, settings)
        assert item is not None
        worker = ConversionWorker(settings)
        with State(settings.state_file) as state:
            ledger = Ledger(settings, state)

            def attempts(with_worker: bool) -> Attempts:
                return Attempts(
                    settings,
                    Exporter(settings, state),
                    ledger,
                    stop_event=threading.Event(),
                    clock=time.monotonic,
                    tick=lambda: None,
                    on_retry=lambda: None,
                    worker=worker if with_worker else None,
                )

            modes = {"thread": attempts(False), "worker": attempts(True)}
            for name, attempt in modes.items():  # warm-up: polars loaded, the worker started
                write_daily(source, args.rows, -1 if name == "thread" else -2)
                assert attempt.convert(item).status == "written"
            times: dict[str, list[float]] = {name: [] for name in modes}
            seed = 1
            for _ in range(args.repeat):
                for name, attempt in modes.items():
                    write_daily(source, args.rows, seed)
                    seed += 1
                    started = time.perf_counter()
                    outcome = attempt.convert(item)
                    times[name].append(time.perf_counter() - started)
                    assert outcome.status == "written", outcome
        worker.stop()
    size = source.name
    print(f"daily file {size}: {args.rows:,} rows, {args.repeat} runs per mode (median, min-max, ms)")
    for name, values in times.items():
        ms = sorted(v * 1000 for v in values)
        print(f"  {name:<7} {statistics.median(ms):8.1f}   {ms[0]:.1f}-{ms[-1]:.1f}")
    added = (statistics.median(times["worker"]) - statistics.median(times["thread"])) * 1000
    print(f"  the worker adds {added:+.1f} ms to the freshness of a settled file")


if __name__ == "__main__":
    main()
