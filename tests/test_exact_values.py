"""A value is written exactly as its text says, or rejected with its reason: never a different number.

BIGINT texts are read exactly (no detour through a float); a DOUBLE text that overflows is rejected with
its source text kept; a JSON key given twice is never silently dropped. Every CSV case runs through the
three CSV routes (fast, careful, csv module), which must agree.
"""

from __future__ import annotations

import decimal
import json
import re
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.convert.coerce import RAW, REASON, coerce, typed_column
from daemon.convert.readers import read_index_advisor, read_summary
from daemon.errors import UnreadableInput
from daemon.specs import DATASETS, Column
from tests.conftest import HEADER
from tests.csvconvert import convert_bytes

ADVISOR = next(spec for spec in DATASETS if spec.name == "index_advisor")
SUMMARY = next(spec for spec in DATASETS if spec.name == "optimization_summary")
INT64 = (-(2**63), 2**63 - 1)


def _row(second: int, rows_examined: str = "7", execution_ms: str = "1.5", query_hash: str = "h") -> str:
    return f"2025-10-28T00:00:{second:02d}Z,{query_hash},SELECT,{execution_ms},{rows_examined},1,true,t,i,1,1"


def _through_every_route(**first: str) -> dict[str, tuple[Any, str | None, str | None]]:
    """The first row's (value, raw, reason) by route: alone (fast when it can), beside a bad row (careful),
    beside a record spanning lines (csv module)."""
    column = "rows_examined" if "rows_examined" in first else "execution_time_ms"
    layouts = {
        "alone": [_row(0, **first), _row(1), _row(2)],
        "careful": [_row(0, **first), _row(1, rows_examined="bad"), _row(2)],
        "csv-module": [_row(0, **first), _row(1, query_hash='h"x'), _row(2)],
    }
    found = {}
    for layout, rows in layouts.items():
        result = convert_bytes(("\n".join([HEADER, *rows]) + "\n").encode())
        if layout != "alone":
            assert layout == result.route, layout
        good = result.good.filter(pl.col("timestamp").dt.second() == 0)
        bad = result.bad.filter(pl.col("__line") == 2)
        if good.height:
            found[layout] = (good[column].item(), None, None)
        else:
            found[layout] = (None, bad[RAW].item(), bad[REASON].item())
    return found


def exact_int(text: str) -> int | None:
    """The oracle: the integer `text` denotes (ASCII digits, optional sign, fraction and exponent), if it is one
    that fits a BIGINT exactly."""
    stripped = text.strip()
    if not re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", stripped):
        return None
    try:
        with decimal.localcontext() as ctx:
            ctx.prec, ctx.Emax, ctx.Emin = 200, 10**9, -(10**9)
            value = decimal.Decimal(stripped)
            if abs(value.adjusted()) > 100 and value != 0:
                return None
            if value != value.to_integral_value():
                return None
            number = int(value)
    except decimal.DecimalException:
        return None
    return number if INT64[0] <= number <= INT64[1] else None


BIGINT_CASES = [
    ("-9223372036854775809", None),
    ("9223372036854775808", None),
    ("-9223372036854775808", -(2**63)),
    ("9223372036854775807", 2**63 - 1),
    ("9007199254740993.0", 9007199254740993),
    ("9223372036854775807.000", 2**63 - 1),
    ("9223372036854775808.0", None),
    ("9.223372036854775807e18", 2**63 - 1),
    ("9.223372036854775808e18", None),
    ("12.0", 12),
    ("12.", 12),
    ("12.5", None),
    ("1e3", 1000),
    ("1.5e3", 1500),
    ("100e-2", 1),
    ("1.25e1", None),
    ("1e19", None),
    ("0e999999", 0),
    ("-0", 0),
    ("+5", 5),
    (" 42 ", 42),
    ("0x10", None),
    ("1_000", None),
    ("\u0663", None),  # ARABIC-INDIC DIGIT THREE: a digit to Python, not to a producer
]


@pytest.mark.parametrize(("text", "expected"), BIGINT_CASES)
def test_bigint_is_exact_or_rejected_on_every_route(text: str, expected: int | None) -> None:
    """A BIGINT text is the exact integer it says on every CSV route, or a rejected row naming the column."""
    assert expected == exact_int(text)  # the oracle agrees with the table
    found = _through_every_route(rows_examined=text)
    for route, (value, raw, reason) in found.items():
        if expected is None:
            assert (None, True) == (value, text in (raw or "")), route
            assert str(reason).startswith("rows_examined:"), route
        else:
            assert (expected, None) == (value, reason), route


DOUBLE_CASES = [
    ("1e400", None),
    ("-1e999", None),
    ("1.797693134862316e308", None),
    ("1.7976931348623157e308", 1.7976931348623157e308),
    ("4.9e-324", 5e-324),
    ("1e-400", 0.0),  # the nearest DOUBLE, as for every decimal text
    ("0.1", 0.1),
]


@pytest.mark.parametrize(("text", "expected"), DOUBLE_CASES)
def test_double_overflow_is_rejected_with_its_text(text: str, expected: float | None) -> None:
    """A DOUBLE text that overflows is a rejected row whose raw keeps the text; others are the nearest DOUBLE."""
    for route, (value, raw, reason) in _through_every_route(execution_ms=text).items():
        if expected is None:
            assert (None, True) == (value, text in (raw or "")), route
            assert str(reason).startswith("execution_time_ms:"), route
        else:
            assert (expected, None) == (value, reason), route


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "+Infinity", "INF"])
def test_named_non_numbers_are_kept_on_every_route(text: str) -> None:
    """`nan`, `inf` and `infinity` (any case, signed) are DOUBLE values a producer wrote: kept alike everywhere."""
    values = {route: value for route, (value, _, _) in _through_every_route(execution_ms=text).items()}
    expected = float(text)
    for route, value in values.items():
        assert value is not None, route
        assert repr(expected) == repr(value), route


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.integers(min_value=-(2**64), max_value=2**64),
        st.sampled_from([2**53 + 1, -(2**53) - 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1]),
    ),
    st.sampled_from(["{}", "{}.0", "{}.", " {} ", "+{}", "{}e0", "{}00e-2", "{}.5", "{}e1", "0{}"]),
)
def test_bigint_typing_matches_the_exact_oracle(number: int, form: str) -> None:
    """The production BIGINT typing gives exactly the oracle's integer for edge numbers in every spelling."""
    text = form.format(number)
    if form == "0{}" and number < 0:
        text = "-0" + str(-number)
    if form == "+{}" and number < 0:
        text = str(number)
    column = Column("v", "BIGINT")
    actual = pl.DataFrame({"v": [text]}).select(typed_column(column, "UTC")).item()
    assert exact_int(text) == actual, text


@settings(max_examples=40, deadline=None)
@given(
    st.one_of(
        st.integers(min_value=-(2**64), max_value=2**64).map(str),
        st.sampled_from([str(2**63 - 1), str(2**63), str(-(2**63)), str(-(2**63) - 1), "9007199254740993"]),
    ).flatmap(lambda digits: st.sampled_from([digits, digits + ".0", "+" + digits.lstrip("-"), digits + "e0"])),
)
def test_fast_and_careful_agree_on_edge_bigints(text: str) -> None:
    """The fast path's native BIGINT parse and the careful path's typing give the oracle's value, or both reject."""
    found = {}
    for layout, rows in {
        "alone": [_row(0, rows_examined=text), _row(1), _row(2)],
        "careful": [_row(0, rows_examined=text), _row(1, rows_examined="bad"), _row(2)],
    }.items():
        result = convert_bytes(("\n".join([HEADER, *rows]) + "\n").encode())
        good = result.good.filter(pl.col("timestamp").dt.second() == 0)
        found[layout] = good["rows_examined"].item() if good.height else None
    assert {"alone": exact_int(text), "careful": exact_int(text)} == found


def _advisor(items: str, extra: str = "") -> bytes:
    return ('{"timestamp": "2025-10-28T01:00:00Z", ' + extra + '"recommendations": [' + items + "]}").encode()


def _recommendation(cost: str = "2.5", tail: str = "") -> str:
    return '{"table": "t", "index": "i", "estimated_speedup": 1.5, "estimated_cost": ' + cost + tail + "}"


def test_json_double_overflow_keeps_its_source_text() -> None:
    """An advisor number that overflows a DOUBLE is a rejected row whose raw holds `1e400` as written."""
    table = read_index_advisor(_advisor(_recommendation() + ", " + _recommendation("1e400")), ADVISOR)
    coerced = coerce(table, ADVISOR, "Asia/Bangkok", "UTC")
    assert 1 == coerced.good.height
    [(raw, reason)] = coerced.bad.select(RAW, REASON).rows()
    assert '"estimated_cost": 1e400' in raw
    assert "estimated_cost: cannot read '1e400' as DOUBLE" == reason


def test_json_duplicate_recommendations_fail_the_file() -> None:
    """A report with `recommendations` twice fails whole, naming the key, instead of keeping the last one."""
    data = _advisor(_recommendation(), extra='"recommendations": [' + _recommendation() + "], ")
    with pytest.raises(UnreadableInput, match="duplicate key 'recommendations'"):
        read_index_advisor(data, ADVISOR)


def test_json_duplicate_key_in_a_recommendation_rejects_that_row() -> None:
    """A recommendation with a key twice is rejected with a reason; the others are written."""
    data = _advisor(_recommendation() + ", " + _recommendation(tail=', "estimated_cost": 9'))
    coerced = coerce(read_index_advisor(data, ADVISOR), ADVISOR, "Asia/Bangkok", "UTC")
    assert [2.5] == coerced.good["estimated_cost"].to_list()
    [(raw, reason)] = coerced.bad.select(RAW, REASON).rows()
    assert "duplicate key 'estimated_cost'" in reason
    assert '"estimated_cost": 9' in raw


def _summary(*lines: str) -> pl.DataFrame:
    coerced = coerce(read_summary(("\n".join(lines) + "\n").encode(), SUMMARY), SUMMARY, "Asia/Bangkok", "UTC")
    return pl.concat(
        [
            coerced.good.select(
                metric_value=pl.col("metric_value"), metadata="metadata", reason=pl.lit(None, pl.String)
            ),
            coerced.bad.select(metric_value=pl.lit(None, pl.Float64), metadata=pl.lit(None, pl.String), reason=REASON),
        ]
    )


def test_summary_duplicate_keys_reject_the_line() -> None:
    """A summary JSON line with a key twice (at the top or inside `metadata`) is rejected, the rest written."""
    ok = '{"timestamp": "2025-10-28T01:00:00Z", "event_type": "e", "metric_name": "m", "metric_value": 1}'
    top = ok[:-1] + ', "metric_value": 2}'
    nested = ok[:-1] + ', "metadata": {"a": {"b": 1, "b": 2}}}'
    found = _summary(ok, top, nested)
    assert [1.0] == found["metric_value"].drop_nulls().to_list()
    reasons = found["reason"].drop_nulls().to_list()
    assert 2 == len(reasons)
    assert all("duplicate key 'metric_value'" in r or "duplicate key 'b'" in r for r in reasons), reasons


def test_summary_numbers_keep_their_text() -> None:
    """Summary numbers that overflow are rejected; metadata keeps a number's text exactly (no float rounding)."""
    found = _summary(
        "2025-10-28T01:00:00Z e m=1e400",
        '{"timestamp": "2025-10-28T01:00:01Z", "event_type": "e", "metric_name": "m", "metric_value": -1e999}',
        '{"timestamp": "2025-10-28T01:00:02Z", "event_type": "e", "metric_name": "m", "metric_value": 2,'
        ' "x": 9007199254740993.0, "y": 12345678901234567890123}',
        "2025-10-28T01:00:03Z e m=nan",
    )
    reasons = found["reason"].drop_nulls().to_list()
    assert 2 == len(reasons), reasons
    metadata = found["metadata"].drop_nulls().to_list()
    assert 1 == len(metadata)
    assert '"x": 9007199254740993.0' in metadata[0]
    assert '"y": 12345678901234567890123' in metadata[0]
    assert {"x": 9007199254740993.0, "y": 12345678901234567890123} == json.loads(metadata[0])
    values = found["metric_value"].drop_nulls().to_list()
    assert ["2.0", "nan"] == sorted(repr(v) for v in values)  # `nan` is kept, as in a CSV
