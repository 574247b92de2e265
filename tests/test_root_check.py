"""Every command checks its root the same way: neither g/ nor knowledge/ is one line, exit 2, nothing created."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import RunCli

COMMANDS = [
    ["export"],
    ["export", "--dry-run"],
    ["validate"],
    ["query", "SELECT 1"],
    ["report"],
    ["run", "--once"],
    ["status"],
    ["status", "--json"],
    ["logs"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_wrong_root_is_refused_and_left_untouched(tmp_path: Path, run_cli: RunCli, args: list[str]) -> None:
    """A mistyped root (missing, or an unrelated folder) gives exit 2, one line on stderr, and creates nothing."""
    unrelated = tmp_path / "unrelated"
    unrelated.mkdir()
    (unrelated / "notes.txt").write_text("x")
    for root in (tmp_path / "nonexist", unrelated):
        result = run_cli(*args, "--root", root)
        assert 2 == result.code, result
        assert 1 == len(result.err.strip().splitlines())
        assert "neither g/ nor knowledge/" in result.err
    assert ["unrelated"] == sorted(p.name for p in tmp_path.iterdir())
    assert ["notes.txt"] == sorted(p.name for p in unrelated.iterdir())


def test_the_current_directory_is_checked_too(tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bare `export` from a directory that is not a root creates no ./g/state."""
    monkeypatch.chdir(tmp_path)
    assert 2 == run_cli("export").code
    assert [] == list(tmp_path.iterdir())


def test_schema_needs_no_root(tmp_path: Path, run_cli: RunCli) -> None:
    """`schema` prints the schema from anywhere: it reads no root."""
    result = run_cli("schema", "--root", tmp_path / "nonexist")
    assert (0, "") == (result.code, result.err)
    assert "query_perf" in result.out
