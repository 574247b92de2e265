"""The daemon: one worker that converts settled files, a daily sweep, retries, heartbeat, clean stop.

Threads only report: the watcher and the scheduler put requests on a queue; the main loop (the
single worker) settles paths and converts them one at a time, so the same input is never converted
twice at once. `run(once=True)` does the start-up work (clean, sweep), drains and returns.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from daemon import __version__, logconfig
from daemon.convert.exporter import Exporter, Outcome
from daemon.convert.inputs import InputFile, OncePerName, broken_link, classify, discover, ignored, not_inputs
from daemon.convert.ledger import Ledger
from daemon.convert.writer import clean_temporaries
from daemon.logconfig import LOGGER_NAME, get_logger
from daemon.publish.outbox import Publisher
from daemon.service import notify as sd_notify
from daemon.service.alerts import Alerter, host_label
from daemon.service.attempt import Attempts
from daemon.service.metrics import Metrics
from daemon.service.scheduler import SweepScheduler
from daemon.service.watcher import EventKind, EventSource, Settler, WatchChange, WatchdogSource, stat_signature
from daemon.service.worker import ConversionWorker
from daemon.settings import Loaded, Reload, Settings, plan_reload, shown
from daemon.state.database import State, now_utc
from daemon.state.heartbeat import write_heartbeat
from daemon.state.locks import DaemonLock, daemon_lock, export_lock_nowait

log = get_logger()

LOOP_STEP_SECONDS = 0.05
IDLE_WAIT_SECONDS = 0.5
ERROR_PAUSE_SECONDS = 1.0
WATCH_CHECK_SECONDS = 2.0  # how often the daemon checks its watched folders are still the ones watched
STATE_CHECK_SECONDS = 2.0  # how often the daemon checks that its state file is still in place (one stat)
HEALTH_CHECK_SECONDS = 60.0  # how often the daemon re-judges its health for alerts (and after every sweep)


@dataclass
class Counters:
    """What the daemon did since it started."""

    events: int = 0
    written: int = 0
    skipped: int = 0
    failed: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    retries: int = 0
    sweeps: int = 0
    deleted_sources: int = 0

    def add(self, outcome: Outcome) -> None:
        if outcome.status == "written":
            self.written += 1
            self.rows_written += outcome.rows_written or 0
            self.rows_rejected += outcome.rows_rejected or 0
        elif outcome.status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1


@dataclass
class SweepResult:
    """The counts a sweep ends with (logged as `sweep.finished`)."""

    reason: str
    inputs: int = 0
    unchanged: int = 0
    written: int = 0
    skipped: int = 0
    failed: int = 0
    orphans: int = 0
    seconds: float = 0.0
    orphan_outputs: list[str] = field(default_factory=list)


class Service:
    """parquet-exporter's daemon for one root."""

    def __init__(
        self,
        settings: Settings,
        *,
        source: EventSource | None = None,
        clock: Callable[[], float] = time.monotonic,
        after_sweep: Callable[[Settings], None] | None = None,
        worker: bool = False,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.source: EventSource = source or WatchdogSource([settings.reports_path, settings.optimize_path])
        self.settler = Settler(settings.settle_seconds, clock)
        # SimpleQueue: its put() is reentrant, so a signal handler (SIGTERM, SIGHUP) may enqueue while the
        # main thread is inside get() (queue.Queue's lock would deadlock there)
        self.requests: queue.SimpleQueue[tuple[str, Path | None]] = queue.SimpleQueue()
        self.stop_event = threading.Event()
        self.counters = Counters()
        self.started_at = now_utc()
        self.last_event: str | None = None
        self.last_sweep: str | None = None
        self.scheduler: SweepScheduler | None = None
        self.after_sweep = after_sweep  # the CLI's hook (the HTML report): the service never imports it
        self.ledger: Ledger | None = None
        self.attempts: Attempts | None = None
        self.publisher: Publisher | None = None
        self._next_heartbeat = 0.0
        self.alerter = Alerter.from_settings(settings)
        self.lock: DaemonLock | None = None
        self.worker = ConversionWorker(settings) if worker else None  # `run` converts in a killable process
        self.watch: dict[str, dict[str, str]] = {}  # folder -> its watch: state, since, reason (heartbeat)
        self._next_watch_check = 0.0
        self._next_state_check = 0.0
        self.health_level: int | None = None  # the last judged level; the first judgement is the baseline
        self._next_health = 0.0
        self.metrics = Metrics(settings)  # Prometheus: /metrics and the textfile (daemon/service/metrics.py)
        self.reloader: Callable[[], Loaded] | None = None  # loads the configuration again (SIGHUP), from the CLI
        self._ignored_names = OncePerName()  # files in the input folders that are not inputs, said once each

    # called from other threads ---------------------------------------------------------------
    def notify(self, path: Path | None, kind: EventKind) -> None:
        """The event sink: the watcher calls this from its own thread."""
        self.requests.put((kind, path))

    def request_sweep(self, reason: str = "scheduled") -> None:
        self.requests.put(("sweep:" + reason, None))

    def request_stop(self) -> None:
        sd_notify.stopping()  # systemd: a clean stop, not a crash (no-op elsewhere)
        self.stop_event.set()
        self.requests.put(("stop", None))

    def request_reload(self) -> None:
        """Ask the main loop to load the configuration again (SIGHUP's handler only enqueues this)."""
        self.requests.put(("reload", None))

    # reloading ---------------------------------------------------------------------------------
    def reload(self, loaded: Loaded) -> Reload | None:
        """Run with a configuration loaded again: live settings take effect at once (the settler, the next
        sweep and the heartbeat showing it, the ledger, attempts and exporter, the alerter, the log level);
        the others are kept until a restart (`config.kept`). A configuration with any problem is refused
        (`config.rejected`) and the running one stays: a typo never stops the service."""
        if loaded.settings is None:
            log.error("config.rejected", problems=list(loaded.problems), detail="the running configuration stays")
            return None
        for warning in loaded.warnings:
            log.warning("config.unknown_variable", detail=warning)
        plan = plan_reload(self.settings, loaded.settings)
        if plan.kept:
            log.warning("config.kept", keys=list(plan.kept), detail="these take effect at the next start")
        self.settings = new = plan.settings
        self.settler.settle_seconds = new.settle_seconds
        if self.ledger is not None:
            self.ledger.settings = new
        if self.attempts is not None:
            self.attempts.settings = self.attempts.exporter.settings = self.attempts.exporter.ledger.settings = new
        self.metrics.settings = new  # the textfile's path is live; the listener's address is not
        if self.worker is not None and plan.changed:
            # the worker process converts with the settings it was started with: start it again (between
            # conversions, as the reload runs on the main loop), so a live change reaches the conversions too
            self.worker.stop()
            self.worker.settings = new
            self.worker.start()
        if self.scheduler is not None:
            self.scheduler.reschedule(new)
        if any(name.startswith("alert_") for name in plan.changed):
            if self.alerter is not None:
                self.alerter.stop()
            self.alerter = Alerter.from_settings(new)
            if self.alerter is not None:
                self.alerter.start()
        self._heartbeat(force=True)
        logger = logging.getLogger(LOGGER_NAME)
        level = logging.getLevelName(new.log_level.upper())
        if level < logger.level:  # more verbose: from this line on; less verbose: after this line
            logger.setLevel(level)
        log.info(
            "config.reloaded", changed=list(plan.changed), values={k: shown(k, getattr(new, k)) for k in plan.changed}
        )
        logger.setLevel(level)
        return plan

    # lifecycle ---------------------------------------------------------------------------------
    def run(self, *, once: bool = False) -> Counters:
        """Run until stopped (or, with `once`, until the start-up sweep is done)."""
        settings = self.settings
        # The root's lock holds while the state folder is deleted and recreated (see `_check_state`).
        with daemon_lock(settings.state_path, anchor=settings.root) as lock, State(settings.state_file) as state:
            self.lock = lock
            self.ledger = Ledger(settings, state)
            self.attempts = Attempts(
                settings,
                Exporter(settings, state),
                self.ledger,
                stop_event=self.stop_event,
                clock=self.clock,
                tick=self._heartbeat,
                on_retry=self._count_retry,
                worker=self.worker,
            )
            self.publisher = Publisher(settings, state)
            self.metrics.start(state)  # binds metrics_address now: a port in use is a ConfigError before any work
            self._lower_priority()
            if self.worker is not None:
                self.worker.start()  # after renicing (it inherits the priority); it loads polars meanwhile
            removed: list[Path] = []
            with export_lock_nowait(settings.state_path) as held:
                if held:  # no manual export is converting, so every temporary file is a leftover
                    removed = clean_temporaries(settings.output_path)
            log.info(
                "daemon.started",
                pid=os.getpid(),
                version=__version__,
                root=str(settings.root),
                once=once,
                settle_seconds=settings.settle_seconds,
                removed_temporaries=len(removed),
            )
            self.scheduler = SweepScheduler(settings, lambda: self.request_sweep("scheduled"))
            if self.alerter is not None:
                self.alerter.start()
            try:
                if not once:
                    # Watch before the catch-up sweep: a file written while it runs is then not missed
                    # until the next daily sweep (its events wait in the queue; if converted already, skipped).
                    self.source.start(self.notify)
                    states = getattr(self.source, "states", {})
                    self.watch = {self._rel(f): {"state": st, "since": now_utc()} for f, st in states.items()}
                # systemd: started once the watcher runs; READY=1 does not wait for the catch-up sweep, which
                # may convert for hours while TimeoutStartSec counts (events meanwhile wait in the queue).
                sd_notify.ready(f"watching {settings.root}; start-up sweep running")
                self.sweep("startup")
                if not once:
                    self.scheduler.start()
                    self._loop()
            finally:
                if self.worker is not None:
                    self.worker.stop()
                self.source.stop()
                self.scheduler.stop()
                if self.alerter is not None:
                    self.alerter.stop()
                self.metrics.stop()
                self._heartbeat(force=True, running=False)
                log.info("daemon.stopped", **asdict(self.counters))
        return self.counters

    def _lower_priority(self) -> None:
        with contextlib.suppress(OSError):
            current = os.getpriority(os.PRIO_PROCESS, 0)
            if current < self.settings.nice:
                os.setpriority(os.PRIO_PROCESS, 0, self.settings.nice)

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                self._step()
            except Exception:  # nothing may stop the service (launchd would only restart it)
                log.error("daemon.error", exc_info=True)
                self.stop_event.wait(ERROR_PAUSE_SECONDS)

    def _step(self) -> None:
        """One turn of the worker: take requests, convert what settled, run due retries, mind the watcher."""
        self._heartbeat()
        # Poll pending paths every step while something settles; otherwise just wait for events.
        timeout = IDLE_WAIT_SECONDS if self.settler.next_due() is None else LOOP_STEP_SECONDS
        with contextlib.suppress(queue.Empty):
            self._handle(*self.requests.get(timeout=timeout))
            while True:
                self._handle(*self.requests.get_nowait())
        if self.stop_event.is_set():
            return
        ready, vanished = self.settler.poll()
        for path in vanished:
            self._vanished(path)
        for path in ready:
            if self.stop_event.is_set():
                break
            item = classify(path, self.settings)
            # Like discovery, only regular files: opening a named pipe would block the single worker.
            if item is not None and path.is_file():
                self.convert(item)
        self._run_deferred()
        if self.publisher is not None:
            drained = self.publisher.drain(stop=self.stop_event, budget_seconds=self.settings.heartbeat_seconds)
            if drained.done or drained.failed:
                self.metrics.outbox_changed()
        self._check_log()
        self._check_state()
        self._check_watch()
        if self.alerter is not None and self.clock() >= self._next_health:
            self.check_health()
        alive = getattr(self.source, "alive", None)
        if alive is not None and not alive():
            log.error("watch.error", detail="observer stopped; restarting and sweeping")
            self.source.stop()
            self.source.start(self.notify)
            self.sweep("watch-error")

    def _check_watch(self, *, now: bool = False) -> None:
        """Every few seconds (at once after a "watch" event): a watched folder removed, moved away or replaced
        is a lost watch (logged, in the heartbeat, `status` and `health`); once it is back it is watched
        again and swept, so the files written meanwhile are converted."""
        check = getattr(self.source, "check", None)
        if check is None or (not now and self.clock() < self._next_watch_check):
            return
        self._next_watch_check = self.clock() + WATCH_CHECK_SECONDS
        changes: list[WatchChange] = check()
        if changes:
            self._check_log(now=True)  # `rm -rf g` took the log with the folder: say it in a new log file
        for change in changes:
            folder = self._rel(change.folder)
            if change.change == "lost":
                log.warning("watch.lost", folder=folder, reason=change.reason, detail="watched again once it is back")
                self.watch[folder] = {"state": "lost", "since": now_utc(), "reason": change.reason}
            else:
                log.info("watch.restored", folder=folder, detail="watching it again; sweeping")
                self.watch[folder] = {"state": "watching", "since": now_utc()}
        if changes:
            self._heartbeat(force=True)
        if any(change.change == "restored" for change in changes):
            self.sweep("watch-restored")

    def _check_log(self, *, now: bool = False) -> None:
        """The log file removed with its folder (`rm -rf g`): reopen it, so the next lines are not lost."""
        if (not now and self.clock() < self._next_state_check) or self.settings.log_path.exists():
            return
        with contextlib.suppress(OSError):
            self.settings.log_path.parent.mkdir(parents=True, exist_ok=True)
            logconfig.reopen()

    def _check_state(self) -> None:
        """Every few seconds: when the state file was deleted or replaced under us (`rm -rf` of the state
        folder), recreate the folder, relock the pid file and reopen the state (refilled from the footers)."""
        now = self.clock()
        if now < self._next_state_check or self.ledger is None or self.ledger.state is None:
            return
        self._next_state_check = now + STATE_CHECK_SECONDS
        state = self.ledger.state
        if not state.lost():
            return
        log.warning("state.lost", state=str(state.path), detail="the state file is gone or replaced; recreating it")
        if self.lock is not None:
            self.lock.renew()
        state.reopen()
        self._heartbeat(force=True)

    def _handle(self, kind: str, path: Path | None) -> None:
        if kind == "stop":
            return
        if kind == "reload":
            if self.reloader is not None:
                self.reload(self.reloader())
            return
        if kind.startswith("sweep:"):
            self.sweep(kind.removeprefix("sweep:"), retry_failed=kind == "sweep:scheduled")
            return
        if kind == "watch":
            self._check_watch(now=True)
            return
        if kind == "overflow":
            log.warning("watch.overflow", detail="events were lost; sweeping")
            self.sweep("overflow")
            return
        if path is None:
            return
        if classify(path, self.settings) is None:  # outputs, temporaries, logs, editor files: never work
            if kind != "deleted":
                self._ignored(path)
            return
        self.counters.events += 1
        self.last_event = now_utc()
        log.debug("watch.event", path=str(path), kind=kind)
        if kind == "deleted" and stat_signature(path) is None:
            self.settler.forget(path)
            self._deleted(path)
        else:
            self.settler.touch(path)

    def _ignored(self, path: Path) -> None:
        """Say once per name why a file in an input folder is not converted (`input.ignored`)."""
        why = ignored(path, self.settings)
        if why is not None and self._ignored_names.first(path):
            getattr(log, why[0])("input.ignored", path=self._rel(path), reason=why[1])

    def _vanished(self, path: Path) -> None:
        """A settling path that cannot be stat'ed: deleted, or a symbolic link that leads nowhere (that input's
        failure, with the reason, rather than a `source.deleted`)."""
        item = classify(path, self.settings)
        if item is not None and broken_link(path) is not None:
            self.convert(item)
        else:
            self._deleted(path)

    def _deleted(self, path: Path) -> None:
        self.counters.deleted_sources += 1
        log.warning("source.deleted", source=self._rel(path), detail="its Parquet output, if any, is kept")

    def _rel(self, path: Path) -> str:
        return self.settings.relative(path)

    def _count_retry(self) -> None:
        self.counters.retries += 1

    # converting --------------------------------------------------------------------------------
    def convert(self, item: InputFile) -> Outcome:
        """Convert one input under the daemon's rules (see `daemon.service.attempt`); always returns an outcome."""
        assert self.attempts is not None
        assert self.ledger is not None
        failed_before = self.ledger.failed_before(item)
        outcome = self.attempts.convert(item)
        self.counters.add(outcome)
        self.metrics.observe(outcome)
        self._alert_outcome(outcome, failed_before=failed_before)
        self.attempts.defer(item, outcome)
        return outcome

    def _run_deferred(self) -> None:
        assert self.attempts is not None
        for path in self.attempts.due():
            if self.stop_event.is_set():
                return
            item = classify(path, self.settings)
            if item is None or stat_signature(path) is None:
                self.attempts.forget(path)
                continue
            self.convert(item)

    # sweeping ----------------------------------------------------------------------------------
    def sweep(self, reason: str, *, retry_failed: bool = False) -> SweepResult:
        """Reconcile every input against its output: a `stat` for unchanged inputs, a conversion otherwise."""
        assert self.ledger is not None
        assert self.ledger.state is not None
        ledger, state = self.ledger, self.ledger.state
        result = SweepResult(reason)
        started = time.perf_counter()
        log.info("sweep.started", reason=reason)
        for path in not_inputs(self.settings):
            self._ignored(path)
        for item in discover(self.settings):
            if self.stop_event.is_set():
                break
            result.inputs += 1
            if ledger.unchanged(item, retry_failed=retry_failed):
                result.unchanged += 1
                continue
            outcome = self.convert(item)
            setattr(result, outcome.status, getattr(result, outcome.status) + 1)
        for record in state.outputs():
            if not (self.settings.root / record.source).exists():
                result.orphan_outputs.append(record.output)
        result.orphans = len(result.orphan_outputs)
        for output in result.orphan_outputs[:20]:
            log.info("sweep.orphan", output=output, detail="source is gone; output kept")
        if self.publisher is not None and not self.stop_event.is_set():
            self.publisher.sweep(self.stop_event)
        result.seconds = round(time.perf_counter() - started, 3)
        self.counters.sweeps += 1
        self.last_sweep = now_utc()
        self.metrics.swept(result.seconds)
        fields = {k: v for k, v in asdict(result).items() if k not in ("orphan_outputs", "reason")}
        log.info("sweep.finished", reason=reason, **fields)
        if self.alerter is not None:
            self.check_health()
        if self.settings.report_after_sweep and not self.stop_event.is_set():
            self.write_report()
        return result

    # alerts and the report ---------------------------------------------------------------------
    def _alert_outcome(self, outcome: Outcome, *, failed_before: bool) -> None:
        """A failed export alerts (rate-limited per source); a source that had failed and now converts recovered."""
        if self.alerter is None or self.stop_event.is_set():
            return
        where = host_label(self.settings)
        if outcome.status == "failed":
            self.alerter.send(
                f"failed:{outcome.source}", f":x: parquet-exporter ({where}): {outcome.source} failed: {outcome.error}"
            )
        elif outcome.status == "written" and failed_before:
            self.alerter.send(
                f"recovered:{outcome.source}",
                f":white_check_mark: parquet-exporter ({where}): {outcome.source} recovered"
                f" ({outcome.rows_written or 0:,} rows written)",
            )

    def check_health(self) -> int:
        """Judge health as `health` does (this daemon being up); alert when it turns degraded or back to OK."""
        from daemon.analytics.health import OK, gather, judge

        self._next_health = self.clock() + HEALTH_CHECK_SECONDS
        facts = gather(self.settings)
        facts.daemon_up = True  # this is the daemon: its own heartbeat may not be written yet
        level, reasons = judge(facts, self.settings.storage_alert_gb)
        previous, self.health_level = self.health_level, level
        if previous is None or (previous == OK) == (level == OK):
            return level
        log.info("health.changed", level=level, previous=previous, reasons=reasons)
        if self.alerter is not None:
            where = host_label(self.settings)
            if level == OK:
                self.alerter.send("health", f":white_check_mark: parquet-exporter ({where}): health back to OK")
            else:
                self.alerter.send(
                    "health", f":warning: parquet-exporter ({where}): health degraded: {'; '.join(reasons)}"
                )
        return level

    def write_report(self) -> None:
        """Run the after-sweep hook (the CLI passes the HTML report); a failure is logged, never fatal."""
        if self.after_sweep is None:
            return
        try:
            self.after_sweep(self.settings)
        except Exception as exc:  # noqa: BLE001 - the report is a view: the daemon's work is the exports
            log.error("report.failed", error=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")

    # heartbeat ---------------------------------------------------------------------------------
    def _heartbeat(self, *, force: bool = False, running: bool = True) -> None:
        now = self.clock()
        if not force and now < self._next_heartbeat:
            return
        self._next_heartbeat = now + self.settings.heartbeat_seconds
        next_sweep = self.scheduler.next_run() if self.scheduler else None
        document = {
            "pid": os.getpid(),
            "running": running,
            "started": self.started_at,
            "updated": now_utc(),
            "last_event": self.last_event,
            "last_sweep": self.last_sweep,
            "next_sweep": next_sweep.isoformat() if next_sweep else None,
            "pending": len(self.settler),
            "watch": self.watch,
            "counters": asdict(self.counters),
        }
        write_heartbeat(self.settings.state_path, document)
        if running:  # systemd: WATCHDOG=1 with each heartbeat (WatchdogSec is a multiple of heartbeat_seconds)
            c, pending = self.counters, len(self.settler)
            sd_notify.watchdog(f"{c.written} written, {c.skipped} skipped, {c.failed} failed, {pending} pending")
