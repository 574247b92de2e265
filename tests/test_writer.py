"""The writer's choices: compression levels by source size, temporary names, atomic publishing."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.errors import ConfigError
from daemon.settings import resolve
from daemon.writer import SMALL_SOURCE_BYTES, compression_level, is_temporary, temporary_name


@pytest.mark.parametrize(
    ("codec", "level", "source_bytes", "expected"),
    [
        ("zstd", "auto", 200 * 1024, 19),
        ("zstd", "auto", SMALL_SOURCE_BYTES, 3),
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
