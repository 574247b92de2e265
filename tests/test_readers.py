"""Readers find records and match columns: CSV dialects and encodings, index-advisor JSON, summary text.

CSV files go through the production entry point (`daemon.convert.csv.convert_csv`, via
`tests.csvconvert.convert_bytes`), so these tests check what an export does whichever route it takes; facts
about records (line numbers, raw text) are read off the rows it rejects.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
from typing import Any

import polars as pl
import pytest

from daemon.convert.coerce import LINE, RAW, REASON, RECORD, Coerced, RawTable, coerce
from daemon.convert.readers import read, read_index_advisor, read_summary, snake_case
from daemon.errors import SchemaMismatch, UnreadableInput
from daemon.specs import INDEX_ADVISOR, OPTIMIZATION_SUMMARY, QUERY_PERF, DatasetSpec
from tests.conftest import HEADER, daily_rows
from tests.csvconvert import CsvRows, convert_bytes

COLUMNS = HEADER.split(",")
ROWS = daily_rows(dt.date(2025, 10, 28), 4)


def csv_bytes(
    lines: list[str], header: str = HEADER, newline: str = "\n", encoding: str = "utf-8", bom: bytes = b""
) -> bytes:
    """A CSV file: header, lines, each ended by `newline`, encoded, with an optional byte-order mark."""
    return bom + "".join(line + newline for line in [header, *lines]).encode(encoding)


def broken(row: str) -> str:
    """`row` with a timestamp no one can read, so it is rejected and its line, record and raw text show."""
    return "never" + row[row.index(",") :]


NEVER = "timestamp: cannot read 'never' as TIMESTAMP"


def eager(table: RawTable) -> pl.DataFrame:
    """The reader's frame; readers return eager frames."""
    assert isinstance(table.frame, pl.DataFrame)
    return table.frame


def converted(data: bytes, timezone: str = "Asia/Bangkok") -> CsvRows:
    """Convert query_perf CSV bytes as an export does, and check the invariants every test relies on: good rows
    have the schema's columns, each rejected row its line, record number, raw text and reason."""
    result = convert_bytes(data, QUERY_PERF, timezone, "UTC")
    assert list(QUERY_PERF.column_names) == result.good.columns
    assert [LINE, RECORD, RAW, REASON] == result.bad.columns
    assert 0 == result.bad.select(pl.col(RECORD, RAW, REASON).null_count().sum()).sum_horizontal().item()
    return result


def split(table: RawTable, spec: DatasetSpec = QUERY_PERF, timezone: str = "Asia/Bangkok") -> Coerced:
    """Coerce `table` and check the invariants every test relies on: each record lands once, with bookkeeping."""
    result = coerce(table, spec, timezone, "UTC")
    assert eager(table).height == result.good.height + result.bad.height
    assert result.rows_in == result.good.height + result.bad.height
    assert list(spec.column_names) == result.good.columns
    assert [LINE, RECORD, RAW, REASON] == result.bad.columns
    assert 0 == result.bad.select(pl.col(RECORD, RAW, REASON).null_count().sum()).sum_horizontal().item()
    return result


def rejects(result: Coerced | CsvRows) -> list[tuple[Any, ...]]:
    """The rejected rows as (line, record, raw, reason) tuples."""
    return list(result.bad.iter_rows())


# =============================================================================================== CSV
def test_plain_csv_reads_every_row() -> None:
    """A well-formed CSV yields one good row per data line and no rejects."""
    result = converted(csv_bytes(ROWS))
    assert (4, 0) == (result.good.height, result.bad.height)
    assert ["h0000", "h0001", "h0002", "h0003"] == result.good["query_hash"].to_list()


def test_header_in_any_order() -> None:
    """Columns are matched by header name, so a reordered file gives the same rows."""
    order = list(reversed(range(len(COLUMNS))))
    header = ",".join(COLUMNS[i] for i in order)
    lines = [",".join(row.split(",")[i] for i in order) for row in ROWS]
    expected = converted(csv_bytes(ROWS)).good
    assert expected.equals(converted(csv_bytes(lines, header=header)).good)


def test_header_names_are_trimmed_unquoted_and_case_insensitive() -> None:
    """` Timestamp `, `QUERY_HASH` and `"query_type"` match timestamp, query_hash and query_type."""
    header = HEADER.replace("timestamp", " Timestamp ").replace("query_hash", "QUERY_HASH")
    header = header.replace("query_type", '"query_type"')
    expected = converted(csv_bytes(ROWS)).good
    assert expected.equals(converted(csv_bytes(ROWS, header=header)).good)


# Two rows the reader rejects among good ones: their line, record number and raw text show where it counts.
MIXED = [ROWS[0], "x,y", ROWS[1], ROWS[2], broken(ROWS[3]), ROWS[3]]


@pytest.mark.parametrize(
    ("newline", "encoding", "bom"),
    [
        ("\n", "utf-8", codecs.BOM_UTF8),
        ("\r\n", "utf-8", b""),
        ("\r\n", "utf-8", codecs.BOM_UTF8),
        ("\r", "utf-8", b""),
        ("\n", "utf-16-le", codecs.BOM_UTF16_LE),
        ("\r\n", "utf-16-be", codecs.BOM_UTF16_BE),
        ("\n", "utf-16", b""),  # Python's utf-16 codec writes its own BOM
    ],
    ids=["utf8-bom", "crlf", "utf8-bom-crlf", "cr-only", "utf16le-bom", "utf16be-bom-crlf", "utf16-native"],
)
def test_encodings_and_line_endings(newline: str, encoding: str, bom: bytes) -> None:
    """UTF-8 with BOM, CRLF, CR-only and BOM-marked UTF-16 read the same rows and line numbers as plain UTF-8."""
    for lines in (ROWS, MIXED):
        plain = converted(csv_bytes(lines))
        variant = converted(csv_bytes(lines, newline=newline, encoding=encoding, bom=bom))
        assert plain.good.equals(variant.good)
        assert rejects(plain) == rejects(variant)
    assert [
        (3, 2, "x,y", "expected 11 fields, found 2"),
        (6, 5, broken(ROWS[3]), NEVER),
    ] == rejects(variant)
    assert 4 == variant.good.height


@pytest.mark.parametrize("delimiter", [";", "\t", "|"], ids=["semicolon", "tab", "pipe"])
def test_other_delimiters(delimiter: str) -> None:
    """Semicolon-, tab- and pipe-separated files are sniffed from the header and read like commas."""
    header = HEADER.replace(",", delimiter)
    lines = [row.replace(",", delimiter) for row in ROWS]
    expected = converted(csv_bytes(ROWS)).good
    assert expected.equals(converted(csv_bytes(lines, header=header)).good)


def test_semicolon_file_keeps_commas_inside_values() -> None:
    """In a semicolon file, a comma is an ordinary character of a value."""
    header = HEADER.replace(",", ";")
    line = "2025-10-28T01:00:00Z;h1;SELECT;1.5;10;1;true;orders, archived;idx;;"
    result = converted(csv_bytes([line], header=header))
    assert ["orders, archived"] == result.good["table_name"].to_list()


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_rfc4180_quoting_and_line_numbers(newline: str) -> None:
    """Quoted fields keep commas, doubled quotes and newlines; later records' lines count the embedded newline,
    and a record's raw text is all its lines."""
    quoted = f'2025-10-28T01:00:00Z,"h,1",SELECT,1.5,10,1,true,"say ""hi""{newline}there",idx,,'
    lines = [quoted, "2025-10-28T02:00:00Z,h2,SELECT,2.5,20,2,false,orders,idx,1,2", "2025-10-28T03:00:00Z,h3"]
    result = converted(csv_bytes(lines, newline=newline))
    assert ["h,1", "h2"] == result.good["query_hash"].to_list()
    assert [f'say "hi"{newline}there', "orders"] == result.good["table_name"].to_list()
    assert [(5, 3, "2025-10-28T03:00:00Z,h3", "expected 11 fields, found 2")] == rejects(result)
    every_one_rejected = converted(csv_bytes([broken(lines[0]), broken(lines[1]), lines[2]], newline=newline))
    assert [
        (2, 1, broken(quoted), NEVER),
        (4, 2, broken(lines[1]), NEVER),
        (5, 3, "2025-10-28T03:00:00Z,h3", "expected 11 fields, found 2"),
    ] == rejects(every_one_rejected)


def test_quoted_empty_string_is_null() -> None:
    """`""` in a text column is NULL, like an empty field."""
    line = '2025-10-28T01:00:00Z,"",SELECT,1.5,10,1,true,orders,"",,'
    result = converted(csv_bytes([line]))
    assert [None] == result.good["query_hash"].to_list()
    assert [None] == result.good["index_used"].to_list()


def test_unterminated_quote_is_rejected_not_dropped() -> None:
    """A quote that never closes swallows the rest of the file into one rejected record starting at its line."""
    lines = [ROWS[0], '2025-10-28T06:00:00Z,"h1,SELECT,1.5,10,1,true,t,i,,', ROWS[1]]
    result = converted(csv_bytes(lines))
    assert ["h0000"] == result.good["query_hash"].to_list()
    assert [(3, 2)] == [(line, record) for line, record, _, _ in rejects(result)]


def test_extra_columns_are_reported_and_ignored() -> None:
    """Columns the schema does not know are listed (as written) and do not change the rows."""
    header = "region," + HEADER + ", Notes "
    lines = [f"eu,{row},note {i}" for i, row in enumerate(ROWS)]
    result = converted(csv_bytes(lines, header=header))
    assert ["region", "Notes"] == result.extra_columns
    assert converted(csv_bytes(ROWS)).good.equals(result.good)


def test_no_extra_columns() -> None:
    """A file with exactly the schema's columns reports no extra columns."""
    assert [] == converted(csv_bytes(ROWS)).extra_columns


def test_missing_optional_columns_are_null() -> None:
    """A file without cpu_time_ms and io_wait_ms reads, with both NULL."""
    header = HEADER.removesuffix(",cpu_time_ms,io_wait_ms")
    lines = [row.rsplit(",", 2)[0] for row in ROWS]
    result = converted(csv_bytes(lines, header=header))
    assert (4, 0) == (result.good.height, result.bad.height)
    assert [None] * 4 == result.good["cpu_time_ms"].to_list()
    assert [None] * 4 == result.good["io_wait_ms"].to_list()


@pytest.mark.parametrize("column", [c.name for c in QUERY_PERF.input_columns if c.required])
def test_missing_required_column_is_schema_mismatch(column: str) -> None:
    """A file without a required column raises SchemaMismatch naming that column."""
    header = ",".join(c for c in COLUMNS if c != column)
    with pytest.raises(SchemaMismatch, match=f"missing required column.*{column}"):
        converted(csv_bytes([], header=header))


@pytest.mark.parametrize(
    ("header", "column"),
    [
        (HEADER + ",table_name", "table_name"),
        (HEADER + ",CACHE_HIT", "cache_hit"),
        (HEADER + ",notes,notes", "notes"),
    ],
)
def test_duplicated_column_is_schema_mismatch(header: str, column: str) -> None:
    """A header naming a column twice (in any case) raises SchemaMismatch naming it."""
    with pytest.raises(SchemaMismatch, match=f"duplicated column.*{column}"):
        converted(csv_bytes([], header=header))


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("2025-10-28T01:00:00Z,h1,SELECT,1.5,10,1,true,orders,idx,1", 10),
        ("2025-10-28T01:00:00Z,h1,SELECT,1.5,10,1,true,orders,idx,1,2,3", 12),
        ("2025-10-28T01:00:00Z", 1),
        ("2025-10-28T01:00:00Z,h1,SELECT,1.5,10,1,true,orders,idx,1,2,", 12),
    ],
    ids=["one-short", "one-long", "single-field", "trailing-comma"],
)
def test_ragged_rows_are_rejected(line: str, found: int) -> None:
    """A record with too few or too many fields is rejected with "expected 11 fields, found M"."""
    result = converted(csv_bytes([ROWS[0], line, ROWS[1]]))
    assert 2 == result.good.height
    assert [(3, 2, line, f"expected 11 fields, found {found}")] == rejects(result)


def test_blank_lines_are_skipped_but_counted_as_lines() -> None:
    """Empty and whitespace-only lines are not records, but the line numbers of later records still count them."""
    result = converted(csv_bytes(["", ROWS[0], "   ", ROWS[1], "\t", ""]))
    assert (2, 0) == (result.good.height, result.bad.height)
    every_one_rejected = converted(csv_bytes(["", broken(ROWS[0]), "   ", broken(ROWS[1]), "\t", ""]))
    assert [(3, 1, broken(ROWS[0]), NEVER), (5, 2, broken(ROWS[1]), NEVER)] == rejects(every_one_rejected)


def test_blank_line_before_header_is_skipped() -> None:
    """A whitespace-only first line does not hide the header."""
    assert 4 == converted(b"  \n" + csv_bytes(ROWS)).good.height
    every_one_rejected = converted(b"  \n" + csv_bytes([broken(row) for row in ROWS]))
    assert [(3, 1), (4, 2), (5, 3), (6, 4)] == [(line, record) for line, record, _, _ in rejects(every_one_rejected)]


def test_last_line_without_newline() -> None:
    """The last record is read when the file does not end with a newline."""
    data = csv_bytes(ROWS).removesuffix(b"\n")
    assert 4 == converted(data).good.height


@pytest.mark.parametrize("data", [HEADER.encode(), (HEADER + "\n").encode(), (HEADER + "\r\n\r\n").encode()])
def test_header_only_file_has_zero_rows(data: bytes) -> None:
    """A file with only a header reads as zero rows, none rejected."""
    result = converted(data)
    assert (0, 0) == (result.good.height, result.bad.height)


@pytest.mark.parametrize("data", [b"", b"\n\n", b"  \r\n", codecs.BOM_UTF8, codecs.BOM_UTF16_LE])
def test_empty_file_is_unreadable(data: bytes) -> None:
    """An empty (or blank, or BOM-only) file raises UnreadableInput: there is no header."""
    with pytest.raises(UnreadableInput, match="empty file"):
        converted(data)


@pytest.mark.parametrize(
    ("data", "bad_lines"),
    [
        (csv_bytes([ROWS[0], "2025-10-28T01:00:00Z,café,SELECT,1.5,10,1,true,orders,idx,,"], encoding="latin-1"), [3]),
        (csv_bytes(ROWS) + b"\xff\xfe\xfd\n", [6]),
    ],
    ids=["latin-1", "trailing-garbage"],
)
def test_non_utf8_rows_are_rejected_and_the_rest_kept(data: bytes, bad_lines: list[int]) -> None:
    """A record whose bytes are not UTF-8 is rejected with its line number and the reason; the others are
    written (issue 12: undecodable rows are rejected, never the whole file, never dropped)."""
    result = converted(data)
    assert bad_lines == [line for line, _, _, _ in rejects(result)]
    assert all(why.startswith("not UTF-8: invalid byte") for _, _, _, why in rejects(result))
    assert result.good.height == result.rows_in - len(bad_lines)


@pytest.mark.parametrize(
    "data",
    [
        b"\xc3" + csv_bytes(ROWS),
        codecs.BOM_UTF16_LE + csv_bytes(ROWS, encoding="utf-16-le") + b"\x00",  # odd byte count
    ],
    ids=["leading-garbage", "utf16-truncated"],
)
def test_non_utf8_bytes_are_unreadable(data: bytes) -> None:
    """A header that is not UTF-8, or bytes that are not BOM-marked UTF-16 to the end, raise UnreadableInput."""
    with pytest.raises(UnreadableInput):
        converted(data)


def test_ragged_row_is_rejected_whole_with_its_raw_text() -> None:
    """A ragged record is rejected with its line, record number, raw text and reason, and none of its values
    reaches the output."""
    result = converted(csv_bytes(["a,b"]))
    assert [(2, 1, "a,b", "expected 11 fields, found 2")] == rejects(result)
    assert 0 == result.good.height


def test_read_dispatches_on_the_spec() -> None:
    """read() picks the spec's reader for the JSON and summary inputs (a CSV goes to `convert_csv` instead)."""
    report = b'{"timestamp": "2025-10-28T03:00:00Z", "recommendations": [{"table": "a"}]}'
    summary_text = b"2025-10-28T01:00:00Z vacuum duration_ms=5\n"
    assert eager(read(report, INDEX_ADVISOR)).equals(eager(read_index_advisor(report, INDEX_ADVISOR)))
    assert eager(read(summary_text, OPTIMIZATION_SUMMARY)).equals(
        eager(read_summary(summary_text, OPTIMIZATION_SUMMARY))
    )


# ===================================================================================== index advisor
REPORT_TS = "2025-10-28T03:00:00Z"


def advisor(recommendations: object, **top: object) -> bytes:
    """An index-advisor report with the given recommendations (and top-level timestamp unless overridden)."""
    document: dict[str, object] = {"timestamp": REPORT_TS, "recommendations": recommendations}
    document.update(top)
    return json.dumps(document).encode()


def test_advisor_work_order_and_schema_keys() -> None:
    """`table`/`index` (work-order keys) and `table_name`/`recommended_index` (schema keys) fill the same columns."""
    data = advisor(
        [
            {"table": "orders", "index": "idx_orders_date", "estimated_speedup": 2.5, "priority": "high"},
            {"table_name": "users", "recommended_index": "idx_users_email", "estimated_cost": 10, "status": "new"},
        ]
    )
    result = split(read_index_advisor(data, INDEX_ADVISOR), INDEX_ADVISOR)
    assert [
        ("orders", "idx_orders_date", 2.5, None, "high", None),
        ("users", "idx_users_email", None, 10.0, None, "new"),
    ] == result.good.select(
        "table_name", "recommended_index", "estimated_speedup", "estimated_cost", "priority", "status"
    ).rows()
    assert 0 == result.bad.height


def test_advisor_absent_fields_are_null() -> None:
    """A recommendation with only a table leaves every other column NULL and takes the report's timestamp."""
    result = split(read_index_advisor(advisor([{"table": "orders"}]), INDEX_ADVISOR), INDEX_ADVISOR)
    row = result.good.row(0, named=True)
    assert {
        "timestamp": dt.datetime(2025, 10, 28, 3, 0),
        "table_name": "orders",
        "recommended_index": None,
        "query_pattern": None,
        "estimated_speedup": None,
        "estimated_cost": None,
        "priority": None,
        "status": None,
        "date_partition": dt.date(2025, 10, 28),
    } == row


def test_advisor_recommendation_timestamp_overrides_report() -> None:
    """A recommendation's own timestamp wins over the report's; a null one falls back to the report's."""
    data = advisor(
        [
            {"table": "a", "timestamp": "2025-10-29T20:00:00Z"},
            {"table": "b"},
            {"table": "c", "timestamp": None},
        ]
    )
    result = split(read_index_advisor(data, INDEX_ADVISOR), INDEX_ADVISOR)
    assert [
        ("b", dt.datetime(2025, 10, 28, 3, 0), dt.date(2025, 10, 28)),
        ("c", dt.datetime(2025, 10, 28, 3, 0), dt.date(2025, 10, 28)),
        ("a", dt.datetime(2025, 10, 29, 20, 0), dt.date(2025, 10, 30)),  # 03:00 on the 30th in Bangkok
    ] == result.good.select("table_name", "timestamp", "date_partition").rows()


def test_advisor_without_any_timestamp_rejects_rows() -> None:
    """With no report timestamp and none on the recommendation, the row is rejected as "timestamp is empty"."""
    data = json.dumps({"recommendations": [{"table": "a"}, {"table": "b", "timestamp": REPORT_TS}]}).encode()
    result = split(read_index_advisor(data, INDEX_ADVISOR), INDEX_ADVISOR)
    assert ["b"] == result.good["table_name"].to_list()
    assert [(None, 1, '{"table": "a"}', "timestamp is empty")] == rejects(result)


def test_advisor_non_object_recommendation_is_rejected() -> None:
    """A recommendation that is not an object is rejected with its index and raw JSON; line is NULL."""
    data = advisor([{"table": "a"}, "oops", 42, None, ["x"]])
    result = split(read_index_advisor(data, INDEX_ADVISOR), INDEX_ADVISOR)
    assert 1 == result.good.height
    assert [
        (None, 2, '"oops"', "recommendations[1] is not an object"),
        (None, 3, "42", "recommendations[2] is not an object"),
        (None, 4, "null", "recommendations[3] is not an object"),
        (None, 5, '["x"]', "recommendations[4] is not an object"),
    ] == rejects(result)


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"table": {"schema": "public"}}, "table_name is a JSON object, not a scalar"),
        ({"table": "a", "priority": ["high"]}, "priority is a JSON array, not a scalar"),
        ({"table": "a", "estimated_speedup": {"p50": 2}}, "estimated_speedup is a JSON object, not a scalar"),
        ({"table": "a", "timestamp": [REPORT_TS]}, "timestamp is a JSON array, not a scalar"),
        ({"table": "a", "estimated_speedup": "fast"}, "estimated_speedup: cannot read 'fast' as DOUBLE"),
        ({"table": "a", "estimated_cost": True}, "estimated_cost: cannot read 'true' as DOUBLE"),
        ({"table": "a", "timestamp": "yesterday"}, "timestamp: cannot read 'yesterday' as TIMESTAMP"),
    ],
)
def test_advisor_bad_field_rejects_the_recommendation(item: dict[str, object], reason: str) -> None:
    """A field that is an object or array, or does not type, rejects its recommendation with a reason naming it."""
    result = split(read_index_advisor(advisor([{"table": "ok"}, item]), INDEX_ADVISOR), INDEX_ADVISOR)
    assert ["ok"] == result.good["table_name"].to_list()
    assert [(2, reason)] == [(record, why) for _, record, _, why in rejects(result)]


def test_advisor_out_of_range_number_is_rejected_not_nulled() -> None:
    """A number too large for a DOUBLE (1e400 is valid JSON) rejects its recommendation instead of becoming NULL."""
    data = b'{"timestamp": "2025-10-28T03:00:00Z", "recommendations": [{"table": "a", "estimated_speedup": 1e400}]}'
    result = split(read_index_advisor(data, INDEX_ADVISOR), INDEX_ADVISOR)
    assert 0 == result.good.height
    assert [(1, "estimated_speedup: cannot read '1e400' as DOUBLE")] == [(r, why) for _, r, _, why in rejects(result)]
    [(_, _, raw, _)] = rejects(result)
    assert '"estimated_speedup": 1e400' in raw  # the source's text, not a float's (issue 12: raw keeps it)


def test_advisor_report_timestamp_out_of_range_rejects_the_rows_that_need_it() -> None:
    """A report timestamp no instant can hold (1e400) is kept as its text; a recommendation dated by it is
    rejected with the reason, never written with a made-up time."""
    data = b'{"timestamp": 1e400, "recommendations": [{"table": "a"}]}'
    result = split(read_index_advisor(data, INDEX_ADVISOR), INDEX_ADVISOR)
    assert 0 == result.good.height
    [(_, record, _, why)] = rejects(result)
    assert 1 == record
    assert "1e400" in why


def test_advisor_numbers_as_text_and_integers() -> None:
    """Numeric fields accept JSON integers, floats and numeric strings."""
    data = advisor([{"table": "a", "estimated_speedup": 3, "estimated_cost": "12.5"}])
    result = split(read_index_advisor(data, INDEX_ADVISOR), INDEX_ADVISOR)
    assert [(3.0, 12.5)] == result.good.select("estimated_speedup", "estimated_cost").rows()


def test_advisor_unknown_keys_are_extra_columns() -> None:
    """Keys that are neither schema columns nor aliases are listed once, sorted, and do not reject the row."""
    data = advisor([{"table": "a", "zeta": 1, "alpha": {"x": 1}}, {"table": "b", "alpha": 2}])
    table = read_index_advisor(data, INDEX_ADVISOR)
    assert ["alpha", "zeta"] == table.extra_columns
    assert 2 == split(table, INDEX_ADVISOR).good.height


def test_advisor_empty_recommendations() -> None:
    """An empty recommendations array reads as zero rows."""
    result = split(read_index_advisor(advisor([]), INDEX_ADVISOR), INDEX_ADVISOR)
    assert (0, 0) == (result.good.height, result.bad.height)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"[]", "recommendations"),
        (b'"report"', "recommendations"),
        (b"null", "recommendations"),
        (json.dumps({"timestamp": REPORT_TS}).encode(), "recommendations"),
        (json.dumps({"timestamp": REPORT_TS, "recommendations": {"table": "a"}}).encode(), "recommendations"),
        (json.dumps({"timestamp": REPORT_TS, "Recommendations": []}).encode(), "recommendations"),
        (advisor([], timestamp={"at": REPORT_TS}), "report timestamp is a JSON object"),
        (b'{"timestamp": "2025-10-28T03:00:00Z", "recommendations": [{"estimated_speedup": NaN}]}', "NaN"),
        (b'{"timestamp": "2025-10-28T03:00:00Z", "recommendations": [{"estimated_cost": -Infinity}]}', "Infinity"),
        (b'{"timestamp": "2025-10-28T03:00:00Z", "recommendations": [', "invalid JSON"),
        (b"", "invalid JSON"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"a":' * 100_000, "nested too deeply"),
        (b"\xff\xfe\x00", "UTF"),
        ('{"timestamp": "café"}'.encode("latin-1"), "not UTF-8"),
    ],
    ids=[
        "array",
        "string",
        "null",
        "no-recommendations",
        "recommendations-object",
        "wrong-case-key",
        "timestamp-object",
        "nan",
        "infinity",
        "truncated",
        "empty",
        "deep-arrays",
        "deep-objects",
        "bad-utf16",
        "latin-1",
    ],
)
def test_advisor_unusable_report_is_unreadable(data: bytes, match: str) -> None:
    """Not an object, no recommendations array, NaN/Infinity, truncation or deep nesting raise UnreadableInput."""
    with pytest.raises(UnreadableInput, match=match):
        read_index_advisor(data, INDEX_ADVISOR)


def test_advisor_utf8_bom_is_accepted() -> None:
    """A report saved with a UTF-8 BOM reads like one without."""
    data = advisor([{"table": "a"}])
    assert eager(read_index_advisor(data, INDEX_ADVISOR)).equals(
        eager(read_index_advisor(codecs.BOM_UTF8 + data, INDEX_ADVISOR))
    )


# ============================================================================================ summary
def summary(*lines: str) -> bytes:
    """An optimization summary with the given lines."""
    return ("\n".join(lines) + "\n").encode()


def read_split(*lines: str) -> Coerced:
    """Read and coerce summary lines."""
    return split(read_summary(summary(*lines), OPTIMIZATION_SUMMARY), OPTIMIZATION_SUMMARY)


def test_summary_json_line_extra_keys_go_to_metadata() -> None:
    """A JSON object line fills the columns; other keys (and a `metadata` object) become metadata JSON."""
    line = json.dumps(
        {
            "timestamp": "2025-10-28T03:00:00Z",
            "event_type": "index_created",
            "metric_name": "speedup",
            "metric_value": 2.5,
            "table": "orders",
            "tags": ["a", "b"],
            "metadata": {"by": "advisor"},
        }
    )
    result = read_split(line)
    row = result.good.row(0, named=True)
    assert (dt.datetime(2025, 10, 28, 3, 0), "index_created", "speedup", 2.5) == (
        row["timestamp"],
        row["event_type"],
        row["metric_name"],
        row["metric_value"],
    )
    assert {"by": "advisor", "table": "orders", "tags": ["a", "b"]} == json.loads(row["metadata"])


def test_summary_json_line_without_extras_has_null_metadata() -> None:
    """A JSON line with only the schema's keys has NULL metadata."""
    result = read_split(
        '{"timestamp": "2025-10-28T03:00:00Z", "event_type": "vacuum", "metric_name": "ms", "metric_value": 1}'
    )
    assert [None] == result.good["metadata"].to_list()


def test_summary_event_line_with_key_values() -> None:
    """`TIMESTAMP EVENT METRIC=NUMBER key=value ...` fills the columns; quoted values keep their spaces."""
    result = read_split('2025-10-28T03:00:00Z index_created speedup=2.5 table=orders note="two words" empty=')
    row = result.good.row(0, named=True)
    assert (dt.datetime(2025, 10, 28, 3, 0), "index_created", "speedup", 2.5) == (
        row["timestamp"],
        row["event_type"],
        row["metric_name"],
        row["metric_value"],
    )
    assert {"table": "orders", "note": "two words", "empty": ""} == json.loads(row["metadata"])


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("2025-10-28T03:00:00Z vacuum duration_ms=120", (dt.datetime(2025, 10, 28, 3, 0), "duration_ms", 120.0)),
        ("[2025-10-28 10:00:00+07:00] vacuum rows=-3", (dt.datetime(2025, 10, 28, 3, 0), "rows", -3.0)),
        ("2025-10-28 03:00 analyze ratio=.5", (dt.datetime(2025, 10, 28, 3, 0), "ratio", 0.5)),
        ("2025-10-28T03:00:00.250Z analyze n=1e3", (dt.datetime(2025, 10, 28, 3, 0, 0, 250_000), "n", 1000.0)),
    ],
)
def test_summary_event_line_variants(line: str, expected: tuple[dt.datetime, str, float]) -> None:
    """Event lines take a bracketed or space-separated timestamp with an offset, and signed/decimal/exponent numbers."""
    result = read_split(line)
    assert [expected] == result.good.select("timestamp", "metric_name", "metric_value").rows()
    assert [None] == result.good["metadata"].to_list()


def test_summary_label_line_takes_nearest_timestamp_above() -> None:
    """`Label: NUMBER` is a `summary` event at the timestamp of the nearest timestamped line above it."""
    result = read_split(
        "2025-10-28T01:00:00Z vacuum duration_ms=5",
        "Tables Vacuumed: 3",
        '{"timestamp": "2025-10-28T02:00:00Z", "event_type": "x", "metric_name": "m", "metric_value": 1}',
        "Indexes Created (total): 4",
        "avgQueryTime: 1.5e3",
    )
    assert [
        (dt.datetime(2025, 10, 28, 1, 0), "vacuum", "duration_ms", 5.0),
        (dt.datetime(2025, 10, 28, 1, 0), "summary", "tables_vacuumed", 3.0),
        (dt.datetime(2025, 10, 28, 2, 0), "x", "m", 1.0),
        (dt.datetime(2025, 10, 28, 2, 0), "summary", "indexes_created_total", 4.0),
        (dt.datetime(2025, 10, 28, 2, 0), "summary", "avg_query_time", 1500.0),
    ] == result.good.select("timestamp", "event_type", "metric_name", "metric_value").rows()
    assert [None] * 5 == result.good["metadata"].to_list()


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Indexes Created (total)", "indexes_created_total"),
        ("avgQueryTime", "avg_query_time"),
        ("P95 latency - ms", "p95_latency_ms"),
        ("Total", "total"),
        ("cache hit %", "cache_hit"),
    ],
)
def test_snake_case(label: str, expected: str) -> None:
    """Labels become snake_case metric names."""
    assert expected == snake_case(label)


def test_summary_json_line_without_timestamp_uses_line_above() -> None:
    """A JSON line without a timestamp takes the nearest timestamp above, like a label line."""
    result = read_split(
        "2025-10-28T01:00:00Z vacuum duration_ms=5",
        '{"event_type": "x", "metric_name": "m", "metric_value": 1}',
    )
    assert [dt.datetime(2025, 10, 28, 1, 0)] * 2 == result.good["timestamp"].to_list()


def test_summary_blank_lines_and_comments_are_skipped() -> None:
    """Blank lines and `#` comments are not records; line numbers of later records still count them."""
    result = read_split(
        "# Optimization summary",
        "",
        "2025-10-28T01:00:00Z vacuum duration_ms=5",
        "   ",
        "   # indented comment",
        "Tables Vacuumed: x",
    )
    assert 1 == result.good.height
    [(line, record, raw, reason)] = rejects(result)
    assert (6, 2, "Tables Vacuumed: x") == (line, record, raw)
    assert "fits no summary grammar" in reason


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("hello world", "line fits no summary grammar"),
        ("Ratio: abc", "line fits no summary grammar"),
        ("Total: 5 ms", "line fits no summary grammar"),
        ("[1, 2]", "line fits no summary grammar"),
        ("2025-10-28T03:00:00Z vacuum", "expected METRIC=NUMBER after the event type"),
        ("2025-10-28T03:00:00Z vacuum table=orders", "expected METRIC=NUMBER after the event type"),
        ("2025-10-28T03:00:00Z vacuum ms=5 orphan", "expected key=value, found 'orphan'"),
        ('2025-10-28T03:00:00Z vacuum ms=5 note="open', "cannot split key=value pairs"),
        ("{not json", "invalid JSON"),
        ('{"metric_value": NaN, "timestamp": "2025-10-28T03:00:00Z"}', "NaN is not valid JSON"),
        ('{"timestamp": "2025-10-28T03:00:00Z", "metric_value": 1e400}', "metric_value: cannot read '1e400' as DOUBLE"),
        ('{"timestamp": "2025-10-28T03:00:00Z", "metric_name": ["a"]}', "metric_name is a JSON array"),
        ('{"timestamp": {"at": 1}}', "timestamp is a JSON object"),
        ('{"timestamp": "2025-10-28T03:00:00Z", "metric_value": "high"}', "metric_value: cannot read 'high'"),
        ('{"timestamp": "soon", "metric_value": 1}', "timestamp: cannot read 'soon'"),
    ],
)
def test_summary_bad_line_is_rejected(line: str, reason: str) -> None:
    """A line that fits no grammar, or fits one badly, is rejected with its raw text and a reason."""
    result = read_split("2025-10-28T01:00:00Z vacuum duration_ms=5", line)
    assert 1 == result.good.height
    [(line_no, record, raw, why)] = rejects(result)
    assert (2, 2, line) == (line_no, record, raw)
    assert reason in why


@pytest.mark.parametrize(
    "line",
    ["Tables Vacuumed: 3", '{"event_type": "x", "metric_name": "m", "metric_value": 1}'],
    ids=["label", "json"],
)
def test_summary_line_without_timestamp_above_is_rejected(line: str) -> None:
    """A label (or timestamp-less JSON) line with no timestamped line above it is rejected."""
    result = read_split(line, "2025-10-28T01:00:00Z vacuum duration_ms=5", "Tables Vacuumed: 4")
    assert 2 == result.good.height
    [(line_no, record, raw, why)] = rejects(result)
    assert (1, 1, line) == (line_no, record, raw)
    assert "timestamp" in why


def test_summary_raw_is_the_line_without_its_newline() -> None:
    """__raw is the line's text, without surrounding whitespace or the line ending."""
    data = b"2025-10-28T01:00:00Z vacuum duration_ms=5\r\n  oops  \r\n"
    result = split(read_summary(data, OPTIMIZATION_SUMMARY), OPTIMIZATION_SUMMARY)
    assert [(2, 2, "oops")] == [(line, record, raw) for line, record, raw, _ in rejects(result)]


def test_summary_empty_file_has_zero_rows() -> None:
    """An empty or comment-only summary reads as zero rows."""
    for data in (b"", b"# nothing yet\n\n"):
        result = split(read_summary(data, OPTIMIZATION_SUMMARY), OPTIMIZATION_SUMMARY)
        assert (0, 0) == (result.good.height, result.bad.height)


def test_summary_line_not_utf8_is_rejected_with_its_bytes_shown() -> None:
    """A summary line that is not UTF-8 is rejected with its line number and its bytes escaped; the other
    lines are read (issue 12: undecodable rows are rejected, not the whole file)."""
    data = b"2025-10-28T01:00:00Z vacuum duration_ms=5\n" + "Total: 5 café\n".encode("latin-1")
    result = split(read_summary(data, OPTIMIZATION_SUMMARY), OPTIMIZATION_SUMMARY)
    assert 1 == result.good.height
    [(line, record, raw, why)] = rejects(result)
    assert (2, 2, "Total: 5 caf\\xe9") == (line, record, raw)
    assert why.startswith("not UTF-8: invalid byte 0xe9")
