"""`parquet-exporter demo ROOT`: a new root of realistic reports that every command runs on."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from tests.conftest import RunCli

PACKAGE = Path(__file__).resolve().parents[1] / "daemon"


def test_a_demo_root_exports_cleanly(tmp_path: Path, run_cli: RunCli) -> None:
    """Ten days of every kind export with nothing failed, one rejected row, no quality problem but that row,
    and validate finds the outputs valid."""
    root = tmp_path / "demo"
    made = run_cli("demo", root, "--days", "10", "--end", "2025-10-31")
    assert (0, "") == (made.code, made.err)
    assert made.out.startswith("✓ Wrote ")
    names = sorted(p.name for p in (root / "g/reports").iterdir())
    assert "query_perf_daily_20251022.csv" == names[0]
    assert ["query_perf_weekly_202543.csv"] == [n for n in names if "weekly" in n]  # the one complete ISO week
    exported = run_cli("export", "--historical", "--json", "--root", root)
    assert 0 == exported.code, exported.err
    report = json.loads(exported.out)
    datasets = {w["dataset"] for w in report["written"]}
    assert {"query_perf", "query_perf_weekly", "index_advisor", "optimization_summary"} == datasets
    assert ([], []) == (report["failed"], report["skipped"])
    assert 1 == sum(w["rows_rejected"] for w in report["written"])
    assert 0 == sum(w["quality"]["outside_day"] for w in report["written"] if "quality" in w)
    assert "✓ valid" in run_cli("validate", "--root", root).out


def test_the_same_seed_writes_the_same_files(tmp_path: Path, run_cli: RunCli) -> None:
    """Two demos with one seed and end date are byte for byte equal."""
    for name in ("a", "b"):
        assert 0 == run_cli("demo", tmp_path / name, "--days", "3", "--end", "2025-10-31").code
    files = {
        name: {p.relative_to(tmp_path / name): p.read_bytes() for p in (tmp_path / name).rglob("*") if p.is_file()}
        for name in ("a", "b")
    }
    assert files["a"] == files["b"]


def test_demo_writes_only_into_a_new_root(tmp_path: Path, run_cli: RunCli) -> None:
    """A non-empty ROOT is refused with one line and exit 2, and left as it was."""
    (tmp_path / "notes.txt").write_text("keep")
    result = run_cli("demo", tmp_path)
    assert 2 == result.code
    assert 1 == len(result.err.strip().splitlines())
    assert ["notes.txt"] == [p.name for p in tmp_path.iterdir()]


def test_the_package_never_imports_the_tests() -> None:
    """tests/ is no runtime dependency: no module of the package imports from it."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            elif isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            else:
                continue
            offenders += [f"{path}: {m}" for m in modules if m.split(".")[0] == "tests"]
    assert [] == offenders
