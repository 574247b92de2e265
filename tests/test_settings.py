"""Settings resolve once: flag > PARQUET_EXPORTER_<KEY> > config file > default, validated into one object."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from daemon.errors import ConfigError
from daemon.settings import FIELDS, Settings, resolve

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
