"""Reading a large source once, beside its conversion: its SHA-256, and its number of CSV field separators.

The content hash decides idempotency and goes into the output's footer; the separator count lets the
CSV fast path prove that no record is short (see `pipeline.stream_fast`). Both need every byte, so one
background thread reads the file once while polars converts it, and whoever needs a figure waits
for it. hashlib and NumPy release the GIL on large buffers, so the thread costs the conversion
little more than the bytes it reads.

`daemon.separators` counts them; a file that quotes other than RFC 4180's way has no count (None), and
the fast path leaves it to the careful path.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daemon.separators import Separators

CHUNK_BYTES = 4 * 1024 * 1024


def file_version(st: os.stat_result) -> tuple[int, ...]:
    """What tells two versions of a file apart without reading them: size, mtime, inode, device and ctime.

    A replacement of the same size with a preserved mtime (`cp -p`, `rsync -t`, tar) still brings a new
    inode, and a rewrite in place a new ctime, which no program can set back.
    """
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, st.st_ctime_ns)


class Digest:
    """The SHA-256 and separator count of one file, computed on a thread; `wait()` for the figures.

    `changed` is True when the file's version (see `file_version`) differs before and after the read;
    `error` holds the OSError that stopped the read, if one did.
    """

    def __init__(self, path: Path) -> None:
        """Stat `path` now, on the calling thread (OSError if it cannot be), so that whatever reads the
        file after this call and before `wait()` returns reads the version the digest starts from."""
        self.path = path
        self.before = os.stat(path)
        self.sha256 = ""
        self.separators: int | None = None  # commas outside quoted fields (None: not RFC 4180 quoting)
        self.version: tuple[int, ...] = ()
        self.changed = False
        self.error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name=f"digest {path.name}", daemon=True)

    @classmethod
    def start(cls, path: Path) -> Digest:
        digest = cls(path)
        digest._thread.start()
        return digest

    def wait(self) -> Digest:
        self._thread.join()
        return self

    def _run(self) -> None:
        try:
            sha, counter = self._hash_and_count()
            after = os.stat(self.path)
        except OSError as exc:
            self.error = exc
            return
        self.sha256 = sha.hexdigest()
        self.separators = counter.count()
        self.version = file_version(after)
        self.changed = file_version(self.before) != self.version

    def _hash_and_count(self) -> tuple[hashlib._Hash, Separators]:
        from daemon.separators import Separators  # imported here, on this thread: NumPy loads in ~0.15 s

        sha = hashlib.sha256()
        counter = Separators(CHUNK_BYTES)
        with self.path.open("rb", buffering=0) as fh:
            while n := fh.readinto(counter.buffer):
                sha.update(counter.buffer[:n])
                counter.feed(n)
        return sha, counter
