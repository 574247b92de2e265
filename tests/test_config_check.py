"""`parquet-exporter config check`: every problem on its own line (exit 2), or every setting with its source."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.daemonproc import DaemonProcess, Processes, cli, daemon_env


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The process environment without the caller's PARQUET_EXPORTER_* variables; set more through it."""
    for name in [n for n in os.environ if n.startswith("PARQUET_EXPORTER_")]:
        monkeypatch.delenv(name)
    return monkeypatch


def write(path: Path, body: str) -> Path:
    path.write_text("[parquet_exporter]\n" + body, encoding="utf-8")
    return path


def rows(out: str) -> dict[str, list[str]]:
    """The settings table of `config check`: setting -> [value, source words..., live|restart]."""
    table = {}
    for line in out.splitlines()[2:-1]:
        name, *rest = line.split()
        table[name] = rest
    return table


def test_a_typo_in_a_key_suggests_the_setting(root: Path, run_cli: RunCli, env: pytest.MonkeyPatch) -> None:
    """An unknown key in the file exits 2 with one line that suggests the closest setting."""
    config = write(root / "c.toml", "settle_secnds = 1\n")
    result = run_cli("config", "check", "--root", root, "--config", config)
    expected = f"error: config file {config}: unknown setting 'settle_secnds' (did you mean 'settle_seconds'?)\n"
    assert (2, expected, "") == (result.code, result.err, result.out)


def test_a_typo_in_a_variable_is_an_error(root: Path, run_cli: RunCli, env: pytest.MonkeyPatch) -> None:
    """PARQUET_EXPORTER_SETTLE_SECNDS=1 is an error in config check, with the variable it probably meant."""
    env.setenv("PARQUET_EXPORTER_SETTLE_SECNDS", "1")
    result = run_cli("config", "check", "--root", root)
    expected = (
        "error: PARQUET_EXPORTER_SETTLE_SECNDS names no setting (did you mean PARQUET_EXPORTER_SETTLE_SECONDS?)\n"
    )
    assert (2, expected) == (result.code, result.err)


def test_a_typo_in_a_variable_is_a_warning_for_other_commands(
    root: Path, run_cli: RunCli, env: pytest.MonkeyPatch
) -> None:
    """Other commands still run with a typo'd variable, and say so on stderr."""
    env.setenv("PARQUET_EXPORTER_SETTLE_SECNDS", "1")
    result = run_cli("health", "--root", root)
    assert "warning: PARQUET_EXPORTER_SETTLE_SECNDS names no setting" in result.err
    assert "internal error" not in result.err


def test_a_bad_enum_lists_the_allowed_values(root: Path, run_cli: RunCli, env: pytest.MonkeyPatch) -> None:
    """compression = "zip" is refused with every codec listed."""
    config = write(root / "c.toml", 'compression = "zip"\n')
    result = run_cli("config", "check", "--root", root, "--config", config)
    expected = (
        f"error: config file {config}: compression must be one of zstd | snappy | gzip | lz4 | brotli | uncompressed,"
        " got 'zip'\n"
    )
    assert (2, expected) == (result.code, result.err)


def test_a_bad_environment_value_names_its_variable(root: Path, run_cli: RunCli, env: pytest.MonkeyPatch) -> None:
    """A variable whose value is unusable is reported by the variable's name, with the range."""
    env.setenv("PARQUET_EXPORTER_SETTLE_SECONDS", "soon")
    result = run_cli("config", "check", "--root", root)
    expected = "error: PARQUET_EXPORTER_SETTLE_SECONDS: settle_seconds must be a number from 0 to 86400, got 'soon'\n"
    assert (2, expected) == (result.code, result.err)


def test_every_problem_has_its_own_line(root: Path, run_cli: RunCli, env: pytest.MonkeyPatch) -> None:
    """Problems from the file and the environment are all reported, one line each, not only the first."""
    config = write(root / "c.toml", 'settle_seconds = nan\nlog_level = "loud"\nbogus = 1\n')
    env.setenv("PARQUET_EXPORTER_LOG_BACKUPS", "-1")
    env.setenv("PARQUET_EXPORTER_NOPE", "x")
    result = run_cli("config", "check", "--root", root, "--config", config)
    lines = result.err.splitlines()
    assert (2, 5) == (result.code, len(lines))
    assert all(line.startswith("error: ") for line in lines)


def test_sources_are_flag_environment_file_and_default(root: Path, run_cli: RunCli, env: pytest.MonkeyPatch) -> None:
    """Each line shows the value and where it came from: --root, a variable, the file, or the default."""
    config = write(root / "c.toml", 'sweep_time = "06:30"\nnice = 5\n')
    env.setenv("PARQUET_EXPORTER_NICE", "7")
    result = run_cli("config", "check", "--root", root, "--config", config)
    table = rows(result.out)
    assert 0 == result.code, result.err
    assert f"config file: {config} (from flag --config)" == result.out.splitlines()[0]
    assert [str(root.resolve()), "flag", "--root", "restart"] == table["root"]
    assert ["7", "environment", "PARQUET_EXPORTER_NICE", "restart"] == table["nice"]
    assert ["06:30", "file", str(config), "live"] == table["sweep_time"]
    assert ["2.0", "default", "live"] == table["settle_seconds"]
    assert result.out.splitlines()[-1].startswith("✓ valid: ")


def test_config_file_from_the_environment_is_attributed(root: Path, run_cli: RunCli, env: pytest.MonkeyPatch) -> None:
    """A file named by PARQUET_EXPORTER_CONFIG is shown as coming from that variable."""
    config = write(root / "c.toml", "nice = 4\n")
    env.setenv("PARQUET_EXPORTER_CONFIG", str(config))
    result = run_cli("config", "check", "--root", root)
    assert f"config file: {config} (from environment PARQUET_EXPORTER_CONFIG)" == result.out.splitlines()[0]
    assert ["4", "file", str(config), "restart"] == rows(result.out)["nice"]


def test_secrets_are_redacted(root: Path, run_cli: RunCli, env: pytest.MonkeyPatch) -> None:
    """The webhook URL's path (its token) never appears in the text or JSON output; its host does."""
    config = write(root / "c.toml", 'alert_webhook_url = "https://hooks.example.com/services/T0/B0/s3cr3t"\n')
    text = run_cli("config", "check", "--root", root, "--config", config)
    machine = run_cli("config", "check", "--root", root, "--config", config, "--json")
    assert (0, 0) == (text.code, machine.code)
    assert "s3cr3t" not in text.out + machine.out
    assert "https://hooks.example.com/<redacted>" == machine.json()["settings"]["alert_webhook_url"]["value"]


@pytest.mark.parametrize("before", [True, False], ids=["before-command", "after-command"])
def test_config_works_before_or_after_the_command_name(
    root: Path, run_cli: RunCli, env: pytest.MonkeyPatch, before: bool
) -> None:
    """`--root R --config F config check` and `config check --root R --config F` read the same file."""
    config = write(root / "c.toml", 'sweep_time = "07:15"\n')
    where = ["--root", str(root), "--config", str(config)]
    args = [*where, "config", "check"] if before else ["config", "check", *where]
    result = run_cli(*args)
    assert (0, ["07:15", "file", str(config), "live"]) == (result.code, rows(result.out)["sweep_time"])


def test_group_level_root_and_config_work_for_every_command(
    root: Path, run_cli: RunCli, env: pytest.MonkeyPatch
) -> None:
    """`--config F status` before the command name applies to status (its next sweep follows the file; exit 3:
    no daemon runs on this root)."""
    config = write(root / "c.toml", 'sweep_time = "07:15"\n')
    result = run_cli("--root", root, "--config", config, "status", "--json")
    assert (3, "07:15:00") == (result.code, result.json()["next_sweep"][11:19])


def test_json_output_lists_problems_and_exits_2(root: Path, run_cli: RunCli, env: pytest.MonkeyPatch) -> None:
    """--json prints one object with valid=false and the problems when the settings are invalid."""
    config = write(root / "c.toml", "settle_seconds = inf\n")
    result = run_cli("config", "check", "--root", root, "--config", config, "--json")
    document = result.json()
    assert (2, False, {}) == (result.code, document["valid"], document["settings"])
    assert [f"config file {config}: settle_seconds must be a number from 0 to 86400, got inf"] == document["problems"]


def test_json_output_when_valid_has_every_setting(root: Path, run_cli: RunCli, env: pytest.MonkeyPatch) -> None:
    """--json gives each setting's value, source, variable or file, and whether SIGHUP changes it live."""
    env.setenv("PARQUET_EXPORTER_SETTLE_SECONDS", "0.5")
    result = run_cli("config", "check", "--root", root, "--json")
    settle = result.json()["settings"]["settle_seconds"]
    assert (0, {"value": 0.5, "source": "environment", "from": "PARQUET_EXPORTER_SETTLE_SECONDS", "live": True}) == (
        result.code,
        settle,
    )


def test_other_commands_exit_2_on_a_config_error(root: Path, run_cli: RunCli, env: pytest.MonkeyPatch) -> None:
    """A command run with an invalid setting prints one error line and exits 2 (no traceback)."""
    env.setenv("PARQUET_EXPORTER_LOG_BACKUPS", "-3")
    result = run_cli("status", "--root", root)
    expected = "error: PARQUET_EXPORTER_LOG_BACKUPS: log_backups must be a whole number from 0 to 1000, got '-3'\n"
    assert (2, expected) == (result.code, result.err)


def test_no_command_runs_the_daemon_with_the_group_options(root: Path, processes: Processes) -> None:
    """`parquet-exporter --root R --config F` without a command runs the daemon with that root and file."""
    config = write(root / "c.toml", 'sweep_time = "07:15"\n')
    out, err = root.parent / "daemon.out", root.parent / "daemon.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        popen = processes.popen(
            cli("--root", str(root), "--config", str(config)), env=daemon_env(), stdout=stdout, stderr=stderr
        )
    proc = DaemonProcess(root, popen, out, err)
    proc.wait_ready()
    assert "07:15:00" == str(proc.heartbeat()["next_sweep"])[11:19]
    assert 0 == proc.stop()


def test_a_root_without_g_or_knowledge_is_a_problem(tmp_path: Path, run_cli: RunCli, env: pytest.MonkeyPatch) -> None:
    """config check refuses a root the daemon would refuse to run on, with the same line."""
    result = run_cli("config", "check", "--root", tmp_path)
    expected = (
        f"error: {tmp_path.resolve()} has neither g/ nor knowledge/: is it the operations repository? Pass --root DIR\n"
    )
    assert (2, expected) == (result.code, result.err)
