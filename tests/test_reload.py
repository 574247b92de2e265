"""SIGHUP reloads the configuration: live settings change at once, the others wait for a restart, and a
configuration with a problem is refused while the daemon goes on with the one it had."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from structlog.testing import capture_logs

from daemon.logconfig import LOGGER_NAME
from daemon.service.loop import Service
from daemon.service.scheduler import SweepScheduler
from daemon.settings import Loaded, Settings, load
from daemon.state.heartbeat import read_heartbeat
from tests import daemonproc
from tests.daemonproc import DaemonProcess, Processes, run_cli, wait_until
from tests.test_daemon_e2e import csv_bytes, daily_output, source_path, wait_rows
from tests.test_service import ScriptedSource, events, running, wait_for


def write_config(path: Path, body: str) -> Path:
    path.write_text("[parquet_exporter]\n" + body, encoding="utf-8")
    return path


def local_hh_mm(instant: object) -> str:
    """The HH:MM of an ISO instant (as the heartbeat writes next_sweep) in the instant's own offset."""
    assert isinstance(instant, str)
    return dt.datetime.fromisoformat(instant).strftime("%H:%M")


@pytest.fixture
def restore_log_level() -> Iterator[None]:
    """Reloads set the program logger's level: put it back after the test."""
    logger = logging.getLogger(LOGGER_NAME)
    level = logger.level
    yield
    logger.setLevel(level)


# ------------------------------------------------------------------------------------ in process
FAST = "heartbeat_seconds = 0.1\nretry_max_wait_seconds = 0.01\nnice = 0\n"


def test_reload_applies_live_settings_to_every_part(root: Path, restore_log_level: None) -> None:
    """A reload moves the next sweep (scheduler and heartbeat), the settle time, and the settings the ledger,
    the attempts and the exporter hold, and logs config.reloaded with the changed keys."""
    config = write_config(root / "c.toml", FAST + 'settle_seconds = 0.05\nsweep_time = "05:00"\n')
    reloader = functools.partial(load, {"root": root}, config, {})
    settings = reloader().settings
    assert settings is not None
    source = ScriptedSource()
    service = Service(settings, source=source)
    service.reloader = reloader
    with capture_logs() as logs, running(service, source):
        assert service.scheduler is not None
        assert service.attempts is not None
        assert service.ledger is not None
        write_config(config, FAST + 'settle_seconds = 0.7\nsweep_time = "06:45"\nretry_attempts = 2\n')
        service.request_reload()
        wait_for(lambda: events(logs, "config.reloaded"), what="config.reloaded")
        beat = read_heartbeat(settings.state_path) or {}
        assert ("06:45", "06:45") == (local_hh_mm(beat["next_sweep"]), f"{service.scheduler.next_run():%H:%M}")
        assert (0.7, 0.7, 0.7, 2, 2) == (
            service.settler.settle_seconds,
            service.ledger.settings.settle_seconds,
            service.attempts.exporter.settings.settle_seconds,
            service.attempts.settings.retry_attempts,
            service.settings.retry_attempts,
        )
    [reloaded] = events(logs, "config.reloaded")
    assert ["settle_seconds", "sweep_time", "retry_attempts"] == reloaded["changed"]


def test_restart_only_settings_are_kept_and_named(fast_settings: Settings) -> None:
    """A changed state folder or root-relative folder keeps its running value and is named in config.kept."""
    service = Service(fast_settings, source=ScriptedSource())
    new = msgspec.structs.replace(fast_settings, state_dir="elsewhere", output_dir="out", settle_seconds=1.5)
    with capture_logs() as logs:
        plan = service.reload(Loaded(new))
    assert plan is not None
    assert (fast_settings.state_dir, fast_settings.output_dir, 1.5) == (
        service.settings.state_dir,
        service.settings.output_dir,
        service.settings.settle_seconds,
    )
    [kept] = events(logs, "config.kept")
    assert ["output_dir", "state_dir"] == kept["keys"]
    assert ["settle_seconds"] == events(logs, "config.reloaded")[0]["changed"]


def test_an_invalid_configuration_is_rejected_and_the_old_one_stays(fast_settings: Settings, tmp_path: Path) -> None:
    """A reload whose configuration has problems changes nothing and logs config.rejected with them."""
    service = Service(fast_settings, source=ScriptedSource())
    config = write_config(tmp_path / "c.toml", 'sweep_time = "25:00"\nsettle_secnds = 1\n')
    with capture_logs() as logs:
        plan = service.reload(load({"root": fast_settings.root}, config, {}))
    assert (None, fast_settings) == (plan, service.settings)
    [rejected] = events(logs, "config.rejected")
    assert 2 == len(rejected["problems"])
    assert [] == events(logs, "config.reloaded")


def test_a_new_webhook_starts_an_alerter_and_is_logged_redacted(fast_settings: Settings) -> None:
    """Adding alert_webhook_url on reload starts alerting; the URL's secret path is not logged."""
    service = Service(fast_settings, source=ScriptedSource())
    assert service.alerter is None
    new = msgspec.structs.replace(fast_settings, alert_webhook_url="http://127.0.0.1:9/hook/s3cr3t")
    with capture_logs() as logs:
        service.reload(Loaded(new))
    try:
        assert service.alerter is not None
        assert "http://127.0.0.1:9/hook/s3cr3t" == service.alerter.url
        assert "s3cr3t" not in str(logs)
    finally:
        if service.alerter is not None:
            service.alerter.stop(0.1)


def test_a_new_log_level_applies_at_once(fast_settings: Settings, restore_log_level: None) -> None:
    """log_level = "debug" on reload lowers the program logger's level."""
    service = Service(fast_settings, source=ScriptedSource())
    logging.getLogger(LOGGER_NAME).setLevel(logging.INFO)
    service.reload(Loaded(msgspec.structs.replace(fast_settings, log_level="debug")))
    assert logging.DEBUG == logging.getLogger(LOGGER_NAME).level


def test_reschedule_moves_the_job_and_the_announced_sweep(fast_settings: Settings) -> None:
    """SweepScheduler.reschedule moves both APScheduler's next run and next_run() to the new time."""
    scheduler = SweepScheduler(fast_settings, lambda: None)
    scheduler.start()
    try:
        scheduler.reschedule(msgspec.structs.replace(fast_settings, sweep_time="03:10", misfire_grace_seconds=60))
        job = scheduler._scheduler.get_job("sweep")
        assert (scheduler.next_run(), 60, "03:10") == (
            job.next_run_time,
            job.misfire_grace_time,
            f"{job.next_run_time:%H:%M}",
        )
    finally:
        scheduler.stop()


# -------------------------------------------------------------------------------- real daemon
def start_with_config(
    processes: Processes, root: Path, config: Path, env: dict[str, str] | None = None
) -> DaemonProcess:
    proc = daemonproc.start_daemon(processes, root, env, args=("--config", str(config)))
    proc.wait_ready()
    return proc


def test_sighup_moves_the_next_sweep(root: Path, processes: Processes) -> None:
    """Editing sweep_time and sending SIGHUP logs config.reloaded with the key, and the heartbeat's (so
    `status`'s) next sweep moves; a restart-only key in the same edit is named in config.kept."""
    config = write_config(root / "exporter.toml", 'sweep_time = "05:00"\n')
    proc = start_with_config(processes, root, config)
    assert "05:00" == local_hh_mm(proc.heartbeat()["next_sweep"])
    write_config(config, 'sweep_time = "06:15"\nstate_dir = "g/state/elsewhere"\n')
    proc.proc.send_signal(signal.SIGHUP)
    [reloaded] = wait_until(lambda: proc.events("config.reloaded"), 10, "config.reloaded")
    assert (["sweep_time"], {"sweep_time": "06:15"}) == (reloaded["changed"], reloaded["values"])
    assert ["state_dir"] == proc.events("config.kept")[0]["keys"]
    wait_until(lambda: local_hh_mm(proc.heartbeat()["next_sweep"]) == "06:15", 10, "the heartbeat's next sweep")
    status = run_cli(root, "status", "--json", "--config", str(config))
    assert "06:15" == local_hh_mm(json.loads(status.stdout)["next_sweep"])
    assert 0 == proc.stop()


def test_a_broken_config_on_sighup_leaves_the_daemon_running_with_the_old_one(root: Path, processes: Processes) -> None:
    """A SIGHUP with an invalid file logs config.rejected; the daemon keeps its sweep time and still converts."""
    config = write_config(root / "exporter.toml", 'sweep_time = "05:00"\n')
    proc = start_with_config(processes, root, config)
    write_config(config, 'sweep_time = "25:99"\nsettle_seconds = nan\n')
    proc.proc.send_signal(signal.SIGHUP)
    [rejected] = wait_until(lambda: proc.events("config.rejected"), 10, "config.rejected")
    assert 2 == len(rejected["problems"])
    assert proc.proc.poll() is None
    assert "05:00" == local_hh_mm(proc.heartbeat()["next_sweep"])
    source_path(root, "20251028").write_bytes(csv_bytes("20251028", 6))
    wait_rows(daily_output(root, "20251028"), 6)
    assert [] == proc.events("config.reloaded")
    assert (0, 1) == (proc.stop(), len(proc.events("daemon.stopped")))


def test_a_typo_in_a_variable_is_logged_at_start(root: Path, processes: Processes) -> None:
    """A PARQUET_EXPORTER_* variable that names no setting does not stop the daemon and is logged as a warning."""
    config = write_config(root / "exporter.toml", "")
    proc = start_with_config(processes, root, config, {"PARQUET_EXPORTER_SETTLE_SECNDS": "1"})
    [warning] = proc.events("config.unknown_variable")
    assert ("warning", "PARQUET_EXPORTER_SETTLE_SECNDS names no setting") == (
        warning["level"],
        warning["detail"].split(" (")[0],
    )
    assert 0 == proc.stop()


def test_a_burst_of_sighups_never_wedges_the_daemon(root: Path, processes: Processes) -> None:
    """After 200 SIGHUPs 2 ms apart (the kernel merges some), a later edit and SIGHUP still reload, the
    daemon still converts, and it stops cleanly."""
    config = write_config(root / "exporter.toml", 'sweep_time = "05:00"\n')
    proc = start_with_config(processes, root, config)
    for _ in range(200):
        proc.proc.send_signal(signal.SIGHUP)
        time.sleep(0.002)
    wait_until(lambda: proc.events("config.reloaded"), 10, "a config.reloaded line")
    write_config(config, 'sweep_time = "06:15"\n')
    proc.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: local_hh_mm(proc.heartbeat()["next_sweep"]) == "06:15", 10, "the heartbeat's next sweep")
    source_path(root, "20251028").write_bytes(csv_bytes("20251028", 3))
    wait_rows(daily_output(root, "20251028"), 3)
    assert (0, 1) == (proc.stop(), len(proc.events("daemon.stopped")))
