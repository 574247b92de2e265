"""scripts/bench: its data generator, its arithmetic, and a quick run that reports every figure."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from scripts import bench

PROJECT = Path(__file__).resolve().parents[1]
DAY = dt.date(2025, 10, 28)


def test_generated_csv_is_deterministic() -> None:
    """The same seed gives the same bytes; another seed gives other bytes."""
    first = bench.daily_csv(500, DAY, 7)
    assert first == bench.daily_csv(500, DAY, 7)
    assert first != bench.daily_csv(500, DAY, 8)


def test_generated_csv_does_not_depend_on_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    """A row's values depend on the seed and its row number only, so writing in chunks changes nothing."""
    whole = bench.daily_csv(1_000, DAY, 7)
    monkeypatch.setattr(bench, "CHUNK_ROWS", 333)
    assert whole == bench.daily_csv(1_000, DAY, 7)


def test_generated_csv_is_a_daily_report() -> None:
    """The work order's header, the asked number of rows, timestamps of that UTC day in order, NULLs present."""
    frame = pl.read_csv(io.BytesIO(bench.daily_csv(2_000, DAY, 7)), infer_schema=False)
    assert list(bench.COLUMNS) == frame.columns
    assert 2_000 == frame.height
    stamps = frame["timestamp"].str.to_datetime("%Y-%m-%dT%H:%M:%SZ")
    assert stamps.is_sorted()
    assert {DAY} == set(stamps.dt.date().to_list())
    assert frame["cpu_time_ms"].null_count() > 0
    assert frame["index_used"].null_count() > 0
    assert set(frame["cache_hit"]) == {"true", "false"}


@pytest.mark.parametrize(
    ("expected", "values", "p"),
    [
        (1.0, [1.0], 95),
        (3.0, [5.0, 1.0, 3.0, 2.0, 4.0], 50),
        (5.0, [5.0, 1.0, 3.0, 2.0, 4.0], 95),
        (48.0, [float(n) for n in range(1, 51)], 95),
        (1.0, [float(n) for n in range(1, 51)], 0),
    ],
)
def test_percentile_is_nearest_rank(expected: float, values: list[float], p: float) -> None:
    """percentile() is the nearest-rank percentile."""
    assert expected == bench.percentile(values, p)


def test_readme_documents_every_option() -> None:
    """Every option of scripts/bench appears in the README's Benchmarks section."""
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Benchmarks", 1)[1].split("\n## ", 1)[0]
    options = {opt for action in bench.parser()._actions for opt in action.option_strings if opt.startswith("--")}
    missing = sorted(opt for opt in options - {"--help"} if not re.search(re.escape(opt) + r"\b", section))
    assert [] == missing


@pytest.mark.slow
def test_quick_run_reports_every_figure(tmp_path: Path) -> None:
    """`--quick` runs every section, writes every figure to the JSON, and leaves no process or data behind."""
    out = tmp_path / "results.json"
    work = tmp_path / "work"
    done = subprocess.run(
        [
            sys.executable,
            str(PROJECT / "scripts" / "bench.py"),
            "--quick",
            "--json-out",
            str(out),
            "--workdir",
            str(work),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    report = json.loads(out.read_text())
    assert [] == report["problems"]
    results = report["results"]
    (convert,) = results["convert"]
    assert set(bench.TOOLS) == set(convert["tools"])
    for tool, figures in convert["tools"].items():
        for key in ("wall_s", "rows_per_s", "peak_rss_mib", "output_bytes", "reduction_pct"):
            assert figures[key] > 0, (tool, key)
        assert convert["rows"] == figures["rows_out"]
        assert {"wall_vs_duckdb", "bytes_vs_duckdb"} <= set(figures)
    assert {"p50_s", "p95_s", "max_s"} <= set(results["freshness"])
    assert 3 == len(results["freshness"]["latencies_s"])
    assert {"cpu_percent", "rss_mib_max"} <= set(results["idle"])
    assert [10, 20] == [s["inputs"] for s in results["sweep"]]
    for s in results["sweep"]:  # the sweep is timed inside the process it ran in, once per repeat
        assert 0 <= s["sweep_s"] <= s["wall_s"], s
        assert s["sweeps_s"], s
    assert [3, 5] == [q["files"] for q in results["query"]]
    assert all(q["median_ms"] > 0 and q["days_returned"] > 0 for q in results["query"])
    assert results["historical"]["wall_s"] > 0
    assert {g["goal"][:2] for g in report["goals"]} == {f"{n}." for n in range(1, 9)}
    assert [] == list(work.iterdir())  # the temporary data is gone
    with pytest.raises(ProcessLookupError):  # and so is the daemon
        os.kill(results["idle"]["pid"], 0)
    assert "| parquet-exporter |" in done.stdout


def test_the_ablation_variants_write_the_same_output(tmp_path: Path) -> None:
    """scripts/ablation.py: after `prepare`, each variant exports the day (exit 0, every row written), and the
    variants that supply the digest write the same source hash into the footer as the export that reads it."""
    root = bench.new_root(tmp_path / "root")
    source = root / bench.REPORTS / bench.daily_name(DAY)
    source.write_bytes(bench.daily_csv(20_000, DAY, 7))
    script = [sys.executable, str(PROJECT / "scripts" / "ablation.py")]
    subprocess.run([*script, "prepare", str(root)], check=True, capture_output=True, timeout=120)
    hashes = {}
    for variant in ("full", "no-digest", "no-quality", "no-digest-no-quality"):
        done = subprocess.run(
            [*script, variant, "export", "--root", str(root), "--date", DAY.isoformat(), "--force", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert (0, "") == (done.returncode, done.stderr), variant
        (written,) = json.loads(done.stdout)["written"]
        assert 20_000 == written["rows_written"], variant
        hashes[variant] = pl.read_parquet_metadata(root / written["output"])["parquet_exporter.source_sha256"]
    assert len(set(hashes.values())) == 1, hashes
