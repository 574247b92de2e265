"""Bytes that are not UTF-8 make their own rows rejected (with their line numbers), never the whole file:
the other rows are written, as for any other bad row. A header that is not UTF-8 still fails the file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from daemon.convert.coerce import LINE, RAW, REASON, coerce
from daemon.convert.readers import read_summary
from daemon.errors import ExporterError
from daemon.specs import DATASETS
from tests.conftest import HEADER, RunCli, daily_rows
from tests.csvconvert import convert_bytes

SUMMARY = next(spec for spec in DATASETS if spec.name == "optimization_summary")
BAD = {3: b"\xff", 6: b"caf\xe9", 9: b"\xe0\xa4"}  # line -> bytes put into its query_hash (a lone byte, Latin-1, cut)


def _daily_with_bad_bytes() -> bytes:
    lines = [HEADER.encode()] + [line.encode() for line in daily_rows(dt.date(2025, 10, 28), 10)]
    for number, bad in BAD.items():
        fields = lines[number - 1].split(b",")
        fields[1] = fields[1] + bad
        lines[number - 1] = b",".join(fields)
    return b"\n".join(lines) + b"\n"


def test_undecodable_rows_are_rejected_and_the_rest_written() -> None:
    """3 of 10 rows with bytes that are not UTF-8: 7 written, 3 rejected with their lines and the bad byte."""
    result = convert_bytes(_daily_with_bad_bytes())
    assert 7 == result.good.height
    assert list(BAD) == result.bad[LINE].to_list()
    for (number, bad), raw, reason in zip(BAD.items(), result.bad[RAW], result.bad[REASON], strict=True):
        assert f"not UTF-8: invalid byte 0x{bad[-1] if number == 6 else bad[0]:02x}" in reason, reason
        assert "\\x" in raw, raw  # the bytes shown escaped, the rest of the line as it was
        assert raw.startswith("2025-10-28T"), raw
    assert all(h.isascii() for h in result.good["query_hash"].to_list())


def test_a_header_that_is_not_utf8_fails_the_file() -> None:
    """A header line that is not UTF-8 fails the file with a one-line reason (no column can be matched)."""
    data = _daily_with_bad_bytes().replace(b"query_hash", b"query_h\xffash", 1)
    with pytest.raises(ExporterError, match="not UTF-8") as caught:
        convert_bytes(data)
    assert "\n" not in str(caught.value)


def test_export_writes_the_good_rows_and_rejects_the_undecodable(root: Path, run_cli: RunCli) -> None:
    """Through `export`: the file is written with 7 rows and its rejects file holds the 3 undecodable ones."""
    (root / "g" / "reports" / "query_perf_daily_20251028.csv").write_bytes(_daily_with_bad_bytes())
    result = run_cli("export", "--json", "--root", root)
    assert 0 == result.code, result.out + result.err
    [entry] = json.loads(result.out)["written"]
    assert (10, 7, 3) == (entry["rows_in"], entry["rows_written"], entry["rows_rejected"])
    rejects = pl.read_parquet(root / entry["rejects"])
    assert list(BAD) == rejects["line"].to_list()


def test_summary_undecodable_lines_are_rejected() -> None:
    """A summary line that is not UTF-8 is rejected with its line number; the lines around it are written."""
    data = b"\n".join(
        [
            b"2025-10-28T01:00:00Z start m=1",
            b"2025-10-28T01:00:01Z caf\xe9 m=2",
            b"Tables: 3",
            b"",
        ]
    )
    coerced = coerce(read_summary(data, SUMMARY), SUMMARY, "Asia/Bangkok", "UTC")
    assert [1.0, 3.0] == coerced.good["metric_value"].to_list()
    [(line, raw, reason)] = coerced.bad.select(LINE, RAW, REASON).rows()
    assert 2 == line
    assert "2025-10-28T01:00:01Z caf\\xe9 m=2" == raw
    assert reason.startswith("not UTF-8: invalid byte 0xe9")
