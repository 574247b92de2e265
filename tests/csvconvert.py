"""CSV bytes through the production entry point (`daemon.convert.csv.convert_csv`), as an export reads them.

Tests that check how a CSV is read call `convert_bytes`: the bytes are written to a file and converted
by the same path choice users get (fast, careful, csv module), with the separator count the digest
gives in production; the result is the rows written and the rows rejected, read back.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from daemon.convert.csv import convert_csv
from daemon.convert.digest import Digest
from daemon.settings import Settings
from daemon.specs import QUERY_PERF, DatasetSpec


@dataclass
class CsvRows:
    """What the entry point made of a CSV: good rows (the output's), rejected rows, drift, the route taken."""

    good: pl.DataFrame
    bad: pl.DataFrame  # LINE, RECORD, RAW, REASON
    extra_columns: list[str]
    route: str

    @property
    def rows_in(self) -> int:
        return self.good.height + self.bad.height


def convert_bytes(
    data: bytes,
    spec: DatasetSpec = QUERY_PERF,
    timezone: str = "Asia/Bangkok",
    source_timezone: str = "UTC",
    *,
    name: str = "query_perf_daily_20251028.csv",
) -> CsvRows:
    """Convert CSV `data` as an export would (an ExporterError for a file that fails whole)."""
    settings = Settings(timezone=timezone, source_timezone=source_timezone)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        digest = Digest.start(path).wait()
        converted = convert_csv(
            path, spec, path.with_suffix(".parquet"), settings, dict, separators=lambda: digest.separators
        )
        try:
            good = pl.read_parquet(converted.tmp) if converted.tmp is not None else converted.good
        finally:
            converted.discard()
        assert good is not None
        assert converted.rows_written == good.height
        assert converted.rows_in == good.height + converted.rejected.height
        return CsvRows(good, converted.rejected, converted.extra_columns, converted.route)
