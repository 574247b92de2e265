"""One input's conversion under the daemon's rules: the export lock, a timeout, retries and deferral.

The retry policy: a transient failure (a busy or changing file, a full disk) is retried in place with
random exponential waits (`retry_attempts`, at most `retry_max_wait_seconds` apart); once those are
spent it is recorded as failed and deferred, tried again after a delay that doubles each time (capped
at an hour). Any other failure is the input's and waits until the file changes or the next sweep.
The daemon runs each attempt in its worker process (`daemon.service.worker`), killed at the timeout or
after the grace time of a stop; without a worker (in-process use), in a thread that is abandoned instead.
Either way an abandoned attempt publishes nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_when_event_set,
    wait_random_exponential,
)

from daemon.convert.exporter import Exporter, Outcome
from daemon.convert.inputs import InputFile
from daemon.convert.ledger import Ledger
from daemon.convert.writer import clean_temporaries
from daemon.errors import Abandoned, ExporterError, TransientIOError
from daemon.logconfig import get_logger
from daemon.service.worker import ConversionWorker
from daemon.settings import Settings
from daemon.state.locks import export_lock_nowait

log = get_logger()

SHUTDOWN_GRACE_SECONDS = 5.0
DEFERRED_RETRY_CAP_SECONDS = 3600.0
WORKER_START_SECONDS = 60.0  # a new worker's start (polars' import) is not the conversion's time, up to this


class Attempts:
    """Runs conversions for the daemon: `convert` retries in place, `defer` schedules a later try."""

    def __init__(
        self,
        settings: Settings,
        exporter: Exporter,
        ledger: Ledger,
        *,
        stop_event: threading.Event,
        clock: Callable[[], float],
        tick: Callable[[], None],
        on_retry: Callable[[], None],
        worker: ConversionWorker | None = None,
    ) -> None:
        self.settings = settings
        self.exporter = exporter
        self.ledger = ledger
        self.stop_event = stop_event
        self.clock = clock
        self.tick = tick  # called while an attempt runs (the heartbeat)
        self.on_retry = on_retry
        self.worker = worker  # the daemon converts in a worker process it can kill; without one, in a thread
        # inputs whose transient failure outlasted the in-place retries: path -> (due, times deferred)
        self.deferred: dict[Path, tuple[float, int]] = {}

    def convert(self, item: InputFile) -> Outcome:
        """Convert one input with in-place retries for transient failures; always returns an outcome."""
        source = self.settings.relative(item.path)

        def before_sleep(state: RetryCallState) -> None:
            self.on_retry()
            exc = state.outcome.exception() if state.outcome else None
            wait = round(state.upcoming_sleep, 2)
            log.warning("export.retry", source=source, attempt=state.attempt_number, wait_s=wait, error=str(exc))

        retrying = Retrying(
            stop=stop_after_attempt(self.settings.retry_attempts) | stop_when_event_set(self.stop_event),
            wait=wait_random_exponential(multiplier=0.2, max=self.settings.retry_max_wait_seconds),
            retry=retry_if_exception_type(TransientIOError),
            before_sleep=before_sleep,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            outcome: Outcome = retrying(self._once, item)
        except ExporterError as exc:
            outcome = self.ledger.failed(item, exc, record=True)
        return outcome

    def defer(self, item: InputFile, outcome: Outcome) -> None:
        """A transient failure (a full disk, a busy file) is tried again later, with a growing delay."""
        if outcome.status != "failed" or not outcome.transient or self.stop_event.is_set():
            self.deferred.pop(item.path, None)
            return
        times = self.deferred.get(item.path, (0.0, 0))[1] + 1
        delay = min(max(self.settings.retry_max_wait_seconds, 0.01) * 2 ** (times - 1), DEFERRED_RETRY_CAP_SECONDS)
        self.deferred[item.path] = (self.clock() + delay, times)
        source = self.settings.relative(item.path)
        log.warning("export.retry_later", source=source, in_seconds=round(delay, 2), deferred=times)

    def due(self) -> list[Path]:
        """The deferred inputs whose time has come (they stay deferred until `defer` clears them)."""
        now = self.clock()
        return [path for path, (due, _) in self.deferred.items() if due <= now]

    def _sleep(self, seconds: float) -> None:
        self.stop_event.wait(seconds)

    def forget(self, path: Path) -> None:
        self.deferred.pop(path, None)

    def _once(self, item: InputFile) -> Outcome:
        """One attempt, in a thread so a timeout or a stop can abandon it without publishing anything."""
        if self.worker is not None:
            return self._in_worker(item, self.worker)
        exporter = self.exporter
        cancel = threading.Event()
        box: dict[str, object] = {}

        def work() -> None:
            try:
                box["outcome"] = exporter.convert(item, raise_transient=True, cancel=cancel)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                box["error"] = exc

        with self._export_lock():
            thread = threading.Thread(target=work, name="convert", daemon=True)
            thread.start()
            started = self.clock()
            stop_seen: float | None = None
            while thread.is_alive():
                thread.join(0.05)
                self.tick()
                now = self.clock()
                if self.stop_event.is_set() and stop_seen is None:
                    stop_seen = now
                if now - started > self.settings.conversion_timeout:
                    cancel.set()
                    raise Abandoned(f"conversion ran past {self.settings.conversion_timeout:g} s and was abandoned")
                if stop_seen is not None and now - stop_seen > SHUTDOWN_GRACE_SECONDS:
                    cancel.set()
                    raise Abandoned("daemon stopping: conversion abandoned, nothing written")
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        outcome = box["outcome"]
        assert isinstance(outcome, Outcome)
        return outcome

    def _in_worker(self, item: InputFile, worker: ConversionWorker) -> Outcome:
        """One attempt in the worker process: past the timeout, or the grace time after a stop, the worker is
        killed (its CPU and memory come back), its temporary files removed, and a new worker started."""
        with self._export_lock():
            worker.submit(item.path)
            submitted = self.clock()
            started: float | None = None  # when the worker began converting (a new one loads polars first)
            stop_seen: float | None = None
            while True:
                answer = worker.answer(0.05)
                if isinstance(answer, Outcome):
                    return answer
                now = self.clock()
                if answer:
                    started = now
                self.tick()
                if self.stop_event.is_set() and stop_seen is None:
                    stop_seen = now
                reason = None
                running = now - (started if started is not None else submitted)
                if running > self.settings.conversion_timeout + (0 if started is not None else WORKER_START_SECONDS):
                    reason = f"conversion ran past {self.settings.conversion_timeout:g} s and was abandoned"
                elif stop_seen is not None and now - stop_seen > SHUTDOWN_GRACE_SECONDS:
                    reason = "daemon stopping: conversion abandoned, nothing written"
                if reason is not None:
                    pid = worker.pid
                    worker.kill()
                    clean_temporaries(self.settings.output_path)  # the export lock is ours: none is in flight
                    log.warning("worker.killed", source=self.settings.relative(item.path), pid=pid, reason=reason)
                    if not self.stop_event.is_set():
                        worker.start()
                    raise Abandoned(reason)

    @contextlib.contextmanager
    def _export_lock(self) -> Iterator[None]:
        """Take the export lock, waiting for a manual `export` to finish but staying stoppable."""
        while True:
            with export_lock_nowait(self.settings.state_path) as held:
                if held:
                    yield
                    return
            if self.stop_event.wait(0.1):
                raise Abandoned("daemon stopping while waiting for a manual export")
            self.tick()  # alive while a long manual export holds the lock (systemd's watchdog counts on it)
