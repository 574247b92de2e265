"""`query` driven like the duckdb CLI: -c, stdin, --json/--csv/--nl, a row cap on a terminal, paths from --root."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.analytics.views import run_query
from daemon.settings import Settings
from tests.conftest import RunCli, WriteCsv

SQL = "SELECT range AS n, 'r' || range AS label FROM range(3)"


def test_argument_and_c_give_the_same_result(root: Path, run_cli: RunCli) -> None:
    """`query SQL` and `query -c SQL` print the same CSV when not on a terminal; both at once is a usage error."""
    by_argument = run_cli("query", SQL, "--root", root)
    by_c = run_cli("query", "-c", SQL, "--root", root)
    assert (0, "n,label\n0,r0\n1,r1\n2,r2\n") == (by_argument.code, by_argument.out)
    assert by_argument.out == by_c.out
    assert 2 == run_cli("query", SQL, "-c", SQL, "--root", root).code


def test_shortcuts_equal_their_formats(root: Path, run_cli: RunCli) -> None:
    """--json, --csv and --nl print what --format json, csv and nl print; --nl is one JSON object a line."""
    for flag in ("json", "csv", "nl"):
        assert (
            run_cli("query", SQL, "--format", flag, "--root", root).out
            == run_cli("query", SQL, f"--{flag}", "--root", root).out
        )
    lines = run_cli("query", SQL, "--nl", "--root", root).out.splitlines()
    assert [{"n": 0, "label": "r0"}, {"n": 1, "label": "r1"}, {"n": 2, "label": "r2"}] == [json.loads(x) for x in lines]


def test_sql_from_stdin(root: Path) -> None:
    """With no argument and stdin not a terminal, the SQL is read from stdin (a file of statements works)."""
    done = subprocess.run(
        [sys.executable, "-m", "daemon", "query", "--root", str(root), "--json"],
        input="CREATE TEMP TABLE t AS SELECT 42 AS answer;\nSELECT answer FROM t;\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (0, [{"answer": 42}]) == (done.returncode, json.loads(done.stdout))


def test_relative_paths_resolve_against_the_root(
    root: Path,
    write_daily: WriteCsv,
    run_cli: RunCli,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """read_parquet('knowledge/...') reads the root's files when run from another directory."""
    write_daily("20251028")
    assert 0 == run_cli("export", "--root", root).code
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    sql = "SELECT count(*) AS n FROM read_parquet('knowledge/optimize/parquet/query_perf/**/*.parquet')"
    result = run_cli("query", sql, "--root", root)
    assert (0, "n\n5\n") == (result.code, result.out)


def test_run_query_keeps_at_most_max_rows_and_counts_the_rest(settings: Settings) -> None:
    """20,000 rows capped at 40: 40 kept, 20,000 counted."""
    result = run_query(settings, "SELECT * FROM range(20000)", max_rows=40)
    assert (40, 20_000) == (len(result.rows), result.total)
    assert 20_000 == len(run_query(settings, "SELECT * FROM range(20000)").rows)


def test_a_terminal_draws_at_most_max_rows_and_says_how_many_were_left_out(root: Path) -> None:
    """On a terminal, 20,000 rows draw as 40 with a caption naming the 19,960 left out; --max-rows 5 draws 5."""
    for args, shown in (([], 40), (["--max-rows", "5"], 5)):
        master, slave = pty.openpty()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daemon",
                "query",
                "SELECT range AS n FROM range(20000)",
                "--root",
                str(root),
                *args,
            ],
            stdout=slave,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "COLUMNS": "100", "NO_COLOR": "1"},
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(master)
        _, err = proc.communicate(timeout=60)
        assert (0, b"") == (proc.returncode, err)
        out = b"".join(chunks).decode()
        assert f"20,000 rows ({shown} shown, {20_000 - shown:,} left out" in out
        drawn = [line for line in out.splitlines() if line.strip("│ \r").isdigit()]
        assert shown == len(drawn)
