"""The one error tree of parquet-exporter.

    ExporterError                 base: anything the exporter expects to go wrong
    ├── ConfigError               a setting or flag has a bad value (exit 2)
    ├── InputError                an input file cannot be used at all (never retried)
    │   ├── BadInputName          the file name carries an impossible date or week
    │   ├── UnreadableInput       not CSV / not JSON / wrong encoding / truncated
    │   ├── SchemaMismatch        a required column is missing or duplicated
    │   └── TooManyRejects        more than max_reject_fraction of the rows were rejected
    ├── TransientIOError          an OS-level failure that may succeed on retry
    │   ├── SourceChanged         the source changed or vanished while it was read
    │   └── NoSpace               the output's file system is full (retried until space is freed)
    ├── OutputError               the output folder cannot be written (permissions, no space)
    ├── Abandoned                 a conversion was abandoned (timeout or shutdown); nothing was written
    └── AlreadyRunning            another process holds the lock for this root

Only the CLI edge turns these into a one-line message and an exit code.
"""

from __future__ import annotations

import errno


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


_TRANSIENT_ERRNOS = {errno.EAGAIN, errno.EBUSY, errno.EIO, errno.EINTR, errno.ETIMEDOUT}


def from_os_error(exc: OSError, what: str) -> ExporterError:
    """Map an OSError met while doing `what` to the most specific exporter error."""
    detail = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NoSpace(f"{what}: no space left on device")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(f"{what}: {detail}")
    if exc.errno == errno.ENOENT:
        return SourceChanged(f"{what}: file vanished")
    if exc.errno in _TRANSIENT_ERRNOS:
        return TransientIOError(f"{what}: {detail}")
    return TransientIOError(f"{what}: {detail}")
