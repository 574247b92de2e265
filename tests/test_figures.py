"""The figures people read: byte-weighted compression, Parquet-only storage, units in `status --json`'s keys."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from daemon.analytics.figures import reduction_pct, size_change
from tests import gen
from tests.conftest import RunCli

OUT = Path("knowledge/optimize/parquet")


@pytest.mark.parametrize(
    ("source", "parquet", "expected"),
    [
        (1000, 207, "79.3% smaller"),
        (1000, 5458, "+445.8% larger"),
        (1000, 1000, "same size"),
        (0, 10, "-"),
    ],
)
def test_size_change_says_growth_as_growth(source: int, parquet: int, expected: str) -> None:
    """A smaller output is "N% smaller", a larger one "+N% larger", never a negative reduction."""
    assert expected == size_change(source, parquet)


def _floats(value: object) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in _floats(v)]
    if isinstance(value, list):
        return [f for v in value for f in _floats(v)]
    return []


def test_status_json_totals_equal_independent_sums(small_root: gen.GeneratedRoot, run_cli: RunCli) -> None:
    """totals.source_bytes is the inputs' sizes, parquet_bytes and storage_bytes the outputs' sizes on disk (no
    report, no temporary), reduction_pct their byte-weighted ratio; no float carries noise digits."""
    root = small_root.root
    assert 0 == run_cli("export", "--historical", "--root", root).code
    assert 0 == run_cli("report", "--root", root).code
    (root / OUT / "query_perf" / ".query_perf_x.parquet.tmp-1").write_bytes(b"x" * 5000)
    (root / OUT / "report.html").write_bytes(b"x" * 7000)  # an old report inside the datasets' folder
    doc = json.loads(run_cli("status", "--json", "--root", root).out)
    outputs = [p for p in (root / OUT).rglob("*.parquet") if not p.name.startswith(".")]
    parquet = sum(p.stat().st_size for p in outputs)
    sources = [p for p in (root / "g/reports").iterdir()] + [
        p for p in (root / "knowledge/optimize").iterdir() if p.is_file()
    ]
    source = sum(p.stat().st_size for p in sources)
    totals = doc["totals"]
    assert (len(outputs), source, parquet, parquet) == (
        totals["files"],
        totals["source_bytes"],
        totals["parquet_bytes"],
        totals["storage_bytes"],
    )
    assert round(100 * (1 - parquet / source), 1) == totals["reduction_pct"]
    assert {"heartbeat_age_seconds", "success_7d_pct"} <= set(doc)
    assert not {"mean_reduction", "success_rate_7d", "files", "storage_bytes"} & set(doc)
    assert all("duration_seconds" in r and "duration_ms" not in r for r in doc["recent"])
    for f in _floats(doc):
        assert math.isclose(f, round(f, 3)), f
        assert len(repr(f)) < 12, f


def test_the_report_is_written_outside_the_datasets(small_root: gen.GeneratedRoot, run_cli: RunCli) -> None:
    """`report` without --out writes knowledge/optimize/reports/report.html, outside every dataset folder."""
    root = small_root.root
    result = run_cli("report", "--root", root)
    assert 0 == result.code
    assert (root / "knowledge/optimize/reports/report.html").is_file()
    assert not (root / OUT).exists() or not list((root / OUT).rglob("*.html"))


def test_export_lines_plural_growth_rewrites_and_stderr(small_root: gen.GeneratedRoot, run_cli: RunCli) -> None:
    """One new file is "1 new file"; a grown output reads "larger"; --force counts rewrites; failures go to
    stderr; -q prints only failures."""
    root = small_root.root
    first = run_cli("export", "--root", root, "--dataset", "index_advisor", "--date", "2026-01-01")
    assert "(1 new file, 0 skipped, 0 failed)" in first.out
    assert "% larger)" in first.out
    assert "reduction" not in first.out
    forced = run_cli("export", "--root", root, "--dataset", "index_advisor", "--date", "2026-01-01", "--force")
    assert "(0 new files, 1 rewritten, 0 skipped, 0 failed)" in forced.out
    (root / "g/reports/query_perf_daily_20260103.csv").write_text("no,header\n1,2\n")
    failed = run_cli("export", "--root", root, "--date", "2026-01-03")
    assert 1 == failed.code
    assert failed.err.startswith("✗ query_perf_daily_20260103.csv: ")
    assert "✗ query_perf_daily_20260103.csv" not in failed.out
    quiet = run_cli("export", "--root", root, "--historical", "-q")
    assert (1, "") == (quiet.code, quiet.out)
    assert "query_perf_daily_20260103.csv" in quiet.err


def test_run_once_fails_while_an_input_still_fails(small_root: gen.GeneratedRoot, run_cli: RunCli) -> None:
    """`run --once` exits 1 as long as an input fails, even when it is not retried; 0 once it is deleted."""
    root = small_root.root
    bad = root / "g/reports/query_perf_daily_20260103.csv"
    bad.write_text("no,header\n1,2\n")
    assert 1 == run_cli("run", "--once", "--root", root).code
    again = run_cli("run", "--once", "--root", root)
    assert 1 == again.code
    assert "query_perf_daily_20260103.csv still failing" in again.err
    os.remove(bad)
    assert 0 == run_cli("run", "--once", "--root", root).code


def test_reduction_pct_rounds() -> None:
    """The byte-weighted figure is rounded to 0.1 and None without source bytes."""
    assert (79.3, None) == (reduction_pct(1000, 207), reduction_pct(0, 1))
