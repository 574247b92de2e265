"""Where outputs are published: a `Target` does five things, and a folder and an S3 bucket both do them.

    put_if_absent     create the object whole, or fail with AlreadyExists if the key is taken
    replace_if_match  replace it whole if its version is still `etag`, else fail with PreconditionFailed
    head              its version (ETag) and size, or None
    list_folder       every object in one month folder: one request, not one per file
    read_metadata     our key-value metadata from the object's Parquet footer, and the ETag it was read at

A folder target writes beside the final name, fsyncs, and links (create-only) or renames into place, so a
reader of a shared mount sees whole files too. Its "ETag" is the file's inode, mtime and size.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from daemon.convert import footer
from daemon.convert.writer import META_PREFIX, is_temporary, temporary_name
from daemon.errors import ExporterError, TransientIOError

# A footer is read with one ranged request of this many bytes from the end (ours are a few KiB; a larger
# one costs a second request).
TAIL_BYTES = 64 * 1024


class AlreadyExists(ExporterError):
    """The key is taken: a create-only write did not happen."""


class PreconditionFailed(ExporterError):
    """The object is no longer the version a conditional replace was asked for (a concurrent writer)."""


class PublishError(TransientIOError):
    """The store could not be reached or refused the request; the output stays queued and is retried."""


@dataclass(frozen=True)
class Remote:
    """An object as the store lists it."""

    key: str
    etag: str
    size: int


class Target(Protocol):
    """A place outputs are published to; keys are `/`-separated paths below its root."""

    url: str

    def put_if_absent(self, key: str, local: Path) -> str:
        """Create `key` from `local` whole; returns its ETag; AlreadyExists when taken."""
        ...

    def replace_if_match(self, key: str, local: Path, etag: str) -> str:
        """Replace `key` whole if its ETag is still `etag`; returns the new ETag; PreconditionFailed if not."""
        ...

    def head(self, key: str) -> Remote | None: ...

    def list_folder(self, folder: str) -> dict[str, Remote]:
        """The objects directly in `folder` (no trailing slash), by key."""
        ...

    def read_metadata(self, key: str) -> tuple[dict[str, str], str] | None:
        """Our footer metadata (prefix stripped) and the ETag it was read at; None when the key is gone."""
        ...


def metadata_from_tail(tail: bytes, size: int, more: Callable[[int], bytes]) -> dict[str, str]:
    """Our key-value metadata from the last bytes of a Parquet file of `size` bytes; `more(n)` fetches the
    last `n` bytes when the footer is longer than `tail`. Empty when it is not Parquet or not ours."""
    try:
        meta = footer.parse_tail(tail, size, more)
    except (footer.FooterError, IndexError, struct.error):
        return {}
    out: dict[str, str] = {}
    for pair in meta.get(5, []):  # FileMetaData.key_value_metadata: list of KeyValue {1: key, 2: value}
        if not isinstance(pair, dict):
            continue
        key = pair.get(1, b"").decode("utf-8", "replace")
        if key.startswith(META_PREFIX):
            out[key[len(META_PREFIX) :]] = pair.get(2, b"").decode("utf-8", "replace")
    return out


def same_content(remote: dict[str, str], local: dict[str, str]) -> bool:
    """Whether two outputs were made from the same source bytes by the same schema (what "done" means)."""
    return bool(local.get("source_sha256")) and all(
        remote.get(name) == local.get(name) for name in ("source_sha256", "schema_version")
    )


# --------------------------------------------------------------------------------------- folder
class FolderTarget:
    """A local or shared-mount folder, with the same whole-file, create-or-compare behaviour as a bucket."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root / key

    @staticmethod
    def _etag(st: os.stat_result) -> str:
        return f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"

    def _stage(self, dest: Path, local: Path) -> Path:
        """A fsynced copy of `local` under a temporary name beside `dest`."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_name(dest)
        with local.open("rb") as src, tmp.open("wb") as out:
            shutil.copyfileobj(src, out, 1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
        return tmp

    @contextlib.contextmanager
    def _locked(self, folder: Path) -> Iterator[None]:
        """An exclusive lock on the folder, so compare-and-replace is one step for every writer using it."""
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def put_if_absent(self, key: str, local: Path) -> str:
        dest = self._path(key)
        try:
            tmp = self._stage(dest, local)
            try:
                os.link(tmp, dest)  # create-only: fails when the name exists, never replaces
            except FileExistsError:
                raise AlreadyExists(key) from None
            finally:
                tmp.unlink(missing_ok=True)
            _fsync_dir(dest.parent)
            return self._etag(dest.stat())
        except OSError as exc:
            raise PublishError(f"publishing {key} to {self.url}: {exc.strerror or exc}") from None

    def replace_if_match(self, key: str, local: Path, etag: str) -> str:
        dest = self._path(key)
        try:
            tmp = self._stage(dest, local)
            try:
                with self._locked(dest.parent):
                    try:
                        current = self._etag(dest.stat())
                    except FileNotFoundError:
                        current = ""
                    if current != etag:
                        raise PreconditionFailed(key)
                    os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
            _fsync_dir(dest.parent)
            return self._etag(dest.stat())
        except OSError as exc:
            raise PublishError(f"publishing {key} to {self.url}: {exc.strerror or exc}") from None

    def head(self, key: str) -> Remote | None:
        try:
            st = self._path(key).stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PublishError(f"reading {key} at {self.url}: {exc.strerror or exc}") from None
        return Remote(key, self._etag(st), st.st_size)

    def list_folder(self, folder: str) -> dict[str, Remote]:
        found: dict[str, Remote] = {}
        try:
            entries = list(os.scandir(self._path(folder)))
        except (FileNotFoundError, NotADirectoryError):
            return found
        except OSError as exc:
            raise PublishError(f"listing {folder} at {self.url}: {exc.strerror or exc}") from None
        for entry in entries:
            if entry.is_file() and not is_temporary(Path(entry.name)):
                st = entry.stat()
                key = f"{folder}/{entry.name}"
                found[key] = Remote(key, self._etag(st), st.st_size)
        return found

    def read_metadata(self, key: str) -> tuple[dict[str, str], str] | None:
        try:
            with self._path(key).open("rb") as fh:
                st = os.fstat(fh.fileno())

                def last(n: int) -> bytes:
                    fh.seek(max(st.st_size - n, 0))
                    return fh.read(n)

                return metadata_from_tail(last(TAIL_BYTES), st.st_size, last), self._etag(st)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PublishError(f"reading {key} at {self.url}: {exc.strerror or exc}") from None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
