"""Reading a large source once, beside its conversion: its SHA-256, and its number of CSV field separators.

The content hash decides idempotency and goes into the output's footer; the separator count lets the
CSV fast path prove that no record is short (see `pipeline.stream_fast`). Both need every byte, so one
background thread reads the file once while polars converts it, and whoever needs a figure waits
for it. hashlib and NumPy release the GIL on large buffers, so the thread costs the conversion
little more than the bytes it reads.

`daemon.convert.separators` counts them; a file that quotes other than RFC 4180's way has no count (None), and
the fast path leaves it to the careful path.

A one-shot export knows its large sources before it loads polars: `Prefetched.fork()` starts their
digests in child processes then, so the reading, hashing and counting run on the other core while this
process loads its libraries (~0.3 s), not beside the conversion. The first goes to the program's
`Spare`, forked at its very start (see `daemon.cli.program`), which has NumPy loaded by then.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daemon.convert.separators import Separators

CHUNK_BYTES = 4 * 1024 * 1024
PREFETCH_MIN_BYTES = 1024 * 1024  # smaller sources are read in milliseconds: not worth a process
PREFETCH_MAX_FILES = 8  # a historical export of hundreds of files uses threads, one at a time


def file_version(st: os.stat_result) -> tuple[int, ...]:
    """What tells two versions of a file apart without reading them: size, mtime, inode, device and ctime.

    A replacement of the same size with a preserved mtime (`cp -p`, `rsync -t`, tar) still brings a new
    inode, and a rewrite in place a new ctime, which no program can set back.
    """
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, st.st_ctime_ns)


class Digest:
    """The SHA-256 and separator count of one file, computed on a thread (`start`) or in a child process
    (`fork`); `wait()` for the figures.

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
        self._forked = False
        self._child: tuple[int, int] | None = None  # (pid, read end of its pipe) until a forked digest is collected

    @classmethod
    def start(cls, path: Path) -> Digest:
        digest = cls(path)
        digest._thread.start()
        return digest

    @classmethod
    def fork(cls, path: Path, spare: Spare | None = None) -> Digest:
        """Start the digest in a child process (which only reads `path` and writes the figures to a pipe):
        `spare` if one is given (it has NumPy loaded already), else a new one."""
        digest = cls(path)
        if spare is not None and (child := spare.assign(path)) is not None:
            digest._forked, digest._child = True, child
            return digest
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: no logging, no atexit, no flushing of the parent's buffers
            try:
                os.close(read_end)
                digest._run()
                _reply(write_end, digest)
            finally:
                os._exit(0)
        os.close(write_end)
        digest._forked, digest._child = True, (pid, read_end)
        return digest

    def wait(self) -> Digest:
        if not self._forked:
            self._thread.join()
            return self
        if self._child is None:
            return self  # collected already
        pid, read_end = self._child
        self._child = None
        with os.fdopen(read_end, "rb") as pipe:
            payload = pipe.read()
        os.waitpid(pid, 0)
        try:
            self._take_figures(json.loads(payload))
        except (ValueError, KeyError, TypeError):
            self._run()  # the child died before it said anything: read the file here instead
        return self

    def cancel(self) -> None:
        """Stop a child that is no longer wanted, and reap it."""
        if self._child is None:
            return
        pid, read_end = self._child
        self._child = None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.close(read_end)
        os.waitpid(pid, 0)

    def _figures(self) -> dict[str, object]:
        error = self.error
        return {
            "sha256": self.sha256,
            "separators": self.separators,
            "version": list(self.version),
            "changed": self.changed,
            "error": None if error is None else [error.errno, error.strerror, error.filename],
        }

    def _take_figures(self, figures: dict[str, object]) -> None:
        error = figures["error"]
        self.error = None if error is None else OSError(*error)  # type: ignore[misc]  # errno picks the subclass
        self.sha256 = str(figures["sha256"])
        separators = figures["separators"]
        self.separators = separators if isinstance(separators, int) else None
        self.version = tuple(figures["version"])  # type: ignore[arg-type]
        # A spare child stats the file itself when it starts reading: it must be the version stat'ed here.
        self.changed = bool(figures["changed"]) or (self.error is None and file_version(self.before) != self.version)

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
        from daemon.convert.separators import Separators  # here, on this thread: NumPy loads off the main one

        sha = hashlib.sha256()
        counter = Separators(CHUNK_BYTES)
        with self.path.open("rb", buffering=0) as fh:
            while n := fh.readinto(counter.buffer):
                sha.update(counter.buffer[:n])
                counter.feed(n)
        return sha, counter


def _reply(fd: int, digest: Digest) -> None:
    with os.fdopen(fd, "wb") as out:
        out.write(json.dumps(digest._figures()).encode())


class Spare:
    """A child forked when the program starts, before it loads even its command line: it loads NumPy at
    once, then digests the one path it is given (`assign`), or is stopped when none is (`close`).
    Forked before a digest could be (the path is known only once settings and inputs are), so NumPy's
    import is off the conversion's time too (BENCHMARKS.md, "Goal 1")."""

    def __init__(self, pid: int, request: int, reply: int) -> None:
        self._child: tuple[int, int, int] | None = (pid, request, reply)

    @classmethod
    def fork(cls) -> Spare | None:
        if not hasattr(os, "fork") or "polars" in sys.modules:
            return None
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(request_write)
                os.close(reply_read)
                from daemon.convert import separators  # noqa: F401  NumPy, while the parent loads polars

                with os.fdopen(request_read, "rb") as requests:
                    path = requests.read().decode()
                if path:
                    digest = Digest(Path(path))
                    digest._run()
                    _reply(reply_write, digest)
            except OSError:
                pass  # the path could not be stat'ed: say nothing, the parent reads the file itself
            finally:
                os._exit(0)
        os.close(request_read)
        os.close(reply_write)
        return cls(pid, request_write, reply_read)

    def assign(self, path: Path) -> tuple[int, int] | None:
        """Give the child `path`; its (pid, reply pipe) for the Digest, or None if it was used or is gone."""
        if self._child is None:
            return None
        pid, request, reply = self._child
        self._child = None
        try:
            with os.fdopen(request, "wb") as out:
                out.write(os.fsencode(path))
        except OSError:  # it died (a broken pipe): reap it and fork anew
            os.close(reply)
            os.waitpid(pid, 0)
            return None
        return pid, reply

    def close(self) -> None:
        """Stop an unused child (it may still be loading NumPy), and reap it."""
        if self._child is None:
            return
        pid, request, reply = self._child
        self._child = None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.close(request)
        os.close(reply)
        os.waitpid(pid, 0)


class Prefetched:
    """Digests forked before polars loads (see the module docstring), handed out once each by path."""

    def __init__(self, digests: dict[Path, Digest] | None = None) -> None:
        self._digests = digests or {}

    @classmethod
    def fork(cls, paths: Iterable[Path], spare: Spare | None = None) -> Prefetched:
        """Fork a digest of each large file among `paths` (none where the OS has no fork, or for too many);
        the first goes to `spare`, if there is one, which is closed when it is not used."""
        large = []
        for path in paths:
            with contextlib.suppress(OSError):
                if os.stat(path).st_size >= PREFETCH_MIN_BYTES:
                    large.append(path)
        digests: dict[Path, Digest] = {}
        # Once polars is loaded there is nothing to overlap, and its threads make fork unsafe.
        if hasattr(os, "fork") and large and len(large) <= PREFETCH_MAX_FILES and "polars" not in sys.modules:
            for path in large:
                with contextlib.suppress(OSError):
                    digests[path] = Digest.fork(path, spare)
        if spare is not None:
            spare.close()  # a no-op once it was given a path
        return cls(digests)

    def take(self, path: Path) -> Digest | None:
        """The forked digest of `path` if the file is still the version it started from, else None."""
        digest = self._digests.pop(path, None)
        if digest is None:
            return None
        try:
            unchanged = file_version(os.stat(path)) == file_version(digest.before)
        except OSError:
            unchanged = False
        if not unchanged:
            digest.cancel()
            return None
        return digest

    def close(self) -> None:
        """Stop and reap the children nobody took."""
        for digest in self._digests.values():
            digest.cancel()
        self._digests.clear()

    def __enter__(self) -> Prefetched:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
