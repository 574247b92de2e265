"""Coercion types raw text to the schema: every row is either written or rejected with a reason, never dropped.

CSV rows go through the production entry point (`daemon.convert.csv.convert_csv`, via
`tests.csvconvert.convert_bytes`), whichever route it takes; JSON and summary tables through `coerce`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from daemon.convert.coerce import (
    LINE,
    POLARS_TYPES,
    RAW,
    REASON,
    RECORD,
    Coerced,
    RawTable,
    coerce,
    steady_around,
    steady_offset,
    zone_dates,
)
from daemon.convert.csv.records import read_csv_records
from daemon.convert.readers import read_index_advisor, read_summary
from daemon.specs import DATASETS, INDEX_ADVISOR, OPTIMIZATION_SUMMARY, QUERY_PERF, DatasetSpec
from tests.conftest import HEADER
from tests.csvconvert import CsvRows, convert_bytes

TIMESTAMP = "2025-10-28T01:00:00Z"
VALID = {
    "timestamp": TIMESTAMP,
    "query_hash": "h1",
    "query_type": "SELECT",
    "execution_time_ms": "1.5",
    "rows_examined": "10",
    "rows_returned": "1",
    "cache_hit": "true",
    "table_name": "orders",
    "index_used": "idx_orders",
    "cpu_time_ms": "0.5",
    "io_wait_ms": "0.25",
}


def row(**changes: str) -> str:
    """One CSV line: the valid row with some fields replaced (quoted when they hold a comma or quote)."""
    fields = {**VALID, **changes}
    return ",".join(f'"{v.replace(chr(34), chr(34) * 2)}"' if ("," in v or '"' in v) else v for v in fields.values())


def run(
    lines: list[str], timezone: str = "Asia/Bangkok", source_timezone: str = "UTC", header: str = HEADER
) -> CsvRows:
    """Convert query_perf CSV lines as an export does, and check the bookkeeping invariants."""
    data = "".join(f"{line}\n" for line in [header, *lines]).encode()
    result = convert_bytes(data, QUERY_PERF, timezone, source_timezone)
    check_split(result, QUERY_PERF)
    return result


def checked(
    table: RawTable, spec: DatasetSpec, timezone: str = "Asia/Bangkok", source_timezone: str = "UTC"
) -> Coerced:
    """Coerce and assert: rows in = good + bad, good has the schema's columns and types, bad has its bookkeeping."""
    result = coerce(table, spec, timezone, source_timezone)
    rows_in = table.frame.lazy().select(pl.len()).collect().item()
    assert rows_in == result.good.height + result.bad.height
    assert rows_in == result.rows_in
    check_split(result, spec)
    return result


def check_split(result: Coerced | CsvRows, spec: DatasetSpec) -> None:
    """Good has the schema's columns and types, bad its bookkeeping (line, record, raw text, reason)."""
    assert {c.name: POLARS_TYPES[c.type] for c in spec.columns} == dict(result.good.schema)
    assert {LINE: pl.Int64, RECORD: pl.Int64, RAW: pl.String, REASON: pl.String} == dict(result.bad.schema)
    assert 0 == result.bad.select(pl.col(RECORD, RAW, REASON).null_count()).sum_horizontal().item()


def value(result: Coerced | CsvRows, column: str) -> Any:
    """The single good row's value in `column` (the row must not have been rejected)."""
    assert 0 == result.bad.height, result.bad.rows()
    assert 1 == result.good.height
    return result.good[column][0]


def reason(result: Coerced | CsvRows) -> str:
    """The single rejected row's reason."""
    assert 0 == result.good.height
    assert 1 == result.bad.height
    text: str = result.bad[REASON][0]
    return text


# ------------------------------------------------------------------------------------------ rows
def test_valid_row_is_typed() -> None:
    """A valid row is typed to the schema, with date_partition derived from the timestamp."""
    result = run([row()])
    assert [
        (
            dt.datetime(2025, 10, 28, 1, 0),
            "h1",
            "SELECT",
            1.5,
            10,
            1,
            True,
            "orders",
            "idx_orders",
            0.5,
            0.25,
            dt.date(2025, 10, 28),
        )
    ] == result.good.rows()


def test_rejected_row_bookkeeping() -> None:
    """A rejected row carries its 1-based line, record number, raw line text and a reason; good rows are kept."""
    bad_line = row(cache_hit="maybe")
    result = run([row(), bad_line, row(query_hash="h3")])
    assert ["h1", "h3"] == result.good["query_hash"].to_list()
    assert [(3, 2, bad_line, "cache_hit: cannot read 'maybe' as BOOLEAN")] == result.bad.rows()


def test_reason_names_the_first_failing_column() -> None:
    """With several bad fields the reason names the first failing column in schema order."""
    result = run([row(execution_time_ms="slow", cache_hit="maybe")])
    assert "execution_time_ms: cannot read 'slow' as DOUBLE" == reason(result)


def test_reader_error_wins_over_type_errors() -> None:
    """A structural reader error (ragged record) is the reason, not the typing of its fields."""
    result = run(["garbage,x"])
    assert "expected 11 fields, found 2" == reason(result)


def test_reason_quotes_at_most_80_characters_of_the_value() -> None:
    """A long unreadable value is quoted in the reason cut to its first 80 characters."""
    result = run([row(execution_time_ms="x" * 500)])
    assert f"execution_time_ms: cannot read '{'x' * 80}' as DOUBLE" == reason(result)


def test_all_rows_rejected_gives_empty_typed_good() -> None:
    """When every row is rejected, `good` is empty but still has the schema's columns and types."""
    result = run([row(timestamp="junk"), row(rows_examined="many")])
    assert (0, 2) == (result.good.height, result.bad.height)


def test_lazy_raw_table_is_accepted() -> None:
    """coerce() takes a RawTable whose frame is lazy as well as an eager one."""
    data = f"{HEADER}\n{row()}\n".encode()
    table = read_csv_records(data, QUERY_PERF)
    assert isinstance(table.frame, pl.DataFrame)
    lazy = RawTable(frame=table.frame.lazy(), extra_columns=table.extra_columns)
    assert checked(table, QUERY_PERF).good.equals(checked(lazy, QUERY_PERF).good)


# -------------------------------------------------------------------------------------- empty = NULL
@pytest.mark.parametrize(
    "column",
    [
        "query_hash",
        "query_type",
        "execution_time_ms",
        "rows_examined",
        "rows_returned",
        "cache_hit",
        "table_name",
        "index_used",
        "cpu_time_ms",
        "io_wait_ms",
    ],
)
def test_empty_field_is_null(column: str) -> None:
    """An empty field is NULL (not a reject) in every column but timestamp."""
    assert value(run([row(**{column: ""})]), column) is None


@pytest.mark.parametrize("column", ["execution_time_ms", "rows_examined", "cache_hit", "cpu_time_ms"])
def test_whitespace_only_typed_field_is_null(column: str) -> None:
    """A whitespace-only field in a typed column is NULL, like an empty one."""
    assert value(run([row(**{column: "  "})]), column) is None


def test_whitespace_only_text_field_is_kept() -> None:
    """Text columns keep their value as written, spaces included; only the empty string is NULL."""
    assert " orders " == value(run([row(table_name=" orders ")]), "table_name")


def test_missing_optional_columns_are_null() -> None:
    """Without cpu_time_ms and io_wait_ms in the header both are NULL on every row."""
    header = HEADER.removesuffix(",cpu_time_ms,io_wait_ms")
    result = run([row().rsplit(",", 2)[0]] * 3, header=header)
    assert (3, 0) == (result.good.height, result.bad.height)
    assert [(None, None)] * 3 == result.good.select("cpu_time_ms", "io_wait_ms").rows()


# -------------------------------------------------------------------------------------- booleans
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("t", True),
        ("T", True),
        ("1", True),
        ("yes", True),
        ("YES", True),
        ("Yes", True),
        (" true ", True),
        ("false", False),
        ("FALSE", False),
        ("False", False),
        ("f", False),
        ("F", False),
        ("0", False),
        ("no", False),
        ("NO", False),
        ("No", False),
    ],
)
def test_booleans(text: str, expected: bool) -> None:
    """true/false, t/f, 1/0 and yes/no in any case (and padded) are booleans."""
    assert expected == value(run([row(cache_hit=text)]), "cache_hit")


@pytest.mark.parametrize("text", ["maybe", "y", "n", "2", "-1", "on", "off", "truth", "1.0"])
def test_unreadable_boolean_is_rejected(text: str) -> None:
    """Any other boolean text rejects the row with a reason naming cache_hit."""
    assert f"cache_hit: cannot read '{text}' as BOOLEAN" == reason(run([row(cache_hit=text)]))


# ------------------------------------------------------------------------------------ timestamps
@pytest.mark.parametrize(
    ("text", "source_timezone", "expected"),
    [
        ("2025-10-28T10:00:00Z", "UTC", dt.datetime(2025, 10, 28, 10, 0)),
        ("2025-10-28T10:00:00z", "UTC", dt.datetime(2025, 10, 28, 10, 0)),
        ("2025-10-28T10:00:00+07:00", "UTC", dt.datetime(2025, 10, 28, 3, 0)),
        ("2025-10-28T10:00:00+0700", "UTC", dt.datetime(2025, 10, 28, 3, 0)),
        ("2025-10-28T10:00:00+07", "UTC", dt.datetime(2025, 10, 28, 3, 0)),
        ("2025-10-28T10:00:00-0530", "UTC", dt.datetime(2025, 10, 28, 15, 30)),
        ("2025-10-28T10:00:00-05:30", "UTC", dt.datetime(2025, 10, 28, 15, 30)),
        ("2025-10-28T02:00:00+07:00", "UTC", dt.datetime(2025, 10, 27, 19, 0)),  # offset crosses midnight
        ("2025-10-28T10:00:00.5Z", "UTC", dt.datetime(2025, 10, 28, 10, 0, 0, 500_000)),
        ("2025-10-28T10:00:00.123456Z", "UTC", dt.datetime(2025, 10, 28, 10, 0, 0, 123_456)),
        ("2025-10-28T10:00:00.123+07:00", "UTC", dt.datetime(2025, 10, 28, 3, 0, 0, 123_000)),
        ("2025-10-28T10:00Z", "UTC", dt.datetime(2025, 10, 28, 10, 0)),
        ("2025-10-28 10:00:00Z", "UTC", dt.datetime(2025, 10, 28, 10, 0)),  # space separator
        ("2025-10-28 10:00:00", "UTC", dt.datetime(2025, 10, 28, 10, 0)),
        ("2025-10-28", "UTC", dt.datetime(2025, 10, 28, 0, 0)),  # date only: midnight
        (" 2025-10-28T10:00:00Z ", "UTC", dt.datetime(2025, 10, 28, 10, 0)),
        # Naive timestamps are in source_timezone.
        ("2025-10-28T10:00:00", "America/New_York", dt.datetime(2025, 10, 28, 14, 0)),  # EDT, -04:00
        ("2025-12-01 10:00:00", "America/New_York", dt.datetime(2025, 12, 1, 15, 0)),  # EST, -05:00
        ("2025-10-28T10:00", "America/New_York", dt.datetime(2025, 10, 28, 14, 0)),
        ("2025-10-28T10:00:00.25", "America/New_York", dt.datetime(2025, 10, 28, 14, 0, 0, 250_000)),
        ("2025-10-28", "America/New_York", dt.datetime(2025, 10, 28, 4, 0)),
        ("2025-10-28 01:00:00", "Asia/Bangkok", dt.datetime(2025, 10, 27, 18, 0)),
        ("2025-10-26 02:30:00", "Europe/Berlin", dt.datetime(2025, 10, 26, 0, 30)),  # ambiguous: earliest
        # An explicit offset wins over source_timezone.
        ("2025-10-28T10:00:00Z", "America/New_York", dt.datetime(2025, 10, 28, 10, 0)),
        ("2025-10-28T10:00:00+07:00", "America/New_York", dt.datetime(2025, 10, 28, 3, 0)),
    ],
)
def test_timestamps(text: str, source_timezone: str, expected: dt.datetime) -> None:
    """ISO 8601 timestamps with Z, ±HH:MM, ±HHMM, fractions, a space or no time become naive UTC."""
    assert expected == value(run([row(timestamp=text)], source_timezone=source_timezone), "timestamp")


@pytest.mark.parametrize(
    "text",
    [
        "junk",
        "2025-13-01T00:00:00Z",
        "2025-02-30T10:00:00Z",
        "2025-10-28T25:00:00Z",
        "2025-10-28T10:61:00Z",
        "2025-10-28T10:00:00+2400",
        "2025-10-28T10:00:00+07:60",
        "28/10/2025 10:00",
        "10/28/2025",
        "1761613200",
        "2025-10-28T10:00:00 UTC",
        "2025-10-28X10:00:00",
        "20251028T100000Z",
    ],
)
def test_unreadable_timestamp_is_rejected(text: str) -> None:
    """Anything that is not an ISO 8601 timestamp rejects the row with a reason naming timestamp."""
    assert f"timestamp: cannot read '{text}' as TIMESTAMP" == reason(run([row(timestamp=text)]))


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_timestamp_is_rejected(text: str) -> None:
    """An empty timestamp rejects the row: every row needs an instant."""
    assert "timestamp is empty" == reason(run([row(timestamp=text)]))


# ---------------------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12),
        ("12.0", 12),
        ("12.", 12),
        (" 7 ", 7),
        ("-5", -5),
        ("0", 0),
        ("1e3", 1000),
        ("9223372036854775807", 9_223_372_036_854_775_807),
    ],
)
def test_bigint_accepts_integral_values(text: str, expected: int) -> None:
    """BIGINT accepts integers and integral decimals such as "12.0"."""
    assert expected == value(run([row(rows_examined=text)]), "rows_examined")


@pytest.mark.parametrize("text", ["12.5", "0.1", "abc", "1e30", "9223372036854775808", "inf", "nan", "1,000"])
def test_bigint_rejects_fractions_and_junk(text: str) -> None:
    """BIGINT rejects fractions ("12.5"), text, and values beyond 64 bits, naming the column."""
    assert f"rows_examined: cannot read '{text}' as BIGINT" == reason(run([row(rows_examined=text)]))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.5", 1.5), ("-2", -2.0), ("1e-3", 0.001), (" 3.25 ", 3.25), ("0", 0.0), (".5", 0.5)],
)
def test_double_accepts_numbers(text: str, expected: float) -> None:
    """DOUBLE accepts integers, decimals and exponents."""
    assert expected == value(run([row(execution_time_ms=text)]), "execution_time_ms")


@pytest.mark.parametrize("text", ["abc", "1,5", "1.2.3", "12ms"])
def test_double_rejects_junk(text: str) -> None:
    """DOUBLE rejects text that is not a number, naming the column."""
    assert f"execution_time_ms: cannot read '{text}' as DOUBLE" == reason(run([row(execution_time_ms=text)]))


def test_optional_double_junk_is_rejected_too() -> None:
    """An optional column is typed like any other: junk rejects the row rather than becoming NULL."""
    assert "io_wait_ms: cannot read 'n/a' as DOUBLE" == reason(run([row(io_wait_ms="n/a")]))


# ---------------------------------------------------------------------------------- partition, order
@pytest.mark.parametrize(
    ("text", "timezone", "expected"),
    [
        ("2025-10-28T16:59:59Z", "Asia/Bangkok", dt.date(2025, 10, 28)),
        ("2025-10-28T17:00:00Z", "Asia/Bangkok", dt.date(2025, 10, 29)),
        ("2025-10-27T20:00:00Z", "Asia/Bangkok", dt.date(2025, 10, 28)),
        ("2025-10-27T20:00:00Z", "UTC", dt.date(2025, 10, 27)),
        ("2025-10-28T03:00:00Z", "America/Los_Angeles", dt.date(2025, 10, 27)),
        ("2025-10-31T23:30:00Z", "Europe/Berlin", dt.date(2025, 11, 1)),  # crosses a month boundary
        ("2025-10-28T06:00:00+07:00", "UTC", dt.date(2025, 10, 27)),
    ],
)
def test_date_partition_is_the_date_in_the_configured_timezone(text: str, timezone: str, expected: dt.date) -> None:
    """date_partition is the calendar date of the timestamp in `timezone`, not in UTC or the source's zone."""
    assert expected == value(run([row(timestamp=text)], timezone=timezone), "date_partition")


def test_output_is_sorted_by_timestamp_keeping_ties_in_input_order() -> None:
    """Good rows come out in timestamp order; rows with equal timestamps keep their input order."""
    lines = [
        row(timestamp="2025-10-28T05:00:00Z", query_hash="late"),
        row(timestamp="2025-10-28T01:00:00Z", query_hash="tie-a"),
        row(timestamp="junk", query_hash="rejected"),
        row(timestamp="2025-10-28T08:00:00+07:00", query_hash="tie-offset"),  # the same instant as 01:00Z
        row(timestamp="2025-10-28T00:30:00Z", query_hash="earliest"),
        row(timestamp="2025-10-28T01:00:00Z", query_hash="tie-b"),
    ]
    result = run(lines)
    assert ["earliest", "tie-a", "tie-offset", "tie-b", "late"] == result.good["query_hash"].to_list()
    assert [3] == result.bad[RECORD].to_list()


# ------------------------------------------------------------------------------------------ schemas
def test_every_spec_produces_its_schema_types() -> None:
    """Each reader + coerce pair, and the CSV entry point, yields exactly the spec's columns with their polars
    types, even with no rows."""
    check_split(convert_bytes(f"{HEADER}\n".encode(), QUERY_PERF), QUERY_PERF)
    tables = {
        INDEX_ADVISOR.name: read_index_advisor(b'{"timestamp": "2025-10-28", "recommendations": []}', INDEX_ADVISOR),
        OPTIMIZATION_SUMMARY.name: read_summary(b"", OPTIMIZATION_SUMMARY),
    }
    for spec in DATASETS:
        if spec.name in tables:
            checked(tables[spec.name], spec)


def test_summary_metadata_is_json_text() -> None:
    """Summary metadata is JSON text and metric_value a DOUBLE."""
    table = read_summary(b"2025-10-28T01:00:00Z vacuum ms=5 table=orders\n", OPTIMIZATION_SUMMARY)
    result = checked(table, OPTIMIZATION_SUMMARY)
    assert [(5.0, '{"table": "orders"}')] == result.good.select("metric_value", "metadata").rows()


DECADE = (dt.datetime(1990, 1, 1), dt.datetime(1999, 12, 31))
BERLIN_SPRING_2025 = dt.datetime(2025, 3, 30, 1, 0)  # 02:00 CET -> 03:00 CEST, in UTC


@pytest.mark.parametrize(
    ("timezone", "span", "offset"),
    [
        ("UTC", DECADE, dt.timedelta(0)),
        ("Asia/Bangkok", DECADE, dt.timedelta(hours=7)),
        ("Asia/Kathmandu", DECADE, dt.timedelta(hours=5, minutes=45)),
        ("Europe/Berlin", DECADE, None),
        ("America/New_York", DECADE, None),
        ("Australia/Lord_Howe", DECADE, None),
        ("Europe/Berlin", (dt.datetime(2025, 7, 1), dt.datetime(2025, 7, 1, 23, 59)), dt.timedelta(hours=2)),
        ("Europe/Berlin", (dt.datetime(2025, 3, 29, 23), dt.datetime(2025, 3, 30, 0, 59, 59)), dt.timedelta(hours=1)),
        ("Europe/Berlin", (dt.datetime(2025, 3, 29, 23), BERLIN_SPRING_2025), None),  # the change is the last instant
        ("Europe/Berlin", (dt.datetime(2025, 3, 29, 23, 30), dt.datetime(2025, 3, 30, 1, 0, 0, 1)), None),
        ("Asia/Bangkok", (dt.datetime(1990, 1, 1), dt.datetime(2010, 1, 1)), None),  # longer than the limit
    ],
)
def test_steady_offset_only_over_spans_without_a_change_and_then_dates_agree(
    timezone: str, span: tuple[dt.datetime, dt.datetime], offset: dt.timedelta | None
) -> None:
    """A zone's offset is steady over a span only when no change falls in it, its last instant included
    (DST zones have none over a decade, even Lord Howe's half hour, but do over a summer day), and where it
    is, instant + offset gives the zone conversion's date every 13 hours of the span."""
    assert steady_offset(timezone, *span) == offset
    if offset is None:
        return
    utc = pl.datetime_range(*span, "13h", time_unit="us", eager=True)
    converted = pl.select(zone_dates(pl.lit(utc), timezone)).to_series()
    assert converted.to_list() == (utc + offset).dt.date().to_list()


@pytest.mark.parametrize(
    ("timezone", "year", "month", "offset"),
    [
        ("Asia/Bangkok", 2025, 10, dt.timedelta(hours=7)),
        ("Europe/Berlin", 2025, 7, None),  # DST within six months either side
        ("Asia/Kathmandu", 1985, 1, dt.timedelta(hours=5, minutes=30)),
        ("Asia/Kathmandu", 1985, 6, None),  # +05:45 from 1986-01-01, within the window
    ],
)
def test_steady_around_a_month_looks_half_a_year_either_side(
    timezone: str, year: int, month: int, offset: dt.timedelta | None
) -> None:
    """The fast path's guess: the offset when steady from six months before the month to six after it."""
    assert steady_around(timezone, year, month) == offset
