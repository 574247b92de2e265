"""Outputs are verified, not trusted: a damaged or deleted Parquet file is noticed and converted again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest
from structlog.testing import capture_logs

from daemon.service.loop import Service
from daemon.settings import Settings
from tests.conftest import RunCli, WriteCsv

OUTPUT = "knowledge/optimize/parquet/query_perf/year=2025/month=10/query_perf_20251028.parquet"


def events(root: Path) -> list[str]:
    """The event names of the log file, in order."""
    lines = (root / "g/logs/parquet_export.log").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["event"] for line in lines]


def damage(path: Path, how: str) -> None:
    if how == "truncated":
        os.truncate(path, 1000)
    elif how == "deleted":
        path.unlink()
    else:  # grown: garbage appended after the footer
        with path.open("ab") as fh:
            fh.write(b"\x00" * 4096)


@pytest.mark.parametrize("how", ["truncated", "deleted", "grown"])
def test_export_repairs_a_damaged_output(root: Path, write_daily: WriteCsv, run_cli: RunCli, how: str) -> None:
    """`export` after an output was damaged converts its source again: the output reads back whole."""
    write_daily("20251028")
    assert 0 == run_cli("export", "--root", root).code
    output = root / OUTPUT
    damage(output, how)
    again = run_cli("export", "--root", root)
    assert 0 == again.code, again.err
    assert 5 == pl.read_parquet(output).height
    assert ["export.repaired"] == [e for e in events(root) if e == "export.repaired"]
    assert "already exists" not in again.out


def test_an_unchanged_output_is_not_rewritten(root: Path, write_daily: WriteCsv, run_cli: RunCli) -> None:
    """The verification costs a stat: an intact output is skipped and its file is left as it was."""
    write_daily("20251028")
    assert 0 == run_cli("export", "--root", root).code
    before = (root / OUTPUT).stat()
    assert 0 == run_cli("export", "--root", root).code
    assert (before.st_ino, before.st_mtime_ns) == ((root / OUTPUT).stat().st_ino, (root / OUTPUT).stat().st_mtime_ns)
    assert ["export.written", "export.skipped"] == [
        e for e in events(root) if e in ("export.written", "export.skipped", "export.repaired")
    ]


def test_the_sweep_repairs_a_truncated_output(fast_settings: Settings, write_daily: WriteCsv) -> None:
    """`run --once` (the start-up sweep) notices a truncated output by its size and converts its source again."""
    write_daily("20251028")
    assert 1 == Service(fast_settings).run(once=True).written
    output = fast_settings.root / OUTPUT
    os.truncate(output, 1000)
    with capture_logs() as logs:
        counters = Service(fast_settings).run(once=True)
    assert (1, 0) == (counters.written, counters.failed)
    assert 5 == pl.read_parquet(output).height
    assert 1 == len([e for e in logs if e["event"] == "export.repaired"])
