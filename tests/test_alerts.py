"""Alerts: Slack JSON to a loopback webhook, rate-limited, retried, never blocking, never leaking the URL."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from daemon import logconfig
from daemon.errors import ConfigError
from daemon.service.alerts import Alerter, redact
from daemon.service.loop import Service
from daemon.settings import Settings, resolve
from tests import daemonproc
from tests.conftest import WriteCsv

SECRET_PATH = "/services/T0001/B0002/s3cr3tT0k3n"


@dataclass
class Hook:
    """A webhook on 127.0.0.1: records every body; answers with `statuses` in turn (then 200), after `delay`."""

    server: ThreadingHTTPServer
    bodies: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    gate: threading.Event | None = None  # when set here, each answer waits until the gate opens
    hits: int = 0
    got: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"

    def wait(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < n and time.monotonic() < deadline:
            self.got.wait(0.02)
            self.got.clear()
        return self.bodies


@pytest.fixture
def hook() -> Iterator[Hook]:
    """A local webhook server in a thread, shut down at teardown."""
    holder: list[Hook] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            h = holder[0]
            h.hits += 1
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(h.delay)
            if h.gate is not None:
                h.gate.wait(60)
            status = h.statuses.pop(0) if h.statuses else 200
            if status == 200:
                assert "application/json" == self.headers["Content-Type"]
                h.bodies.append(json.loads(body))
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that gave up waiting
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")
            h.got.set()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(Hook(server))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def alerter_factory() -> Iterator[Callable[..., Alerter]]:
    """Build and start alerters with tiny waits; every one is stopped at teardown."""
    made: list[Alerter] = []

    def make(url: str, **kwargs: Any) -> Alerter:
        kwargs.setdefault("retry_wait", 0.01)
        kwargs.setdefault("timeout", 2.0)
        alerter = Alerter(url, **kwargs)
        alerter.start()
        made.append(alerter)
        return alerter

    yield make
    for alerter in made:
        alerter.stop(0.5)


def alert_settings(root: Path, url: str, **extra: Any) -> Settings:
    flags = {
        "root": root,
        "settle_seconds": 0.05,
        "heartbeat_seconds": 0.1,
        "nice": 0,
        "retry_max_wait_seconds": 0.01,
        "alert_webhook_url": url,
        "alert_min_interval_seconds": 0,
        "alert_timeout_seconds": 2,
        "alert_retries": 2,
        **extra,
    }
    return resolve(flags, env={})


def test_an_alert_is_slack_compatible_json(hook: Hook, alerter_factory: Callable[..., Alerter]) -> None:
    """The webhook receives one POST whose JSON body is {"text": message}."""
    alerter = alerter_factory(hook.url)
    assert alerter.send("k", "hello ✓")
    assert [{"text": "hello ✓"}] == hook.wait(1)


def test_alerts_are_rate_limited_per_subject(hook: Hook, alerter_factory: Callable[..., Alerter]) -> None:
    """A second alert about the same subject within the interval is suppressed; another subject is not."""
    now = [100.0]
    alerter = alerter_factory(hook.url, min_interval=60, clock=lambda: now[0])
    assert (True, False, True) == (alerter.send("a", "1"), alerter.send("a", "2"), alerter.send("b", "3"))
    now[0] += 61
    assert alerter.send("a", "4")
    assert ["1", "3", "4"] == sorted(b["text"] for b in hook.wait(3))
    assert alerter.flush(5)
    assert 1 == alerter.counters.suppressed


def test_a_failing_webhook_is_retried_until_it_answers(hook: Hook, alerter_factory: Callable[..., Alerter]) -> None:
    """Two 500 answers, then 200: three attempts, one alert delivered."""
    hook.statuses = [500, 503]
    alerter = alerter_factory(hook.url, attempts=3)
    alerter.send("k", "retried")
    assert [{"text": "retried"}] == hook.wait(1)
    assert alerter.flush(5)
    assert (3, 1, 0) == (hook.hits, alerter.counters.sent, alerter.counters.failed)


def test_an_unreachable_webhook_never_blocks_and_is_logged_without_its_url(
    closed_port: int, alerter_factory: Callable[..., Alerter]
) -> None:
    """Sending to a closed port only queues the alert (the caller never waits for the network: nothing has
    failed yet when `send` returns); after the retries one alert.failed names only the host."""
    url = f"http://127.0.0.1:{closed_port}{SECRET_PATH}"
    with capture_logs() as logs:
        alerter = alerter_factory(url, attempts=2, retry_wait=2.0)
        assert alerter.send("k", "lost")
        assert (0, 0) == (alerter.counters.sent, alerter.counters.failed)  # its one retry waits 2 s first
        assert alerter.flush(10)
    assert (0, 1) == (alerter.counters.sent, alerter.counters.failed)
    failed = [e for e in logs if e["event"] == "alert.failed"]
    assert 1 == len(failed)
    assert f"http://127.0.0.1:{closed_port}/…" == failed[0]["webhook"]
    assert "s3cr3t" not in repr(logs)


def test_a_slow_webhook_does_not_slow_a_sweep(root: Path, hook: Hook, write_daily: WriteCsv) -> None:
    """A webhook that does not answer until the test lets it: the sweep that fails a file (and queues its
    alert) returns while the webhook still holds the request, so the alert is queued, never waited for."""
    hook.gate = threading.Event()
    write_daily("20251028", ["not,a,valid,row"])
    service = Service(alert_settings(root, hook.url, alert_timeout_seconds=60))
    original, answered_during_sweep = service.sweep, []

    def sweep_then_open_the_gate(reason: str, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = original(reason, **kwargs)
        # a sweep that waited for the webhook would have taken the client's 60 s timeout
        assert time.perf_counter() - started < 30
        answered_during_sweep.append(hook.got.is_set())
        assert hook.gate is not None
        hook.gate.set()  # now the webhook answers, and the daemon's stop can drain its queue
        return result

    service.sweep = sweep_then_open_the_gate  # type: ignore[method-assign]
    with capture_logs():
        counters = service.run(once=True)
    assert 1 == counters.failed
    assert [False] == answered_during_sweep  # the sweep was over before the webhook answered
    assert 1 == len(hook.wait(1))  # and the alert did go out


def test_a_bad_file_alerts_and_its_fix_recovers(root: Path, hook: Hook, write_daily: WriteCsv) -> None:
    """A file that fails sends a failure alert; the same file fixed and converted sends a recovery."""
    bad = write_daily("20251028", ["2025-10-28T01:00:00Z,h,SELECT,oops,1,1,true,t,i,1,1"])
    with capture_logs():
        Service(alert_settings(root, hook.url)).run(once=True)
    (failure,) = hook.wait(1)
    assert failure["text"].startswith(":x: parquet-exporter")
    assert "g/reports/query_perf_daily_20251028.csv failed: 1 of 1 rows rejected" in failure["text"]
    write_daily("20251028")
    assert bad.exists()
    with capture_logs():
        Service(alert_settings(root, hook.url)).run(once=True)
    texts = [b["text"] for b in hook.wait(2)]
    assert 2 == len(texts)
    assert "query_perf_daily_20251028.csv recovered (5 rows written)" in texts[1]


def test_health_changes_alert_both_ways(root: Path, hook: Hook, write_daily: WriteCsv) -> None:
    """Degraded at start is the baseline; yesterday's export makes it OK (alert); a failure degrades it (alert)."""
    settings = alert_settings(root, hook.url)
    service = Service(settings)
    with capture_logs():
        service.run(once=True)  # the baseline: no export of yesterday yet
    assert service.health_level is not None
    assert 0 != service.health_level
    assert [] == hook.bodies
    yesterday = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=7))).date() - dt.timedelta(days=1)
    write_daily(f"{yesterday:%Y%m%d}")
    with capture_logs():
        service.run(once=True)
        assert 0 == service.health_level
        write_daily("20251028", ["broken"])
        service.run(once=True)
    texts = [b["text"] for b in hook.wait(3)]
    assert any("health back to OK" in t for t in texts), texts
    assert any("health degraded: 1 failed export(s) in the last 24 h" in t for t in texts), texts


def test_the_webhook_url_never_reaches_the_log_file(root: Path, hook: Hook, write_daily: WriteCsv) -> None:
    """A daemon run that sends an alert logs alert.sent with the host only: the secret path is nowhere in the log."""
    write_daily("20251028", ["broken"])
    settings = alert_settings(root, hook.url)
    logconfig.configure(settings.log_path, level="debug", max_bytes=10**6, backups=1, stderr_level="critical")
    try:
        Service(settings).run(once=True)
    finally:
        logconfig.shutdown()
    assert 1 == len(hook.wait(1))
    text = settings.log_path.read_text(encoding="utf-8")
    assert '"event": "alert.sent"' in text
    assert f'"webhook": "{redact(hook.url)}"' in text
    assert "s3cr3tT0k3n" not in text
    assert "s3cr3tT0k3n" not in repr(settings)


def test_a_webhook_url_must_be_http(root: Path) -> None:
    """A non-http URL is a config error whose message does not repeat the value."""
    with pytest.raises(ConfigError) as caught:
        resolve({"root": root, "alert_webhook_url": "file:///etc/s3cr3t"}, env={})
    assert "s3cr3t" not in str(caught.value)


def test_no_webhook_means_no_alerter(root: Path) -> None:
    """Without alert_webhook_url the daemon has no alerter and starts no thread."""
    assert Alerter.from_settings(resolve({"root": root}, env={})) is None


def test_alert_and_report_settings_come_from_the_environment(root: Path) -> None:
    """PARQUET_EXPORTER_<KEY> sets the new settings like every other; the URL stays out of the repr."""
    env = {
        "PARQUET_EXPORTER_ALERT_WEBHOOK_URL": "https://hooks.example.com/services/s3cr3t",
        "PARQUET_EXPORTER_ALERT_MIN_INTERVAL_SECONDS": "10",
        "PARQUET_EXPORTER_REPORT_AFTER_SWEEP": "true",
    }
    settings = resolve({"root": root}, env=env)
    assert ("https://hooks.example.com/services/s3cr3t", 10.0, True) == (
        settings.alert_webhook_url,
        settings.alert_min_interval_seconds,
        settings.report_after_sweep,
    )
    assert "alert_webhook_url=<redacted>" in repr(settings)
    assert "https://hooks.example.com/…" == redact(settings.alert_webhook_url)


def test_the_running_daemon_alerts_when_a_bad_file_arrives(
    root: Path, hook: Hook, start_daemon: Callable[..., daemonproc.DaemonProcess]
) -> None:
    """The real daemon posts a failure alert to a local webhook when a bad report lands, and stops cleanly."""
    daemon = start_daemon({"PARQUET_EXPORTER_ALERT_WEBHOOK_URL": hook.url})
    (root / "g/reports/query_perf_daily_20251028.csv").write_text("timestamp,query_hash\nnot,enough\n")
    (alert,) = hook.wait(1, timeout=20)
    assert ":x: parquet-exporter" in alert["text"]
    assert "query_perf_daily_20251028.csv failed: missing required column(s)" in alert["text"]
    assert 0 == daemon.stop()
    assert "s3cr3tT0k3n" not in (root / "g/logs/parquet_export.log").read_text(encoding="utf-8")
