"""The size figures every surface shows (`status`, `health`, the report, `export`'s lines), computed one way.

Compression is byte-weighted: total Parquet bytes over total source bytes, never a mean of per-file
percentages (tiny JSON and text inputs grow several-fold and would drag such a mean down). A file or
dataset that grew is said to have grown, never shown as a negative reduction.
"""

from __future__ import annotations

import os
from pathlib import Path


def reduction_pct(source_bytes: int, parquet_bytes: int) -> float | None:
    """100 x (1 - Parquet / source), rounded to 0.1; negative when the output is larger; None without a source."""
    if source_bytes <= 0:
        return None
    return round(100.0 * (1.0 - parquet_bytes / source_bytes), 1)


def size_change(source_bytes: int, parquet_bytes: int) -> str:
    """'79.3% smaller' or '+445.8% larger' (or 'same size'), for people."""
    pct = reduction_pct(source_bytes, parquet_bytes)
    if pct is None:
        return "-"
    if pct > 0:
        return f"{pct:.1f}% smaller"
    if pct < 0:
        return f"+{-pct:.1f}% larger"
    return "same size"


def dataset_bytes(output_path: Path, folders: list[str]) -> int:
    """Bytes of the Parquet files in the dataset folders: not a report, a stray file or a hidden temporary."""
    total = 0
    for folder in folders:
        for dirpath, _, names in os.walk(output_path / folder):
            for name in names:
                if name.endswith(".parquet") and not name.startswith("."):
                    try:
                        total += os.stat(os.path.join(dirpath, name)).st_size
                    except OSError:
                        continue  # removed between the listing and the stat
    return total
