"""Settings resolve once: flag > PARQUET_EXPORTER_<KEY> > config file > default, validated into one object."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from daemon.errors import ConfigError
from daemon.settings import FIELDS, LIVE, MAX_CONFIG_BYTES, Settings, check, load, plan_reload, resolve, shown
from tests.daemonproc import clean_env, cli

REPO = Path(__file__).resolve().parents[1]
EXPORTER_TOML = REPO / "config" / "exporter.toml"
_DOC_SETTING = re.compile(r"^# (?P<key>[a-z0-9_]+) = (?P<value>.+)$")


def write_config(path: Path, body: str, table: bool = True) -> Path:
    """Write a TOML config file, under `[parquet_exporter]` unless `table` is false."""
    path.write_text(("[parquet_exporter]\n" if table else "") + body, encoding="utf-8")
    return path


def documented_settings() -> dict[str, Any]:
    """Every `# key = value` line of config/exporter.toml, parsed as TOML (trailing comments allowed)."""
    found: dict[str, Any] = {}
    for line in EXPORTER_TOML.read_text(encoding="utf-8").splitlines():
        match = _DOC_SETTING.match(line)
        if match:
            assert match["key"] not in found, f"{match['key']} is documented twice"
            found.update(tomllib.loads(line.removeprefix("# ")))
    return found


# ---------------------------------------------------------------------------------- precedence
def test_defaults_without_flags_env_or_file(tmp_path: Path) -> None:
    """With nothing given, every setting but root is its default."""
    resolved = resolve({"root": tmp_path}, env={})
    assert msgspec.structs.replace(Settings(), root=tmp_path.resolve()) == resolved


@pytest.mark.parametrize(
    ("flag", "env", "file", "expected"),
    [
        (None, None, None, 2.0),
        (None, None, 3.5, 3.5),
        (None, "1.25", 3.5, 1.25),
        (0.5, "1.25", 3.5, 0.5),
        (0.5, None, 3.5, 0.5),
        (0.5, "1.25", None, 0.5),
        (None, "1.25", None, 1.25),
    ],
)
def test_precedence_flag_env_file_default(
    tmp_path: Path, flag: float | None, env: str | None, file: float | None, expected: float
) -> None:
    """settle_seconds comes from the flag, else the environment, else the config file, else the default."""
    config = write_config(tmp_path / "exporter.toml", f"settle_seconds = {file}\n" if file is not None else "")
    environ = {"PARQUET_EXPORTER_SETTLE_SECONDS": env} if env is not None else {}
    resolved = resolve({"root": tmp_path, "settle_seconds": flag}, config, env=environ)
    assert expected == resolved.settle_seconds


def test_each_source_sets_a_different_key(tmp_path: Path) -> None:
    """Flag, environment and file each contribute their own keys to one Settings."""
    config = write_config(tmp_path / "c.toml", 'timezone = "Europe/Berlin"\nnice = 5\nlog_backups = 2\n')
    env = {"PARQUET_EXPORTER_NICE": "7", "PARQUET_EXPORTER_COMPRESSION": "snappy"}
    resolved = resolve({"root": tmp_path, "log_backups": 9}, config, env=env)
    assert ("Europe/Berlin", 7, "snappy", 9) == (
        resolved.timezone,
        resolved.nice,
        resolved.compression,
        resolved.log_backups,
    )


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("log_backups", "9", 9),
        ("max_reject_fraction", "0.25", 0.25),
        ("settle_seconds", "1", 1.0),
        ("log_level", "debug", "debug"),
        ("sweep_time", "06:30", "06:30"),
        ("output_dir", "/data/parquet", "/data/parquet"),
    ],
)
def test_environment_strings_are_converted(tmp_path: Path, key: str, text: str, expected: object) -> None:
    """PARQUET_EXPORTER_<KEY> values are text and are converted to the setting's type."""
    resolved = resolve({"root": tmp_path}, env={f"PARQUET_EXPORTER_{key.upper()}": text})
    assert expected == getattr(resolved, key)


def test_unrelated_environment_is_ignored(tmp_path: Path) -> None:
    """Variables without the prefix, or with an unknown key, do not change settings."""
    env = {"SETTLE_SECONDS": "9", "PARQUET_EXPORTER_NOT_A_SETTING": "x", "parquet_exporter_nice": "3"}
    assert resolve({"root": tmp_path}, env={}) == resolve({"root": tmp_path}, env=env)


def test_config_env_var_selects_the_file(tmp_path: Path) -> None:
    """PARQUET_EXPORTER_CONFIG names the config file when no file is passed explicitly."""
    config = write_config(tmp_path / "from-env.toml", "nice = 4\n")
    resolved = resolve({"root": tmp_path}, env={"PARQUET_EXPORTER_CONFIG": str(config)})
    assert 4 == resolved.nice


def test_explicit_config_file_beats_config_env_var(tmp_path: Path) -> None:
    """A config file passed explicitly (--config) wins over PARQUET_EXPORTER_CONFIG."""
    from_env = write_config(tmp_path / "from-env.toml", "nice = 4\n")
    explicit = write_config(tmp_path / "explicit.toml", "nice = 6\n")
    resolved = resolve({"root": tmp_path}, explicit, env={"PARQUET_EXPORTER_CONFIG": str(from_env)})
    assert 6 == resolved.nice


def test_root_from_config_file(tmp_path: Path) -> None:
    """root may come from the file; it is resolved to an absolute path."""
    config = write_config(tmp_path / "c.toml", f'root = "{tmp_path}"\n')
    assert tmp_path.resolve() == resolve({}, config, env={}).root


def test_file_without_table_uses_top_level_keys(tmp_path: Path) -> None:
    """A config file without a [parquet_exporter] table is read from its top level."""
    config = write_config(tmp_path / "c.toml", "nice = 3\n", table=False)
    assert 3 == resolve({"root": tmp_path}, config, env={}).nice


def test_relative_paths_resolve_against_root_absolute_paths_stay(tmp_path: Path) -> None:
    """Relative path settings hang off root; absolute ones are used as they are."""
    elsewhere = tmp_path / "elsewhere" / "out"
    resolved = resolve({"root": tmp_path, "output_dir": str(elsewhere)}, env={})
    assert tmp_path.resolve() / "g" / "reports" == resolved.reports_path
    assert elsewhere == resolved.output_path
    assert elsewhere / "_rejects" == resolved.rejects_path


def test_settings_are_immutable(tmp_path: Path) -> None:
    """The resolved Settings cannot be changed after the fact."""
    resolved = resolve({"root": tmp_path}, env={})
    with pytest.raises(AttributeError):
        resolved.nice = 1  # type: ignore[misc]


# ------------------------------------------------------------------------------ invalid values
@pytest.mark.parametrize(
    ("flags", "match"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "unknown timezone"),
        ({"source_timezone": "Nowhere/Land"}, "unknown timezone"),
        ({"compression": "zip"}, "compression"),
        ({"max_reject_fraction": 2}, "max_reject_fraction"),
        ({"max_reject_fraction": -0.1}, "max_reject_fraction"),
        ({"sweep_time": "25:00"}, "sweep_time"),
        ({"log_level": "loud"}, "log_level"),
        ({"nice": 21}, "nice"),
        ({"row_group_size": 0}, "row_group_size"),
        ({"settle_seconds": -1}, "settle_seconds"),
        ({"retry_attempts": "many"}, "retry_attempts"),
    ],
)
def test_invalid_flag_values_raise_config_error(tmp_path: Path, flags: dict[str, Any], match: str) -> None:
    """A flag with an unusable value raises ConfigError naming the setting or the value."""
    with pytest.raises(ConfigError, match=match):
        resolve({"root": tmp_path, **flags}, env={})


@pytest.mark.parametrize(
    ("key", "text", "match"),
    [
        ("TIMEZONE", "Not/AZone", "unknown timezone"),
        ("COMPRESSION", "zip", "compression"),
        ("MAX_REJECT_FRACTION", "2", "max_reject_fraction"),
        ("MAX_REJECT_FRACTION", "nan", "max_reject_fraction"),
        ("NICE", "high", "nice"),
    ],
)
def test_invalid_environment_values_raise_config_error(tmp_path: Path, key: str, text: str, match: str) -> None:
    """An environment variable with an unusable value raises ConfigError."""
    with pytest.raises(ConfigError, match=match):
        resolve({"root": tmp_path}, env={f"PARQUET_EXPORTER_{key}": text})


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('timezone = "Atlantis/Capital"\n', "unknown timezone"),
        ("bogus_key = 1\n", "unknown setting.*bogus_key"),
        ('compression = "zip"\n', "compression"),
        ("max_reject_fraction = 2\n", "max_reject_fraction"),
        ('nice = "ten"\n', "nice"),
        ("nice = \n", "config file"),  # not TOML
    ],
)
def test_invalid_config_file_raises_config_error(tmp_path: Path, body: str, match: str) -> None:
    """A config file with an unknown key, a bad value or bad TOML raises ConfigError."""
    config = write_config(tmp_path / "c.toml", body)
    with pytest.raises(ConfigError, match=match):
        resolve({"root": tmp_path}, config, env={})


def test_section_that_is_not_a_table_raises_config_error(tmp_path: Path) -> None:
    """`parquet_exporter = 1` instead of a table raises ConfigError."""
    config = write_config(tmp_path / "c.toml", "parquet_exporter = 1\n", table=False)
    with pytest.raises(ConfigError, match="must be a table"):
        resolve({"root": tmp_path}, config, env={})


def test_missing_config_file_raises_config_error(tmp_path: Path) -> None:
    """A config file that does not exist raises ConfigError, also when named by PARQUET_EXPORTER_CONFIG."""
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError, match="does not exist"):
        resolve({"root": tmp_path}, missing, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        resolve({"root": tmp_path}, env={"PARQUET_EXPORTER_CONFIG": str(missing)})


def test_config_error_exits_2() -> None:
    """ConfigError carries exit code 2, the usage-error code."""
    assert 2 == ConfigError.exit_code


# ----------------------------------------------------------------------------------------- docs
def test_exporter_toml_documents_exactly_the_settings() -> None:
    """config/exporter.toml shows every Settings field, and nothing else, as `# key = value`."""
    assert sorted(FIELDS) == sorted(documented_settings())


@pytest.mark.parametrize("key", FIELDS)
def test_exporter_toml_shows_each_default(key: str) -> None:
    """Each documented value in config/exporter.toml is the Settings default (root compared as text)."""
    documented = documented_settings()
    default = getattr(Settings(), key)
    if key == "root":
        assert "." == documented[key]
        assert "." == str(default)
    else:
        assert default == documented[key]


def test_exporter_toml_resolves_to_defaults_commented_and_uncommented(tmp_path: Path) -> None:
    """The shipped file changes nothing, and neither does uncommenting every setting in it."""
    baseline = resolve({"root": tmp_path}, env={})
    assert baseline == resolve({"root": tmp_path}, EXPORTER_TOML, env={})
    text = EXPORTER_TOML.read_text(encoding="utf-8")
    uncommented = "\n".join(line.removeprefix("# ") if _DOC_SETTING.match(line) else line for line in text.splitlines())
    config = tmp_path / "uncommented.toml"
    config.write_text(uncommented, encoding="utf-8")
    assert baseline == resolve({"root": tmp_path}, config, env={})


# ------------------------------------------------------------------------------------ ranges
FLOAT_FIELDS = [f.name for f in msgspec.structs.fields(Settings) if f.default.__class__ is float]


@pytest.mark.parametrize(
    ("key", "literal"),
    [
        ("settle_seconds", "nan"),
        ("settle_seconds", "inf"),
        ("settle_seconds", "-0.5"),
        ("log_backups", "-1"),
        ("log_max_bytes", "0"),
        ("storage_alert_gb", "-1.0"),
        ("storage_alert_gb", "0"),
        ("misfire_grace_seconds", "-5"),
        ("misfire_grace_seconds", "0"),
        ("retry_max_wait_seconds", "-1.0"),
        ("retry_max_wait_seconds", "nan"),
        ("retry_attempts", "0"),
        ("conversion_timeout", "0"),
        ("conversion_timeout", "inf"),
        ("heartbeat_seconds", "nan"),
        ("alert_min_interval_seconds", "-1"),
        ("alert_timeout_seconds", "0"),
        ("alert_retries", "0"),
        ("report_days", "0"),
        ("report_days", "100_000_000"),
        ("row_group_size", "-100"),
        ("nice", "-1"),
        ("max_reject_fraction", "nan"),
        ("compression_level", "-1"),
        ("compression_level", "23"),
        ("log_backups", "1.5"),
        ("reports_dir", '""'),
        ("output_dir", '"out\\u0000put"'),
    ],
)
def test_out_of_range_values_are_refused_from_the_file(tmp_path: Path, key: str, literal: str) -> None:
    """A config-file value outside its setting's range is a ConfigError naming the setting (TOML nan/inf too)."""
    config = write_config(tmp_path / "c.toml", f"{key} = {literal}\n")
    with pytest.raises(ConfigError, match=f"{config}: {key} must be"):
        resolve({"root": tmp_path}, config, env={})


@pytest.mark.parametrize("key", FLOAT_FIELDS)
@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "NaN"])
def test_no_float_setting_takes_nan_or_infinity(tmp_path: Path, key: str, text: str) -> None:
    """Every float setting refuses NaN and infinity, from the environment as from anywhere."""
    loaded = load({"root": tmp_path}, env={f"PARQUET_EXPORTER_{key.upper()}": text})
    assert loaded.settings is None
    assert [f"PARQUET_EXPORTER_{key.upper()}"] == [p.split(":")[0] for p in loaded.problems]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("settle_seconds", 0.0),
        ("settle_seconds", 86400.0),
        ("log_backups", 0),
        ("retry_max_wait_seconds", 0.0),
        ("misfire_grace_seconds", 1),
        ("alert_min_interval_seconds", 0.0),
        ("max_reject_fraction", 1.0),
        ("compression_level", 22),
        ("storage_alert_gb", 0.001),
    ],
)
def test_range_edges_are_accepted(tmp_path: Path, key: str, value: object) -> None:
    """The ends of each range are valid values."""
    config = write_config(tmp_path / "c.toml", f"{key} = {value}\n")
    assert value == getattr(resolve({"root": tmp_path}, config, env={}), key)


def test_defaults_pass_their_own_checks() -> None:
    """Every default is inside its declared range and rules."""
    assert [] == check(Settings())


@pytest.mark.parametrize(("codec", "level"), [("gzip", 10), ("brotli", 12), ("zstd", 0)])
def test_compression_level_must_exist_for_the_codec(tmp_path: Path, codec: str, level: int) -> None:
    """A level the codec does not have (gzip 10, brotli 12, zstd 0) is refused before any file fails on it."""
    with pytest.raises(ConfigError, match=f"compression_level for {codec}"):
        resolve({"root": tmp_path, "compression": codec, "compression_level": level}, env={})


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    """Problems from the file and the environment are all collected, each naming its source."""
    config = write_config(tmp_path / "c.toml", 'settle_seconds = -1\ncompression = "zip"\n')
    loaded = load({"root": tmp_path}, config, env={"PARQUET_EXPORTER_LOG_BACKUPS": "-2"})
    assert 3 == len(loaded.problems)
    assert all(str(config) in p for p in loaded.problems if "log_backups" not in p)
    assert any(p.startswith("PARQUET_EXPORTER_LOG_BACKUPS: log_backups") for p in loaded.problems)


# ------------------------------------------------------------------------- hostile config files
@pytest.mark.timeout(10)
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_as_config_file_is_refused_at_once(tmp_path: Path, device: str) -> None:
    """--config /dev/zero or /dev/urandom is refused as not a regular file, without reading it."""
    if not Path(device).exists():
        pytest.skip(f"{device} does not exist here")
    with pytest.raises(ConfigError, match=f"config file {device} is a device or pipe, not a regular file"):
        resolve({"root": tmp_path}, Path(device), env={})


@pytest.mark.timeout(10)
def test_a_named_pipe_as_config_file_does_not_block(tmp_path: Path) -> None:
    """A FIFO with no writer is refused without blocking on open."""
    fifo = tmp_path / "c.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        resolve({"root": tmp_path}, fifo, env={})


def test_a_folder_as_config_file_is_refused(tmp_path: Path) -> None:
    """A folder named as the config file is a ConfigError saying so."""
    with pytest.raises(ConfigError, match="is a folder"):
        resolve({"root": tmp_path}, tmp_path, env={})


def test_a_config_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    """A config file larger than MAX_CONFIG_BYTES is refused (and only that much is read)."""
    config = tmp_path / "c.toml"
    config.write_bytes(b"# " + b"x" * MAX_CONFIG_BYTES + b"\n")
    with pytest.raises(ConfigError, match="larger than 1024 KiB"):
        resolve({"root": tmp_path}, config, env={})


def test_a_config_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are a ConfigError naming the file and the offset."""
    config = tmp_path / "c.toml"
    config.write_bytes(b"nice = 3\n\xff\xfe\n")
    with pytest.raises(ConfigError, match=f"config file {config} is not UTF-8 text .*offset 9"):
        resolve({"root": tmp_path}, config, env={})


def test_a_deeply_nested_config_file_is_refused(tmp_path: Path) -> None:
    """A file of nested arrays deeper than the parser's recursion is a ConfigError, not a crash."""
    config = tmp_path / "c.toml"
    config.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError, match="config file"):
        resolve({"root": tmp_path}, config, env={})


@pytest.mark.timeout(60)
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_cli_with_a_device_as_config_is_one_line_and_exit_2(tmp_path: Path, device: str) -> None:
    """`parquet-exporter status --config /dev/zero` prints one error line and exits 2, promptly."""
    done = subprocess.run(
        cli("status", "--root", str(tmp_path), "--config", device),
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert (2, f"error: config file {device} is a device or pipe, not a regular file\n") == (
        done.returncode,
        done.stderr,
    )


# -------------------------------------------------------------------------- origins and secrets
def test_unknown_variables_are_warnings_with_a_suggestion(tmp_path: Path) -> None:
    """PARQUET_EXPORTER_SETTLE_SECNDS changes nothing but is a warning suggesting the right name."""
    loaded = load({"root": tmp_path}, env={"PARQUET_EXPORTER_SETTLE_SECNDS": "1", "PARQUET_EXPORTER_DEBUG": "1"})
    expected = ("PARQUET_EXPORTER_SETTLE_SECNDS names no setting (did you mean PARQUET_EXPORTER_SETTLE_SECONDS?)",)
    assert expected == loaded.warnings
    assert loaded.settings is not None
    assert 2.0 == loaded.settings.settle_seconds


def test_origins_name_flag_environment_file_and_default(tmp_path: Path) -> None:
    """Each setting's origin is the layer that set it: flag, environment variable, file, or default."""
    config = write_config(tmp_path / "c.toml", "nice = 5\nlog_backups = 2\n")
    loaded = load({"root": tmp_path, "log_backups": 9}, config, env={"PARQUET_EXPORTER_NICE": "7"})
    origins = {name: str(origin) for name, _, origin, _ in loaded.table()}
    assert ("flag --root", "flag --log-backups", "environment PARQUET_EXPORTER_NICE", "default") == (
        origins["root"],
        origins["log_backups"],
        origins["nice"],
        origins["timezone"],
    )
    file_only = load({"root": tmp_path}, config, env={})
    assert f"file {config}" == str(file_only.origins["log_backups"])


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("alert_webhook_url", "https://hooks.slack.com/services/T0/B0/s3cr3t", "https://hooks.slack.com/<redacted>"),
        ("alert_webhook_url", "", ""),
        ("s3_secret_access_key", "abcd1234", "<redacted>"),
        ("api_token", "abcd1234", "<redacted>"),
        ("output_url", "s3://bucket/prefix", "s3://bucket/prefix"),
        ("output_url", "s3://user:pw@bucket/prefix", "s3://user:<redacted>@bucket/prefix"),
        ("output_url", "https://h/p?X-Amz-Signature=abc", "https://h/p?<redacted>"),
        ("timezone", "UTC", "UTC"),
        ("settle_seconds", 2.0, 2.0),
    ],
)
def test_shown_redacts_secrets_and_url_credentials(name: str, value: object, expected: object) -> None:
    """Secrets (listed or credential-like by name) and a URL's password and query are never shown."""
    assert expected == shown(name, value)


def test_secret_values_never_reach_problems(tmp_path: Path) -> None:
    """An invalid secret is reported without its value."""
    loaded = load({"root": tmp_path}, env={"PARQUET_EXPORTER_ALERT_WEBHOOK_URL": "ftp://host/s3cr3t"})
    assert 1 == len(loaded.problems)
    assert "s3cr3t" not in loaded.problems[0]


# ----------------------------------------------------------------------------------- reload plan
def test_plan_reload_applies_live_keys_and_keeps_the_others(tmp_path: Path) -> None:
    """Live keys take their new value; restart-only keys keep the running one and are listed as kept."""
    running = resolve({"root": tmp_path}, env={})
    new = msgspec.structs.replace(running, sweep_time="06:30", settle_seconds=1.0, state_dir="elsewhere", nice=3)
    plan = plan_reload(running, new)
    assert (("settle_seconds", "sweep_time"), ("state_dir", "nice")) == (plan.changed, plan.kept)
    assert ("06:30", 1.0, running.state_dir, running.nice) == (
        plan.settings.sweep_time,
        plan.settings.settle_seconds,
        plan.settings.state_dir,
        plan.settings.nice,
    )


def test_plan_reload_of_the_same_settings_changes_nothing(tmp_path: Path) -> None:
    """Reloading an unchanged configuration reports no change and nothing kept."""
    running = resolve({"root": tmp_path}, env={})
    assert ((), ()) == (plan_reload(running, running).changed, plan_reload(running, running).kept)


def test_restart_only_settings_include_the_folders_and_the_log_file() -> None:
    """root, the folders, the log file and the metrics address are never live (their parts are built at start)."""
    never_live = {"root", "reports_dir", "optimize_dir", "output_dir", "state_dir", "log_file", "metrics_address"}
    assert set() == never_live & LIVE


def test_an_invalid_value_is_reported_even_when_a_higher_source_overrides_it(tmp_path: Path) -> None:
    """settle_seconds = nan in the file is a problem although PARQUET_EXPORTER_SETTLE_SECONDS overrides it."""
    config = write_config(tmp_path / "c.toml", "settle_seconds = nan\n")
    loaded = load({"root": tmp_path}, config, env={"PARQUET_EXPORTER_SETTLE_SECONDS": "1"})
    assert (f"config file {config}: settle_seconds must be a number from 0 to 86400, got nan",) == loaded.problems


def test_a_config_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """A UTF-8 byte-order mark at the start of the file (some editors write one) is not an error."""
    config = tmp_path / "c.toml"
    config.write_bytes(b"\xef\xbb\xbf[parquet_exporter]\nnice = 4\n")
    assert 4 == resolve({"root": tmp_path}, config, env={}).nice


def test_repr_hides_secrets_and_url_credentials(tmp_path: Path) -> None:
    """repr(Settings) shows neither the webhook's path nor a password in any URL-valued setting."""
    settings = msgspec.structs.replace(
        resolve({"root": tmp_path}, env={}),
        alert_webhook_url="https://hooks.example.com/T0/s3cr3t",
        report_file="https://user:pa55@host/report.html",
    )
    text = repr(settings)
    assert [] == [secret for secret in ("s3cr3t", "pa55") if secret in text]
