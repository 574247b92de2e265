"""File locks in the state folder: one daemon per root, and exports that never overlap."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from daemon.errors import AlreadyRunning


@contextmanager
def export_lock(state_dir: Path) -> Iterator[None]:
    """Hold the conversion lock: the daemon's worker and a manual `export` take turns."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / "export.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or "0") or None
    except (OSError, ValueError):
        return None


@contextmanager
def daemon_lock(state_dir: Path) -> Iterator[None]:
    """Hold the single-instance lock of the daemon; raise AlreadyRunning when another holds it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "daemon.pid"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(f"already running (pid {read_pid(path) or 'unknown'})") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


@contextmanager
def export_lock_nowait(state_dir: Path) -> Iterator[bool]:
    """Try the conversion lock once: yields True when held (released on exit), False when busy."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / "export.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
