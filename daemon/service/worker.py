"""The conversion worker: a long-lived process with polars loaded that converts one input at a time for
the daemon, so a conversion past its timeout (or still running at a stop) can really be ended: the worker
is killed, its CPU and memory come back at once, and a new one is started.

A thread cannot be killed, so an abandoned conversion in a thread ran on to its end, holding a core and
its memory. The worker is started with the `spawn` method: forking a process whose polars thread pool
runs can deadlock the child. It opens its own connection to the state (SQLite's busy timeout lets the
daemon and the worker write in turn) and answers each path with the `Outcome`, or the ExporterError to
retry (TransientIOError). A killed worker publishes nothing (an output appears by a rename): the daemon
removes its temporary files under the export lock.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from daemon.convert.outcome import Outcome
from daemon.errors import Abandoned, ExporterError, InputError
from daemon.settings import Settings

Message = tuple[str, Any]
PR_SET_PDEATHSIG = 1  # prctl(2)


class ConversionWorker:
    """The daemon's handle on its worker process: `submit` a path, `ready`/`result` for the answer, `kill`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._process: Any = None
        self._conn: Connection | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start a worker (it loads polars and opens the state while the daemon goes on)."""
        if self._process is not None:
            return
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(target=serve, args=(theirs, self.settings), name="parquet-exporter-worker")
        process.daemon = True
        process.start()
        theirs.close()
        self._process, self._conn = process, ours

    def submit(self, path: Path) -> None:
        """Ask the worker to convert `path` (starting a worker first when there is none)."""
        self.start()
        assert self._conn is not None
        self._conn.send(str(path))

    def answer(self, timeout: float) -> Outcome | bool:
        """Wait at most `timeout` seconds for the worker: the Outcome, True once it started converting (the
        timeout counts from then: a new worker first loads polars), False while nothing came. Raises the
        ExporterError the conversion raised, or Abandoned when the worker died."""
        assert self._conn is not None
        try:
            if not self._conn.poll(timeout):
                return False
            kind, value = self._conn.recv()
        except (EOFError, OSError):
            code = self._process.exitcode if self._process is not None else None
            self.kill()
            raise Abandoned(f"the conversion worker ended unexpectedly (exit code {code})") from None
        if kind == "started":
            return True
        if kind == "error":
            raise value
        assert isinstance(value, Outcome)
        return value

    def kill(self) -> None:
        """End the worker now (SIGKILL): whatever it was converting is abandoned and nothing is published."""
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if process is not None:
            with contextlib.suppress(Exception):
                process.kill()
            process.join(5)
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        """Ask an idle worker to exit; kill it if it does not within a second."""
        if self._conn is not None and self._process is not None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(None)
            self._process.join(1)
        self.kill()


def serve(conn: Connection, settings: Settings) -> None:
    """The worker process: convert each path received until None (or the daemon's end of the pipe closes)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # the daemon decides when a conversion ends: it kills the worker
    _die_with_parent()
    from daemon import logconfig
    from daemon.convert.exporter import Exporter
    from daemon.convert.inputs import classify
    from daemon.state.database import State

    # the daemon's own logging; a log that cannot be written is said once, by the daemon, not by its worker
    logconfig.configure_daemon(settings, complain=False)
    with State(settings.state_file) as state:
        exporter = Exporter(settings, state)
        while True:
            try:
                path = conn.recv()
            except (EOFError, OSError):
                return
            if path is None:
                return
            try:
                conn.send(("started", None))
            except (OSError, ValueError):
                return
            if state.lost():
                state.reopen()  # the state folder was deleted under the daemon, which recreated it
            item = classify(Path(path), settings)
            answer: Message
            if item is None:
                answer = ("error", InputError(f"{Path(path).name} is not an input"))
            else:
                try:
                    answer = ("outcome", exporter.convert(item, raise_transient=True))
                except ExporterError as exc:
                    answer = ("error", exc)
                except Exception as exc:  # noqa: BLE001 - handed to the daemon as the input's failure
                    answer = ("error", InputError(f"internal error: {type(exc).__name__}: {exc}"))
            try:
                conn.send(answer)
            except (OSError, ValueError):
                return
            except Exception as exc:  # noqa: BLE001 - an answer that does not pickle is still an answer
                conn.send(("error", InputError(f"internal error: {type(exc).__name__}: {exc}")))


def _die_with_parent() -> None:
    """On Linux, have the kernel kill the worker when the daemon dies (kill -9 included), so no orphan goes on
    converting beside the next daemon; elsewhere the worker ends at its next read of the closed pipe."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the daemon died before the request took effect
        os._exit(0)
