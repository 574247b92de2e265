"""The README's commands work as written, and every command documents itself."""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
from pathlib import Path

import click
import pytest

from daemon.cli.commands import cli, main
from tests.conftest import HEADER, daily_rows

README = Path(__file__).resolve().parents[1] / "README.md"


def tour_commands() -> list[str]:
    """The `$ parquet-exporter ...` lines of the README's Quick tour, comments stripped."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick tour", 1)[1].split("## ", 1)[0]
    block = re.search(r"```console\n(.*?)```", section, re.S)
    assert block is not None, "the Quick tour has a console block"
    commands = []
    for line in block.group(1).splitlines():
        if line.startswith("$ "):
            commands.append(shlex.split(line[2:], comments=True))
    return [" ".join(shlex.quote(a) for a in c) for c in commands]


def make_demo(root: Path) -> None:
    reports = root / "g" / "reports"
    optimize = root / "knowledge" / "optimize"
    reports.mkdir(parents=True)
    optimize.mkdir(parents=True)
    for day in (dt.date(2025, 10, 27), dt.date(2025, 10, 28)):
        rows = daily_rows(day, 50)
        (reports / f"query_perf_daily_{day:%Y%m%d}.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    (optimize / "index_advisor_report.json").write_text(
        json.dumps(
            {
                "timestamp": "2025-10-28T04:00:00Z",
                "recommendations": [{"table": "embeddings", "index": "idx_ns", "estimated_speedup": 3.5}],
            }
        )
    )
    (optimize / "optimization_summary.txt").write_text(
        "2025-10-28T04:00:00Z optimizer_run duration_ms=1234 tables=12\nIndexes created: 3\n"
    )


def test_readme_tour_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Every command of the README's Quick tour exits 0 on a demo root, in order."""
    make_demo(tmp_path / "demo")
    monkeypatch.chdir(tmp_path)
    commands = tour_commands()
    assert len(commands) >= 8
    for command in commands:
        args = shlex.split(command)
        assert args[0] == "parquet-exporter"
        assert 0 == main(args[1:]), f"{command}: {capsys.readouterr()}"
    out = capsys.readouterr().out
    assert "DRY RUN - no files written" in out
    assert "✓ valid" in out


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help(name: str) -> None:
    """Each command has a help text and every option is documented."""
    command = cli.commands[name]
    assert command.help
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name} {param.opts} has no help"
