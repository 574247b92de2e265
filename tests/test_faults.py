"""Faults the daemon must survive: a full disk, and kill -9 in the middle of a large conversion."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from daemon.convert.writer import META_PREFIX
from tests import daemonproc
from tests.conftest import HEADER, WriteCsv

DAY = "20251028"


def can_mount() -> bool:
    return os.geteuid() == 0 and subprocess.run(["which", "mount"], capture_output=True, check=False).returncode == 0


@pytest.fixture
def tiny_output(root: Path) -> Iterator[Callable[[str], None]]:
    """Mount a 64 KiB tmpfs as the output folder; the fixture's function resizes it (e.g. "8m")."""
    if not can_mount():
        pytest.skip("needs root and mount(8) to put the output folder on a tiny tmpfs")
    target = root / daemonproc.OUTPUT
    target.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(target)], check=False)
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")

    def resize(size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(target)], check=True)

    try:
        yield resize
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def many_rows(day: dt.date, n: int, seed: int = 1) -> list[str]:
    """`n` valid, varied query_perf lines for `day` (varied so they do not compress to nothing)."""
    r = random.Random(seed)
    start = dt.datetime.combine(day, dt.time())
    step = 86_400_000_000 // max(n, 1)
    return [
        f"{(start + dt.timedelta(microseconds=i * step)).isoformat()}Z,{r.getrandbits(48):012x},SELECT,"
        f"{r.random() * 100:.3f},{r.randint(0, 10**6)},{r.randint(0, 999)},{r.choice(['true', 'false'])},"
        f"t{r.randint(0, 9)},idx{r.randint(0, 5)},{r.random():.4f},{r.random():.4f}"
        for i in range(n)
    ]


def parquet_files_are_whole(root: Path) -> list[Path]:
    """Every *.parquet under the output folder, each checked to be readable to its last row."""
    files = sorted((root / daemonproc.OUTPUT).rglob("*.parquet"))
    for path in files:
        duckdb.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()
    return files


@pytest.mark.slow
def test_full_disk_is_retried_until_space_is_freed(
    root: Path,
    write_daily: WriteCsv,
    tiny_output: Callable[[str], None],
    start_daemon: Callable[..., daemonproc.DaemonProcess],
) -> None:
    """With the output folder full, the export fails with "no space", leaves no partial file, the daemon
    keeps running and retrying, and the file is exported once space is freed."""
    write_daily(DAY, many_rows(dt.date(2025, 10, 28), 20_000))
    daemon = start_daemon({"PARQUET_EXPORTER_RETRY_MAX_WAIT_SECONDS": "0.05", "PARQUET_EXPORTER_RETRY_ATTEMPTS": "2"})
    daemonproc.wait_until(lambda: daemon.events("export.retry_later"), 20, "a deferred retry after a full disk")
    [first, *_] = daemon.events("export.failed")
    assert "no space left on device" in first["error"]
    assert [] == parquet_files_are_whole(root)
    assert daemon.proc.poll() is None
    tiny_output("16m")
    output = daemonproc.daily_output(root, DAY)
    daemonproc.wait_until(output.exists, 30, "the export once space was freed")
    assert 20_000 == duckdb.execute(f"SELECT count(*) FROM read_parquet('{output}')").fetchall()[0][0]
    assert [output] == parquet_files_are_whole(root)
    assert 0 == daemon.stop()


# ------------------------------------------------------------------ kill -9 at random moments
BIG_DAY = dt.date(2025, 10, 28)
BIG_ROWS = 1_500_000
BIG_REJECTED = 150  # the with-rejects file's bad rows, spread over its second half (see `big_csvs`)
KILLS = 8  # per file, at seeded random moments spread over the conversion's measured duration
SEED_ENV = "FAULTS_SEED"  # set it to replay a failed run's kill moments (the seed is printed)

# `export` as the kill runs start it, reporting which CSV path converted the file (for the timing run).
SPY_ON_THE_PATH = textwrap.dedent(
    """
    import sys
    import daemon.convert.exporter as exporter
    from daemon.cli.commands import main

    convert = exporter.convert_csv

    def spy(*args, **kwargs):
        result = convert(*args, **kwargs)
        print("path=" + result.route, file=sys.stderr)
        return result

    exporter.convert_csv = spy
    sys.exit(main(["export", "--root", sys.argv[1]]))
    """
)


@dataclass(frozen=True)
class BigCsv:
    """A generated 1.5M-row daily report outside any root, and what its export must give."""

    path: Path
    rows: int  # data rows, good and bad (not the header)
    rejected: int
    sha256: str
    good_hashes: pl.Series  # the good rows' query_hash, sorted: what the output must hold


def rejected_lines(day: dt.date, n: int) -> list[str]:
    """`n` query_perf lines the careful path rejects: a number, a timestamp or a boolean that cannot be typed."""
    kinds = (
        "{day}T12:00:00Z,bad{i},SELECT,slow,1,1,true,t,i,0.5,0.5",
        "not a time,bad{i},SELECT,1.0,1,1,true,t,i,0.5,0.5",
        "{day}T12:00:00Z,bad{i},SELECT,1.0,1,1,perhaps,t,i,0.5,0.5",
    )
    return [kinds[i % len(kinds)].format(day=day.isoformat(), i=i) for i in range(n)]


@pytest.fixture(scope="module")
def kill_seed() -> int:
    """The seed of the kill moments: $FAULTS_SEED, else a fresh one (each test prints it, to replay a failure)."""
    return int(os.environ.get(SEED_ENV) or random.SystemRandom().randrange(10**6))


@pytest.fixture(scope="module")
def big_csvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BigCsv]:
    """A clean 1.5M-row report (the fast path's) and the same rows with BIG_REJECTED bad ones in the second
    half (the fast path declines it late, the careful path converts it), generated once for the module."""
    folder = tmp_path_factory.mktemp("big")
    good = many_rows(BIG_DAY, BIG_ROWS)
    hashes = pl.Series([line.split(",", 2)[1] for line in good]).sort()
    half, bad = len(good) // 2, rejected_lines(BIG_DAY, BIG_REJECTED)
    every = half // len(bad)
    mixed = good[:half]
    for n, line in enumerate(bad):
        mixed += [*good[half + n * every : half + (n + 1) * every], line]
    mixed += good[half + len(bad) * every :]
    made = {}
    for kind, lines, rejected in (("clean", good, 0), ("rejects", mixed, len(bad))):
        path = folder / kind / f"query_perf_daily_{BIG_DAY:%Y%m%d}.csv"
        path.parent.mkdir()
        data = ("\n".join([HEADER, *lines]) + "\n").encode()
        path.write_bytes(data)
        made[kind] = BigCsv(path, len(lines), rejected, hashlib.sha256(data).hexdigest(), hashes)
    return made


def root_with(folder: Path, big: BigCsv) -> Path:
    """A fresh repository root under `folder` whose only input is `big` (a hard link: no 140 MB copy)."""
    reports = folder / "g" / "reports"
    reports.mkdir(parents=True)
    (folder / "knowledge" / "optimize").mkdir(parents=True)
    try:
        (reports / big.path.name).hardlink_to(big.path)
    except OSError:
        shutil.copyfile(big.path, reports / big.path.name)
    return folder


def timed_export(root: Path) -> tuple[str, float]:
    """Run one export of `root` as the kill runs do; the CSV path that converted it and the wall time."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", SPY_ON_THE_PATH, str(root)],
        cwd=root,
        env=daemonproc.clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
    )
    seconds = time.monotonic() - started
    assert 0 == done.returncode, done.stderr
    [path] = [line.removeprefix("path=") for line in done.stderr.splitlines() if line.startswith("path=")]
    return path, seconds


def kill_moments(rng: random.Random, seconds: float, n: int) -> list[float]:
    """`n` delays after the start, one drawn in each of `n` equal slices of 5 %..100 % of `seconds`, shuffled."""
    first, width = 0.05 * seconds, 0.95 * seconds / n
    moments = [first + width * (i + rng.random()) for i in range(n)]
    rng.shuffle(moments)
    return moments


def footer(path: Path) -> tuple[int, dict[str, str]]:
    """Read a Parquet file to its last value; its row count (checked against the footer's) and our metadata."""
    file = pq.ParquetFile(path)
    rows = file.read().num_rows  # every column of every row group, decoded
    assert file.metadata.num_rows == rows, path
    ours = {k.decode(): v.decode() for k, v in (file.metadata.metadata or {}).items()}
    return rows, {k.removeprefix(META_PREFIX): v for k, v in ours.items() if k.startswith(META_PREFIX)}


def check_after_kill(root: Path, big: BigCsv, where: str) -> list[str]:
    """Every .parquet under the output tree is whole and holds what its footer counts, everything else there
    is a dot-named `.tmp-` temporary, and the state answers `status --json`; returns the names seen."""
    seen = []
    for path in sorted(p for p in (root / daemonproc.OUTPUT).rglob("*") if not p.is_dir()):
        if not path.name.endswith(".parquet"):
            assert path.name.startswith("."), f"{path}: neither an output nor a dot-named temporary ({where})"
            assert ".tmp-" in path.name, f"{path}: neither an output nor a `.tmp-` temporary ({where})"
            seen.append(".tmp-")
            continue
        rows, meta = footer(path)
        assert big.sha256 == meta.get("source_sha256"), f"{path} ({where})"
        if "_rejects" in path.parts:
            assert big.rejected == rows, f"{path} ({where})"
        else:
            assert meta.get("rows_written") == str(rows), f"{path} ({where})"
            assert [str(big.rows), str(big.rejected)] == [meta.get("rows_in"), meta.get("rows_rejected")], where
        seen.append(path.name)
    status = daemonproc.run_cli(root, "status", "--json")
    assert 3 == status.returncode, f"status after {where} (3: no daemon runs): {status.stderr}"
    assert isinstance(json.loads(status.stdout), dict), where
    state = root / daemonproc.STATE / "state.db"
    if state.exists():
        with sqlite3.connect(state) as con:
            assert ("ok",) == con.execute("PRAGMA integrity_check").fetchone(), where
    return seen


def check_every_row_exported(root: Path, big: BigCsv, where: str) -> None:
    """The output holds exactly the source's good rows, the rejects file its bad rows; no temporary is left."""
    output = daemonproc.daily_output(root, f"{BIG_DAY:%Y%m%d}")
    good = pl.read_parquet(output, columns=["query_hash"], hive_partitioning=False)["query_hash"]
    rejects = sorted((root / daemonproc.OUTPUT / "_rejects").rglob("*.parquet"))
    rejected = sum(footer(path)[0] for path in rejects)
    assert big.rows == good.len() + rejected, where
    assert big.rejected == rejected, where
    assert big.good_hashes.equals(good.sort()), f"the output's rows are not the source's good rows ({where})"
    assert [] == [p for p in (root / daemonproc.OUTPUT).rglob("*") if ".tmp-" in p.name], where


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "csv_path"), [("clean", "fast"), ("rejects", "careful")])
def test_kill_9_at_random_moments_of_a_large_conversion_never_leaves_a_partial_file(
    kind: str,
    csv_path: str,
    tmp_path: Path,
    big_csvs: dict[str, BigCsv],
    kill_seed: int,
    processes: daemonproc.Processes,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """kill -9 of `export` at seeded random moments of a 1.5M-row conversion (fast path: clean file; careful
    path: one with rejects): each kill leaves only whole .parquet files and dot-named temporaries, and a state
    that answers `status`; then one run exports every good and bad row, and the next one skips."""
    big = big_csvs[kind]
    seed = kill_seed
    converted_by, seconds = timed_export(root_with(tmp_path / "timing", big))
    assert csv_path == converted_by, "the file must take the path this case is about"
    moments = kill_moments(random.Random(f"{seed}-{kind}"), seconds, KILLS)
    root = root_with(tmp_path / "root", big)
    with capsys.disabled():
        print(f"\n{kind} ({csv_path} path): {SEED_ENV}={seed}, export takes {seconds:.2f} s", end="")
    landed = []
    for n, delay in enumerate(moments):
        where = f"{kind}, {SEED_ENV}={seed}, kill {n + 1} at {delay:.2f} s"
        proc = processes.popen(
            daemonproc.cli("export", "--root", str(root), "--force"),
            cwd=root,
            env=daemonproc.clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.kill()
        landed.append(-9 == proc.wait(10))
        seen = check_after_kill(root, big, where)
        with capsys.disabled():
            print(f"\n  {where}: {'killed' if landed[-1] else 'had exited'}, left {seen}", end="")
    assert sum(landed) >= KILLS // 2, f"most kills must land before the export ends ({SEED_ENV}={seed})"
    first = daemonproc.run_cli(root, "export", "--json", timeout=120)
    assert 0 == first.returncode, first.stdout + first.stderr
    outcome = json.loads(first.stdout)
    assert [] == outcome["failed"]
    with capsys.disabled():
        print(f"\n  then one run: {len(outcome['written'])} written, {len(outcome['skipped'])} skipped", end="")
    check_every_row_exported(root, big, f"{kind}, {SEED_ENV}={seed}")
    status = daemonproc.run_cli(root, "status", "--json")
    assert 3 == status.returncode, status.stderr  # 3: no daemon runs (systemctl's convention)
    assert (1, big.rows - big.rejected) == itemgetter("files", "rows")(json.loads(status.stdout)["totals"])
    again = daemonproc.run_cli(root, "export", "--json", timeout=120)
    assert 0 == again.returncode, again.stderr
    report = json.loads(again.stdout)
    assert ([], [], 1) == (report["written"], report["failed"], len(report["skipped"]))
