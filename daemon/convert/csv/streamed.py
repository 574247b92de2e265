"""What the fast and careful paths share: the attempt's temporary file, the footer, the sort check."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl

from daemon.convert.writer import META_PREFIX, Attempt, engine_error, in_slices, parquet_options
from daemon.settings import Settings

Metadata = Callable[[], Mapping[str, str]]  # the footer's provenance, asked for when the footer is written


@dataclass
class Streamed:
    """What a streaming conversion left behind: the temporary output and the rejected rows."""

    tmp: Path | None
    rows_in: int
    rows_written: int
    rejected: pl.DataFrame  # LINE, RECORD, RAW, REASON
    route: Literal["fast", "careful"] = "careful"  # which path converted it

    def discard(self) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def open_attempt(dest: Path, what: str) -> Attempt:
    """A streaming attempt's private folder beside `dest`; an output folder that cannot be written is an error."""
    try:
        return Attempt(dest).open()
    except OSError as exc:
        raise engine_error(exc, what) from None


def counts(rows_in: int, rows_written: int) -> dict[str, str]:
    return {"rows_in": str(rows_in), "rows_written": str(rows_written), "rows_rejected": str(rows_in - rows_written)}


def footer(metadata: Metadata, tally: Callable[[], tuple[int, int]]) -> Callable[[object], dict[str, str]]:
    """The footer's key-value metadata, built when the footer is written (all rows counted by then);
    `tally` gives (rows in, rows written)."""

    def build(_: object) -> dict[str, str]:
        merged = {**metadata(), **counts(*tally())}
        return {META_PREFIX + k: v for k, v in merged.items()}

    return build


def sorted_by_timestamp(path: Path, rows: int, batch_rows: int = 1_000_000) -> bool:
    """Whether a written file of `rows` rows is in timestamp order (NULLs last), read a batch at a time
    (memory stays flat).

    Compared as microseconds: an instant after year 9999 has no Python datetime.
    """
    last: int | None = None
    nulls_seen = False
    scan = pl.scan_parquet(path, glob=False)
    for _, batch in in_slices(scan.select(pl.col("timestamp").cast(pl.Int64)), rows, batch_rows):
        times = batch["timestamp"]
        if times.len() == 0:
            continue
        if not times.is_sorted(nulls_last=True) or (nulls_seen and times.is_not_null().any()):
            return False
        valid = times.drop_nulls()
        if valid.len():
            if last is not None and valid[0] < last:
                return False
            last = int(valid[-1])
        nulls_seen = nulls_seen or times.null_count() > 0
    return True


def sort_by_timestamp(tmp: Path, settings: Settings, metadata: Mapping[str, str], source_bytes: int) -> None:
    """Rewrite an unsorted temporary output sorted by timestamp (input order kept among equal times)."""
    kv = {META_PREFIX + k: v for k, v in metadata.items()}
    sorted_tmp = tmp.with_name(tmp.name + "-sorted")
    try:
        pl.scan_parquet(tmp, glob=False).sort("timestamp", maintain_order=True, nulls_last=True).sink_parquet(
            sorted_tmp,
            metadata=kv,
            **parquet_options(settings, source_bytes),
        )
        sorted_tmp.replace(tmp)
    finally:
        sorted_tmp.unlink(missing_ok=True)
