"""`health` and `status` as monitoring reads them: exit codes, perfdata, JSON, and which failures still count."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from daemon.analytics.health import gather
from daemon.service.loop import write_heartbeat
from daemon.settings import Settings, resolve
from tests.conftest import RunCli, WriteCsv


@pytest.mark.parametrize(
    "args",
    [["--json-typo"], ["--config", "typo.toml"], ["--root", "nonexist"], ["extra-argument"]],
    ids=["unknown-option", "missing-config", "bad-root", "extra-argument"],
)
def test_usage_and_config_errors_are_unknown(root: Path, run_cli: RunCli, args: list[str]) -> None:
    """A check that cannot run is UNKNOWN (3) with one line, never 2 (CRITICAL to Nagios)."""
    if "--root" not in args:
        args = [*args, "--root", str(root)]
    result = run_cli("health", *[str(root / a) if a == "nonexist" else a for a in args])
    assert 3 == result.code
    assert result.out.startswith("UNKNOWN - ")
    assert 1 == len(result.out.strip().splitlines())


def test_perfdata_follows_a_bar_and_json_says_the_same(root: Path, write_daily: WriteCsv, run_cli: RunCli) -> None:
    """The text line carries Nagios perfdata after `|`; --json gives level, status, reasons and that perfdata."""
    write_daily("20251028")
    assert 0 == run_cli("export", "--root", root).code
    text = run_cli("health", "--root", root)
    assert 2 == text.code  # no daemon runs
    summary, perf = text.out.strip().split(" | ")
    assert summary.startswith("CRITICAL - daemon not running (no heartbeat)")
    fields = dict(p.split("=", 1) for p in perf.split())
    parquet = sum(p.stat().st_size for p in (root / "knowledge/optimize/parquet").rglob("*.parquet"))
    assert ("0;;;0", "1;;;0", f"{parquet}B;5368709120;10737418240;0") == (
        fields["failing"],
        fields["files"],
        fields["storage_bytes"],
    )
    doc = json.loads(run_cli("health", "--json", "--root", root).out)
    assert (2, "CRITICAL", perf) == (doc["level"], doc["status"], doc["perfdata"])
    assert doc["reasons"][0] == "daemon not running (no heartbeat)"


def test_a_live_process_with_a_stale_heartbeat_is_not_responding(root: Path, settings: Settings) -> None:
    """A heartbeat saying running, 10 minutes old, of a live pid (this test's) is "not responding", not down."""
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    settings.state_path.mkdir(parents=True)
    write_heartbeat(settings.state_path, {"pid": os.getpid(), "running": True, "updated": old})
    facts = gather(settings)
    assert (False, "not responding", os.getpid()) == (facts.daemon_up, facts.daemon, facts.pid)
    write_heartbeat(settings.state_path, {"pid": os.getpid(), "running": False, "updated": old})
    assert "not running" == gather(settings).daemon


def test_a_recovered_or_deleted_source_clears_its_warning(root: Path, write_daily: WriteCsv, run_cli: RunCli) -> None:
    """A failure counts until its source converts or is deleted; then neither health nor status shows it."""
    bad = write_daily("20251027", ["not a row"], header="timestamp")
    gone = write_daily("20251026", ["not a row"], header="timestamp")
    assert 1 == run_cli("export", "--historical", "--root", root).code
    facts = gather(resolve({"root": root}, env={}))
    assert (2, 2) == (facts.failures_24h, len(facts.failures))
    write_daily("20251027")  # the producer rewrote it correctly
    gone.unlink()
    assert 0 == run_cli("export", "--historical", "--root", root).code
    facts = gather(resolve({"root": root}, env={}))
    assert (0, []) == (facts.failures_24h, facts.failures)
    assert bad.exists()
    assert "failures:      0" in run_cli("status", "--root", root).out


def test_the_daily_export_rule_is_configurable(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """daily_export_by later than now means not due yet; daily_export_dataset "" turns the rule off; a weekly
    dataset is refused with one line."""
    now = dt.datetime(2025, 10, 28, 1, 0, tzinfo=dt.UTC)  # 08:00 in Bangkok
    early = gather(resolve({"root": root, "daily_export_by": "09:00"}, env={}), now)
    late = gather(resolve({"root": root, "daily_export_by": "07:30"}, env={}), now)
    assert early.daily_export is not None
    assert late.daily_export is not None
    assert (False, True, "2025-10-27") == (early.daily_export.due, late.daily_export.due, late.daily_export.day)
    assert gather(resolve({"root": root, "daily_export_dataset": ""}, env={}), now).daily_export is None
    monkeypatch.setenv("PARQUET_EXPORTER_DAILY_EXPORT_DATASET", "query_perf_weekly")
    from tests.conftest import call_main

    result = call_main("health", "--root", root)
    assert 3 == result.code
    assert result.out.startswith("UNKNOWN - PARQUET_EXPORTER_DAILY_EXPORT_DATASET: daily_export_dataset must be one of")


def test_status_exits_3_when_the_daemon_is_down_and_2_for_a_bad_root(root: Path, run_cli: RunCli) -> None:
    """systemctl's convention: 3 when the service is not running; a mistyped root is a usage error (2)."""
    assert 3 == run_cli("status", "--root", root).code
    assert 3 == run_cli("status", "--json", "--root", root).code
    assert 2 == run_cli("status", "--root", root / "nonexist").code
