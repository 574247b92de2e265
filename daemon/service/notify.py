"""The service manager's readiness protocol (sd_notify): READY=1, WATCHDOG=1, STOPPING=1 and STATUS=.

Each message is one datagram of `KEY=value` lines sent to the unix socket named by `$NOTIFY_SOCKET`
(a file system path, or an abstract name written with a leading "@"). systemd sets the variable for a
`Type=notify` unit; without it every call is a no-op, so the daemon behaves the same under launchd,
a container or a shell. A message that cannot be sent (the manager went away, the socket is full) is
dropped: telling the manager is never a reason for the daemon to fail.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

ENV = "NOTIFY_SOCKET"


def address(env: Mapping[str, str] | None = None) -> str | None:
    """The socket address from `$NOTIFY_SOCKET` ("@name" becomes the abstract "\\0name"), or None.

    systemd also accepts "vsock:" addresses (for virtual machines); they are not supported here and
    count as absent."""
    value = (os.environ if env is None else env).get(ENV, "")
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    return None


def send(*assignments: str, env: Mapping[str, str] | None = None) -> bool:
    """Send `assignments` (e.g. "READY=1", "STATUS=watching") as one datagram; True if it was sent."""
    target = address(env)
    if target is None or not assignments:
        return False
    message = "\n".join(assignments).encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message, target)
    except OSError:
        return False
    return True


def ready(status: str) -> bool:
    """The daemon has started: the manager ends `systemctl start` and begins counting the watchdog."""
    return send("READY=1", f"MAINPID={os.getpid()}", f"STATUS={status}")


def watchdog(status: str) -> bool:
    """The daemon is alive (sent from its heartbeat); the status line is what `systemctl status` shows."""
    return send("WATCHDOG=1", f"STATUS={status}")


def stopping() -> bool:
    """The daemon is stopping cleanly (on SIGTERM or SIGINT), so the manager does not count it as a crash."""
    return send("STOPPING=1", "STATUS=stopping")
