"""The one error mapping: an OS failure, or an engine error that wraps one, becomes the right node of the tree."""

from __future__ import annotations

import errno

import pytest

from daemon.errors import (
    ExporterError,
    NoSpace,
    OutputError,
    SourceChanged,
    TransientIOError,
    UnreadableInput,
    map_error,
)


@pytest.mark.parametrize(
    ("code", "side", "expected"),
    [
        (errno.ENOSPC, "writing", NoSpace),
        (errno.EDQUOT, "writing", NoSpace),
        (errno.ENOSPC, "reading", NoSpace),
        (errno.EACCES, "writing", OutputError),
        (errno.EROFS, "writing", OutputError),
        (errno.EACCES, "reading", UnreadableInput),
        (errno.ENOENT, "reading", SourceChanged),
        (errno.ENOENT, "writing", TransientIOError),  # the output folder vanished: retried, not the source's doing
        (errno.EISDIR, "reading", UnreadableInput),
        (errno.ELOOP, "reading", UnreadableInput),
        (errno.EIO, "writing", TransientIOError),
        (errno.EAGAIN, "reading", TransientIOError),
        (errno.EBUSY, "writing", TransientIOError),
        (errno.EFBIG, "writing", OutputError),  # not transient: retrying cannot help
        (errno.ENAMETOOLONG, "reading", UnreadableInput),
    ],
)
def test_an_os_error_maps_by_errno_and_side(code: int, side: str, expected: type[ExporterError]) -> None:
    """Each errno lands on one class, decided by whose file it was (a source read or an output written)."""
    mapped = map_error(OSError(code, "boom"), "doing x", side=side)  # type: ignore[arg-type]
    assert expected is type(mapped)


def test_only_transient_errnos_are_retried() -> None:
    """The transient set means something: an errno outside it is not retried on either side."""
    for side in ("reading", "writing"):
        retried = {
            c
            for c in (errno.EIO, errno.EFBIG, errno.EINVAL)
            if isinstance(map_error(OSError(c, "x"), "w", side=side), TransientIOError)
        }  # type: ignore[arg-type]
        assert {errno.EIO} == retried


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IO error: No space left on device (os error 28)", NoSpace),
        ("Permission denied (os error 13)", OutputError),
        ("Read-only file system", OutputError),
        ("Input/output error", TransientIOError),
    ],
)
def test_an_engine_error_naming_an_os_failure_maps_like_the_os_error(text: str, expected: type[ExporterError]) -> None:
    """polars and DuckDB keep only an OS failure's text: that text maps like the errno it names."""
    assert expected is type(map_error(RuntimeError(text), "writing x.parquet", side="writing"))


def test_an_engine_error_about_the_data_is_not_an_os_failure() -> None:
    """A parse error is the data's: no mapping (the caller decides, e.g. the careful path takes the file)."""
    assert map_error(ValueError("could not parse 'x' as i64"), "reading", side="reading") is None


def test_an_exporter_error_passes_through() -> None:
    """An error already in the tree is returned as it is."""
    error = SourceChanged("changed")
    assert error is map_error(error, "x", side="reading")


def test_no_space_is_transient_and_says_so() -> None:
    """NoSpace is a TransientIOError (retried until space is freed), and its message says what ran out."""
    mapped = map_error(OSError(errno.ENOSPC, "No space left on device"), "writing a.parquet", side="writing")
    assert isinstance(mapped, TransientIOError)
    assert "writing a.parquet: no space left on device" == str(mapped)
