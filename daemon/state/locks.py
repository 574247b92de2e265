"""File locks in the state folder: one daemon per root, and exports that never overlap."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from daemon.errors import AlreadyRunning, ExporterError, map_error


def _open_lock_file(path: Path) -> int:
    """Open (creating the state folder and the file) a lock file; a folder that cannot be written is an
    ExporterError naming it (a read-only state folder is one line, never a traceback)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _state_error(path.parent, exc) from None


def _state_error(folder: Path, exc: OSError) -> ExporterError:
    return map_error(exc, f"cannot write the state folder {folder}", side="writing") or ExporterError(str(exc))


@contextmanager
def export_lock(state_dir: Path) -> Iterator[None]:
    """Hold the conversion lock: the daemon's worker and a manual `export` take turns."""
    fd = _open_lock_file(state_dir / "export.lock")
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


class DaemonLock:
    """The single-instance lock: an flock on `daemon.pid` in the state folder (which holds the pid) and, when
    an `anchor` folder is given (the root), an flock on that folder too. The anchor's lock survives the state
    folder being deleted, so no second daemon starts while the first one recreates it (`renew`)."""

    def __init__(self, state_dir: Path, anchor: Path | None = None) -> None:
        self.path = state_dir / "daemon.pid"
        self.anchor = anchor
        self._fds: list[int] = []
        self._pid_fd: int | None = None

    def acquire(self) -> None:
        if self.anchor is not None:
            fd = os.open(self.anchor, os.O_RDONLY)
            self._fds.append(fd)
            self._take(fd)
        self._lock_pid_file()

    def _take(self, fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.release()
            raise AlreadyRunning(f"already running (pid {read_pid(self.path) or 'unknown'})") from None

    def _lock_pid_file(self) -> None:
        fd = _open_lock_file(self.path)
        self._fds.append(fd)
        self._take(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._pid_fd = fd

    def renew(self) -> None:
        """Recreate and lock the pid file (after the state folder was deleted or replaced)."""
        if self._pid_fd is not None:
            self._fds.remove(self._pid_fd)
            os.close(self._pid_fd)
            self._pid_fd = None
        self._lock_pid_file()

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()
        self._pid_fd = None


@contextmanager
def daemon_lock(state_dir: Path, anchor: Path | None = None) -> Iterator[DaemonLock]:
    """Hold the single-instance lock of the daemon; raise AlreadyRunning when another holds it."""
    lock = DaemonLock(state_dir, anchor)
    lock.acquire()
    try:
        yield lock
    finally:
        lock.release()


@contextmanager
def export_lock_nowait(state_dir: Path) -> Iterator[bool]:
    """Try the conversion lock once: yields True when held (released on exit), False when busy."""
    fd = _open_lock_file(state_dir / "export.lock")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
