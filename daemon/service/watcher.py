"""Watching: the seam between file-system events and the service, and the settle logic.

`WatchdogSource` turns watchdog's events into plain `(path, kind)` calls; tests use any other
object with the same `start(sink)` / `stop()` shape to feed scripted events. `Settler` is pure:
it decides, from stats and a clock it is given, when a file has finished being written.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

EventKind = Literal["changed", "deleted", "overflow", "watch"]
# "watch": a watched folder itself was deleted or moved; the service checks its watches at once.

WatchState = Literal["watching", "lost"]


class EventSink(Protocol):
    """What an event source reports to: a path that changed or vanished, or lost events."""

    def __call__(self, path: Path | None, kind: EventKind) -> None: ...


class EventSource(Protocol):
    """Anything that can report file events for the input folders."""

    def start(self, sink: EventSink) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class WatchChange:
    """A watched folder's watch changed: `lost` (removed, moved away or replaced) or `restored`."""

    folder: Path
    change: Literal["lost", "restored"]
    reason: str


def folder_identity(folder: Path) -> tuple[int, int] | None:
    """(st_dev, st_ino) of a folder, or None when there is no folder at that path."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


class WatchdogSource:
    """watchdog observers on the input folders (not recursive: outputs live below them).

    inotify watches a folder's inode, not its path: a folder removed and recreated, replaced, or moved
    away is no longer watched, and a moved one's events would still name the old path. So each watch
    remembers its folder's (st_dev, st_ino) (and watchdog's event for the folder's own deletion marks it
    dead: a recreated folder can reuse the inode number); events from a folder that is no longer at its
    path are dropped, and `check()` (the service calls it every few seconds: one stat per folder) reports folders
    lost and, once they are back, watches them again (a new observer) and reports them restored.
    """

    def __init__(self, folders: list[Path]) -> None:
        self.folders = folders
        self._observer: object | None = None
        self._sink: EventSink | None = None
        self.watched: dict[Path, tuple[int, int] | None] = {}  # folder -> identity it is watched with
        self.states: dict[Path, WatchState] = {}
        self._dead: set[Path] = set()  # folders whose own deletion watchdog reported (from its thread)

    def start(self, sink: EventSink) -> None:
        self._sink = sink
        for folder in self.folders:
            folder.mkdir(parents=True, exist_ok=True)
        self._observe()
        self.states = {f: ("watching" if self.watched[f] is not None else "lost") for f in self.folders}

    def _observe(self) -> None:
        """A new observer on every folder present now, each watch with the identity it was made for."""
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        assert self._sink is not None
        sink: EventSink = self._sink
        dead = self._dead

        class Handler(FileSystemEventHandler):
            def __init__(self, folder: Path, identity: tuple[int, int]) -> None:
                self.folder, self.identity = folder, identity

            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.is_directory:
                    if event.event_type in ("deleted", "moved") and Path(os.fsdecode(event.src_path)) == self.folder:
                        dead.add(self.folder)  # its watch is gone, even if a new folder reuses the inode number
                        sink(None, "watch")
                    return
                if folder_identity(self.folder) != self.identity:
                    return  # the folder moved away or was replaced: its events do not name our path
                kind = event.event_type
                if kind in ("created", "modified", "closed"):
                    sink(Path(os.fsdecode(event.src_path)), "changed")
                elif kind == "moved":
                    sink(Path(os.fsdecode(event.src_path)), "deleted")
                    sink(Path(os.fsdecode(event.dest_path)), "changed")
                elif kind == "deleted":
                    sink(Path(os.fsdecode(event.src_path)), "deleted")

        observer = Observer()
        self.watched = {}
        for folder in self.folders:
            identity = folder_identity(folder)
            if identity is not None:
                try:
                    observer.schedule(Handler(folder, identity), str(folder), recursive=False)
                except OSError:
                    identity = None  # gone again between the stat and the watch: the next check retries
            self.watched[folder] = identity
        observer.daemon = True
        observer.start()
        self._observer = observer

    def check(self) -> list[WatchChange]:
        """Compare each folder with the identity it is watched with; watch again what came back or was replaced."""
        changes: list[WatchChange] = []
        renew = False
        dead, self._dead = self._dead, set()
        for folder in self.folders:
            now, watched = folder_identity(folder), self.watched.get(folder)
            if now == watched and self.states.get(folder) == "watching" and folder not in dead:
                continue
            if self.states.get(folder) == "watching":
                reason = "folder removed or moved away" if now is None or now == watched else "folder replaced"
                changes.append(WatchChange(folder, "lost", reason))
                self.states[folder] = "lost"
            if now is not None:
                renew = True
        if renew:
            self._stop_observer()
            self._observe()
            for folder in self.folders:
                if self.states.get(folder) == "lost" and self.watched.get(folder) is not None:
                    self.states[folder] = "watching"
                    changes.append(WatchChange(folder, "restored", "folder is back"))
        return changes

    def alive(self) -> bool:
        """False when the observer thread died (FSEvents/inotify errors): the service then sweeps."""
        observer = self._observer
        return observer is None or bool(observer.is_alive())  # type: ignore[attr-defined]

    def stop(self) -> None:
        self._stop_observer()

    def _stop_observer(self) -> None:
        observer = self._observer
        if observer is not None:
            observer.stop()  # type: ignore[attr-defined]
            observer.join(timeout=5)  # type: ignore[attr-defined]
            self._observer = None


Signature = tuple[int, int]  # (size, mtime_ns)


def stat_signature(path: Path) -> Signature | None:
    """The (size, mtime_ns) of a file, or None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


@dataclass
class _Pending:
    signature: Signature | None
    since: float


class Settler:
    """Per-path debounce: a path is ready once its stat signature held still for `settle_seconds`.

    `touch()` may be called any number of times per path (a burst of events is one pending entry);
    `poll()` returns the paths that are ready and the ones that vanished.
    """

    def __init__(
        self,
        settle_seconds: float,
        clock: Callable[[], float],
        stat: Callable[[Path], Signature | None] = stat_signature,
    ) -> None:
        self.settle_seconds = settle_seconds
        self.clock = clock
        self.stat = stat
        self._pending: dict[Path, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def touch(self, path: Path) -> None:
        now = self.clock()
        signature = self.stat(path)
        entry = self._pending.get(path)
        if entry is None or entry.signature != signature:
            self._pending[path] = _Pending(signature, now)

    def forget(self, path: Path) -> None:
        self._pending.pop(path, None)

    def poll(self) -> tuple[list[Path], list[Path]]:
        """(ready, vanished): ready paths are removed from the pending set."""
        now = self.clock()
        ready: list[Path] = []
        vanished: list[Path] = []
        for path, entry in list(self._pending.items()):
            signature = self.stat(path)
            if signature is None:
                vanished.append(path)
                del self._pending[path]
            elif signature != entry.signature:
                entry.signature, entry.since = signature, now
            elif now - entry.since >= self.settle_seconds:
                ready.append(path)
                del self._pending[path]
        return ready, vanished

    def next_due(self) -> float | None:
        """Seconds until the earliest pending path could be ready (None when nothing is pending)."""
        if not self._pending:
            return None
        now = self.clock()
        return max(0.0, min(e.since + self.settle_seconds - now for e in self._pending.values()))
