"""Signals a running daemon may get by mistake or on purpose: each has a deliberate meaning, none ends it
without `daemon.stopped`."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from tests.daemonproc import DaemonProcess, wait_until

StartDaemon = Callable[..., DaemonProcess]


def test_usr1_logs_a_status_line_and_the_daemon_goes_on(start_daemon: StartDaemon) -> None:
    """SIGUSR1 logs `daemon.status` with the counters; the daemon keeps running and stops cleanly later."""
    daemon = start_daemon()
    daemon.proc.send_signal(signal.SIGUSR1)
    [status] = wait_until(lambda: daemon.events("daemon.status"), 10, "daemon.status")
    assert ("SIGUSR1", daemon.pid, 1) == (status["signal"], status["pid"], status["sweeps"])
    assert None is daemon.proc.poll()
    assert 0 == daemon.stop()
    assert 1 == len(daemon.events("daemon.stopped"))


@pytest.mark.parametrize("name", ["SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGIO", "SIGPWR", "SIGRTMIN"])
def test_other_signals_are_logged_and_ignored(start_daemon: StartDaemon, name: str) -> None:
    """Each of these signals (default action: terminate) is logged as ignored; the daemon still beats and,
    after SIGTERM, logs daemon.stopped and exits 0."""
    if not hasattr(signal, name):
        pytest.skip(f"{name} does not exist on this system")
    daemon = start_daemon()
    daemon.proc.send_signal(getattr(signal, name))
    [ignored] = wait_until(lambda: daemon.events("daemon.signal_ignored"), 10, "daemon.signal_ignored")
    expected = name if name != "SIGRTMIN" else signal.Signals(signal.SIGRTMIN).name
    assert expected == ignored["signal"]
    beat = str(daemon.heartbeat().get("updated"))
    wait_until(lambda: str(daemon.heartbeat().get("updated")) > beat, 10, "a heartbeat after the signal")
    assert None is daemon.proc.poll()
    assert 0 == daemon.stop()
    assert 1 == len(daemon.events("daemon.stopped"))


def test_sigquit_stops_cleanly(start_daemon: StartDaemon) -> None:
    """SIGQUIT (Ctrl-\\) stops the daemon like SIGTERM: exit 0 with daemon.stopped, no core dump."""
    daemon = start_daemon()
    assert 0 == daemon.stop(signal.SIGQUIT)
    assert 1 == len(daemon.events("daemon.stopped"))


def test_a_signal_burst_does_not_stop_the_daemon(start_daemon: StartDaemon) -> None:
    """Fifty mixed signals in a row (the kernel merges repeats) leave the daemon running; SIGTERM then stops it."""
    daemon = start_daemon()
    for sig in [signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM] * 17:
        daemon.proc.send_signal(sig)
    wait_until(lambda: daemon.events("daemon.status"), 10, "daemon.status")
    assert None is daemon.proc.poll()
    assert 0 == daemon.stop()
    assert 1 == len(daemon.events("daemon.stopped"))
