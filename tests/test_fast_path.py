"""The CSV fast path: it takes a clean file and writes what the careful path writes, and it declines every
file the careful path would reject a row of, or read differently (so every row still ends in the output or
in the rejects)."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.convert.coerce import coerce
from daemon.convert.csv.careful import scan_csv, stream_csv
from daemon.convert.csv.fast import stream_fast
from daemon.convert.csv.head import csv_head
from daemon.convert.csv.records import read_csv_records
from daemon.convert.separators import Separators
from daemon.settings import Settings
from daemon.specs import QUERY_PERF
from tests.conftest import HEADER

COLUMNS = HEADER.split(",")
GOOD = {
    "timestamp": ["2025-10-28T00:15:23Z", "2025-10-28T01:00:00.5Z", "2025-10-28T07:30:00+07:00", "2025-10-28 02:00"],
    "query_hash": ["a1", "b2, with comma", 'quote " inside', "multi\nline", "", "é"],
    "query_type": ["SELECT", "INSERT"],
    "execution_time_ms": ["1.5", "0", "12", "1e3", " 2.5", "", "inf"],
    "rows_examined": ["1", "0", "+7", "", "9223372036854775807"],
    "rows_returned": ["3", "-1", " 4"],
    "cache_hit": ["true", "false", "True", ""],
    "table_name": ["users", "ตาราง", ""],
    "index_used": ["PRIMARY", "idx(a, b)", ""],
    "cpu_time_ms": ["0.5", ""],
    "io_wait_ms": ["0.1", "", "-0"],
}
# Values only the careful path reads (or rejects): each one must send the file there.
ODD = {
    "timestamp": ["", "not a time", "2025-13-01T00:00:00Z"],
    "execution_time_ms": ["1.5 ", "1,5", "x"],
    "rows_examined": ["1.0", "1e3", "1 ", "9223372036854775808"],
    "cache_hit": ["yes", "1", " true"],
}


def quote(value: str) -> str:
    if any(c in value for c in ',"\r\n') or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def files(draw: st.DrawFn) -> bytes:
    """Mostly clean daily reports, some with a short or long row, a blank line, an odd value or a stray quote."""
    order = draw(st.permutations(COLUMNS))
    extra = draw(st.sampled_from([None, None, "note"]))
    header = [*order, extra] if extra else list(order)
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [",".join(header)]
    for _ in range(draw(st.integers(1, 8))):
        values = {c: draw(st.sampled_from(GOOD.get(c, ["v"]))) for c in order}
        if draw(st.integers(0, 9)) == 0:
            column = draw(st.sampled_from(sorted(ODD)))
            values[column] = draw(st.sampled_from(ODD[column]))
        cells = [quote(values[c]) for c in order]
        if extra:
            cells.append(quote(draw(st.sampled_from(["", "x", "a,b"]))))
        damage = draw(st.integers(0, 19))
        if damage == 0:
            cells = cells[:-1]  # a short row: polars would fill it with NULL
        elif damage == 1:
            cells = [*cells, "surplus"]
        elif damage == 2:
            cells[0] = cells[0] + '"'  # a stray quote
        lines.append(",".join(cells))
        if draw(st.integers(0, 14)) == 0:
            lines.append("")
    bom = draw(st.sampled_from([b"", b"", b"\xef\xbb\xbf"]))
    return bom + (newline.join(lines) + draw(st.sampled_from([newline, ""]))).encode()


def separators(data: bytes, chunk: int = 7) -> int | None:
    counter = Separators(chunk)  # a tiny chunk, so quotes and line ends fall across chunk boundaries
    for start in range(0, len(data), chunk):
        part = data[start : start + chunk]
        counter.buffer[: len(part)] = part
        counter.feed(len(part))
    return counter.count()


def fast(path: Path, settings: Settings) -> tuple[pl.DataFrame, int] | None:
    head = csv_head(path, QUERY_PERF)
    assert head is not None
    found = separators(path.read_bytes())
    streamed = stream_fast(path, head, QUERY_PERF, path.with_suffix(".parquet"), settings, dict, lambda: found)
    if streamed is None:
        return None
    assert streamed.tmp is not None
    frame = pl.read_parquet(streamed.tmp)
    streamed.discard()
    return frame, streamed.rows_in


def careful(path: Path, settings: Settings) -> tuple[pl.DataFrame, int, int]:
    """(rows written, rows in, rows rejected) by the careful path, or by the csv module where it declines."""
    scan = scan_csv(path, QUERY_PERF)
    if scan is not None:
        streamed = stream_csv(scan, QUERY_PERF, path.with_suffix(".parquet"), settings, dict)
        if streamed is not None:
            assert streamed.tmp is not None
            frame = pl.read_parquet(streamed.tmp)
            streamed.discard()
            return frame, streamed.rows_in, streamed.rejected.height
    result = coerce(read_csv_records(path.read_bytes(), QUERY_PERF), QUERY_PERF, "Asia/Bangkok", "UTC")
    return result.good, result.rows_in, result.bad.height


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files())
def test_fast_path_writes_what_the_careful_path_writes_or_declines(data: bytes) -> None:
    """Wherever the fast path takes a file, the careful path rejects no row of it and writes the same rows,
    in the same order, with the same values; wherever the careful path rejects a row, the fast path declines."""
    settings_ = Settings()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "query_perf_daily_20251028.csv"
        path.write_bytes(data)
        reference, rows_in, rejected = careful(path, settings_)
        taken = fast(path, settings_)
    if rejected:
        assert taken is None
    if taken is not None:
        frame, fast_rows = taken
        assert (rows_in, 0) == (fast_rows, rejected)
        assert reference.to_dicts() == frame.to_dicts()


def test_fast_path_takes_a_clean_file_with_quoted_commas_and_newlines(tmp_path: Path) -> None:
    """A clean report whose text fields hold quoted commas, quotes and a line break is taken, every row written."""
    body = [
        '2025-10-28T00:00:01Z,"a,b",SELECT,1.5,1,1,true,users,"idx(a, b)",0.5,0.1',
        '2025-10-28T00:00:02Z,"say ""hi""",INSERT,2,2,2,false,"multi\nline",PRIMARY,,',
    ]
    path = tmp_path / "query_perf_daily_20251028.csv"
    path.write_text(HEADER + "\n" + "\n".join(body) + "\n")
    taken = fast(path, Settings())
    assert taken is not None
    frame, rows = taken
    assert 2 == rows
    assert ["a,b", 'say "hi"'] == frame["query_hash"].to_list()
    assert ["users", "multi\nline"] == frame["table_name"].to_list()


@pytest.mark.parametrize(
    "row",
    [
        "2025-10-28T00:00:01Z,h,SELECT,1.5,1,1,true,users,PRIMARY,0.5",  # one field short
        "2025-10-28T00:00:01Z,h,SELECT,1.5,1,1,true,users,PRIMARY,0.5,0.1,surplus",
        ",h,SELECT,1.5,1,1,true,users,PRIMARY,0.5,0.1",  # empty timestamp
        "2025-10-28T00:00:01Z,h,SELECT,1.5,1.0,1,true,users,PRIMARY,0.5,0.1",  # 1.0 as BIGINT: careful path
        '2025-10-28T00:00:01Z,h"x,SELECT,1.5,1,1,true,users,PRIMARY,0.5,0.1',  # stray quote
    ],
    ids=["short", "long", "no-timestamp", "integral-float", "stray-quote"],
)
def test_fast_path_declines_a_file_with_one_odd_row(tmp_path: Path, row: str) -> None:
    """One odd row among clean ones sends the whole file to the careful path."""
    clean = "2025-10-28T00:00:00Z,h,SELECT,1.5,1,1,true,users,PRIMARY,0.5,0.1"
    path = tmp_path / "query_perf_daily_20251028.csv"
    path.write_text("\n".join([HEADER, clean, row, clean]) + "\n")
    assert fast(path, Settings()) is None


@pytest.mark.parametrize("extra", ["", ",note"], ids=["no-extra-column", "extra-column"])
def test_fast_path_declines_a_long_and_a_short_row_whose_fields_add_up(tmp_path: Path, extra: str) -> None:
    """A row with one field too many and another with one too few have, together, the right number of
    separators: the fast path must still decline (polars would fill the short one with NULL)."""
    clean = "2025-10-28T00:00:00Z,h,SELECT,1.5,1,1,true,users,PRIMARY,0.5,0.1" + ("," if extra else "")
    path = tmp_path / "query_perf_daily_20251028.csv"
    path.write_text("\n".join([HEADER + extra, clean + ",surplus", clean, clean[: clean.rindex(",")]]) + "\n")
    assert fast(path, Settings()) is None


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.sampled_from(["a", "", ",", '"', "x,y", 'q"q', "\n", "\r\n", '""', ",,"]), min_size=1, max_size=4),
        max_size=6,
    ),
    newline=st.sampled_from(["\n", "\r\n"]),
    chunk=st.sampled_from([1, 2, 3, 7, 4096]),
)
def test_separators_agree_with_the_csv_module(rows: list[list[str]], newline: str, chunk: int) -> None:
    """For any file the csv module writes (RFC 4180 quoting), read in chunks of any size, the separator count
    is the csv module's fields minus one, summed over its records."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=newline).writerows(rows)
    data = buffer.getvalue().encode()
    records = list(csv.reader(io.StringIO(data.decode(), newline="")))
    assert sum(len(r) - 1 for r in records) == separators(data, chunk)


@pytest.mark.parametrize(
    "data",
    [b'a,b\nx"y,2\n', b'a,b\n"open,2\n', b'a,b\n"x"y,2\n'],
    ids=["quote-in-unquoted-field", "never-closed", "text-after-closing-quote"],
)
def test_separators_are_not_counted_for_quoting_other_than_rfc_4180(data: bytes) -> None:
    """A quote inside an unquoted field, a quote that never closes, or text after a closing quote: no count."""
    assert separators(data) is None


@pytest.mark.parametrize("first", ["2025-10-28T00:00:00Z", "2025-10-28T00:00:00+00:00"], ids=["native", "parsed"])
def test_an_instant_after_year_9999_is_exported_not_an_internal_error(tmp_path: Path, first: str) -> None:
    """A timestamp whose offset carries it past 9999-12-31 in UTC (which Python's datetime cannot hold) is
    written, its quality measured, and no step fails on it (the fuzzer found three that did)."""
    from tests.conftest import call_main

    (tmp_path / "g" / "reports").mkdir(parents=True)
    (tmp_path / "knowledge" / "optimize").mkdir(parents=True)
    rows = [f"{first},h,SELECT,1.5,1,1,true,t,i,0.5,0.1", "9999-12-31T23:39:00-14:39,h,SELECT,1.5,1,1,true,t,i,0.5,0.1"]
    (tmp_path / "g" / "reports" / "query_perf_daily_20251028.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    result = call_main("export", "--root", tmp_path, "--date", "2025-10-28", "--json")
    report = result.json()
    assert (0, [], 2) == (result.code, report["failed"], report["written"][0]["rows_written"])
    assert 1 == report["written"][0]["quality"]["outside_day"]


def test_a_span_across_a_zone_change_after_a_steady_first_half_year_is_declined(tmp_path: Path) -> None:
    """Asia/Kathmandu kept +05:30 through 1985 and moved to +05:45 on 1986-01-01: a file whose first row is
    in 1985 gets the fixed-offset date, its last row in 1986 makes the written span unsteady, so the fast
    path declines, and the careful path gives each row its own zone's date."""
    settings_ = Settings(timezone="Asia/Kathmandu")
    rows = ["1985-01-01T18:20:00Z,h,SELECT,1,1,1,true,t,i,1,1", "1986-06-01T18:20:00Z,h,SELECT,1,1,1,true,t,i,1,1"]
    path = tmp_path / "query_perf_daily_19850101.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    assert fast(path, settings_) is None
    reference, rows_in, rejected = careful(path, settings_)
    # 18:20 UTC is 23:50 at +05:30 (the same day) and 00:05 the next day at +05:45
    assert (2, 0) == (rows_in, rejected)
    assert ["1985-01-01", "1986-06-02"] == [str(d) for d in reference["date_partition"]]


def test_a_steady_zone_gets_the_offset_date_from_the_fast_path(tmp_path: Path) -> None:
    """Asia/Bangkok (+07:00 throughout): 16:59:59 UTC is 23:59:59, 17:00 UTC the next day, as the fast path says."""
    rows = ["2025-10-27T16:59:59Z,h,SELECT,1,1,1,true,t,i,1,1", "2025-10-27T17:00:00Z,h,SELECT,1,1,1,true,t,i,1,1"]
    path = tmp_path / "query_perf_daily_20251028.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    taken = fast(path, Settings())
    assert taken is not None
    assert ["2025-10-27", "2025-10-28"] == [str(d) for d in taken[0]["date_partition"]]
