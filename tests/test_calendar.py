"""Clock and calendar edges: Europe/Berlin's 2025 DST changes (the sweep, naive timestamps, partitions), the
sweep a sleeping machine missed, ISO week 53 and 29 February, each through the code that ships."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import polars as pl
import pytest
from structlog.testing import capture_logs

import daemon.service.loop
from daemon.convert.coerce import REASON, coerce
from daemon.convert.csv.records import read_csv_records
from daemon.convert.exporter import Exporter, Selection
from daemon.service.loop import Service
from daemon.service.scheduler import SweepScheduler
from daemon.settings import Settings, resolve
from daemon.specs import INDEX_ADVISOR, QUERY_PERF
from daemon.timeutil import local_date, next_sweep
from tests.conftest import HEADER, RunCli
from tests.csvconvert import convert_bytes
from tests.test_service import ScriptedSource, running, wait_for

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
SPRING, FALL = dt.date(2025, 3, 30), dt.date(2025, 10, 26)  # 02:00 CET -> 03:00 CEST; 03:00 CEST -> 02:00 CET


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def berlin(root: Path, **extra: object) -> Settings:
    """Settings for `root` with timezone (and any `extra` setting) in Europe/Berlin."""
    return resolve({"root": root, "timezone": "Europe/Berlin", **extra}, env={})


def csv_with(timestamps: list[str]) -> bytes:
    """A query_perf CSV with one valid row per timestamp text (query_hash `h<i>`)."""
    rows = [f"{ts},h{i},SELECT,1.5,1,1,true,orders,idx_a,0.5,0.25" for i, ts in enumerate(timestamps)]
    return ("\n".join([HEADER, *rows]) + "\n").encode()


# ------------------------------------------------------------------------------- the daily sweep
@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2025, 3, 28, 4, 0), utc(2025, 3, 29, 4, 0)),  # 05:00 CET
        (utc(2025, 3, 29, 4, 0), utc(2025, 3, 30, 3, 0)),  # 05:00 CEST, 23 hours later
        (utc(2025, 3, 30, 1, 30), utc(2025, 3, 30, 3, 0)),  # from inside the skipped hour's instant
        (utc(2025, 3, 30, 3, 0), utc(2025, 3, 31, 3, 0)),
        (utc(2025, 10, 25, 3, 0), utc(2025, 10, 26, 4, 0)),  # 05:00 CET, 25 hours later
        (utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 4, 0)),  # from the first 02:30
        (utc(2025, 10, 26, 1, 30), utc(2025, 10, 26, 4, 0)),  # from the second 02:30
        (utc(2025, 10, 26, 4, 0), utc(2025, 10, 27, 4, 0)),
    ],
)
def test_next_0500_sweep_in_berlin_across_both_2025_changes(after: dt.datetime, expected: dt.datetime) -> None:
    """The default 05:00 sweep stays at 05:00 Berlin wall time on both change days (23 h and 25 h apart)."""
    result = next_sweep(after, dt.time(5, 0), BERLIN)
    assert expected == result.astimezone(UTC)
    assert dt.time(5, 0) == result.astimezone(BERLIN).time()


def fire_times(fire: Callable[[dt.datetime | None, dt.datetime], dt.datetime | None], start: dt.datetime) -> list[str]:
    """Five days of fire times from `start`, the way APScheduler asks its trigger after each run."""
    times: list[str] = []
    previous: dt.datetime | None = None
    now = start
    for _ in range(5):
        at = fire(previous, now)
        assert at is not None
        times.append(at.astimezone(UTC).isoformat())
        previous = now = at
    return times


@pytest.mark.parametrize("sweep_time", ["00:00", "01:59", "02:00", "02:30", "03:00", "05:00", "23:30"])
@pytest.mark.parametrize("start", [utc(2025, 3, 28, 12), utc(2025, 10, 24, 12)], ids=["spring", "fall"])
def test_scheduler_fires_when_next_run_says_across_dst_changes(root: Path, sweep_time: str, start: dt.datetime) -> None:
    """The job's trigger fires once a day at the instants `next_run()` (the heartbeat, `status`) announces:
    no day skipped after the spring change and no second sweep in the repeated hour."""
    scheduler = SweepScheduler(berlin(root, sweep_time=sweep_time), lambda: None)

    def announced(previous: dt.datetime | None, now: dt.datetime) -> dt.datetime:
        return scheduler.next_run(previous or now - dt.timedelta(microseconds=1))

    expected = fire_times(announced, start)
    assert expected == fire_times(scheduler.trigger.get_next_fire_time, start)
    local_days = [dt.datetime.fromisoformat(t).astimezone(BERLIN).date() for t in expected]
    first = local_days[0]
    assert first - start.astimezone(BERLIN).date() in (dt.timedelta(0), dt.timedelta(days=1))
    assert [first + dt.timedelta(days=i) for i in range(5)] == local_days


# ------------------------------------------------------------------- the sweep a sleeper missed
def minutes_ago(minutes: int, tz: ZoneInfo = BERLIN) -> str:
    """The HH:MM wall time in `tz` that was `minutes` ago (a sweep time the machine just slept through)."""
    return (dt.datetime.now(tz) - dt.timedelta(minutes=minutes)).strftime("%H:%M")


def asleep_for_days(root: Path, days: int, *, grace_seconds: int) -> tuple[list[float], SweepScheduler]:
    """A SweepScheduler whose sweep fell due 61 minutes ago and `days` times before that while the machine
    slept (its job still points at the first missed sweep), started as on waking; returns its calls."""
    settings = berlin(root, sweep_time=minutes_ago(61), misfire_grace_seconds=grace_seconds)
    calls: list[float] = []
    scheduler = SweepScheduler(settings, lambda: calls.append(time.monotonic()))
    first_missed = scheduler.next_run(dt.datetime.now(UTC) - dt.timedelta(days=days, minutes=62))
    scheduler._scheduler.get_job("sweep").modify(next_run_time=first_missed)
    scheduler.start()
    return calls, scheduler


def test_sweep_missed_while_asleep_runs_once_on_waking(root: Path) -> None:
    """A machine asleep through three 05:00s (and today's) sweeps once on waking, not four times, and the
    job then points at the next announced sweep."""
    calls, scheduler = asleep_for_days(root, 3, grace_seconds=6 * 3600)
    try:
        wait_for(lambda: calls, timeout=5, what="the sweep on waking")
        time.sleep(0.3)
        assert 1 == len(calls)
        job = scheduler._scheduler.get_job("sweep")
        assert scheduler.next_run() == job.next_run_time
    finally:
        scheduler.stop()


def test_sweep_missed_by_more_than_the_grace_time_waits_for_the_next_day(root: Path) -> None:
    """A sweep missed by more than misfire_grace_seconds is dropped (APScheduler logs it as missed): the next
    sweep is the next day's, as documented."""
    calls, scheduler = asleep_for_days(root, 0, grace_seconds=1800)
    try:
        time.sleep(0.5)
        assert [] == calls
        assert scheduler.next_run() == scheduler._scheduler.get_job("sweep").next_run_time
    finally:
        scheduler.stop()


def test_daemon_that_slept_through_the_sweep_sweeps_once_on_waking(
    fast_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The running daemon, whose scheduler wakes three missed sweeps late, runs exactly one `scheduled` sweep
    (besides the start-up one), and that sweep retries the failed inputs."""
    settings = msgspec.structs.replace(fast_settings, sweep_time=minutes_ago(61, ZoneInfo(fast_settings.timezone)))
    woke = threading.Event()

    class Sleeper(SweepScheduler):
        def start(self) -> None:
            missed = self.next_run(dt.datetime.now(UTC) - dt.timedelta(days=3, minutes=62))
            self._scheduler.get_job("sweep").modify(next_run_time=missed)
            super().start()
            woke.set()

    monkeypatch.setattr(daemon.service.loop, "SweepScheduler", Sleeper)
    (settings.reports_path / "query_perf_daily_20251028.csv").write_bytes(b"foo,bar\n1,2\n")
    source = ScriptedSource()
    service = Service(settings, source=source)
    with capture_logs() as logs, running(service, source):
        assert woke.wait(5)
        wait_for(lambda: service.counters.sweeps == 2, what="the sweep on waking")
        time.sleep(0.5)
    assert ["startup", "scheduled"] == [e["reason"] for e in logs if e["event"] == "sweep.finished"]
    assert 2 == service.counters.failed, "the scheduled sweep tries the failed input again"


# ---------------------------------------------------------------- naive timestamps around DST
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-30T01:59:59", utc(2025, 3, 30, 0, 59, 59)),  # CET
        ("2025-03-30T03:00:00", utc(2025, 3, 30, 1, 0)),  # CEST
        ("2025-10-26T01:59:59", utc(2025, 10, 25, 23, 59, 59)),  # CEST
        ("2025-10-26T02:00:00", utc(2025, 10, 26, 0, 0)),  # the repeated hour: its first (CEST) occurrence
        ("2025-10-26T02:30:00", utc(2025, 10, 26, 0, 30)),
        ("2025-10-26T02:59:59", utc(2025, 10, 26, 0, 59, 59)),
        ("2025-10-26T03:00:00", utc(2025, 10, 26, 2, 0)),  # CET
        ("2025-10-26T02:30:00+01:00", utc(2025, 10, 26, 1, 30)),  # the second 02:30 needs its offset
    ],
)
def test_naive_berlin_timestamps_around_dst_are_read_as_berlin_wall_time(text: str, expected: dt.datetime) -> None:
    """With source_timezone Europe/Berlin a naive timestamp is Berlin wall time; in the repeated hour it is
    the first occurrence, and an explicit offset picks the second."""
    result = convert_bytes(csv_with([text]), QUERY_PERF, "Europe/Berlin", "Europe/Berlin")
    assert [] == result.bad[REASON].to_list()
    assert [expected.replace(tzinfo=None)] == result.good["timestamp"].to_list()


@pytest.mark.parametrize("text", ["2025-03-30T02:00:00", "2025-03-30T02:30:00", "2025-03-30 02:59:59"])
def test_naive_berlin_timestamp_in_the_dst_gap_is_rejected_not_guessed(text: str) -> None:
    """A naive Berlin wall time that never happened (the spring gap) is a rejected row naming the value,
    not silently moved to a neighbouring hour."""
    data = csv_with(["2025-03-30T01:30:00", text])
    result = convert_bytes(data, QUERY_PERF, "Europe/Berlin", "Europe/Berlin")
    assert ["h0"] == result.good["query_hash"].to_list()
    [reason] = result.bad[REASON].to_list()
    assert text in reason


def test_streamed_export_agrees_with_the_in_memory_reader_around_dst(root: Path) -> None:
    """The daemon's streamed CSV path types naive Berlin timestamps around both changes exactly as the
    in-memory csv-module reader does: same rows written, same rows rejected, same instants and partitions."""
    texts = [
        f"{day}T{hh:02d}:{mm:02d}:00" for day in ("2025-03-30", "2025-10-26") for hh in (1, 2, 3) for mm in (0, 30)
    ]
    data = csv_with(texts)
    settings = berlin(root, source_timezone="Europe/Berlin")
    (settings.reports_path / "query_perf_daily_20250330.csv").write_bytes(data)
    with capture_logs():
        report = Exporter(settings, None).export(Selection(mode="historical"))
    [written] = report.written
    reference = coerce(read_csv_records(data, QUERY_PERF), QUERY_PERF, "Europe/Berlin", "Europe/Berlin")
    assert (reference.good.height, reference.bad.height) == (written.rows_written, written.rows_rejected)
    assert (10, 2) == (written.rows_written, written.rows_rejected)
    output = pl.read_parquet(settings.root / str(written.output)).sort("query_hash")
    expected = reference.good.sort("query_hash").select("query_hash", "timestamp", "date_partition")
    assert expected.to_dicts() == output.select("query_hash", "timestamp", "date_partition").to_dicts()


# ------------------------------------------------------------------------- partitions around DST
@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (utc(2025, 3, 29, 22, 59, 59), dt.date(2025, 3, 29)),  # 23:59:59 CET
        (utc(2025, 3, 29, 23, 0), SPRING),  # 00:00 CET
        (utc(2025, 3, 30, 1, 0), SPRING),  # 03:00 CEST, the first instant after the gap
        (utc(2025, 3, 30, 21, 59, 59), SPRING),  # 23:59:59 CEST
        (utc(2025, 3, 30, 22, 0), dt.date(2025, 3, 31)),
        (utc(2025, 10, 25, 21, 59, 59), dt.date(2025, 10, 25)),  # 23:59:59 CEST
        (utc(2025, 10, 25, 22, 0), FALL),  # 00:00 CEST
        (utc(2025, 10, 26, 1, 30), FALL),  # the second 02:30 (CET)
        (utc(2025, 10, 26, 22, 59, 59), FALL),  # 23:59:59 CET
        (utc(2025, 10, 26, 23, 0), dt.date(2025, 10, 27)),
    ],
)
def test_date_partition_is_the_berlin_calendar_date_around_dst(instant: dt.datetime, expected: dt.date) -> None:
    """date_partition is the instant's calendar date in Europe/Berlin, on either side of both changes (and
    agrees with timeutil.local_date, which dates undated reports)."""
    text = instant.strftime("%Y-%m-%dT%H:%M:%SZ")
    result = convert_bytes(csv_with([text]), QUERY_PERF, "Europe/Berlin", "UTC")
    assert [expected] == result.good["date_partition"].to_list()
    assert expected == local_date(instant, BERLIN)


def test_undated_report_is_keyed_by_its_berlin_date_across_midnight_cest(root: Path) -> None:
    """An undated index-advisor report stamped 22:30Z on 2025-10-25 is 00:30 CEST on the 26th in Berlin, so it
    is exported as index_advisor_20251026 under month=10, and its rows carry that date_partition."""
    settings = berlin(root)
    (settings.optimize_path / "index_advisor_report.json").write_text(
        '{"timestamp": "2025-10-25T22:30:00Z", "recommendations": [{"table": "orders", "index": "idx_o"}]}'
    )
    with capture_logs():
        [written] = Exporter(settings, None).export(Selection(mode="historical")).written
    assert "knowledge/optimize/parquet/index_advisor/year=2025/month=10/index_advisor_20251026.parquet" == (
        written.output
    )
    assert [FALL] == pl.read_parquet(settings.root / str(written.output))["date_partition"].to_list()


# ------------------------------------------------------------------------------------ ISO week 53
def weekly(root: Path, key: str) -> Path:
    """Write query_perf_weekly_<key>.csv with one row per day of that ISO week (when it exists)."""
    year, week = int(key[:4]), int(key[4:])
    try:
        days = [dt.date.fromisocalendar(year, week, d) for d in range(1, 8)]
    except ValueError:
        days = [dt.date(year, 12, 31)]
    path = root / "g" / "reports" / f"query_perf_weekly_{key}.csv"
    path.write_bytes(csv_with([f"{d.isoformat()}T12:00:00Z" for d in days]))
    return path


def test_iso_week_53_is_filed_under_its_thursday_and_an_impossible_week_53_fails(root: Path, run_cli: RunCli) -> None:
    """Week 2020-W53 (Thursday 2020-12-31) and 2026-W53 are exported under month=12 of their ISO year, week
    2026-W01 under January though it starts in December; 2021-W53 does not exist: a failed input with a
    reason and no partition folder."""
    for key in ("202053", "202153", "202601", "202653"):
        weekly(root, key)
    result = run_cli("export", "--historical", "--json", "--root", root)
    assert 1 == result.code
    report = result.json()
    base = "knowledge/optimize/parquet/query_perf_weekly"
    assert [
        f"{base}/year=2020/month=12/query_perf_weekly_202053.parquet",
        f"{base}/year=2026/month=01/query_perf_weekly_202601.parquet",
        f"{base}/year=2026/month=12/query_perf_weekly_202653.parquet",
    ] == sorted(w["output"] for w in report["written"])
    [failed] = report["failed"]
    assert ("g/reports/query_perf_weekly_202153.csv", None) == (failed["source"], failed["output"])
    assert "'202153' is not a real ISO week (year 2021 has 52 weeks)" == failed["error"]
    assert not (root / base / "year=2021").exists()
    week53 = pl.read_parquet(root / f"{base}/year=2020/month=12/query_perf_weekly_202053.parquet")
    assert [dt.date(2020, 12, 28) + dt.timedelta(days=i) for i in range(7)] == sorted(
        week53["date_partition"].to_list()
    )


def test_export_date_in_the_new_year_picks_iso_week_53_of_the_old_one(root: Path, run_cli: RunCli) -> None:
    """`export --date 2021-01-03` (a Sunday) selects the weekly report of the week containing it: 2020-W53."""
    for key in ("202053", "202101"):
        weekly(root, key)
    result = run_cli("export", "--date", "2021-01-03", "--dataset", "query_perf_weekly", "--json", "--root", root)
    assert 0 == result.code
    assert ["g/reports/query_perf_weekly_202053.csv"] == [w["source"] for w in result.json()["written"]]


# ------------------------------------------------------------------------------------ 29 February
def test_29_february_of_a_leap_year_is_a_partition_and_of_a_common_year_a_failed_input(
    root: Path, run_cli: RunCli
) -> None:
    """20240229 and 20000229 are exported under month=02; 20250229 and 21000229 (not leap years), as daily
    reports or index-advisor reports, fail with "not a real date" and create no partition folder."""
    reports, optimize = root / "g" / "reports", root / "knowledge" / "optimize"
    for key in ("20240229", "20000229", "20250229", "21000229"):
        (reports / f"query_perf_daily_{key}.csv").write_bytes(csv_with([f"{key[:4]}-02-28T12:00:00Z"]))
    (optimize / "index_advisor_report_20250229.json").write_text(
        '{"timestamp": "2025-02-28T03:00:00Z", "recommendations": [{"table": "orders", "index": "idx_o"}]}'
    )
    result = run_cli("export", "--historical", "--json", "--root", root)
    assert 1 == result.code
    report = result.json()
    base = "knowledge/optimize/parquet"
    assert [
        f"{base}/query_perf/year=2000/month=02/query_perf_20000229.parquet",
        f"{base}/query_perf/year=2024/month=02/query_perf_20240229.parquet",
    ] == sorted(w["output"] for w in report["written"])
    failures = {f["source"].rsplit("/", 1)[1]: f["error"] for f in report["failed"]}
    assert {
        "query_perf_daily_20250229.csv": "'20250229' is not a real date (day is out of range for month)",
        "query_perf_daily_21000229.csv": "'21000229' is not a real date (day is out of range for month)",
        "index_advisor_report_20250229.json": "'20250229' is not a real date (day is out of range for month)",
    } == failures
    assert sorted(p.name for p in (root / base).rglob("year=*")) == ["year=2000", "year=2024"]


def test_leap_day_rows_and_an_undated_report_from_29_february(root: Path) -> None:
    """A row stamped 2024-02-29 is kept and one stamped 2025-02-29 rejected naming the value; an undated
    report stamped 2024-02-28T17:30Z is 29 February in Bangkok, so it is keyed 20240229."""
    result = convert_bytes(csv_with(["2024-02-29T23:59:59Z", "2025-02-29T00:00:00Z"]), QUERY_PERF, "UTC", "UTC")
    assert [dt.date(2024, 2, 29)] == result.good["date_partition"].to_list()
    assert ["timestamp: cannot read '2025-02-29T00:00:00Z' as TIMESTAMP"] == result.bad[REASON].to_list()
    settings = resolve({"root": root}, env={})
    (settings.optimize_path / "index_advisor_report.json").write_text(
        '{"timestamp": "2024-02-28T17:30:00Z", "recommendations": [{"table": "orders", "index": "idx_o"}]}'
    )
    with capture_logs():
        [written] = Exporter(settings, None).export(Selection(mode="historical"), dry_run=True).written
    assert str(written.output).endswith("index_advisor/year=2024/month=02/index_advisor_20240229.parquet")
    assert INDEX_ADVISOR.name == written.dataset
