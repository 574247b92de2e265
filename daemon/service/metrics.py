"""Prometheus metrics of the daemon: counters since it started, on `/metrics` and in a textfile.

`Metrics` keeps its own `CollectorRegistry` (never prometheus_client's global one, so two services in one
process never share counts). The daemon calls `start(state)` once, `observe(outcome)` after each export,
`swept(seconds)` after each sweep and `stop()` at the end; everything else lives here. Every dataset's
label sets exist from the start, so a rate over a dataset that has not exported yet is 0, not absent.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
    start_http_server,
)
from prometheus_client.exposition import write_to_textfile

from daemon import __version__
from daemon.errors import ConfigError
from daemon.logconfig import get_logger
from daemon.settings import Settings, listen_address
from daemon.specs import DATASETS

if TYPE_CHECKING:
    from daemon.convert.exporter import Outcome
    from daemon.state.database import State

log = get_logger()

# Written exports: a small daily file takes tens of milliseconds, a 5M-row one tens of seconds, and
# `conversion_timeout` (600 s by default) abandons anything longer.
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# Source written -> output published: settle time plus the conversion while the daemon watches (seconds);
# hours to days when a sweep catches up on files that arrived while it was down or asleep.
HOUR, DAY = 3600.0, 86400.0
FRESHNESS_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, HOUR, 4 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY)
# A sweep only stats unchanged inputs (well under a second) unless it converts many of them.
SWEEP_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

OUTCOMES = ("written", "skipped", "failed")
ROW_KINDS = ("written", "rejected")


class Metrics:
    """The daemon's metric families, their listener (`metrics_address`) and textfile (`metrics_textfile`)."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        # Every counter and histogram would carry a `_created` series holding the daemon's start time: as
        # many series again and nothing new. The switch is process-wide, and this process is the daemon.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        r = self.registry
        self.exports = Counter(
            "parquet_exporter_exports_total",
            "Inputs the daemon handled since it started, by outcome (written, skipped, failed).",
            ["dataset", "outcome"],
            registry=r,
        )
        self.rows = Counter(
            "parquet_exporter_rows_total",
            "Rows of written exports since the daemon started: written to Parquet, or rejected to _rejects.",
            ["dataset", "kind"],
            registry=r,
        )
        self.source_bytes = Counter(
            "parquet_exporter_source_bytes_total",
            "Bytes of the sources of written exports since the daemon started.",
            ["dataset"],
            registry=r,
        )
        self.parquet_bytes = Counter(
            "parquet_exporter_parquet_bytes_total",
            "Bytes of the Parquet files written since the daemon started (compression: over source bytes).",
            ["dataset"],
            registry=r,
        )
        self.duration = Histogram(
            "parquet_exporter_export_duration_seconds",
            "Time to convert and publish one written export.",
            ["dataset"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.freshness = Histogram(
            "parquet_exporter_freshness_seconds",
            "From the source's last modification (mtime) to its Parquet file being published.",
            ["dataset"],
            buckets=FRESHNESS_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "parquet_exporter_last_success_timestamp_seconds",
            "Unix time of the dataset's last written export (from the state at start; 0: none yet).",
            ["dataset"],
            registry=r,
        )
        self.failing = Gauge(
            "parquet_exporter_failing_inputs",
            "Inputs whose last export failed (the state's current failures).",
            registry=r,
        )
        self.sweep_duration = Histogram(
            "parquet_exporter_sweep_duration_seconds",
            "Time of one sweep (start-up, daily, after lost events), conversions included.",
            buckets=SWEEP_BUCKETS,
            registry=r,
        )
        self.last_sweep = Gauge(
            "parquet_exporter_last_sweep_timestamp_seconds",
            "Unix time the last sweep finished (0: none yet).",
            registry=r,
        )
        self.storage = Gauge(
            "parquet_exporter_storage_bytes",
            "Bytes of the dataset's Parquet files on disk: outputs and rejects, not temporaries or the report.",
            ["dataset"],
            registry=r,
        )
        self.pending_uploads = Gauge(
            "parquet_exporter_pending_uploads",
            "Outputs written but not yet published to output_url (0 when not publishing).",
            registry=r,
        )
        self.oldest_pending = Gauge(
            "parquet_exporter_oldest_pending_seconds",
            "Age of the oldest output waiting to be published (0 when none waits).",
            registry=r,
        )
        Info("parquet_exporter_build", "The running parquet-exporter's version.", registry=r).info(
            {"version": __version__}
        )
        for spec in DATASETS:
            for outcome in OUTCOMES:
                self.exports.labels(spec.name, outcome)
            for kind in ROW_KINDS:
                self.rows.labels(spec.name, kind)
            for family in (self.source_bytes, self.parquet_bytes, self.duration, self.freshness):
                family.labels(spec.name)
            self.last_success.labels(spec.name)
            self.storage.labels(spec.name)
        self._state: State | None = None
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._textfile_error: str | None = None

    # lifecycle ---------------------------------------------------------------------------------
    def start(self, state: State) -> None:
        """Seed the gauges from the state and the output folder, then listen on `metrics_address`.

        A listener that cannot bind (port in use, an address not on this host) raises ConfigError, a
        one-line error before the daemon starts its work rather than a crash later.
        """
        self._state = state
        latest: dict[str, float] = {}
        for record in state.outputs():
            at = _unix(record.exported_at)
            if at is not None and at > latest.get(record.dataset, 0.0):
                latest[record.dataset] = at
        for dataset, at in latest.items():
            self.last_success.labels(dataset).set(at)
        self.failing.set(len(state.failures()))
        self.outbox_changed()
        self._measure_storage(spec.name for spec in DATASETS)
        address = self.settings.metrics_address
        if address:
            host, port = listen_address(address)
            try:
                self._server, self._thread = start_http_server(port, host, registry=self.registry)
            except OSError as exc:
                raise ConfigError(f"metrics_address {address}: cannot listen: {exc.strerror or exc}") from None
        self._write_textfile()

    def stop(self) -> None:
        """Close the listener (if any); the textfile stays with the last counts."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    # what the daemon reports -------------------------------------------------------------------
    def observe(self, outcome: Outcome) -> None:
        """Count one export's outcome; a written one adds its rows, bytes, duration and freshness."""
        dataset = outcome.dataset or "unknown"
        self.exports.labels(dataset, outcome.status).inc()
        if outcome.status == "written":
            now = self.clock()
            self.rows.labels(dataset, "written").inc(outcome.rows_written or 0)
            self.rows.labels(dataset, "rejected").inc(outcome.rows_rejected or 0)
            self.source_bytes.labels(dataset).inc(outcome.source_bytes or 0)
            self.parquet_bytes.labels(dataset).inc(outcome.parquet_bytes or 0)
            if outcome.seconds is not None:
                self.duration.labels(dataset).observe(outcome.seconds)
            mtime = self._source_mtime(outcome.source)
            if mtime is not None:
                self.freshness.labels(dataset).observe(max(0.0, now - mtime))
            self.last_success.labels(dataset).set(now)
            self._measure_storage([dataset])
        if self._state is not None:
            self.failing.set(len(self._state.failures()))
        self.outbox_changed()
        self._write_textfile()

    def outbox_changed(self) -> None:
        """Re-read the outbox's size and oldest entry (after an export, a drain or a sweep; main thread only,
        as the state's connection is)."""
        if self._state is None:
            return
        pending, oldest = self._state.outbox_summary()
        self.pending_uploads.set(pending)
        self.oldest_pending.set(0.0 if oldest is None else max(time.time() - oldest, 0.0))

    def swept(self, seconds: float) -> None:
        """Record a finished sweep and re-measure every dataset's storage (files may go by hand)."""
        self.sweep_duration.observe(seconds)
        self.last_sweep.set(self.clock())
        if self._state is not None:
            self.failing.set(len(self._state.failures()))
        self.outbox_changed()
        self._measure_storage(spec.name for spec in DATASETS)
        self._write_textfile()

    def text(self) -> bytes:
        """The exposition text `/metrics` serves and the textfile holds."""
        return generate_latest(self.registry)

    # helpers -----------------------------------------------------------------------------------
    def _source_mtime(self, source: str) -> float | None:
        """The mtime of the source version just converted: the state records the stat its hash was taken with."""
        record = self._state.source(source) if self._state is not None else None
        if record is None or record.mtime_ns < 0:
            return None
        return record.mtime_ns / 1e9

    def _measure_storage(self, datasets: Iterable[str]) -> None:
        for dataset in datasets:
            folders = (self.settings.output_path / dataset, self.settings.rejects_path / dataset)
            self.storage.labels(dataset).set(sum(parquet_bytes(folder) for folder in folders))

    def _write_textfile(self) -> None:
        """Write the textfile atomically (a temporary beside it, renamed); a failure is logged once, never raised."""
        if not self.settings.metrics_textfile:
            return
        path = self.settings.path(self.settings.metrics_textfile)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_to_textfile(str(path), self.registry)
        except OSError as exc:
            error = f"{path}: {exc.strerror or exc}"
            if error != self._textfile_error:
                log.warning("metrics.textfile_failed", error=error)
            self._textfile_error = error
            return
        self._textfile_error = None


def parquet_bytes(folder: Path) -> int:
    """Bytes of the `.parquet` files under `folder`, leaving out temporaries (dot names, dot folders)."""
    total = 0
    for dirpath, dirnames, names in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in names:
            if name.endswith(".parquet") and not name.startswith("."):
                try:
                    total += os.stat(os.path.join(dirpath, name)).st_size
                except OSError:
                    continue  # replaced or removed meanwhile: the next measurement sees the new file
    return total


def _unix(iso: str) -> float | None:
    try:
        return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
