"""`validate` checks every file: each damaged or missing output is one problem naming it, and exit 1."""

from __future__ import annotations

from pathlib import Path

from tests import gen
from tests.conftest import RunCli

OUT = Path("knowledge/optimize/parquet")


def test_every_damaged_file_is_listed_and_the_rest_still_checked(
    small_root: gen.GeneratedRoot, run_cli: RunCli
) -> None:
    """Two truncated outputs, one garbage file and one deleted output are four problems, each naming its file,
    exit 1, no internal error; the other files are still counted."""
    root = small_root.root
    assert 0 == run_cli("export", "--historical", "--root", root).code
    outputs = sorted((root / OUT).rglob("*.parquet"))
    first, second, deleted = outputs[0], outputs[-1], outputs[len(outputs) // 2]
    for path in (first, second):
        with path.open("r+b") as fh:
            fh.truncate(1000)
    deleted.unlink()
    garbage = root / OUT / "query_perf" / "year=2026" / "month=01" / "query_perf_20260103.parquet"
    garbage.write_bytes(b"not parquet at all")
    result = run_cli("validate", "--root", root)
    assert 1 == result.code
    assert "internal error" not in result.out + result.err
    problems = [line for line in result.out.splitlines() if line.startswith("✗ knowledge/")]
    assert 4 == len(problems)
    for path in (first, second, garbage):
        rel = str(path.relative_to(root))
        assert any(line.startswith(f"✗ {rel}: DuckDB cannot read it") for line in problems), rel
    assert f"✗ {deleted.relative_to(root)}: recorded in the state but missing" in problems
    assert f"Checked {len(outputs)} files" in result.out
    assert "✗ 4 problem(s)" in result.out


def test_a_clean_export_is_valid(small_root: gen.GeneratedRoot, run_cli: RunCli) -> None:
    """Right after an export, validate finds no problem and exits 0."""
    root = small_root.root
    assert 0 == run_cli("export", "--historical", "--root", root).code
    result = run_cli("validate", "--root", root)
    assert (0, "") == (result.code, result.err)
    assert "✓ valid" in result.out
