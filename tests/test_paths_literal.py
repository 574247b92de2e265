"""A root path is a path, never a pattern: `[prod]`, `*`, `?`, `{a,b}`, spaces and unicode in the root's
name change nothing for `export`, `query` and `validate` (polars and DuckDB both glob by default)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from daemon.specs import DATASETS, REJECTS_VIEW
from tests import gen
from tests.conftest import HEADER, RunCli, daily_rows

ODD_NAMES = ["ops [prod]", "a*b?c {x,y}", "ทดสอบ [1] ? *"]


@pytest.fixture(params=ODD_NAMES)
def odd_root(request: pytest.FixtureRequest, tmp_path: Path) -> gen.GeneratedRoot:
    """A few days of every input kind under a root whose folder name is full of glob characters."""
    generated = gen.build_root(
        tmp_path / request.param / "data",
        seed=5,
        first=dt.date(2025, 12, 30),
        last=dt.date(2026, 1, 1),
        weeks=((2026, 1),),
        rows_per_day=(5, 9),
    )
    # One daily file with a rejected row: the careful path (line scan, rejects file, rejects view) runs too.
    lines = daily_rows(dt.date(2025, 12, 29), 6)
    bad = lines[2].split(",")
    bad[3] = "fast?"
    lines[2] = ",".join(bad)
    (generated.root / gen.REPORTS / "query_perf_daily_20251229.csv").write_text("\n".join([HEADER, *lines]) + "\n")
    return generated


def test_export_writes_every_input_under_a_glob_like_root(odd_root: gen.GeneratedRoot, run_cli: RunCli) -> None:
    """Every input under a root named like a glob pattern is written, none fails, one row is rejected."""
    result = run_cli("export", "--historical", "--json", "--root", odd_root.root)
    report = json.loads(result.out)
    assert [] == report["failed"]
    assert 0 == result.code, result.err
    assert len(odd_root.outputs) + 1 == len(report["written"])
    assert 1 == sum(entry["rows_rejected"] for entry in report["written"])
    for expected in odd_root.outputs:
        assert (odd_root.root / expected.output).is_file(), expected.output


def test_query_and_validate_under_a_glob_like_root(odd_root: gen.GeneratedRoot, run_cli: RunCli) -> None:
    """`query` counts every written row (and the rejected one) and `validate` passes under such a root."""
    assert 0 == run_cli("export", "--historical", "--json", "--root", odd_root.root).code
    expected = {d: 0 for d in ("query_perf", "query_perf_weekly", "index_advisor", "optimization_summary")}
    for output in odd_root.outputs:
        expected[output.dataset] += len(output.rows)
    expected["query_perf"] += 5  # the added daily file: six rows, one rejected
    by_name = {spec.name: spec.view for spec in DATASETS}
    sql = " UNION ALL ".join(f"SELECT '{name}' AS d, count(*) AS n FROM {by_name[name]}" for name in expected)
    sql += f" UNION ALL SELECT 'rejects', count(*) FROM {REJECTS_VIEW}"
    result = run_cli("query", sql, "--format", "json", "--root", odd_root.root)
    assert 0 == result.code, result.err
    assert {**expected, "rejects": 1} == {row["d"]: row["n"] for row in json.loads(result.out)}
    validated = run_cli("validate", "--root", odd_root.root)
    assert 0 == validated.code, validated.out + validated.err
    # every output (the generated ones and the added daily file) and the added file's rejects file
    assert f"Checked {len(odd_root.outputs) + 2} files" in validated.out
