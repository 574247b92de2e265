"""Atomic Parquet writing: temporary name in the same folder, fsync, rename; and reading our metadata back.

A crash can never leave a partial file under a `.parquet` name: temporary files are called
`.<name>.tmp-<pid>-<token>` (a streaming attempt writes inside a folder named so, see `Attempt`) and are
removed by `clean_temporaries()` at the next start.
"""

from __future__ import annotations

import errno
import os
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TypedDict

import polars as pl

from daemon.errors import Abandoned, ExporterError, OutputError, map_error
from daemon.settings import Codec, Settings
from daemon.specs import DatasetSpec

META_PREFIX = "parquet_exporter."
TMP_MARK = ".tmp-"


def temporary_name(dest: Path) -> Path:
    """A sibling name for `dest` that never ends in `.parquet` (so no reader or glob picks it up)."""
    return dest.with_name(f".{dest.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")


def is_temporary(path: Path) -> bool:
    return path.name.startswith(".") and TMP_MARK in path.name


class Attempt:
    """A private dot-named folder beside `dest` for the temporary files of one streaming attempt.

    polars' streaming writer can create its file after `sink_parquet` has already raised (its writer
    task outlives the error: seen about once in 2,000 failed sinks), so a temporary deleted on failure
    could reappear beside the outputs. Inside a folder that is then removed it cannot: the writer makes
    no folders. `keep()` moves a finished file out to a sibling temporary name; `discard()` removes the
    folder and what is in it.
    """

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.folder = dest.with_name(f".{dest.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}.d")

    def open(self) -> Attempt:
        """Create the folder (and the output folder); OSError if the output folder cannot be written."""
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self.folder.mkdir()
        return self

    def path(self, role: str) -> Path:
        """A temporary file in the folder, named like one (dot, `.tmp-`, never `.parquet` at the end)."""
        return self.folder / f".{self.dest.name}{TMP_MARK}{role}"

    def keep(self, path: Path) -> Path:
        """Move the finished `path` out of the folder to a sibling temporary name of `dest`; returns it."""
        kept = temporary_name(self.dest)
        os.replace(path, kept)
        return kept

    def discard(self) -> None:
        remove_temporary_folder(self.folder)


def remove_temporary_folder(folder: Path, attempts: int = 100) -> bool:
    """Remove a temporary folder and its files, again while a writer that outlived its error adds one."""
    for _ in range(attempts):
        try:
            for child in folder.iterdir():
                child.unlink(missing_ok=True)
            folder.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno != errno.ENOTEMPTY:
                return False
            time.sleep(0.01)
    return False


def _fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def engine_error(exc: BaseException, what: str) -> ExporterError:
    """An error met while writing an output: the OS's meaning when there is one (see `map_error`), else
    an OutputError with the engine's first line."""
    text = (str(exc).splitlines() or [type(exc).__name__])[0]
    return map_error(exc, what, side="writing") or OutputError(f"{what}: {text}")


def write_atomic(
    frame: pl.DataFrame,
    dest: Path,
    metadata: Mapping[str, str],
    settings: Settings,
    json_columns: tuple[str, ...] = (),
    cancel: threading.Event | None = None,
    source_bytes: int = 0,
) -> int:
    """Write `frame` to `dest` atomically with zstd (by default), statistics and key-value metadata.

    Returns the size of the written file in bytes.
    """
    kv = {META_PREFIX + k: v for k, v in metadata.items()}
    what = f"writing {dest.name}"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise engine_error(exc, what) from None
    tmp = temporary_name(dest)
    staged = tmp.with_name(tmp.name + "-stage")
    try:
        if json_columns:
            # polars cannot tag a column with Parquet's JSON logical type; DuckDB can, so the small
            # JSON-carrying datasets are staged by polars and re-encoded by DuckDB.
            frame.write_parquet(staged, compression="uncompressed", statistics=False)
            _duckdb_copy(staged, tmp, kv, settings, json_columns, source_bytes)
        else:
            frame.write_parquet(tmp, metadata=kv, **parquet_options(settings, source_bytes))
        publish(tmp, dest, cancel)
    except ExporterError:
        raise
    except Exception as exc:  # noqa: BLE001 - engine errors are mapped to the error tree
        raise engine_error(exc, what) from None
    finally:
        for leftover in (tmp, staged):
            try:
                leftover.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                pass
    return dest.stat().st_size


def publish(tmp: Path, dest: Path, cancel: threading.Event | None = None) -> int:
    """fsync a finished temporary file and rename it over `dest` (unless cancelled); returns its size."""
    _fsync_path(tmp)
    if cancel is not None and cancel.is_set():
        raise Abandoned(f"writing {dest.name}: abandoned before publishing; nothing written")
    os.replace(tmp, dest)
    _fsync_path(dest.parent, directory=True)
    return dest.stat().st_size


class ParquetOptions(TypedDict):
    """The polars Parquet writer options every output is written with."""

    compression: Codec
    compression_level: int | None
    statistics: bool
    row_group_size: int


def parquet_options(settings: Settings, source_bytes: int) -> ParquetOptions:
    return ParquetOptions(
        compression=settings.compression,
        compression_level=compression_level(settings, source_bytes),
        statistics=True,
        row_group_size=settings.row_group_size,
    )


# Below this source size a strong level costs little and makes small files smaller; above it a light level
# keeps large exports fast. The levels were chosen by measurement (BENCHMARKS.md, "Compression").
SMALL_SOURCE_BYTES = 4 * 1024 * 1024
_AUTO_LEVELS = {"zstd": (12, 4), "gzip": (9, 6), "brotli": (9, 5)}


def compression_level(settings: Settings, source_bytes: int) -> int | None:
    """The level to pass with the configured codec (None for codecs without levels; "auto" by size)."""
    if settings.compression not in _AUTO_LEVELS:
        return None
    if settings.compression_level != "auto":
        return settings.compression_level
    small, large = _AUTO_LEVELS[settings.compression]
    return small if source_bytes < SMALL_SOURCE_BYTES else large


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _duckdb_copy(
    src: Path, dest: Path, kv: Mapping[str, str], settings: Settings, json_columns: tuple[str, ...], source_bytes: int
) -> None:
    replace = ", ".join(f'"{c}"::JSON AS "{c}"' for c in json_columns)
    kv_sql = ", ".join(f"{_sql_text(k)}: {_sql_text(v)}" for k, v in kv.items())
    codec = settings.compression.upper()
    options = ["FORMAT parquet", f"COMPRESSION {codec}", f"ROW_GROUP_SIZE {settings.row_group_size}"]
    level = compression_level(settings, source_bytes)
    if settings.compression == "zstd" and level is not None:
        options.append(f"COMPRESSION_LEVEL {level}")
    if kv_sql:
        options.append(f"KV_METADATA {{{kv_sql}}}")
    import duckdb  # only the JSON-carrying datasets need it; keep it off the CSV path's start-up

    with duckdb.connect() as con:
        con.execute("SET threads TO 1")
        con.execute(
            f"COPY (SELECT * REPLACE ({replace}) FROM read_parquet({_sql_text(str(src))}, hive_partitioning = false)) "
            f"TO {_sql_text(str(dest))} ({', '.join(options)})"
        )


def in_slices(frame: pl.LazyFrame, rows: int, size: int) -> Iterator[tuple[int, pl.DataFrame]]:
    """(offset, slice) of `frame` (a row-wise plan over a Parquet file of `rows` rows) in file order, `size`
    rows at a time, each slice its own query (the slice is pushed down to the reader, so each reads only its
    row groups): memory stays a slice, and a caller that stops early leaves no producer running behind it
    (as an abandoned `collect_batches` iterator could)."""
    for offset in range(0, rows, size):
        yield offset, frame.slice(offset, size).collect()


def read_metadata(path: Path) -> dict[str, str]:
    """Our key-value metadata from a Parquet footer (empty when the file is not ours or unreadable)."""
    try:
        raw = pl.read_parquet_metadata(path)
    except Exception:  # noqa: BLE001 - an unreadable footer just means "not ours, rewrite it"
        return {}
    return {k[len(META_PREFIX) :]: v for k, v in raw.items() if k.startswith(META_PREFIX)}


def remove_if_exists(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def iter_temporaries(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        return
    for path in folder.rglob(".*" + TMP_MARK + "*"):
        if is_temporary(path):
            yield path


def clean_temporaries(folder: Path) -> list[Path]:
    """Remove temporary files (and attempt folders) left by a crash under `folder`; returns what was removed."""
    removed = []
    for path in list(iter_temporaries(folder)):
        if path.is_dir():
            if remove_temporary_folder(path):
                removed.append(path)
        elif remove_if_exists(path):
            removed.append(path)
    return removed


def json_columns(spec: DatasetSpec) -> tuple[str, ...]:
    return tuple(c.name for c in spec.columns if c.type == "JSON")
