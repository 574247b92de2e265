"""Names that almost match an input are not converted, and the daemon says so once per name."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from daemon.convert.inputs import OncePerName, ignored
from daemon.settings import Settings
from tests.conftest import WriteCsv
from tests.daemonproc import DaemonProcess, daily_output, wait_until

DAILY = "name does not match query_perf_daily_YYYYMMDD.csv"
NOISE = "not an input: editor, system, temporary or output file"


@pytest.mark.parametrize(
    ("folder", "name", "expected"),
    [
        ("g/reports", "query_perf_daily_20251028.csv", None),
        ("g/reports", "query_perf_daily_20251028.CSV", ("warning", DAILY)),
        ("g/reports", "QUERY_PERF_DAILY_20251028.csv", ("warning", DAILY)),
        ("g/reports", "query_perf_daily_2025-10-31.csv", ("warning", DAILY)),
        ("g/reports", "query_perf_daily_20251028.csv.gz", ("warning", DAILY)),
        ("g/reports", "query_perf_daily_20251028.tsv", ("warning", DAILY)),
        ("g/reports", "query-perf-daily-20251028.csv", ("warning", DAILY)),
        ("g/reports", "query_perf_weekly_2025-44.csv", ("warning", "name does not match query_perf_weekly_YYYYWW.csv")),
        (
            "knowledge/optimize",
            "Index_Advisor_Report.JSON",
            ("warning", "name does not match index_advisor_report_YYYYMMDD.json"),
        ),
        (
            "knowledge/optimize",
            "optimization_summary_2025-10-28.txt",
            ("warning", "name does not match optimization_summary_YYYYMMDD.txt"),
        ),
        (
            "knowledge/optimize",
            "query_perf_daily_20251028.csv",
            ("warning", "name matches query_perf_daily_YYYYMMDD.csv, which belongs in g/reports/"),
        ),
        ("g/reports", "notes.md", ("info", "name does not match any input pattern")),
        ("g/reports", ".DS_Store", ("debug", NOISE)),
        ("g/reports", ".query_perf_daily_20251028.csv.swp", ("debug", NOISE)),
        ("g/reports", "query_perf_daily_20251028.csv~", ("debug", NOISE)),
        ("g/reports", "4913", ("debug", NOISE)),
        ("g/reports", "query_perf_daily_20251028.csv.part", ("debug", NOISE)),
        ("knowledge/optimize", "report.html", ("debug", NOISE)),
        ("knowledge/optimize/parquet", "query_perf_20251028.parquet", None),
        ("g/logs", "parquet_export.log", None),
    ],
)
def test_why_a_name_is_ignored(settings: Settings, folder: str, name: str, expected: tuple[str, str] | None) -> None:
    """A near miss is a warning naming the pattern, another name info, the known noise debug; an input or
    a path outside the input folders has no reason."""
    assert expected == ignored(settings.root / folder / name, settings)


def test_once_per_name_is_bounded() -> None:
    """OncePerName says True once per path and forgets the oldest beyond its limit."""
    once = OncePerName(limit=3)
    paths = [Path(f"/x/{n}") for n in range(5)]
    assert [True] * 5 == [once.first(p) for p in paths]
    assert [False, False, False] == [once.first(p) for p in paths[2:]]
    assert once.first(paths[0])  # forgotten: the set holds at most 3


def test_the_daemon_says_once_per_name_and_converts_the_valid_file(
    root: Path, write_daily: WriteCsv, start_daemon: Callable[..., DaemonProcess]
) -> None:
    """Beside a valid input, each near miss gets one input.ignored line (at the start-up sweep or its first
    event, not again when it changes), the noise none at the info level, and the valid file is converted."""
    reports = root / "g" / "reports"
    write_daily("20251028")
    near = ["query_perf_daily_20251029.CSV", "query_perf_daily_2025-10-31.csv", "query_perf_daily_20251030.tsv"]
    for name in near[:2]:
        (reports / name).write_text("x\n")
    (reports / ".DS_Store").write_bytes(b"\0")
    daemon = start_daemon()
    (reports / near[2]).write_text("x\n")  # seen by the watcher, not the start-up sweep
    for name in near[:2]:
        with (reports / name).open("a") as fh:  # a change: an event for a name already reported
            fh.write("more\n")
        os.utime(reports / name)
    wait_until(lambda: len(daemon.events("input.ignored")) >= 3, 10, "three input.ignored lines")
    write_daily("20251101")
    wait_until(lambda: daily_output(root, "20251101").exists(), 20, "a later valid file to be converted")
    assert 0 == daemon.stop()
    records = daemon.events("input.ignored")
    assert sorted(f"g/reports/{n}" for n in near) == sorted(r["path"] for r in records)
    assert {("warning", DAILY)} == {(r["level"], r["reason"]) for r in records}
    assert daily_output(root, "20251028").exists()
