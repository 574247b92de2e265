"""Logging, configured at the entry point only: structlog JSON lines to the log file, and to stderr.

Each line has `timestamp` (ISO 8601 UTC), `level` and `event` first, then the event's fields, so
people can filter with `jq 'select(.event == "export.written")'`. The daemon also writes its events to
stderr, where a service manager (journald, launchd's StandardErrorPath, `docker logs`) collects them:
JSON lines when stderr is not a terminal, a coloured human line per event when it is.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import structlog

if TYPE_CHECKING:
    from daemon.settings import Settings

LOGGER_NAME = "parquet_exporter"
FOREIGN_LOGGERS = ("apscheduler", "watchdog")
STDERR_ONLY = "-"  # log_file = "-": no log file, every line to stderr (the service manager keeps the log)
_FIRST = ("timestamp", "level", "event")


def _order_keys(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    ordered = {k: event.pop(k) for k in _FIRST if k in event}
    ordered.update(event)
    return ordered


def _not_benign(record: logging.LogRecord) -> bool:
    """False for watchdog's "called when the thread is inactive": its emitters race their own clean stop
    (watchdog 7, inotify) and log it as an error, which would put an error on every other SIGTERM."""
    return not (record.name.startswith("watchdog.") and "called when the thread is inactive" in record.getMessage())


class LogFile(logging.handlers.RotatingFileHandler):
    """The rotating log file, which says once on stderr that it cannot be written (a folder where the file
    should be, a read-only or missing folder) instead of printing a traceback for every line. Each line is
    tried again, so the log resumes when the cause is fixed; a later failure is reported once again."""

    def __init__(self, filename: Path, *, complain: bool = True, **kwargs: Any) -> None:
        super().__init__(filename, **kwargs)
        self.complain = complain  # False in a helper process: its parent already says it, once
        self.failing = False
        self._failed_now = False

    def emit(self, record: logging.LogRecord) -> None:
        self._failed_now = False
        super().emit(record)
        if not self._failed_now:
            self.failing = False

    def handleError(self, record: logging.LogRecord) -> None:
        self._failed_now = True
        if self.failing:
            return
        self.failing = True
        if not self.complain:
            return
        exc = sys.exc_info()[1]
        why = (exc.strerror if isinstance(exc, OSError) else None) or f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(Exception):
            sys.stderr.write(f"parquet-exporter: cannot write the log {self.baseFilename}: {why}\n")
            sys.stderr.flush()


def _shared() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]


def _same_file(stream: Any, path: Path) -> bool:
    """True if `stream` already writes to `path` (stderr redirected to the log file): one handler is enough."""
    try:
        return os.path.samestat(os.fstat(stream.fileno()), os.stat(path))
    except (OSError, ValueError, AttributeError):
        return False


def _formatter(renderer: Literal["json", "console"]) -> logging.Formatter:
    if renderer == "console":
        last: list[Any] = [structlog.dev.ConsoleRenderer(colors=True)]  # renders exc_info itself
    else:
        last = [
            structlog.processors.format_exc_info,
            _order_keys,
            structlog.processors.JSONRenderer(ensure_ascii=False, default=str),
        ]
    formatter: logging.Formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *last],
    )
    return formatter


_SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def _is_journal(stream: Any) -> bool:
    """True if `stream` is journald's own stream for this service: systemd sets $JOURNAL_STREAM to its
    "device:inode", and a redirected stderr (a file, a pipe to another program) no longer matches."""
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return os.environ.get("JOURNAL_STREAM") == f"{st.st_dev}:{st.st_ino}"


class _SyslogPrefix(logging.Formatter):
    """Each line prefixed with its syslog priority (`<4>` for a warning): journald takes the prefix off and
    files the line at that priority, so `journalctl -p warning` finds the warnings; the line stays JSON."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return f"<{_SYSLOG_PRIORITY.get(record.levelno, 6)}>{self.inner.format(record)}"


def configure_daemon(settings: Settings, *, complain: bool = True) -> None:
    """The daemon's logging (`run`, and its conversion worker with `complain=False`): the rotating file
    (none when `log_file = "-"`), and every event on stderr too, where a service manager collects it: JSON
    lines for journald, launchd or `docker logs`, a coloured line per event on a terminal."""
    configure(
        None if settings.log_file == STDERR_ONLY else settings.log_path,
        level=settings.log_level,
        max_bytes=settings.log_max_bytes,
        backups=settings.log_backups,
        stderr_level=settings.log_level,
        stderr_renderer="console" if sys.stderr.isatty() else "json",
        complain=complain,
    )


def configure(
    log_file: Path | None,
    *,
    level: str = "info",
    max_bytes: int = 10 * 1024 * 1024,
    backups: int = 5,
    stderr_level: str | None = None,
    stderr_renderer: Literal["json", "console"] = "json",
    complain: bool = True,
) -> None:
    """Send structlog events as JSON lines to `log_file` (rotating by size), and optionally to stderr
    (from `stderr_level` up, as JSON or as the console renderer's lines); stderr is left out when it is
    the log file itself, so no line is written twice to one file."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = False
    logger.setLevel(level.upper())
    if log_file is not None:
        with contextlib.suppress(OSError):  # if it cannot be made, LogFile says so at the first line
            log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = LogFile(
            log_file, complain=complain, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True
        )
        file_handler.setFormatter(_formatter("json"))
        file_handler.addFilter(_not_benign)
        logger.addHandler(file_handler)
    if stderr_level is not None and not (log_file is not None and _same_file(sys.stderr, log_file)):
        err = logging.StreamHandler(sys.stderr)
        err.setLevel(stderr_level.upper())
        formatter = _formatter(stderr_renderer)
        err.setFormatter(_SyslogPrefix(formatter) if _is_journal(sys.stderr) else formatter)
        err.addFilter(_not_benign)
        logger.addHandler(err)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    # The libraries' own warnings (a missed sweep, an observer error) go to the same JSON lines.
    for name in FOREIGN_LOGGERS:
        foreign = logging.getLogger(name)
        for handler in list(foreign.handlers):
            foreign.removeHandler(handler)
        for handler in logger.handlers:
            foreign.addHandler(handler)
        foreign.setLevel(logging.WARNING)
        foreign.propagate = False
    structlog.configure(
        processors=[*_shared(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger() -> Any:
    """The program's structlog logger (modules log through this, never importing structlog themselves)."""
    return structlog.get_logger(LOGGER_NAME)


def reopen() -> None:
    """Close the log file so the next line reopens it (SIGHUP, after an outside rotation)."""
    for handler in logging.getLogger(LOGGER_NAME).handlers:
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                if handler.stream is not None:
                    handler.stream.close()
                    handler.stream = None
            finally:
                handler.release()


def shutdown() -> None:
    """Flush and close the handlers (the CLI calls this before exiting)."""
    for name in (LOGGER_NAME, *FOREIGN_LOGGERS):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            handler.flush()
            handler.close()
            logger.removeHandler(handler)
