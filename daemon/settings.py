"""Settings, resolved once: flag > environment `PARQUET_EXPORTER_<KEY>` > config file > default.

`resolve()` returns one frozen `Settings`; everything below the CLI takes it as an argument and
never reads the environment or a global.
"""

from __future__ import annotations

import os
import tomllib
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

from daemon.errors import ConfigError
from daemon.timeutil import parse_sweep_time, zone

ENV_PREFIX = "PARQUET_EXPORTER_"

Codec = Literal["zstd", "snappy", "gzip", "lz4", "brotli", "uncompressed"]


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every setting of parquet-exporter; `config/exporter.toml` documents each one."""

    root: Path = Path(".")
    timezone: str = "Asia/Bangkok"
    source_timezone: str = "UTC"
    reports_dir: str = "g/reports"
    optimize_dir: str = "knowledge/optimize"
    output_dir: str = "knowledge/optimize/parquet"
    state_dir: str = "g/state/parquet_export"
    log_file: str = "g/logs/parquet_export.log"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_max_bytes: int = 10 * 1024 * 1024
    log_backups: int = 5
    compression: Codec = "zstd"
    compression_level: int | Literal["auto"] = "auto"
    row_group_size: int = 100_000
    max_reject_fraction: float = 0.5
    max_line_bytes: int = 4 * 1024 * 1024  # a longer line: a rejected row or a failed file (README, "Limits")
    # daemon
    settle_seconds: float = 2.0
    sweep_time: str = "05:00"
    misfire_grace_seconds: int = 6 * 3600
    retry_attempts: int = 5
    retry_max_wait_seconds: float = 30.0
    conversion_timeout: float = 600.0
    nice: int = 10
    heartbeat_seconds: float = 5.0
    storage_alert_gb: float = 5.0
    # report
    report_file: str = "knowledge/optimize/parquet/report.html"
    report_days: int = 30
    report_after_sweep: bool = False
    # alerts
    alert_webhook_url: str = ""
    alert_min_interval_seconds: float = 300.0
    alert_timeout_seconds: float = 5.0
    alert_retries: int = 3

    # Resolved paths --------------------------------------------------------------------------
    def path(self, relative: str) -> Path:
        """A setting's path resolved against the root (absolute settings stay as they are)."""
        return (self.root / relative) if not Path(relative).is_absolute() else Path(relative)

    @property
    def reports_path(self) -> Path:
        return self.path(self.reports_dir)

    @property
    def optimize_path(self) -> Path:
        return self.path(self.optimize_dir)

    @property
    def output_path(self) -> Path:
        return self.path(self.output_dir)

    @property
    def rejects_path(self) -> Path:
        return self.output_path / "_rejects"

    @property
    def state_path(self) -> Path:
        return self.path(self.state_dir)

    @property
    def state_file(self) -> Path:
        """The SQLite state database (the one place its name is spelled)."""
        return self.state_path / "state.db"

    def relative(self, path: Path) -> str:
        """`path` as the state and the log name it: relative to the root when it is under it."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    @property
    def log_path(self) -> Path:
        return self.path(self.log_file)

    @property
    def report_path(self) -> Path:
        return self.path(self.report_file)

    def __repr__(self) -> str:
        # the webhook URL is a secret (Slack's carries its token in the path): never in a repr or a traceback
        fields = ", ".join(
            f"{name}={'<redacted>' if name == 'alert_webhook_url' and value else repr(value)}"
            for name, value in ((n, getattr(self, n)) for n in self.__struct_fields__)
        )
        return f"Settings({fields})"


FIELDS: tuple[str, ...] = tuple(Settings.__struct_fields__)


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    section = data.get("parquet_exporter", data)
    if not isinstance(section, dict):
        raise ConfigError(f"config file {path}: [parquet_exporter] must be a table")
    unknown = sorted(set(section) - set(FIELDS))
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting(s) {', '.join(unknown)}")
    return dict(section)


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    return {key: env[ENV_PREFIX + key.upper()] for key in FIELDS if ENV_PREFIX + key.upper() in env}


def resolve(
    flags: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Merge flag > environment > config file > default into one validated Settings."""
    env = os.environ if env is None else env
    if config_file is None and ENV_PREFIX + "CONFIG" in env:
        config_file = Path(env[ENV_PREFIX + "CONFIG"])
    merged: dict[str, Any] = {}
    if config_file is not None:
        merged.update(_read_config_file(config_file))
    merged.update(_from_env(env))
    merged.update({k: v for k, v in (flags or {}).items() if v is not None})
    if "root" in merged:
        merged["root"] = str(merged["root"])
    try:
        settings = msgspec.convert(merged, Settings, strict=False, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid setting: {exc}") from None
    _check(settings)
    return msgspec.structs.replace(settings, root=settings.root.expanduser().resolve())


def _dec_hook(type_: type, obj: Any) -> Any:
    if type_ is Path and isinstance(obj, str):
        return Path(obj)
    raise NotImplementedError


def _check(s: Settings) -> None:
    zone(s.timezone)
    zone(s.source_timezone)
    parse_sweep_time(s.sweep_time)
    if not 0.0 <= s.max_reject_fraction <= 1.0:
        raise ConfigError("max_reject_fraction must be between 0 and 1")
    positive = {
        "row_group_size": s.row_group_size,
        "max_line_bytes": s.max_line_bytes,
        "log_max_bytes": s.log_max_bytes,
        "retry_attempts": s.retry_attempts,
        "conversion_timeout": s.conversion_timeout,
        "heartbeat_seconds": s.heartbeat_seconds,
        "report_days": s.report_days,
        "alert_timeout_seconds": s.alert_timeout_seconds,
        "alert_retries": s.alert_retries,
    }
    for name, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{name} must be positive, got {value}")
    if isinstance(s.compression_level, int) and not 0 <= s.compression_level <= 22:
        raise ConfigError(f"compression_level must be 0-22 or 'auto', got {s.compression_level}")
    if s.settle_seconds < 0:
        raise ConfigError("settle_seconds must not be negative")
    if not 0 <= s.nice <= 20:
        raise ConfigError("nice must be between 0 and 20")
    if s.alert_min_interval_seconds < 0:
        raise ConfigError("alert_min_interval_seconds must not be negative")
    if s.alert_webhook_url:
        parsed = urllib.parse.urlsplit(s.alert_webhook_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            # never echo the value: it is a secret
            raise ConfigError("alert_webhook_url must be an http:// or https:// URL with a host")
