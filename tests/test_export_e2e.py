"""End-to-end tests through `daemon.cli.commands.main` on generated roots (tests/gen.py): every row and value,
the exact types and partitions, the CLI's contract, idempotency, `--dry-run`, and hostile inputs.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import os
import random
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from daemon import __version__
from daemon.analytics.views import VALIDATION_QUERY
from tests import gen
from tests.conftest import CliResult, ExportedRoot, RunCli, call_main

OUT = gen.OUTPUT_DIR
SKIPPED = "already exists, skipping"
QP_TYPES = [
    ("timestamp", "TIMESTAMP"),
    ("query_hash", "VARCHAR"),
    ("query_type", "VARCHAR"),
    ("execution_time_ms", "DOUBLE"),
    ("rows_examined", "BIGINT"),
    ("rows_returned", "BIGINT"),
    ("cache_hit", "BOOLEAN"),
    ("table_name", "VARCHAR"),
    ("index_used", "VARCHAR"),
    ("cpu_time_ms", "DOUBLE"),
    ("io_wait_ms", "DOUBLE"),
    ("date_partition", "DATE"),
]
TYPES = {
    "query_perf": QP_TYPES,
    "query_perf_weekly": QP_TYPES,
    "index_advisor": [
        ("timestamp", "TIMESTAMP"),
        ("table_name", "VARCHAR"),
        ("recommended_index", "VARCHAR"),
        ("query_pattern", "VARCHAR"),
        ("estimated_speedup", "DOUBLE"),
        ("estimated_cost", "DOUBLE"),
        ("priority", "VARCHAR"),
        ("status", "VARCHAR"),
        ("date_partition", "DATE"),
    ],
    "optimization_summary": [
        ("timestamp", "TIMESTAMP"),
        ("event_type", "VARCHAR"),
        ("metric_name", "VARCHAR"),
        ("metric_value", "DOUBLE"),
        ("metadata", "JSON"),
        ("date_partition", "DATE"),
    ],
}
ENTRY_KEYS = {
    "written": {"dataset", "source", "output", "rows_in", "rows_written", "rows_rejected"}
    | {"source_bytes", "parquet_bytes", "seconds"},
    "skipped": {"dataset", "source", "output", "reason"},
    "failed": {"dataset", "source", "output", "error"},
}


# ------------------------------------------------------------------------------------------ helpers
def sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def read_rows(path: Path, dataset: str) -> list[tuple[Any, ...]]:
    """Every row of one output as DuckDB returns it (summary metadata parsed from its JSON text)."""
    rows = duckdb.execute(f"SELECT * FROM read_parquet({sql_path(path)}, hive_partitioning = false)").fetchall()
    if dataset == "optimization_summary":
        rows = [(*r[:4], None if r[4] is None else json.loads(r[4]), r[5]) for r in rows]
    return rows


def describe(path: Path) -> list[tuple[str, str]]:
    described = duckdb.execute(
        f"DESCRIBE SELECT * FROM read_parquet({sql_path(path)}, hive_partitioning = false)"
    ).fetchall()
    return [(r[0], r[1]) for r in described]


def parquet_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in (root / OUT).rglob("*.parquet")}


def snapshot(folder: Path) -> dict[str, tuple[int, int, int] | None]:
    """Every file and folder under `folder`: files with (size, mtime_ns, inode), folders with None."""
    found: dict[str, tuple[int, int, int] | None] = {}
    for path in sorted(folder.rglob("*")):
        st = path.stat()
        found[str(path.relative_to(folder))] = None if path.is_dir() else (st.st_size, st.st_mtime_ns, st.st_ino)
    return found


def source_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file in the input folders (outputs excluded)."""
    hashes = {}
    for folder in (gen.REPORTS, gen.OPTIMIZE):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and not path.is_relative_to(root / OUT):
                hashes[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def sources(report: dict[str, Any], status: str) -> list[str]:
    return sorted(entry["source"] for entry in report[status])


def export(root: Path, *args: str) -> CliResult:
    return call_main("export", "--root", root, *args)


# ------------------------------------------------------------------- the month-long realistic root
def test_historical_export_writes_every_input(exported_root: ExportedRoot) -> None:
    """`export --historical` on the generated month writes one output per input and fails none."""
    report = exported_root.result.json()
    assert 0 == exported_root.result.code
    assert "" == exported_root.result.err
    assert [] == report["failed"]
    assert [] == report["skipped"]
    assert sorted(e.source for e in exported_root.generated.outputs) == sources(report, "written")
    assert {e.source: e.output for e in exported_root.generated.outputs} == {
        w["source"]: w["output"] for w in report["written"]
    }


def test_every_row_and_value_arrives(exported_root: ExportedRoot) -> None:
    """Every output holds exactly the generated rows, value for value, sorted by timestamp."""
    for expected in exported_root.generated.outputs:
        actual = read_rows(exported_root.root / expected.output, expected.dataset)
        assert expected.rows == actual, expected.source


def test_types_are_exactly_the_schema(exported_root: ExportedRoot) -> None:
    """DESCRIBE shows the schema's exact names, order and types for every output."""
    for expected in exported_root.generated.outputs:
        assert TYPES[expected.dataset] == describe(exported_root.root / expected.output), expected.output


def test_outputs_sit_in_their_partitions(exported_root: ExportedRoot) -> None:
    """Each output is `<dataset>/year=YYYY/month=MM/<dataset>_<key>.parquet`; weeks file under their Thursday."""
    root = exported_root.root
    assert {e.output for e in exported_root.generated.outputs} == parquet_files(root)
    for expected in [
        "query_perf/year=2025/month=12/query_perf_20251231.parquet",
        "query_perf/year=2026/month=01/query_perf_20260101.parquet",
        "query_perf_weekly/year=2025/month=12/query_perf_weekly_202552.parquet",
        "query_perf_weekly/year=2026/month=01/query_perf_weekly_202601.parquet",  # Mon 2025-12-29, Thu 2026-01-01
        "index_advisor/year=2026/month=01/index_advisor_20260115.parquet",  # 2026-01-14T18:30Z in Bangkok
        "optimization_summary/year=2025/month=12/optimization_summary_20251231.parquet",
    ]:
        assert (root / OUT / expected).is_file(), expected


def test_date_partition_is_the_bangkok_day(exported_root: ExportedRoot, run_cli: RunCli) -> None:
    """date_partition is the UTC timestamp's calendar date in Asia/Bangkok, checked by DuckDB itself."""
    sql = (
        "SELECT count(*) FILTER (WHERE date_partition <> "
        "CAST(timezone('Asia/Bangkok', timezone('UTC', timestamp)) AS DATE)) AS wrong, "
        "count(*) FILTER (WHERE date_partition <> CAST(timestamp AS DATE)) AS shifted, count(*) AS total "
        "FROM (SELECT * FROM query_performance UNION ALL SELECT * FROM query_performance_weekly)"
    )
    result = run_cli("query", sql, "--format", "json", "--root", exported_root.root)
    assert 0 == result.code
    [counts] = result.json()
    assert 0 == counts["wrong"]
    assert 0 < counts["shifted"] < counts["total"]  # the generated rows do cross Bangkok midnight


def test_validation_query_runs_through_query(exported_root: ExportedRoot, run_cli: RunCli) -> None:
    """The work order's validation query runs via `query` and matches the generated rows (newest 30 days)."""
    result = run_cli("query", VALIDATION_QUERY, "--format", "csv", "--root", exported_root.root)
    assert 0 == result.code, result.err
    rows = list(csv.reader(io.StringIO(result.out)))
    assert ["date_partition", "query_count", "avg_execution_ms", "max_execution_ms"] == rows[0]
    by_day: dict[dt.date, list[float]] = {}
    for expected in exported_root.generated.outputs:
        if expected.dataset == "query_perf":
            for row in expected.rows:
                by_day.setdefault(row[11], []).append(row[3])
    days = sorted(by_day, reverse=True)[:30]
    assert 32 == len(by_day)  # 2025-12-15 .. 2026-01-15 in Bangkok: LIMIT 30 really cuts
    assert [str(d) for d in days] == [r[0] for r in rows[1:]]
    for day, (_, count, avg, high) in zip(days, rows[1:], strict=True):
        values = by_day[day]
        assert len(values) == int(count)
        assert max(values) == float(high)
        assert math.isclose(math.fsum(values) / len(values), float(avg), rel_tol=1e-12)


def test_validate_passes(exported_root: ExportedRoot, run_cli: RunCli) -> None:
    """`validate` reads every output, finds the schema and row counts right, and exits 0."""
    result = run_cli("validate", "--root", exported_root.root)
    assert 0 == result.code, result.out
    assert f"Checked {len(exported_root.generated.outputs)} files" in result.out
    assert "✓ valid" in result.out


def test_json_report_shape(exported_root: ExportedRoot) -> None:
    """`--json` prints one object with dry_run/written/skipped/failed and the required keys per entry."""
    report = exported_root.result.json()
    assert {"dry_run", "written", "skipped", "failed"} == set(report)
    assert report["dry_run"] is False
    for entry in report["written"]:
        assert ENTRY_KEYS["written"] <= set(entry)
        for key in ("rows_in", "rows_written", "rows_rejected", "source_bytes", "parquet_bytes"):
            assert isinstance(entry[key], int), key
        assert isinstance(entry["seconds"], float)
        assert entry["dataset"] in TYPES


def test_row_counts_add_up(exported_root: ExportedRoot) -> None:
    """For every written file rows_in == rows_written + rows_rejected, and rows_in is the generated count."""
    expected = exported_root.generated.by_source()
    for entry in exported_root.result.json()["written"]:
        assert entry["rows_in"] == entry["rows_written"] + entry["rows_rejected"]
        assert len(expected[entry["source"]].rows) == entry["rows_in"] == entry["rows_written"]


def test_outputs_carry_provenance_metadata(exported_root: ExportedRoot) -> None:
    """Each output's footer has parquet_exporter.* version, schema_version, source, its sha256 and row counts."""
    root = exported_root.root
    for expected in exported_root.generated.outputs:
        meta = pl.read_parquet_metadata(root / expected.output)
        ours = {k.removeprefix("parquet_exporter."): v for k, v in meta.items() if k.startswith("parquet_exporter.")}
        source = root / expected.source
        assert __version__ == ours["version"]
        assert "1" == ours["schema_version"]
        assert expected.dataset == ours["dataset"]
        assert expected.source == ours["source"]
        assert hashlib.sha256(source.read_bytes()).hexdigest() == ours["source_sha256"]
        assert str(source.stat().st_size) == ours["source_bytes"]
        assert (str(len(expected.rows)),) * 2 + ("0",) == (ours["rows_in"], ours["rows_written"], ours["rows_rejected"])
        assert ours["exported_at"].endswith("Z")


def test_log_has_events_and_schema_drift(exported_root: ExportedRoot) -> None:
    """The JSON-lines log has one export.written per output and a schema.drift naming the extra column."""
    lines = (exported_root.root / "g/logs/parquet_export.log").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert all({"timestamp", "level", "event"} <= set(e) for e in events)
    written = [e for e in events if e["event"] == "export.written"]
    assert len(exported_root.generated.outputs) == len(written)
    drift = [e for e in events if e["event"] == "schema.drift"]
    assert drift
    assert all(e["extra_columns"] in (["host"], ["notes"]) for e in drift)


# --------------------------------------------------------------------------------- selection flags
@pytest.mark.parametrize(
    ("date", "expected"),
    [
        (
            "2025-12-31",
            [
                "g/reports/query_perf_daily_20251231.csv",
                "g/reports/query_perf_weekly_202601.csv",
                "knowledge/optimize/index_advisor_report_20251231.json",
                "knowledge/optimize/optimization_summary_20251231.txt",
            ],
        ),
        # 2025-12-29 is a Monday of ISO week 2026-W01, not of 2025-W52.
        ("2025-12-29", ["g/reports/query_perf_daily_20251229.csv", "g/reports/query_perf_weekly_202601.csv"]),
        # The undated reports are dated by their content: 2026-01-14T18:30Z/21:05Z are 2026-01-15 in Bangkok.
        (
            "2026-01-15",
            ["knowledge/optimize/index_advisor_report.json", "knowledge/optimize/optimization_summary.txt"],
        ),
    ],
)
def test_date_exports_that_days_inputs(small_root: gen.GeneratedRoot, date: str, expected: list[str]) -> None:
    """`--date YYYY-MM-DD` exports exactly the inputs for that date (the weekly file whose ISO week holds it)."""
    result = export(small_root.root, "--date", date, "--json")
    assert 0 == result.code, result.err
    report = result.json()
    assert sorted(expected) == sources(report, "written")
    assert [] == report["failed"]
    assert sorted(small_root.by_source()[s].output for s in expected) == sorted(parquet_files(small_root.root))
    for source in expected:
        want = small_root.by_source()[source]
        assert want.rows == read_rows(small_root.root / want.output, want.dataset)


def test_dataset_limits_the_export(small_root: gen.GeneratedRoot) -> None:
    """`--dataset` (repeatable) exports only the named datasets."""
    result = export(small_root.root, "--historical", "--dataset", "query_perf_weekly", "--json")
    assert 0 == result.code
    assert ["g/reports/query_perf_weekly_202552.csv", "g/reports/query_perf_weekly_202601.csv"] == sources(
        result.json(), "written"
    )
    result = export(small_root.root, "--historical", "--dataset", "index_advisor", "--dataset", "query_perf", "--json")
    written = result.json()["written"]
    assert {"index_advisor", "query_perf"} == {w["dataset"] for w in written}
    assert sum(e.dataset in ("index_advisor", "query_perf") for e in small_root.outputs) == len(written)


def test_default_exports_the_newest_input_of_each_kind(small_root: gen.GeneratedRoot) -> None:
    """With no selection flag, export converts the newest input of each kind only."""
    result = export(small_root.root, "--json")
    assert 0 == result.code
    assert [
        "g/reports/query_perf_daily_20260102.csv",
        "g/reports/query_perf_weekly_202601.csv",
        "knowledge/optimize/index_advisor_report.json",  # keyed 20260115, newer than any dated copy
        "knowledge/optimize/optimization_summary.txt",
    ] == sources(result.json(), "written")


@pytest.mark.parametrize(
    "args",
    [
        ["--date", "x"],
        ["--date", "2025-12-31", "--historical"],
        ["--date", "2025-02-30"],
        ["--dataset", "no_such_dataset"],
        ["--no-such-flag"],
    ],
)
def test_usage_errors_exit_2(small_root: gen.GeneratedRoot, args: list[str]) -> None:
    """Bad flags and flag combinations exit 2 with a message on stderr, no traceback, and write nothing."""
    before = snapshot(small_root.root)
    result = export(small_root.root, *args)
    assert 2 == result.code
    assert result.err.strip()
    assert "Traceback" not in result.err + result.out
    assert before == snapshot(small_root.root)


# ---------------------------------------------------------------------------------------- dry run
def test_dry_run_writes_no_file(small_root: gen.GeneratedRoot) -> None:
    """`--dry-run` writes no file at all (not even logs or state), before and after a real export, and says so."""
    root = small_root.root
    before = snapshot(root)
    result = export(root, "--historical", "--dry-run")
    assert 0 == result.code
    assert "DRY RUN" in result.out
    assert before == snapshot(root)
    report = export(root, "--historical", "--dry-run", "--json").json()
    assert report["dry_run"] is True
    assert sorted(e.source for e in small_root.outputs) == sources(report, "written")
    assert before == snapshot(root)

    assert 0 == export(root, "--historical").code
    after_export = snapshot(root)
    result = export(root, "--historical", "--dry-run", "--force")
    assert "DRY RUN" in result.out
    assert after_export == snapshot(root)  # a dry run next to an existing state file leaves no -wal/-shm behind


# ------------------------------------------------------------------------------------- idempotency
def test_rerun_writes_nothing(small_root: gen.GeneratedRoot) -> None:
    """A second run skips every input ("already exists, skipping") and leaves every output untouched."""
    root = small_root.root
    assert 0 == export(root, "--historical").code
    outputs = snapshot(root / OUT)
    result = export(root, "--historical")
    assert 0 == result.code
    for expected in small_root.outputs:
        assert f"{Path(expected.output).name} {SKIPPED}" in result.out
    assert f"(0 new files, {len(small_root.outputs)} skipped, 0 failed)" in result.out
    report = export(root, "--historical", "--json").json()
    assert [] == report["written"]
    assert {SKIPPED} == {s["reason"] for s in report["skipped"]}
    assert all(ENTRY_KEYS["skipped"] == set(s) for s in report["skipped"])
    assert outputs == snapshot(root / OUT)


def test_touched_source_is_still_skipped(small_root: gen.GeneratedRoot) -> None:
    """A source whose mtime changed but whose content did not is skipped, not rewritten."""
    root = small_root.root
    assert 0 == export(root, "--historical").code
    outputs = snapshot(root / OUT)
    for expected in small_root.outputs:
        st = (root / expected.source).stat()
        os.utime(root / expected.source, ns=(st.st_atime_ns, st.st_mtime_ns + 3_600 * 10**9))
    report = export(root, "--historical", "--json").json()
    assert [] == report["written"]
    assert len(small_root.outputs) == len(report["skipped"])
    assert outputs == snapshot(root / OUT)


def test_changed_source_is_rewritten_atomically(small_root: gen.GeneratedRoot) -> None:
    """Changed content re-exports that one output by rename (new inode, no temporaries); the rest are skipped."""
    root = small_root.root
    assert 0 == export(root, "--historical").code
    outputs = snapshot(root / OUT)
    target = small_root.by_source()["g/reports/query_perf_daily_20251231.csv"]
    data, rows = gen.perf_file(
        random.Random(99),
        gen.day_start(dt.date(2025, 12, 31)),
        dt.timedelta(days=1),
        17,
        gen.Dialect(newline="\r\n"),
        ["c0ffee", "beef"],
    )
    (root / target.source).write_bytes(data)
    report = export(root, "--historical", "--json").json()
    assert [target.source] == sources(report, "written")
    assert len(small_root.outputs) - 1 == len(report["skipped"])
    assert rows == read_rows(root / target.output, target.dataset)
    after = snapshot(root / OUT)
    name = target.output.removeprefix(OUT + "/")
    old, new = outputs.pop(name), after.pop(name)
    assert outputs == after  # every other output untouched
    assert old is not None
    assert new is not None
    assert old[2] != new[2]  # replaced by rename, not rewritten in place
    assert [] == [n for n, stat in after.items() if stat is not None and not n.endswith(".parquet")]  # no temporaries


def test_deleted_state_still_skips(small_root: gen.GeneratedRoot) -> None:
    """With the state folder deleted, a rerun still skips every output (it reads their footers), and validate passes."""
    root = small_root.root
    assert 0 == export(root, "--historical").code
    outputs = snapshot(root / OUT)
    shutil.rmtree(root / "g/state/parquet_export")
    report = export(root, "--historical", "--json").json()
    assert [] == report["written"]
    assert {SKIPPED} == {s["reason"] for s in report["skipped"]}
    assert outputs == snapshot(root / OUT)
    shutil.rmtree(root / "g/state/parquet_export")
    assert 0 == call_main("validate", "--root", root).code


def test_force_rewrites_every_output(small_root: gen.GeneratedRoot) -> None:
    """`--force` rewrites every output even when it is current, with the same rows."""
    root = small_root.root
    assert 0 == export(root, "--historical").code
    outputs = snapshot(root / OUT)
    report = export(root, "--historical", "--force", "--json").json()
    assert sorted(e.source for e in small_root.outputs) == sources(report, "written")
    after = snapshot(root / OUT)
    assert outputs.keys() == after.keys()
    assert all(outputs[k] != after[k] for k in outputs if outputs[k] is not None)
    for expected in small_root.outputs:
        assert expected.rows == read_rows(root / expected.output, expected.dataset)


# ---------------------------------------------------------------------------------- hostile files
@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[gen.HostileRoot, CliResult, dict[str, str]]:
    """The hostile root exported once: (what was generated, what `export --json` printed, source hashes before)."""
    built = gen.build_hostile(tmp_path_factory.mktemp("hostile"))
    hashes = source_hashes(built.generated.root)
    result = call_main("export", "--historical", "--json", "--root", built.generated.root)
    return built, result, hashes


def test_hostile_inputs_fail_and_the_rest_convert(hostile: tuple[gen.HostileRoot, CliResult, dict[str, str]]) -> None:
    """Each hostile file fails with a clear one-line error (exit 1); every good file still converts."""
    built, result, _ = hostile
    report = result.json()
    assert 1 == result.code
    assert "Traceback" not in result.out + result.err
    assert sorted(built.failures) == sources(report, "failed")
    assert sorted(e.source for e in built.generated.outputs) == sources(report, "written")
    assert [] == report["skipped"]
    for entry in report["failed"]:
        assert ENTRY_KEYS["failed"] == set(entry)
        assert built.failures[entry["source"]] in entry["error"]
        assert "\n" not in entry["error"]
        assert entry["output"] is None
    for expected in built.generated.outputs:
        assert expected.rows == read_rows(built.generated.root / expected.output, expected.dataset)


def test_hostile_failures_write_no_output(hostile: tuple[gen.HostileRoot, CliResult, dict[str, str]]) -> None:
    """Failed inputs leave no output, no rejects file and no partition (no month=13) behind."""
    built, _, _ = hostile
    root = built.generated.root
    written = {e.output for e in built.generated.outputs} | {path for path, _ in built.rejects.values()}
    assert written == parquet_files(root)
    assert [] == [p for p in (root / OUT).rglob("*") if "month=13" in str(p) or "20251301" in p.name]


def test_few_bad_rows_go_to_rejects(hostile: tuple[gen.HostileRoot, CliResult, dict[str, str]]) -> None:
    """A file with a few bad rows writes its good rows and a rejects Parquet with source, 1-based line, raw, reason."""
    built, result, _ = hostile
    root = built.generated.root
    [(source, (rejects_path, rejects))] = built.rejects.items()
    entry = next(w for w in result.json()["written"] if w["source"] == source)
    assert rejects_path == entry["rejects"]
    assert (len(built.generated.by_source()[source].rows), len(rejects)) == (
        entry["rows_written"],
        entry["rows_rejected"],
    )
    rows = duckdb.execute(
        f"SELECT dataset, source, line, raw, reason, rejected_at FROM read_parquet({sql_path(root / rejects_path)})"
        " ORDER BY line"
    ).fetchall()
    assert [("query_perf", source, r.line, r.raw) for r in rejects] == [row[:4] for row in rows]
    for reject, row in zip(rejects, rows, strict=True):
        assert reject.reason in row[4]
        assert isinstance(row[5], dt.datetime)
    view = call_main("query", "SELECT count(*) AS n FROM rejects", "--format", "json", "--root", root)
    assert [{"n": len(rejects)}] == view.json()


def test_rows_in_is_written_plus_rejected(hostile: tuple[gen.HostileRoot, CliResult, dict[str, str]]) -> None:
    """For every written file of the hostile root rows_in == rows_written + rows_rejected."""
    _, result, _ = hostile
    for entry in result.json()["written"]:
        assert entry["rows_in"] == entry["rows_written"] + entry["rows_rejected"]


def test_sources_are_never_modified(hostile: tuple[gen.HostileRoot, CliResult, dict[str, str]]) -> None:
    """Every source file (good, hostile or junk) is still present and byte-identical after the export."""
    built, _, before = hostile
    assert before == source_hashes(built.generated.root)


def test_junk_files_are_ignored_silently(hostile: tuple[gen.HostileRoot, CliResult, dict[str, str]]) -> None:
    """Temporary, editor-lock and backup files are neither inputs nor mentioned in output or log."""
    built, result, _ = hostile
    log = (built.generated.root / "g/logs/parquet_export.log").read_text(encoding="utf-8")
    mentioned = Counter(e["source"] for status in ("written", "skipped", "failed") for e in result.json()[status])
    for junk in built.ignored:
        name = Path(junk).name
        assert 0 == mentioned[junk]
        assert name not in result.out + result.err + log


# ------------------------------------------------------------------------------------- compression
def test_compression_of_a_5000_row_daily_csv(root: Path, run_cli: RunCli, capsys: pytest.CaptureFixture[str]) -> None:
    """A realistic 5,000-row daily CSV shrinks by at least 70% (the work order's target); the ratio is printed."""
    (root / "g/reports/query_perf_daily_20251028.csv").write_bytes(
        gen.big_daily(random.Random(5000), dt.date(2025, 10, 28), 5_000)
    )
    result = run_cli("export", "--root", root, "--json")
    [entry] = result.json()["written"]
    assert 5_000 == entry["rows_written"]
    reduction = 100 * (1 - entry["parquet_bytes"] / entry["source_bytes"])
    with capsys.disabled():
        print(
            f"\ncompression: {entry['source_bytes']:,} B CSV -> {entry['parquet_bytes']:,} B Parquet"
            f" ({reduction:.1f}% reduction, 5,000 rows, zstd, level auto)"
        )
    assert reduction >= 70.0
