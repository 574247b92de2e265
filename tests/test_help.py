"""Every command's `--help` is the text the README's command reference shows (docs checked, not trusted).

After changing a command, regenerate the reference with `UPDATE_HELP=1 ./scripts/test tests/test_help.py`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from daemon.cli.commands import cli

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- command reference: begin -->", "<!-- command reference: end -->"


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the program, groups included (`()` is the program itself)."""
    found = [prefix]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            found.extend(commands(command, (*prefix, name)))
        elif command is not None:
            found.append((*prefix, name))
    return found


def help_text(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="parquet-exporter", terminal_width=100)
    assert 0 == result.exit_code, result.output
    return result.output


def reference() -> str:
    """The README section: one fenced block per command, in the program's order."""
    parts = [BEGIN, ""]
    for path in commands(cli):
        title = " ".join(("parquet-exporter", *path))
        parts += [f"#### `{title}`", "", "```text", help_text(path).rstrip(), "```", ""]
    return "\n".join([*parts, END])


def test_every_command_has_help_text() -> None:
    """Each command says what it does in its own words (a first line of help), groups included."""
    paths = commands(cli)
    assert ("export",) in paths
    assert ("run",) in paths
    for path in paths:
        text = help_text(path)
        assert re.search(r"\n\n  \S", text), f"{path} has no description"


def test_the_readme_shows_every_commands_help() -> None:
    """The README's command reference is exactly what `--help` prints for every command."""
    readme = README.read_text(encoding="utf-8")
    expected = reference()
    if os.environ.get("UPDATE_HELP"):
        if BEGIN in readme:
            start, end = readme.index(BEGIN), readme.index(END) + len(END)
            readme = readme[:start] + expected + readme[end:]
        else:
            readme = readme.rstrip("\n") + "\n\n## Command reference\n\n" + expected + "\n"
        README.write_text(readme, encoding="utf-8")
    if BEGIN not in readme:
        pytest.fail("README.md has no command reference: run UPDATE_HELP=1 ./scripts/test tests/test_help.py")
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    assert expected == readme[start:end], "README's command reference is stale: UPDATE_HELP=1 regenerates it"
