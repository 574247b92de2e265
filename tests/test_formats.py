"""`query --format`: table on a terminal, CSV otherwise, and JSON or Markdown on request."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import sys
from pathlib import Path

import pytest

from daemon.cli.formats import format_rows
from tests.conftest import RunCli, WriteCsv

COLUMNS = ["day", "at", "hash", "ms", "hit", "note"]
ROWS = [
    (dt.date(2025, 10, 28), dt.datetime(2025, 10, 28, 1, 2, 3), "a|b", 1.5, True, "two\nlines"),
    (dt.date(2025, 10, 29), None, "c", float("nan"), False, None),
    (dt.date(2025, 10, 30), dt.datetime(2025, 10, 30), "ตาราง", decimal.Decimal("2.25"), None, "x"),
]


def test_csv_has_a_header_and_empty_nulls() -> None:
    """CSV: header row, NULL as an empty field, booleans lower-case, quoted newlines."""
    lines = format_rows(COLUMNS, ROWS, "csv").split("\n")
    assert "day,at,hash,ms,hit,note" == lines[0]
    assert '2025-10-28,2025-10-28 01:02:03,a|b,1.5,true,"two' == lines[1]
    assert "2025-10-29,,c,nan,false," == lines[3]


def test_json_is_valid_with_text_timestamps_and_no_nan() -> None:
    """JSON: one object per row; dates as text, NaN as null, decimals as numbers, non-ASCII kept."""
    rows = json.loads(format_rows(COLUMNS, ROWS, "json"))
    assert {"day": "2025-10-29", "at": None, "hash": "c", "ms": None, "hit": False, "note": None} == rows[1]
    assert (2.25, "ตาราง") == (rows[2]["ms"], rows[2]["hash"])
    assert "ตาราง" in format_rows(COLUMNS, ROWS, "json")


def test_markdown_escapes_pipes_and_line_breaks_and_right_aligns_numbers() -> None:
    """Markdown: a valid table whose cells never break it; the numeric column is right-aligned."""
    lines = format_rows(COLUMNS, ROWS, "markdown").splitlines()
    assert "| day | at | hash | ms | hit | note |" == lines[0]
    assert "|---|---|---|---:|---|---|" == lines[1]
    assert "| 2025-10-28 | 2025-10-28 01:02:03 | a\\|b | 1.5 | true | two<br>lines |" == lines[2]
    assert 5 == len(lines)


def test_the_table_shows_every_value_and_the_row_count() -> None:
    """The rich table has a header, each value, and says how many rows there are."""
    text = format_rows(COLUMNS, ROWS, "table")
    for value in ("day", "2025-10-28 01:02:03", "a|b", "ตาราง", "3 rows"):
        assert value in text
    assert "\x1b[" not in text  # no colour when not on a terminal


def test_the_terminal_table_is_coloured() -> None:
    """On a terminal the table carries ANSI styles."""
    assert "\x1b[" in format_rows(COLUMNS, ROWS, "table", terminal=True)


@pytest.fixture
def exported(root: Path, write_daily: WriteCsv, run_cli: RunCli) -> Path:
    write_daily("20251028")
    assert 0 == run_cli("export", "--root", root).code
    return root


SQL = "SELECT query_hash, execution_time_ms FROM query_performance ORDER BY 1 LIMIT 2"


def test_query_defaults_to_csv_when_piped(exported: Path, run_cli: RunCli) -> None:
    """Without --format and with stdout not a terminal, query prints CSV as it always did."""
    assert "query_hash,execution_time_ms\nh0000,0.25\nh0001,1.75\n" == run_cli("query", SQL, "--root", exported).out


def test_query_defaults_to_a_table_on_a_terminal(
    exported: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With stdout a terminal, query draws a table."""
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    out = run_cli("query", SQL, "--root", exported).out
    assert "query_hash" in out
    assert "2 rows" in out
    assert "┃" in out


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("json", '[\n  {\n    "query_hash": "h0000",\n    "execution_time_ms": 0.25\n  },'),
        ("markdown", "| query_hash | execution_time_ms |\n|---|---:|\n| h0000 | 0.25 |\n| h0001 | 1.75 |\n"),
        ("csv", "query_hash,execution_time_ms\nh0000,0.25\n"),
    ],
)
def test_query_format_flag(exported: Path, run_cli: RunCli, fmt: str, expected: str) -> None:
    """--format json|markdown|csv prints that format."""
    assert run_cli("query", SQL, "--format", fmt, "--root", exported).out.startswith(expected)
