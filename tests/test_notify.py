"""The sd_notify protocol: datagrams reach a socket the test binds, from the module and from the real daemon."""

from __future__ import annotations

import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daemon.service import notify
from daemon.state.locks import export_lock
from tests.daemonproc import STATE, DaemonProcess, daily_output, wait_until
from tests.test_daemon_e2e import csv_bytes, source_path, wait_rows

StartDaemon = Callable[..., DaemonProcess]


class Listener:
    """A bound unix datagram socket standing in for the service manager's notify socket."""

    def __init__(self, name: str) -> None:
        self.name = name  # what goes into NOTIFY_SOCKET
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + name[1:] if name.startswith("@") else name)
        self.sock.settimeout(0.05)
        self.messages: list[dict[str, str]] = []

    def drain(self) -> list[dict[str, str]]:
        """Every datagram received so far, each parsed into its KEY=value assignments."""
        while True:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                return self.messages
            self.messages.append(dict(line.split("=", 1) for line in data.decode().splitlines()))

    def first(self, key: str, value: str | None = None) -> dict[str, str] | None:
        return next((m for m in self.drain() if key in m and value in (None, m[key])), None)


@pytest.fixture
def path_listener() -> Iterator[Listener]:
    """A listener on a socket file in a short directory (unix socket paths are limited to 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="pe-notify-", dir="/tmp") as folder:
        listener = Listener(str(Path(folder) / "notify.sock"))
        try:
            yield listener
        finally:
            listener.sock.close()


@pytest.fixture
def abstract_listener() -> Iterator[Listener]:
    """A listener on an abstract socket name, written "@name" as systemd does."""
    listener = Listener(f"@parquet-exporter-test-{uuid.uuid4().hex}")
    try:
        yield listener
    finally:
        listener.sock.close()


def test_send_to_a_socket_path(path_listener: Listener) -> None:
    """One call sends its assignments as one datagram to the socket file named by NOTIFY_SOCKET."""
    assert notify.send("READY=1", "STATUS=up", env={"NOTIFY_SOCKET": path_listener.name}) is True
    assert [{"READY": "1", "STATUS": "up"}] == path_listener.drain()


def test_send_to_an_abstract_socket(abstract_listener: Listener) -> None:
    """A NOTIFY_SOCKET starting with "@" names an abstract socket, which receives the datagram."""
    assert notify.send("WATCHDOG=1", env={"NOTIFY_SOCKET": abstract_listener.name}) is True
    assert [{"WATCHDOG": "1"}] == abstract_listener.drain()


@pytest.mark.parametrize("value", [None, "", "relative.sock", "vsock:2:1234"])
def test_send_outside_systemd_is_a_no_op(value: str | None) -> None:
    """Without a usable NOTIFY_SOCKET (absent, empty, relative, vsock) nothing is sent and nothing raises."""
    env = {} if value is None else {"NOTIFY_SOCKET": value}
    assert notify.send("READY=1", env=env) is False


def test_send_to_a_missing_socket_does_not_raise(tmp_path: Path) -> None:
    """A socket that went away makes `send` return False: telling the manager never fails the daemon."""
    assert notify.send("READY=1", env={"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}) is False


@pytest.mark.slow
def test_daemon_sends_ready_watchdog_and_stopping(abstract_listener: Listener, start_daemon: StartDaemon) -> None:
    """The real daemon sends READY=1 with its MAINPID, WATCHDOG=1 from its heartbeat, and STOPPING=1 on SIGTERM."""
    proc = start_daemon({"NOTIFY_SOCKET": abstract_listener.name}, ready=False)
    ready = wait_until(lambda: abstract_listener.first("READY", "1"), 20, "READY=1")
    assert str(proc.pid) == ready["MAINPID"]
    assert ready["STATUS"].startswith("watching ")

    def beats_after_ready() -> list[dict[str, str]]:
        messages = abstract_listener.drain()
        return [m for m in messages[messages.index(ready) + 1 :] if "WATCHDOG" in m]

    beats = wait_until(lambda: beats_after_ready()[2:] and beats_after_ready(), 10, "three WATCHDOG=1 after READY=1")
    assert {"1"} == {m["WATCHDOG"] for m in beats}
    assert "written" in beats[-1]["STATUS"]
    assert abstract_listener.first("STOPPING") is None, "no STOPPING=1 before the signal"
    assert 0 == proc.stop()
    messages = wait_until(lambda: abstract_listener.first("STOPPING") and abstract_listener.messages, 5, "STOPPING")
    assert [{"STOPPING": "1", "STATUS": "stopping"}] == [m for m in messages if "STOPPING" in m]
    assert messages.index(ready) < messages.index({"STOPPING": "1", "STATUS": "stopping"})
    assert 1 == len(proc.events("daemon.stopped"))


@pytest.mark.slow
def test_watchdog_keeps_coming_while_a_manual_export_holds_the_lock(
    abstract_listener: Listener, root: Path, start_daemon: StartDaemon
) -> None:
    """While a manual export holds the export lock and the daemon waits for it, WATCHDOG=1 still arrives."""
    source_path(root, "20251028").write_bytes(csv_bytes("20251028", 5))
    with export_lock(root / STATE):
        start_daemon({"NOTIFY_SOCKET": abstract_listener.name}, ready=False)
        ready = wait_until(lambda: abstract_listener.first("READY", "1"), 20, "READY=1")
        time.sleep(0.5)  # the start-up sweep reaches the file and waits for the lock
        start = len(abstract_listener.drain())
        time.sleep(2.0)  # ten heartbeats of 0.2 s
        beats = [m for m in abstract_listener.drain()[start:] if "WATCHDOG" in m]
        assert not daily_output(root, "20251028").exists(), "the daemon must still be waiting for the lock"
    assert len(beats) >= 5, f"{len(beats)} WATCHDOG=1 in 2 s while waiting (READY: {ready})"
    wait_rows(daily_output(root, "20251028"), 5)
