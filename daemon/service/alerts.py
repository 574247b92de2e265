"""Alerts to a Slack-compatible webhook: a failed export, a recovery, a health change.

`Alerter.send()` never blocks and never raises: it applies the rate limit (at most one alert per
subject per `min_interval` seconds) and puts the message on a bounded queue; one background thread
posts `{"text": ...}` with retries (tenacity) and a timeout per attempt. The URL is a secret (a Slack
webhook carries its token in the path): logs and errors only ever show `redact(url)`, its host.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, stop_when_event_set, wait_exponential

from daemon.logconfig import get_logger
from daemon.settings import Settings

log = get_logger()

QUEUE_SIZE = 100
STOP_DRAIN_SECONDS = 2.0


def redact(url: str) -> str:
    """What of a webhook URL may be shown: its scheme, host and port (never the path or query)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


class AlertError(Exception):
    """One attempt to post an alert failed (retried); the message never contains the URL."""


@dataclass
class AlertCounters:
    """What the alerter did: sent, failed after retries, suppressed by the rate limit, dropped (queue full)."""

    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    dropped: int = 0


@dataclass
class Alerter:
    """Posts alerts from a background thread; `start()` it, `send()` from anywhere, `stop()` at the end."""

    url: str
    min_interval: float = 300.0
    timeout: float = 5.0
    attempts: int = 3
    clock: Callable[[], float] = time.monotonic
    retry_wait: float = 0.5  # first backoff; doubles up to 8 s
    counters: AlertCounters = field(default_factory=AlertCounters)

    def __post_init__(self) -> None:
        self.where = redact(self.url)
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue(QUEUE_SIZE)
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Alerter | None:
        """The alerter the settings ask for, or None when no webhook is configured."""
        if not settings.alert_webhook_url:
            return None
        return cls(
            settings.alert_webhook_url,
            min_interval=settings.alert_min_interval_seconds,
            timeout=settings.alert_timeout_seconds,
            attempts=settings.alert_retries,
        )

    # lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._work, name="alerts", daemon=True)
            self._thread.start()

    def stop(self, drain_seconds: float = STOP_DRAIN_SECONDS) -> None:
        """Give queued alerts `drain_seconds` to go out, then stop (a hung webhook cannot hold the exit)."""
        if self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(drain_seconds)
        self._stop.set()  # ends retries and waits in flight; an attempt in flight ends within `timeout`
        self._thread.join(self.timeout + 1)
        self._thread = None
        while True:  # what did not go out in time is dropped (and a sentinel the worker never took)
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
            self._queue.task_done()

    # sending -----------------------------------------------------------------------------------
    def send(self, key: str, text: str) -> bool:
        """Queue `text` unless an alert about `key` went out less than `min_interval` ago; never blocks."""
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.min_interval:
                self.counters.suppressed += 1
                log.info("alert.suppressed", key=key, detail="rate limited")
                return False
            try:
                self._queue.put_nowait((key, text))
            except queue.Full:
                self.counters.dropped += 1
                log.warning("alert.dropped", key=key, detail="alert queue full")
                return False
            self._last[key] = now
        return True

    def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds until every queued alert was sent or given up; True if so."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None or self._stop.is_set():
                    return
                self._deliver(*item)
            finally:
                self._queue.task_done()

    def _deliver(self, key: str, text: str) -> None:
        try:
            self._post_with_retries(text)
        except AlertError as exc:
            self.counters.failed += 1
            log.warning("alert.failed", key=key, webhook=self.where, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - the alert thread must outlive any surprise
            self.counters.failed += 1
            log.warning("alert.failed", key=key, webhook=self.where, error=type(exc).__name__)
        else:
            self.counters.sent += 1
            log.info("alert.sent", key=key, webhook=self.where)

    def _post_with_retries(self, text: str) -> None:
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts) | stop_when_event_set(self._stop),
            wait=wait_exponential(multiplier=self.retry_wait, max=8),
            retry=retry_if_exception_type(AlertError),
            sleep=self._sleep,
            reraise=True,
        )
        retrying(self._post, text)

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _post(self, text: str) -> None:
        body = json.dumps({"text": text}).encode("utf-8")
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise AlertError(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, str):
                raise AlertError(reason.replace(self.url, self.where)) from None
            detail = getattr(reason, "strerror", None)
            raise AlertError(type(reason).__name__ + (f": {detail}" if detail else "")) from None


def host_label(settings: Settings) -> str:
    """Which machine and root an alert is about."""
    return f"{socket.gethostname()}:{settings.root}"
