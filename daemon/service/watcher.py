"""Watching: the seam between file-system events and the service, and the settle logic.

`WatchdogSource` turns watchdog's events into plain `(path, kind)` calls; tests use any other
object with the same `start(sink)` / `stop()` shape to feed scripted events. `Settler` is pure:
it decides, from stats and a clock it is given, when a file has finished being written.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

EventKind = Literal["changed", "deleted", "overflow"]


class EventSink(Protocol):
    """What an event source reports to: a path that changed or vanished, or lost events."""

    def __call__(self, path: Path | None, kind: EventKind) -> None: ...


class EventSource(Protocol):
    """Anything that can report file events for the input folders."""

    def start(self, sink: EventSink) -> None: ...

    def stop(self) -> None: ...


class WatchdogSource:
    """watchdog observers on the input folders (not recursive: outputs live below them)."""

    def __init__(self, folders: list[Path]) -> None:
        self.folders = folders
        self._observer: object | None = None

    def start(self, sink: EventSink) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.is_directory:
                    return
                kind = event.event_type
                if kind in ("created", "modified", "closed"):
                    sink(Path(os.fsdecode(event.src_path)), "changed")
                elif kind == "moved":
                    sink(Path(os.fsdecode(event.src_path)), "deleted")
                    sink(Path(os.fsdecode(event.dest_path)), "changed")
                elif kind == "deleted":
                    sink(Path(os.fsdecode(event.src_path)), "deleted")

        observer = Observer()
        handler = Handler()
        for folder in self.folders:
            folder.mkdir(parents=True, exist_ok=True)
            observer.schedule(handler, str(folder), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def alive(self) -> bool:
        """False when the observer thread died (FSEvents/inotify errors): the service then sweeps."""
        observer = self._observer
        return observer is None or bool(observer.is_alive())  # type: ignore[attr-defined]

    def stop(self) -> None:
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
