"""The CSV entry point's routes agree: whatever route `convert_csv` takes for a file (fast, careful), it
writes and rejects exactly what the csv-module reader (`read_csv_records` + `coerce`) makes of the same bytes."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.convert.coerce import LINE, REASON, coerce
from daemon.convert.csv.records import read_csv_records
from daemon.specs import QUERY_PERF
from tests.conftest import HEADER
from tests.csvconvert import convert_bytes

COLUMNS = HEADER.split(",")

field = st.one_of(
    st.sampled_from(["", "1", "2.5", "true", "2025-10-28T00:15:23Z", "x y", "  pad  ", "é", "a;b", "a|b"]),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\x1f\r\n"), max_size=8),
)


def encode_field(value: str, delimiter: str) -> str:
    if any(c in value for c in (delimiter, '"')) or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    order = draw(st.permutations(COLUMNS))
    lines = [delimiter.join(order)]
    for _ in range(draw(st.integers(0, 12))):
        width = draw(st.sampled_from([len(order), len(order), len(order), len(order) - 2, len(order) + 1, 1]))
        values = [draw(field) for _ in range(width)]
        lines.append(delimiter.join(encode_field(v, delimiter) for v in values))
        if draw(st.booleans()) and draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "   "])))
    bom = draw(st.sampled_from([b"", b"\xef\xbb\xbf"]))
    trailing = draw(st.sampled_from([newline, ""]))
    return bom + (newline.join(lines) + trailing).encode("utf-8")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_files())
def test_every_route_matches_the_csv_module(data: bytes) -> None:
    """Whatever route the entry point takes, its good rows (values, order) and its rejected rows (lines, record
    numbers, raw text, reasons) and extra columns equal the csv-module reader's for the same bytes."""
    table = read_csv_records(data, QUERY_PERF)
    reference = coerce(table, QUERY_PERF, "UTC", "UTC")
    result = convert_bytes(data, QUERY_PERF, "UTC", "UTC")
    assert reference.good.to_dicts() == result.good.to_dicts(), result.route
    assert reference.bad.sort(LINE).to_dicts() == result.bad.sort(LINE).to_dicts(), result.route
    assert table.extra_columns == result.extra_columns


def test_the_common_file_takes_the_fast_route() -> None:
    """A plain UTF-8 daily report (the common case) is read by the fast polars path, not a fallback."""
    data = (HEADER + "\n" + "2025-10-28T00:15:23Z,h,SELECT,1.5,1,1,true,t,i,0.5,0.1\n").encode()
    assert "fast" == convert_bytes(data, QUERY_PERF).route


def _typed(data: bytes) -> tuple[list[object], list[str]]:
    result = convert_bytes(data, QUERY_PERF, "UTC", "UTC")
    return result.good["execution_time_ms"].to_list(), result.bad[REASON].to_list()


def test_semicolon_file_reads_decimal_comma() -> None:
    """In a `;`-separated report, 1,5 is one and a half (the European spreadsheet dialect)."""
    header = HEADER.replace(",", ";")
    data = f"{header}\n2025-10-28T00:00:00Z;h;SELECT;1,5;1;1;true;t;i;-0,25;3\n".encode()
    assert ([1.5], []) == _typed(data)


def test_comma_file_rejects_decimal_comma() -> None:
    """In a comma-separated report a quoted "1,5" is ambiguous (1.5 or 15?), so the row is rejected."""
    data = f'{HEADER}\n2025-10-28T00:00:00Z,h,SELECT,"1,5",1,1,true,t,i,,\n'.encode()
    assert ([], ["execution_time_ms: cannot read '1,5' as DOUBLE"]) == _typed(data)


def test_unbalanced_quote_is_named_in_the_reason() -> None:
    """A quote that never closes swallows the following lines into one record whose reason says so."""
    row = "2025-10-28T00:00:00Z,h,SELECT,1,1,1,true,t,i,,"
    data = f'{HEADER}\n"{row}\n{row}\n'
    good, reasons = _typed(data.encode())
    assert [] == good
    assert ["unbalanced quote: one record swallowed lines 2-3"] == reasons
