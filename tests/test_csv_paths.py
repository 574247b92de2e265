"""The polars CSV path and the csv-module path agree record for record wherever polars takes a file."""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.convert.readers import read_csv_polars, read_csv_records
from daemon.specs import QUERY_PERF
from tests.conftest import HEADER

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


def normalised(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    df = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    return df.select(sorted(df.columns))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_files())
def test_polars_path_matches_csv_module(data: bytes) -> None:
    """Where the polars path accepts a file, its records, lines, raw text, errors and values equal the csv module's."""
    fast = read_csv_polars(data, QUERY_PERF)
    reference = read_csv_records(data, QUERY_PERF)
    if fast is None:
        return
    assert normalised(reference.frame).to_dicts() == normalised(fast.frame).to_dicts()
    assert reference.extra_columns == fast.extra_columns


def test_polars_path_takes_the_common_file() -> None:
    """A plain UTF-8 daily report (the common case) is read by the polars path, not the fallback."""
    data = (HEADER + "\n" + "2025-10-28T00:15:23Z,h,SELECT,1.5,1,1,true,t,i,0.5,0.1\n").encode()
    assert read_csv_polars(data, QUERY_PERF) is not None


def _typed(data: bytes) -> tuple[list[object], list[str]]:
    from daemon.convert.coerce import REASON, coerce
    from daemon.convert.readers import read_csv

    result = coerce(read_csv(data, QUERY_PERF), QUERY_PERF, "UTC", "UTC")
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
