"""One input's conversion under the daemon's rules: the export lock, a timeout, retries and deferral.

The retry policy: a transient failure (a busy or changing file, a full disk) is retried in place with
random exponential waits (`retry_attempts`, at most `retry_max_wait_seconds` apart); once those are
spent it is recorded as failed and deferred, tried again after a delay that doubles each time (capped
at an hour). Any other failure is the input's and waits until the file changes or the next sweep.
Each attempt runs in a thread so a timeout or a stop abandons it without publishing anything.
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
from daemon.errors import Abandoned, ExporterError, TransientIOError
from daemon.logconfig import get_logger
from daemon.settings import Settings
from daemon.state.locks import export_lock_nowait

log = get_logger()

SHUTDOWN_GRACE_SECONDS = 5.0
DEFERRED_RETRY_CAP_SECONDS = 3600.0


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
    ) -> None:
        self.settings = settings
        self.exporter = exporter
        self.ledger = ledger
        self.stop_event = stop_event
        self.clock = clock
        self.tick = tick  # called while an attempt runs (the heartbeat)
        self.on_retry = on_retry
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
