"""The writer's choices: compression levels by source size, temporary names, atomic publishing."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import pytest

from daemon.convert.writer import (
    SMALL_SOURCE_BYTES,
    Attempt,
    clean_temporaries,
    compression_level,
    is_temporary,
    temporary_name,
)
from daemon.errors import ConfigError
from daemon.settings import resolve


@pytest.mark.parametrize(
    ("codec", "level", "source_bytes", "expected"),
    [
        ("zstd", "auto", 200 * 1024, 12),
        ("zstd", "auto", SMALL_SOURCE_BYTES, 4),
        ("zstd", "7", 200 * 1024, 7),
        ("gzip", "auto", 1024, 9),
        ("snappy", "auto", 1024, None),
        ("uncompressed", "5", 1024, None),
    ],
)
def test_compression_level_by_codec_and_size(codec: str, level: str, source_bytes: int, expected: int | None) -> None:
    """ "auto" compresses small sources hardest (cheap there) and large ones at the codec's usual level."""
    settings = resolve({"compression": codec, "compression_level": level}, env={})
    assert expected == compression_level(settings, source_bytes)


def test_compression_level_out_of_range_is_a_config_error() -> None:
    """A level zstd does not have is refused when settings are resolved."""
    with pytest.raises(ConfigError, match="compression_level"):
        resolve({"compression_level": "40"}, env={})


def test_temporary_names_never_end_in_parquet(tmp_path: Path) -> None:
    """A temporary output is a hidden sibling that no `*.parquet` glob can pick up."""
    dest = tmp_path / "query_perf_20251028.parquet"
    tmp = temporary_name(dest)
    assert tmp.parent == dest.parent
    assert not tmp.name.endswith(".parquet")
    assert tmp.name.startswith(".")
    assert is_temporary(tmp)
    assert not is_temporary(dest)


def test_attempt_folder_removed_so_a_late_writer_cannot_leave_a_file(tmp_path: Path) -> None:
    """After `Attempt.discard()`, a writer that outlived its error cannot create its file any more (the folder
    is gone), and `keep()` moves a finished file out to a dot-named sibling that is not a `.parquet`."""
    dest = tmp_path / "out" / "query_perf_20251028.parquet"
    kept_attempt = Attempt(dest).open()
    finished = kept_attempt.path("rows")
    finished.write_bytes(b"done")
    kept = kept_attempt.keep(finished)
    kept_attempt.discard()
    assert (b"done", True, False) == (kept.read_bytes(), kept.name.startswith("."), kept.name.endswith(".parquet"))
    failed = Attempt(dest).open()
    late = failed.path("rows")
    late.write_bytes(b"partial")
    failed.discard()
    with pytest.raises(FileNotFoundError):
        late.write_bytes(b"written after the error")
    assert [kept] == list(dest.parent.iterdir())


def test_attempt_discard_waits_out_a_writer_still_adding_files(tmp_path: Path) -> None:
    """A folder that a lingering writer keeps adding to for a while is still removed in the end."""
    attempt = Attempt(tmp_path / "x.parquet").open()
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set() and n < 20:
            with contextlib.suppress(FileNotFoundError):
                attempt.path(f"late{n}").write_bytes(b"x")
            n += 1
            time.sleep(0.002)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        attempt.discard()
    finally:
        stop.set()
        thread.join()
    assert not attempt.folder.exists()


def test_clean_temporaries_removes_attempt_folders(tmp_path: Path) -> None:
    """A crash's leftover attempt folder (and the file in it) is removed at the next start."""
    attempt = Attempt(tmp_path / "q" / "x.parquet").open()
    attempt.path("rows").write_bytes(b"partial")
    assert [attempt.folder] == clean_temporaries(tmp_path)
    assert [] == list((tmp_path / "q").iterdir())
