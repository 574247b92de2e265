"""Reading a source once: its bytes (JSON, summary) or its hash beside a streamed conversion (CSV).

Whatever is converted is what was hashed: a source that changes or vanishes while it is read or
converted raises SourceChanged (retried), never a conversion of half of one version and half of another.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from daemon.convert.digest import Digest, file_version
from daemon.errors import SourceChanged, map_error


@dataclass(frozen=True)
class SourceBytes:
    """A source's stat and content hash; `data` holds its bytes when they were read whole."""

    data: bytes | None
    size: int
    mtime_ns: int
    sha256: str
    version: tuple[int, ...] = ()  # `file_version()` of the stat the hash was taken with


class StreamedSource:
    """A CSV source whose hash is being computed beside its conversion (see `daemon.convert.digest`).

    `size` is known at once; the hash, the separator count and the version wait for the digest, and raise
    SourceChanged (or the read's error) when the file changed or failed while it was being read.
    """

    data: bytes | None = None

    def __init__(self, path: Path, digest: Digest) -> None:
        self.path = path
        self._digest = digest
        self.size = digest.before.st_size
        self.mtime_ns = digest.before.st_mtime_ns

    def check(self) -> None:
        """Wait for the digest; raise what stopped it or SourceChanged when the file changed while read."""
        self._done()

    def _done(self) -> Digest:
        digest = self._digest.wait()
        if digest.error is not None:
            raise _read_error(self.path, digest.error)
        if digest.changed:
            raise SourceChanged(f"{self.path.name} changed while it was being read")
        return digest

    @property
    def sha256(self) -> str:
        return self._done().sha256

    @property
    def version(self) -> tuple[int, ...]:
        return self._done().version

    @property
    def separators(self) -> int | None:
        return self._done().separators


Source = SourceBytes | StreamedSource


def _read_error(path: Path, exc: OSError) -> Exception:
    return map_error(exc, f"reading {path.name}", side="reading") or exc


def read_source(path: Path) -> SourceBytes:
    """Read a source once, and fail with SourceChanged if it changed while being read."""
    try:
        before = os.stat(path)
        data = path.read_bytes()
        after = os.stat(path)
    except OSError as exc:
        raise _read_error(path, exc) from None
    if file_version(before) != file_version(after) or len(data) != after.st_size:
        raise SourceChanged(f"{path.name} changed while it was being read")
    return SourceBytes(data, after.st_size, after.st_mtime_ns, hashlib.sha256(data).hexdigest(), file_version(after))


def hash_source(path: Path, prefetched: Digest | None = None) -> StreamedSource:
    """Start hashing a CSV source on a thread (unless a digest of it was forked earlier); its conversion
    (polars streams it) goes on meanwhile."""
    try:
        return StreamedSource(path, prefetched or Digest.start(path))
    except OSError as exc:
        raise _read_error(path, exc) from None


def load_source(path: Path, expected: Source) -> bytes:
    """The bytes of a source that was hashed earlier; SourceChanged if they are not the same bytes."""
    again = read_source(path)
    if again.sha256 != expected.sha256:
        raise SourceChanged(f"{path.name} changed while it was being converted")
    assert again.data is not None
    return again.data


def assert_unchanged(path: Path, src: Source) -> None:
    """Before publishing a streamed output: the source still has the stat it was hashed with."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _read_error(path, exc) from None
    if file_version(st) != src.version:
        raise SourceChanged(f"{path.name} changed while it was being converted")


def changed_since(path: Path, src: Source) -> bool:
    """True when the source is no longer the version that was hashed (or is gone). A streamed source's own
    read failing or changing is raised by `StreamedSource.check()` before this is asked."""
    try:
        return file_version(os.stat(path)) != src.version
    except OSError:
        return True
