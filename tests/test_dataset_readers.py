"""Readers of the datasets: typed partition keys in the shipped views, and the README's polars recipe works."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl
import pytest

from daemon.analytics.views import run_query
from daemon.settings import resolve
from tests.conftest import ExportedRoot, RunCli, WriteCsv

PROJECT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("keys", [["20251028", "20251105"], ["20251028"]], ids=["with-month-11", "only-month-10"])
def test_year_and_month_are_integer_in_every_view(
    root: Path, write_daily: WriteCsv, run_cli: RunCli, keys: list[str]
) -> None:
    """With only months 10-12 and with 01-09 absent alike, the views type year and month INTEGER, also in the
    shipped config/views.sql run from the root."""
    for key in keys:
        write_daily(key)
    assert 0 == run_cli("export", "--historical", "--root", root).code
    settings = resolve({"root": root}, env={})
    types = run_query(settings, "SELECT DISTINCT typeof(year), typeof(month) FROM query_performance").rows
    assert [("INTEGER", "INTEGER")] == types
    for view in ("query_performance_weekly", "index_recommendations", "optimization_events", "rejects"):
        described = dict((r[0], r[1]) for r in run_query(settings, f"DESCRIBE {view}").rows)
        assert ("INTEGER", "INTEGER") == (described["year"], described["month"]), view
    con = duckdb.connect()
    con.execute(f"SET file_search_path = '{root}'")
    shipped = (PROJECT / "config" / "views.sql").read_text(encoding="utf-8").splitlines()
    (statement,) = [line for line in shipped if line.startswith("CREATE OR REPLACE VIEW query_performance AS")]
    con.execute(statement)  # the other views need files of their datasets, which this root has not
    assert 5 == con.execute("SELECT count(*) FROM query_performance WHERE month = 10").fetchone()[0]  # type: ignore[index]


def test_a_month_before_october_is_integer_too(root: Path, write_daily: WriteCsv, run_cli: RunCli) -> None:
    """`WHERE month = 1` finds January's rows (a VARCHAR month '01' would not equal 1)."""
    write_daily("20260105")
    write_daily("20251230")
    assert 0 == run_cli("export", "--historical", "--root", root).code
    rows = run_query(resolve({"root": root}, env={}), "SELECT count(*) FROM query_performance WHERE month = 1").rows
    assert [(5,)] == rows


def test_the_readmes_polars_recipe_decodes_metadata(
    exported_root: ExportedRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's polars block runs on an exported root: metadata comes back as String and decodes."""
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n *(import polars as pl\n.*?)\n *```", readme, re.S)
    assert block is not None
    code = "\n".join(line[2:] if line.startswith("  ") else line for line in block.group(1).splitlines())
    monkeypatch.chdir(exported_root.root)
    namespace: dict[str, object] = {}
    exec(code, namespace)  # the README's own example, run as documented
    events = namespace["events"]
    assert isinstance(events, pl.DataFrame)
    assert pl.String == events.schema["metadata"]
    tables = namespace["tables"]
    assert isinstance(tables, pl.DataFrame)
    assert tables.height > 0
