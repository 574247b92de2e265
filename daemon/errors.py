"""The one error tree of parquet-exporter.

    ExporterError                 base: anything the exporter expects to go wrong
    ├── ConfigError               a setting or flag has a bad value (exit 2)
    ├── InputError                an input file cannot be used at all (never retried)
    │   ├── BadInputName          the file name carries an impossible date or week
    │   ├── UnreadableInput       not CSV / not JSON / wrong encoding / truncated
    │   │   └── LineTooLong       a line longer than max_line_bytes (found before the file is read whole)
    │   ├── SchemaMismatch        a required column is missing or duplicated
    │   └── TooManyRejects        more than max_reject_fraction of the rows were rejected
    ├── TransientIOError          an OS-level failure that may succeed on retry
    │   ├── SourceChanged         the source changed or vanished while it was read
    │   └── NoSpace               the output's file system is full (retried until space is freed)
    ├── OutputError               the output folder cannot be written (permissions, read-only)
    ├── Abandoned                 a conversion was abandoned (timeout or shutdown); nothing was written
    └── AlreadyRunning            another process holds the lock for this root

`map_error` is the one place an OSError, or a polars or DuckDB error that wraps one, becomes a node
of this tree. Only the CLI edge turns these into a one-line message and an exit code.
"""

from __future__ import annotations

import errno
from typing import Literal


class ExporterError(Exception):
    """Base class of every error the exporter raises on purpose."""

    exit_code = 1


class ConfigError(ExporterError):
    """A setting, flag or config file has a value that cannot be used."""

    exit_code = 2


class InputError(ExporterError):
    """An input file cannot be converted; it is recorded as failed and not retried until it changes."""


class BadInputName(InputError):
    """The input's file name carries an impossible date or ISO week."""


class UnreadableInput(InputError):
    """The input is not parseable as its kind (encoding, syntax, truncation, shape)."""


class LineTooLong(UnreadableInput):
    """A line is longer than `max_line_bytes`: the file fails before any reader holds that line whole."""


class SchemaMismatch(InputError):
    """The input's columns do not fit the dataset's schema (missing or duplicated)."""


class TooManyRejects(InputError):
    """More than max_reject_fraction of the input's rows could not be typed."""


class TransientIOError(ExporterError):
    """An OS-level failure that may go away on retry (EAGAIN, EBUSY, EIO, ENOSPC...)."""


class SourceChanged(TransientIOError):
    """The source file changed size, mtime or content, or vanished, while it was being read."""


class NoSpace(TransientIOError):
    """The output's file system is full; nothing was published, and the export is retried later."""


class OutputError(ExporterError):
    """The output cannot be written: permissions, a read-only or full file system."""


class Abandoned(ExporterError):
    """A conversion ran past its timeout or the daemon stopped; its output was not published."""


class AlreadyRunning(ExporterError):
    """Another parquet-exporter process holds the lock for this root."""


_TRANSIENT_ERRNOS = {errno.EAGAIN, errno.EBUSY, errno.EIO, errno.EINTR, errno.ETIMEDOUT, errno.ESTALE}
# What polars and DuckDB keep of an OSError in their own exceptions: the text, not the errno.
_ENGINE_TEXT = (
    ("No space left", errno.ENOSPC),
    ("ENOSPC", errno.ENOSPC),
    ("Disk quota exceeded", errno.EDQUOT),
    ("Permission denied", errno.EACCES),
    ("Read-only file system", errno.EROFS),
    ("Input/output error", errno.EIO),
)

Side = Literal["reading", "writing"]


def map_error(exc: BaseException, what: str, *, side: Side) -> ExporterError | None:
    """The exporter error an OS failure met while `what` means, or None when `exc` is not the OS's doing.

    `side` says whose file it was: reading a source (a permission problem or a vanished file is that
    input's) or writing an output (a permission problem is the output folder's; a vanished folder is
    retried). An engine error (polars, DuckDB) counts as an OS failure when its text names one.
    """
    if isinstance(exc, ExporterError):
        return exc
    if isinstance(exc, OSError):
        code, detail = exc.errno, exc.strerror or str(exc) or type(exc).__name__
    else:
        text = str(exc)
        found = next((c for marker, c in _ENGINE_TEXT if marker in text), None)
        if found is None:
            return None
        code, detail = found, (text.splitlines() or [type(exc).__name__])[0]
    if code in (errno.ENOSPC, errno.EDQUOT):
        return NoSpace(f"{what}: no space left on device")
    if code in _TRANSIENT_ERRNOS:
        return TransientIOError(f"{what}: {detail}")
    if side == "reading":
        if code == errno.ENOENT:
            return SourceChanged(f"{what}: the file vanished before it could be read")
        if code in (errno.EACCES, errno.EPERM):
            return UnreadableInput("permission denied reading the source")
        if code == errno.EISDIR:
            return UnreadableInput("is a directory")
        if code == errno.ELOOP:
            return UnreadableInput("a symbolic link loop (too many levels of symbolic links)")
        return UnreadableInput(f"{what}: {detail}")
    if code == errno.ENOENT:
        return TransientIOError(f"{what}: the output folder vanished")
    return OutputError(f"{what}: {detail}")
