"""Hypothesis round trip: generated rows -> CSV in a random dialect -> export -> DuckDB -> the same values."""

from __future__ import annotations

import codecs
import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.convert.exporter import Exporter, Selection
from daemon.settings import resolve

BANGKOK = ZoneInfo("Asia/Bangkok")
COLUMNS = (
    "timestamp",
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
)
OPTIONAL = ("cpu_time_ms", "io_wait_ms")
SPELLINGS = {"true": True, "false": False, "1": True, "0": False, "t": True, "f": False, "yes": True, "no": False}

# Any text UTF-8 can carry (no lone surrogates), including NUL, control characters, quotes, delimiters,
# CR and LF, non-ASCII letters and emoji.
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
tricky = st.sampled_from(["", " ", ",", ";", "\t", '"', '""', "a,b", 'say "hi"', "\n", "\r\n", "\r", "ทดสอบ", "😀"])
strings = st.one_of(texts, tricky, st.lists(tricky, max_size=4).map("".join))
doubles = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["0", "-0.0", "1e-300", "5e-324", "1.7976931348623157e+308", "123.456", "-2.5e10"]),
)
bigints = st.integers(-(2**63), 2**63 - 1).map(str)
booleans = st.tuples(st.sampled_from(sorted(SPELLINGS)), st.sampled_from([str.lower, str.upper, str.title])).map(
    lambda t: t[1](t[0])
)


@st.composite
def timestamps(draw: st.DrawFn) -> tuple[str, dt.datetime]:
    """An ISO 8601 spelling (Z, +HH:MM offset, or naive UTC; 0-6 fraction digits) and its naive UTC value."""
    utc = draw(st.datetimes(min_value=dt.datetime(1950, 1, 1), max_value=dt.datetime(2100, 12, 31)))
    digits = draw(st.integers(0, 6))
    utc = utc.replace(microsecond=utc.microsecond // 10 ** (6 - digits) * 10 ** (6 - digits))
    kind = draw(st.sampled_from(["Z", "offset", "naive"]))
    minutes = draw(st.integers(-14 * 60, 14 * 60)) if kind == "offset" else 0
    local = utc + dt.timedelta(minutes=minutes)
    text = local.strftime("%Y-%m-%d") + draw(st.sampled_from(["T", " "])) + local.strftime("%H:%M:%S")
    if digits:
        text += "." + f"{local.microsecond:06d}"[:digits]
    if kind == "Z":
        text += "Z"
    elif kind == "offset":
        sign, rest = ("-" if minutes < 0 else "+"), abs(minutes)
        text += f"{sign}{rest // 60:02d}:{rest % 60:02d}"
    return text, utc


def nullable(values: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), values)


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    """One row's CSV cells (None = empty field) with the timestamp's expected UTC value under `__utc`."""
    ts_text, utc = draw(timestamps())
    return {
        "timestamp": ts_text,
        "__utc": utc,
        "query_hash": draw(nullable(strings)),
        "query_type": draw(nullable(strings)),
        "execution_time_ms": draw(nullable(doubles)),
        "rows_examined": draw(nullable(bigints)),
        "rows_returned": draw(nullable(bigints)),
        "cache_hit": draw(nullable(booleans)),
        "table_name": draw(nullable(strings)),
        "index_used": draw(nullable(strings)),
        "cpu_time_ms": draw(nullable(doubles)),
        "io_wait_ms": draw(nullable(doubles)),
        "note": draw(nullable(strings)),
    }


@dataclass(frozen=True)
class Dialect:
    delimiter: str
    newline: str
    bom: bool
    quote_all: bool
    columns: tuple[str, ...]


@st.composite
def dialects(draw: st.DrawFn) -> Dialect:
    """A delimiter, line ending, BOM, quoting style, and a shuffled column list (optional ones maybe absent)."""
    columns = [c for c in COLUMNS if c not in OPTIONAL or draw(st.booleans())]
    if draw(st.booleans()):
        columns.append("note")  # an extra column: must be left out
    return Dialect(
        delimiter=draw(st.sampled_from([",", ";", "\t"])),
        newline=draw(st.sampled_from(["\n", "\r\n"])),
        bom=draw(st.booleans()),
        quote_all=draw(st.booleans()),
        columns=tuple(draw(st.permutations(columns))),
    )


def to_csv(records: list[dict[str, Any]], dialect: Dialect) -> bytes:
    """RFC 4180 CSV: a field is quoted when it holds the delimiter, a quote, CR or LF (or always, with quote_all).

    Hand-written because Python 3.11's csv.writer leaves a lone CR unquoted when the line terminator is LF.
    """

    def cell(value: str | None) -> str:
        text = value or ""
        if dialect.quote_all or any(ch in text for ch in (dialect.delimiter, '"', "\r", "\n")):
            return '"' + text.replace('"', '""') + '"'
        return text

    lines = [dialect.delimiter.join(cell(c) for c in dialect.columns)]
    lines += [dialect.delimiter.join(cell(r[c]) for c in dialect.columns) for r in records]
    text = "".join(line + dialect.newline for line in lines)
    return (codecs.BOM_UTF8 if dialect.bom else b"") + text.encode("utf-8")


def typed(column: str, text: str | None) -> Any:
    """The value DuckDB must show for a cell: empty = NULL, then the column's type."""
    if text is None or text == "":
        return None
    if column in ("execution_time_ms", "cpu_time_ms", "io_wait_ms"):
        return float(text)
    if column in ("rows_examined", "rows_returned"):
        return int(text)
    if column == "cache_hit":
        return SPELLINGS[text.lower()]
    return text


def expected_row(record: dict[str, Any], columns: tuple[str, ...]) -> tuple[Any, ...]:
    utc: dt.datetime = record["__utc"]
    values = [utc] + [typed(c, record[c]) if c in columns else None for c in COLUMNS[1:]]
    return (*values, utc.replace(tzinfo=dt.UTC).astimezone(BANGKOK).date())


def exact(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row with floats as hex, so 0.0 and -0.0 differ and every bit counts."""
    return tuple(v.hex() if isinstance(v, float) else v for v in row)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(rows(), max_size=25), dialect=dialects())
def test_csv_round_trip_keeps_every_value(records: list[dict[str, Any]], dialect: Dialect) -> None:
    """Rows written as CSV in any accepted dialect come back from DuckDB with equal values, none lost or rejected."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "g/reports").mkdir(parents=True)
        source = root / "g/reports/query_perf_daily_20251028.csv"
        source.write_bytes(to_csv(records, dialect))
        with structlog.testing.capture_logs() as logs:
            report = Exporter(resolve({"root": root}, env={}), None).export(Selection(mode="historical"))
        assert [] == [o.error for o in report.failed]
        [outcome] = report.written
        assert (len(records), len(records), 0) == (outcome.rows_in, outcome.rows_written, outcome.rows_rejected)
        out = root / "knowledge/optimize/parquet/query_perf/year=2025/month=10/query_perf_20251028.parquet"
        actual = duckdb.execute(f"SELECT * FROM read_parquet('{out}', hive_partitioning = false)").fetchall()
        expected = sorted((expected_row(r, dialect.columns) for r in records), key=lambda row: row[0])
        assert [exact(r) for r in expected] == [exact(r) for r in actual]
        drift = [e["extra_columns"] for e in logs if e["event"] == "schema.drift"]
        assert ([["note"]] if "note" in dialect.columns else []) == drift
