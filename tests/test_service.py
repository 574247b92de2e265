"""The daemon's service loop driven in-process by a scripted event source (no real watcher)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pytest
from structlog.testing import capture_logs

import daemon.convert.exporter
import daemon.service.attempt
import daemon.service.loop
from daemon.convert.exporter import Exporter, Outcome
from daemon.convert.inputs import InputFile
from daemon.convert.source import SourceBytes
from daemon.errors import AlreadyRunning, SourceChanged, TransientIOError
from daemon.service.loop import Counters, Service
from daemon.service.watcher import EventKind, EventSink
from daemon.settings import Settings
from daemon.state.database import State
from daemon.state.heartbeat import read_heartbeat
from daemon.state.locks import export_lock
from tests.conftest import WriteCsv

DAY = "20251028"
Script = Callable[[EventSink], None]
Logs = list[MutableMapping[str, Any]]


class ScriptedSource:
    """An EventSource that runs a script when the service starts watching, then takes pushed events."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script
        self.sink: EventSink | None = None
        self.started = threading.Event()
        self.stopped = threading.Event()

    def start(self, sink: EventSink) -> None:
        self.sink = sink
        if self.script is not None:
            self.script(sink)
        self.started.set()

    def stop(self) -> None:
        self.stopped.set()

    def push(self, path: Path | None, kind: EventKind = "changed") -> None:
        assert self.sink is not None
        self.sink(path, kind)

    def emit(self, path: Path, kind: EventKind = "changed") -> None:
        """Like a real watcher: deliver the event if watching has started, else it is lost."""
        if self.sink is not None and not self.stopped.is_set():
            self.sink(path, kind)


class FakeClock:
    """A monotonic clock that only moves when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll `predicate` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


@contextlib.contextmanager
def running(service: Service, source: ScriptedSource, *, swept: bool = True) -> Iterator[None]:
    """Run `service` in a thread until the block ends (entered once the start-up sweep is done, unless
    `swept` is False); re-raise whatever the loop raised."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["counters"] = service.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            box["error"] = exc
            source.started.set()

    thread = threading.Thread(target=target, name="service", daemon=True)
    thread.start()
    try:
        assert source.started.wait(10), "the service never started watching"
        if swept:
            wait_for(lambda: service.last_sweep or "error" in box, what="the start-up sweep")
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        yield
    finally:
        service.request_stop()
        thread.join(10)
    assert not thread.is_alive(), "the service did not stop within 10 s"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]


def events(logs: Logs, name: str) -> Logs:
    return [e for e in logs if e["event"] == name]


def output_of(settings: Settings, key: str = DAY) -> Path:
    return settings.output_path / "query_perf" / f"year={key[:4]}" / f"month={key[4:6]}" / f"query_perf_{key}.parquet"


def rel(settings: Settings, path: Path) -> str:
    return str(path.relative_to(settings.root))


ConvertOnce = Callable[..., Outcome]


def wrap_convert(monkeypatch: pytest.MonkeyPatch, before: Callable[[InputFile], None]) -> None:
    """Run `before(item)` at the start of every conversion attempt (Exporter._convert), then convert."""
    real: ConvertOnce = Exporter._convert

    def convert(self: Exporter, item: InputFile, **kwargs: Any) -> Outcome:
        before(item)
        return real(self, item, **kwargs)

    monkeypatch.setattr(Exporter, "_convert", convert)


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every conversion attempt (one path per attempt, retries included)."""
    seen: list[Path] = []
    wrap_convert(monkeypatch, lambda item: seen.append(item.path))
    return seen


@pytest.fixture
def count_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every time the exporter opens a source to read or hash it (one path per read)."""
    reads: list[Path] = []
    for name in ("read_source", "hash_source"):
        real: Callable[..., SourceBytes] = getattr(daemon.convert.exporter, name)

        def counting(path: Path, *args: object, real: Callable[..., SourceBytes] = real) -> SourceBytes:
            reads.append(path)
            return real(path, *args)

        monkeypatch.setattr(daemon.convert.exporter, name, counting)
    return reads


def test_burst_of_200_events_is_one_conversion(fast_settings: Settings, write_daily: WriteCsv) -> None:
    """200 change events for one new file end in exactly one conversion and one `export.written`."""
    clock = FakeClock()
    source = ScriptedSource()
    service = Service(fast_settings, source=source, clock=clock)
    with capture_logs() as logs, running(service, source):
        path = write_daily(DAY)
        for _ in range(200):
            source.push(path)
        wait_for(lambda: service.counters.events == 200, what="the 200 events")
        assert 1 == len(service.settler)
        assert 0 == service.counters.written, "nothing converts before the settle time has passed"
        clock.advance(2 * fast_settings.settle_seconds)
        wait_for(lambda: service.counters.written, what="the conversion")
        wait_for(lambda: service.requests.empty() and not len(service.settler), what="an idle queue")
        clock.advance(10 * fast_settings.settle_seconds)
        time.sleep(0.2)
    assert (1, 0, 0) == (service.counters.written, service.counters.skipped, service.counters.failed)
    assert 1 == len(events(logs, "export.written"))
    assert 5 == pl.read_parquet(output_of(fast_settings)).height


def test_outputs_temporaries_logs_and_editor_files_never_trigger_work(
    fast_settings: Settings, write_daily: WriteCsv
) -> None:
    """Events for outputs, temp files, logs, state and `.DS_Store` are ignored; only the real input counts."""
    s = fast_settings
    other = "20251027"  # outputs of another day, so converting DAY leaves them alone
    junk = [
        output_of(s, other),
        output_of(s, other).with_name(f".query_perf_{other}.parquet.tmp-123-abcd"),
        s.rejects_path / "query_perf" / "year=2025" / "month=10" / f"query_perf_{other}_rejects.parquet",
        s.reports_path / ".DS_Store",
        s.optimize_path / ".DS_Store",
        s.reports_path / f".query_perf_daily_{DAY}.csv.swp",
        s.reports_path / f"query_perf_daily_{DAY}.csv~",
        s.reports_path / f"query_perf_daily_{DAY}.csv.tmp",
        s.reports_path / f".query_perf_daily_{DAY}.csv.tmp-42-beef",
        s.reports_path / "notes.txt",
        s.log_path,
        s.log_path.with_name(s.log_path.name + ".1"),
        s.state_path / "heartbeat.json",
        s.state_path / "state.db-wal",
    ]
    source = ScriptedSource()
    service = Service(s, source=source)
    with capture_logs() as logs, running(service, source):
        for path in junk:  # the files appear while the daemon watches
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"not an input")
            source.push(path, "changed")
            source.push(path, "deleted")
        real = write_daily(DAY)
        source.push(real)  # handled after the junk: one worker, first in first out
        wait_for(lambda: service.counters.written, what="the real input's conversion")
    assert 1 == service.counters.events
    assert [str(real)] == [e["path"] for e in events(logs, "watch.event")]
    assert [] == events(logs, "source.deleted")
    untouched = [p for p in junk if s.state_path not in p.parents]  # the daemon owns its state files
    assert [b"not an input"] * len(untouched) == [p.read_bytes() for p in untouched]


def test_deleted_source_is_logged_and_its_output_kept(fast_settings: Settings, write_daily: WriteCsv) -> None:
    """Deleting a converted source logs `source.deleted`; its Parquet output stays readable."""
    path = write_daily(DAY)
    source = ScriptedSource()
    service = Service(fast_settings, source=source)
    with capture_logs() as logs, running(service, source):
        assert 1 == service.counters.written
        path.unlink()
        source.push(path, "deleted")
        wait_for(lambda: service.counters.deleted_sources, what="source.deleted")
    [deleted] = events(logs, "source.deleted")
    assert rel(fast_settings, path) == deleted["source"]
    assert "warning" == deleted["log_level"]
    assert 5 == pl.read_parquet(output_of(fast_settings)).height


def test_file_vanishing_before_it_settles_is_reported_not_converted(
    fast_settings: Settings, write_daily: WriteCsv
) -> None:
    """A file that disappears while settling is reported as deleted and never converted."""

    def script(sink: EventSink) -> None:
        path = write_daily(DAY)
        sink(path, "changed")
        path.unlink()

    source = ScriptedSource(script)
    service = Service(fast_settings, source=source)
    with capture_logs() as logs, running(service, source):
        wait_for(lambda: service.counters.deleted_sources, what="source.deleted")
    assert 1 == len(events(logs, "source.deleted"))
    assert (0, 0, 0) == (service.counters.written, service.counters.skipped, service.counters.failed)
    assert not output_of(fast_settings).exists()


def test_run_once_converts_existing_files_and_a_second_run_only_stats(
    fast_settings: Settings, write_daily: WriteCsv, write_advisor: Callable[..., Path], count_reads: list[Path]
) -> None:
    """`run(once=True)` converts what is there and returns counts; a second run re-reads nothing."""
    write_daily("20251027")
    write_daily(DAY)
    write_advisor(
        {
            "timestamp": "2025-10-28T03:00:00Z",
            "recommendations": [
                {"table": "orders", "index": "idx_orders_customer", "priority": "high", "estimated_speedup": 3.5}
            ],
        }
    )
    source = ScriptedSource()
    counters = Service(fast_settings, source=source).run(once=True)
    assert not source.started.is_set()
    assert (3, 0, 0, 1) == (counters.written, counters.skipped, counters.failed, counters.sweeps)
    assert 11 == counters.rows_written
    assert 3 == len(set(count_reads))
    reads_after_first_run = len(count_reads)

    with capture_logs() as logs:
        again = Service(fast_settings, source=ScriptedSource()).run(once=True)
    [finished] = events(logs, "sweep.finished")
    assert (3, 3, 0, 0, 0) == tuple(finished[k] for k in ("inputs", "unchanged", "written", "skipped", "failed"))
    assert Counters(sweeps=1) == again
    assert reads_after_first_run == len(count_reads), "an unchanged input must cost a stat, not a read"
    assert ["daemon.started", "sweep.started", "sweep.finished", "daemon.stopped"] == [e["event"] for e in logs]


def test_touched_but_identical_source_is_hashed_and_skipped(
    fast_settings: Settings, write_daily: WriteCsv, attempts: list[Path]
) -> None:
    """A source whose mtime changed but whose content did not is hashed again and skipped, not rewritten."""
    path = write_daily(DAY)
    Service(fast_settings, source=ScriptedSource()).run(once=True)
    written_at = output_of(fast_settings).stat().st_mtime_ns
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    counters = Service(fast_settings, source=ScriptedSource()).run(once=True)
    assert (0, 1) == (counters.written, counters.skipped)
    assert [path, path] == attempts
    assert written_at == output_of(fast_settings).stat().st_mtime_ns


def test_sweep_reports_orphans_without_deleting_them(fast_settings: Settings, write_daily: WriteCsv) -> None:
    """An output whose source was deleted is reported by the sweep as an orphan and left in place."""
    gone = write_daily("20251027")
    write_daily(DAY)
    Service(fast_settings, source=ScriptedSource()).run(once=True)
    gone.unlink()
    with capture_logs() as logs:
        Service(fast_settings, source=ScriptedSource()).run(once=True)
    [finished] = events(logs, "sweep.finished")
    assert (1, 1) == (finished["orphans"], finished["inputs"])
    orphan = output_of(fast_settings, "20251027")
    assert [rel(fast_settings, orphan)] == [e["output"] for e in events(logs, "sweep.orphan")]
    assert 5 == pl.read_parquet(orphan).height


def flaky_exporter(monkeypatch: pytest.MonkeyPatch, failures: int, error: type[Exception]) -> list[Path]:
    """Make the first `failures` conversion attempts fail with `error` (as an EBUSY read would), then work."""
    seen: list[Path] = []

    def before(item: InputFile) -> None:
        seen.append(item.path)
        if len(seen) <= failures:
            raise error(f"reading {item.path.name}: Device or resource busy")

    wrap_convert(monkeypatch, before)
    return seen


@pytest.mark.parametrize("error", [TransientIOError, SourceChanged])
def test_transient_errors_are_retried_then_succeed(
    fast_settings: Settings, write_daily: WriteCsv, monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    """Two transient failures log `export.retry` twice, then the file is written."""
    write_daily(DAY)
    tries = flaky_exporter(monkeypatch, 2, error)
    with capture_logs() as logs:
        counters = Service(fast_settings, source=ScriptedSource()).run(once=True)
    retries = events(logs, "export.retry")
    assert [1, 2] == [r["attempt"] for r in retries]
    assert all(r["source"] == f"g/reports/query_perf_daily_{DAY}.csv" for r in retries)
    assert (1, 0, 2) == (counters.written, counters.failed, counters.retries)
    assert 3 == len(tries)
    assert [] == events(logs, "export.failed")
    assert 5 == pl.read_parquet(output_of(fast_settings)).height


def test_transient_errors_give_up_after_retry_attempts(
    fast_settings: Settings, write_daily: WriteCsv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transient failure that never clears stops after `retry_attempts` and is recorded as failed."""
    write_daily(DAY)
    settings = msgspec.structs.replace(fast_settings, retry_attempts=3)
    tries = flaky_exporter(monkeypatch, 1000, TransientIOError)
    with capture_logs() as logs:
        counters = Service(settings, source=ScriptedSource()).run(once=True)
    assert 3 == len(tries)
    assert 2 == len(events(logs, "export.retry"))
    [failed] = events(logs, "export.failed")
    assert "TransientIOError" == failed["error_type"]
    assert (0, 1) == (counters.written, counters.failed)
    assert not output_of(settings).exists()


def test_data_error_is_not_retried_until_the_file_changes(
    fast_settings: Settings, write_daily: WriteCsv, attempts: list[Path], count_reads: list[Path]
) -> None:
    """A bad CSV fails once without retries, is skipped by the next sweep, and is converted once fixed."""
    path = write_daily(DAY, ["1,2"], header="foo,bar")
    with capture_logs() as logs:
        first = Service(fast_settings, source=ScriptedSource()).run(once=True)
    assert (1, 0) == (first.failed, first.retries)
    assert [] == events(logs, "export.retry")
    assert [path] == attempts
    reads = len(count_reads)

    with capture_logs() as logs:
        second = Service(fast_settings, source=ScriptedSource()).run(once=True)
    [finished] = events(logs, "sweep.finished")
    assert (1, 0) == (finished["unchanged"], finished["failed"])
    assert (0, 0) == (second.failed, second.written)
    assert [path] == attempts
    assert reads == len(count_reads), "a failed, unchanged input costs a stat, not a read"

    write_daily(DAY)
    assert path.stat().st_size > 20
    third = Service(fast_settings, source=ScriptedSource()).run(once=True)
    assert (1, 0) == (third.written, third.failed)
    assert 5 == pl.read_parquet(output_of(fast_settings)).height


def test_scheduled_sweep_tries_failed_inputs_again(
    fast_settings: Settings, write_daily: WriteCsv, attempts: list[Path]
) -> None:
    """The daily (scheduled) sweep gives failed inputs one more attempt; a start-up sweep does not."""
    write_daily(DAY, ["1,2"], header="foo,bar")
    Service(fast_settings, source=ScriptedSource()).run(once=True)
    source = ScriptedSource()
    service = Service(fast_settings, source=source)
    with capture_logs() as logs, running(service, source):
        assert 1 == len(attempts)
        service.request_sweep("scheduled")
        wait_for(lambda: service.counters.sweeps == 2, what="the scheduled sweep")
    assert 2 == len(attempts)
    assert ["startup", "scheduled"] == [e["reason"] for e in events(logs, "sweep.finished")]
    assert 1 == service.counters.failed


def test_leftover_temporaries_are_removed_at_start(fast_settings: Settings, write_daily: WriteCsv) -> None:
    """Temp files a crash left under the output folder are removed before the start-up sweep; others stay."""
    folder = output_of(fast_settings).parent
    folder.mkdir(parents=True)
    leftovers = [
        folder / f".query_perf_{DAY}.parquet.tmp-123-abcd",
        folder / f".query_perf_{DAY}.parquet.tmp-123-abcd-stage",
        fast_settings.rejects_path / f".query_perf_{DAY}_rejects.parquet.tmp-9-ffff",
    ]
    keep = folder / "README.txt"
    for path in [*leftovers, keep]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    write_daily(DAY)
    with capture_logs() as logs:
        Service(fast_settings, source=ScriptedSource()).run(once=True)
    assert [] == [p for p in leftovers if p.exists()]
    assert keep.exists()
    assert 3 == events(logs, "daemon.started")[0]["removed_temporaries"]
    assert 5 == pl.read_parquet(output_of(fast_settings)).height


def join_convert_threads(timeout: float = 10.0) -> None:
    """Wait for abandoned conversion threads so they do not outlive the test's folders."""
    for thread in threading.enumerate():
        if thread.name == "convert":
            thread.join(timeout)


def slow_exporter(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Make every conversion attempt take `seconds` longer."""
    wrap_convert(monkeypatch, lambda item: time.sleep(seconds))


def test_conversion_timeout_abandons_without_publishing(
    fast_settings: Settings, write_daily: WriteCsv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A conversion running past conversion_timeout is recorded as failed and never publishes its output."""
    write_daily(DAY)
    settings = msgspec.structs.replace(fast_settings, conversion_timeout=0.2)
    slow_exporter(monkeypatch, 0.8)
    started = time.monotonic()
    with capture_logs() as logs:
        counters = Service(settings, source=ScriptedSource()).run(once=True)
    took = time.monotonic() - started
    join_convert_threads()
    assert took < 0.75, "run() must not wait for the abandoned conversion"
    assert (0, 1, 0) == (counters.written, counters.failed, counters.retries)
    first_failure = events(logs, "export.failed")[0]
    assert "Abandoned" == first_failure["error_type"]
    assert "abandoned" in first_failure["error"]
    assert not output_of(settings).exists()
    assert [] == [p for p in settings.output_path.rglob("*") if p.is_file()]


def test_stop_abandons_a_long_conversion_within_the_grace_time(
    fast_settings: Settings, write_daily: WriteCsv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """request_stop() during a slow conversion returns after the grace time without publishing anything."""
    monkeypatch.setattr(daemon.service.attempt, "SHUTDOWN_GRACE_SECONDS", 0.2)
    slow_exporter(monkeypatch, 1.0)
    write_daily(DAY)
    source = ScriptedSource()
    service = Service(fast_settings, source=source)
    with capture_logs() as logs, running(service, source, swept=False):
        wait_for(lambda: any(t.name == "convert" for t in threading.enumerate()), what="the conversion")
        stop_at = time.monotonic()
    stopped_in = time.monotonic() - stop_at
    join_convert_threads()
    assert stopped_in < 0.9
    assert ["Abandoned"] == [e["error_type"] for e in events(logs, "export.failed")]
    assert 1 == len(events(logs, "daemon.stopped"))
    assert not output_of(fast_settings).exists()


def test_heartbeat_records_pid_counters_and_next_sweep(fast_settings: Settings, write_daily: WriteCsv) -> None:
    """The heartbeat file carries pid, running, counters and the next sweep, and says stopped at the end."""
    write_daily(DAY)
    source = ScriptedSource()
    service = Service(fast_settings, source=source)
    before = dt.datetime.now(dt.UTC)
    with running(service, source):
        wait_for(lambda: (read_heartbeat(fast_settings.state_path) or {}).get("running"), what="a heartbeat")
        wait_for(
            lambda: '"written": 1' in (fast_settings.state_path / "heartbeat.json").read_text(),
            what="a heartbeat after the start-up sweep",
        )
        beat = read_heartbeat(fast_settings.state_path)
    assert beat is not None
    assert os.getpid() == beat["pid"]
    assert isinstance(beat["counters"], dict)
    assert 1 == beat["counters"]["written"]
    assert isinstance(beat["next_sweep"], str)
    next_sweep = dt.datetime.fromisoformat(beat["next_sweep"])
    assert before < next_sweep <= before + dt.timedelta(days=1)
    assert (5, 0) == (next_sweep.hour, next_sweep.minute)
    assert beat["last_sweep"] is not None
    final = json.loads((fast_settings.state_path / "heartbeat.json").read_text())
    assert final["running"] is False
    assert [] == list(fast_settings.state_path.glob(".heartbeat.json.tmp-*"))


def test_heartbeat_is_refreshed_while_idle(fast_settings: Settings) -> None:
    """An idle daemon keeps refreshing its heartbeat every heartbeat_seconds."""
    source = ScriptedSource()
    service = Service(fast_settings, source=source)
    with running(service, source):
        wait_for(lambda: read_heartbeat(fast_settings.state_path), what="a heartbeat")
        first = (read_heartbeat(fast_settings.state_path) or {})["updated"]
        wait_for(
            lambda: (read_heartbeat(fast_settings.state_path) or {}).get("updated") != first,
            timeout=5,
            what="a newer heartbeat",
        )


def test_overflow_triggers_a_sweep(fast_settings: Settings, write_daily: WriteCsv) -> None:
    """A watcher overflow (lost events) logs `watch.overflow` and sweeps, catching the missed file."""
    source = ScriptedSource()
    service = Service(fast_settings, source=source)
    with capture_logs() as logs, running(service, source):
        write_daily(DAY)  # no event for it: the watcher "lost" it
        source.push(None, "overflow")
        wait_for(lambda: service.counters.sweeps == 2, what="the overflow sweep")
    assert 1 == len(events(logs, "watch.overflow"))
    assert ["startup", "overflow"] == [e["reason"] for e in events(logs, "sweep.finished")]
    assert 1 == service.counters.written


def test_manual_export_lock_defers_the_daemon(fast_settings: Settings, write_daily: WriteCsv) -> None:
    """While a manual export holds the export lock the daemon waits, and converts once it is released."""
    write_daily(DAY)
    source = ScriptedSource()
    service = Service(fast_settings, source=source)
    with contextlib.ExitStack() as manual_export:
        manual_export.enter_context(export_lock(fast_settings.state_path))
        with running(service, source, swept=False):
            time.sleep(10 * fast_settings.settle_seconds)
            assert 0 == service.counters.written
            assert not output_of(fast_settings).exists()
            manual_export.close()
            wait_for(lambda: service.counters.written, what="the deferred conversion")
    assert 5 == pl.read_parquet(output_of(fast_settings)).height


def test_second_service_on_the_same_root_is_refused(fast_settings: Settings) -> None:
    """A second daemon on the same root raises AlreadyRunning naming the first one's pid."""
    source = ScriptedSource()
    service = Service(fast_settings, source=source)
    with running(service, source), pytest.raises(AlreadyRunning, match=rf"already running \(pid {os.getpid()}\)"):
        Service(fast_settings, source=ScriptedSource()).run(once=True)


def test_stop_stops_the_source_and_logs_counters(fast_settings: Settings, write_daily: WriteCsv) -> None:
    """request_stop() stops the event source and ends with one `daemon.stopped` carrying the counters."""
    write_daily(DAY)
    source = ScriptedSource()
    service = Service(fast_settings, source=source)
    with capture_logs() as logs, running(service, source):
        pass
    assert source.stopped.is_set()
    [stopped] = events(logs, "daemon.stopped")
    assert (1, 1) == (stopped["written"], stopped["sweeps"])


def test_abandoned_conversion_is_recorded_once(
    fast_settings: Settings, write_daily: WriteCsv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timed-out conversion that ends later in the background adds no second failure to the history."""
    settings = msgspec.structs.replace(fast_settings, conversion_timeout=0.2)
    slow_exporter(monkeypatch, 0.6)
    path = write_daily(DAY)
    source = ScriptedSource()
    service = Service(settings, source=source)
    with capture_logs() as logs, running(service, source):
        join_convert_threads()  # the abandoned attempt runs to its end while the daemon keeps going
        with State(settings.state_file, readonly=True) as state:
            runs = [(r["outcome"], r["error"]) for r in state.runs()]
            record = state.source(rel(settings, path))
    assert [("abandoned", "conversion ran past 0.2 s and was abandoned")] == runs
    assert record is not None
    assert ("abandoned", "conversion ran past 0.2 s and was abandoned") == (record.status, record.error)
    assert 1 == len(events(logs, "export.failed"))
    assert not output_of(settings).exists()


def test_abandoned_conversion_does_not_overwrite_a_later_success(
    fast_settings: Settings, write_advisor: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timed-out conversion that ends after a newer conversion succeeded leaves that success standing."""
    settings = msgspec.structs.replace(fast_settings, conversion_timeout=0.2)
    real = daemon.convert.exporter.read_source  # the first look at a JSON source
    reads: list[Path] = []

    def first_read_slow(path: Path) -> SourceBytes:
        reads.append(path)
        src = real(path)
        if len(reads) == 1:
            time.sleep(0.8)  # slow after reading: the abandoned thread goes on with the old content
        return src

    monkeypatch.setattr(daemon.convert.exporter, "read_source", first_read_slow)

    def report(n: int) -> dict[str, object]:
        recommendations = [{"table": f"t{i}", "index": f"idx_{i}", "priority": "high"} for i in range(n)]
        return {"timestamp": "2025-10-28T03:00:00Z", "recommendations": recommendations}

    path = write_advisor(report(3))
    out = settings.output_path / "index_advisor" / "year=2025" / "month=10" / "index_advisor_20251028.parquet"
    source = ScriptedSource()
    service = Service(settings, source=source)
    with capture_logs() as logs, running(service, source):
        assert 1 == service.counters.failed
        write_advisor(report(5))  # the producer rewrites the report meanwhile
        source.push(path)
        wait_for(lambda: service.counters.written, what="the conversion of the new content")
        join_convert_threads()
        with State(settings.state_file, readonly=True) as state:
            failures = state.failures()
            outcomes = sorted(str(r["outcome"]) for r in state.runs())
    assert [] == failures
    assert ["abandoned", "written"] == outcomes
    assert 1 == len(events(logs, "export.failed"))
    assert 5 == pl.read_parquet(out).height


def test_file_written_during_the_startup_sweep_is_not_missed(
    fast_settings: Settings, write_daily: WriteCsv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report finished while the catch-up sweep runs is converted then, not at the next daily sweep."""
    early = write_daily("20251027")
    late = fast_settings.reports_path / f"query_perf_daily_{DAY}.csv"
    source = ScriptedSource()

    def before(item: InputFile) -> None:
        if item.path == early and not late.exists():
            write_daily(DAY)  # a producer finishes a report while the sweep is busy
            source.emit(late)

    wrap_convert(monkeypatch, before)
    service = Service(fast_settings, source=source)
    with running(service, source):
        wait_for(lambda: service.counters.written == 2, timeout=5, what="the late report's conversion")
    assert 1 == service.counters.sweeps
    assert 5 == pl.read_parquet(output_of(fast_settings)).height


def test_an_unexpected_error_in_the_loop_is_logged_and_the_service_goes_on(
    fast_settings: Settings, write_daily: WriteCsv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep that blows up (here: the input folder cannot be listed) logs `daemon.error`; the daemon keeps
    converting what arrives afterwards."""
    source = ScriptedSource()
    service = Service(fast_settings, source=source)
    real_discover = daemon.service.loop.discover
    calls: list[int] = []

    def flaky_discover(settings: Settings) -> list[InputFile]:
        calls.append(1)
        if len(calls) == 2:
            raise PermissionError("[Errno 13] Permission denied: 'g/reports'")
        return real_discover(settings)

    monkeypatch.setattr(daemon.service.loop, "discover", flaky_discover)
    with capture_logs() as logs, running(service, source):
        service.request_sweep("overflow")
        wait_for(lambda: events(logs, "daemon.error"), what="the logged error")
        path = write_daily(DAY)
        source.push(path)
        wait_for(lambda: output_of(fast_settings).exists(), what="the conversion after the error")
    assert 1 == len(events(logs, "daemon.error"))
    assert 5 == pl.read_parquet(output_of(fast_settings)).height
