"""The README's commands work as written, and every command documents itself."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from daemon.cli.commands import cli, main

PROJECT = Path(__file__).resolve().parents[1]
README = PROJECT / "README.md"

# Commands of the README that this test does not run, each with the reason; every other `$ ` line of a
# console block is run, in the README's order, from a folder where the tour's `demo` root is made.
NOT_RUN = {
    "./scripts/run --root ~/ops": "runs the daemon in the foreground until stopped (tests/test_daemon_e2e.py runs it)",
    "./scripts/test": "runs this suite",
    "./scripts/bench --quick": "a benchmark run (tests/test_bench.py runs one)",
    "./scripts/bench": "a benchmark of several minutes",
    "./scripts/bench --rows 1000000,5000000": "a benchmark of several minutes",
    "./scripts/bench --only convert --rows 5000000 --repeat 5": "a benchmark of several minutes",
}
SHELL_SETUP = 'export PATH="$PWD/.venv/bin:$PATH"'


def console_commands() -> list[str]:
    """Every `$ ` line of every console block in the README, in order."""
    text = README.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        commands += [line[2:].strip() for line in block.splitlines() if line.startswith("$ ")]
    return commands


def expected_exit(command: str) -> int:
    """The exit code the README promises in the line's comment (`# exit 3: ...`), else 0."""
    found = re.search(r"#\s*exit (\d+)", command)
    return int(found.group(1)) if found else 0


def without_comment(command: str) -> str:
    """The command's words without its comment, joined by single spaces (NOT_RUN's spelling)."""
    return " ".join(shlex.split(command, comments=True))


def test_every_readme_command_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each `parquet-exporter` line exits as the README says, in order, on the root its tour makes with
    `demo`; the few lines not run are listed in NOT_RUN with a reason, and that list holds no line the
    README dropped."""
    commands = console_commands()
    runnable = [c for c in commands if c.startswith("parquet-exporter ")]
    assert runnable[0].startswith("parquet-exporter demo demo "), "the first command run makes the tour's root"
    monkeypatch.chdir(tmp_path)
    ran, out = 0, ""
    for command in commands:
        bare = without_comment(command)
        if bare in NOT_RUN:
            continue
        if command.split("#")[0].strip() == SHELL_SETUP:
            assert (PROJECT / ".venv" / "bin" / "parquet-exporter").is_file()
            continue
        args = shlex.split(command, comments=True)
        assert args[0] == "parquet-exporter", f"not run and not in NOT_RUN: {command}"
        assert expected_exit(command) == main(args[1:]), f"{command}: {capsys.readouterr()}"
        out += capsys.readouterr().out
        ran += 1
    assert ran >= 15
    assert "DRY RUN - no files written" in out
    assert "✓ valid" in out
    assert [] == [c for c in NOT_RUN if c not in {without_comment(x) for x in commands}]


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help(name: str) -> None:
    """Each command has a help text and every option is documented."""
    command = cli.commands[name]
    assert command.help
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help, f"{name} {param.opts} has no help"
