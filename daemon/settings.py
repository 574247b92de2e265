"""Settings, resolved once: flag > environment `PARQUET_EXPORTER_<KEY>` > config file > default.

`resolve()` returns one frozen `Settings` (or raises ConfigError); everything below the CLI takes it as an
argument and never reads the environment or a global. `load()` does the same work without raising: it
collects every problem, the warnings, and where each value came from, for `config check` and for the
daemon's reload on SIGHUP (`plan_reload()` says which changes the running daemon can take).

Each number's valid range is declared once, on its field (`msgspec.Meta`); NaN and infinity are refused
for every float. Secrets (`SECRET_FIELDS`, or a credential-like name) are never shown: `shown()`.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import stat
import tomllib
import types
import typing
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from daemon.errors import ConfigError
from daemon.timeutil import parse_sweep_time, zone

ENV_PREFIX = "PARQUET_EXPORTER_"
CONFIG_VARIABLE = ENV_PREFIX + "CONFIG"
# PARQUET_EXPORTER_* variables that are not settings; any other one is reported as a likely typo.
OTHER_VARIABLES = frozenset({CONFIG_VARIABLE, ENV_PREFIX + "DEBUG"})
MAX_CONFIG_BYTES = 1024 * 1024  # a settings file is a few KB: anything larger is not one (/dev/zero)

DAY = 86400
WEEK = 7 * DAY

Codec = Literal["zstd", "snappy", "gzip", "lz4", "brotli", "uncompressed"]
# A path setting: never empty (that would be the root itself), never with a NUL byte (no OS takes one).
PathText = Annotated[str, Meta(min_length=1, pattern=r"^[^\x00]*$")]


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every setting of parquet-exporter; `config/exporter.toml` documents each one."""

    root: Path = Path(".")
    timezone: str = "Asia/Bangkok"
    source_timezone: str = "UTC"
    reports_dir: PathText = "g/reports"
    optimize_dir: PathText = "knowledge/optimize"
    output_dir: PathText = "knowledge/optimize/parquet"
    state_dir: PathText = "g/state/parquet_export"
    log_file: PathText = "g/logs/parquet_export.log"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_max_bytes: Annotated[int, Meta(ge=1024, le=2**40)] = 10 * 1024 * 1024
    log_backups: Annotated[int, Meta(ge=0, le=1000)] = 5
    compression: Codec = "zstd"
    compression_level: Annotated[int, Meta(ge=0, le=22)] | Literal["auto"] = "auto"
    row_group_size: Annotated[int, Meta(ge=1, le=10_000_000)] = 100_000
    max_reject_fraction: Annotated[float, Meta(ge=0, le=1)] = 0.5
    # a longer line is a rejected row or a failed file (README, "Limits")
    max_line_bytes: Annotated[int, Meta(ge=1024, le=2**31 - 1)] = 4 * 1024 * 1024
    # daemon
    settle_seconds: Annotated[float, Meta(ge=0, le=DAY)] = 2.0
    sweep_time: str = "05:00"
    misfire_grace_seconds: Annotated[int, Meta(ge=1, le=WEEK)] = 6 * 3600
    retry_attempts: Annotated[int, Meta(ge=1, le=100)] = 5
    retry_max_wait_seconds: Annotated[float, Meta(ge=0, le=3600)] = 30.0
    conversion_timeout: Annotated[float, Meta(gt=0, le=WEEK)] = 600.0
    nice: Annotated[int, Meta(ge=0, le=20)] = 10
    heartbeat_seconds: Annotated[float, Meta(gt=0, le=3600)] = 5.0
    storage_alert_gb: Annotated[float, Meta(gt=0, le=1_000_000)] = 5.0
    # health: yesterday's output of this day-keyed dataset must exist by this local time ("" turns the rule off)
    daily_export_dataset: Literal["query_perf", "index_advisor", "optimization_summary", ""] = "query_perf"
    daily_export_by: str = "00:00"
    # report
    report_file: PathText = "knowledge/optimize/reports/report.html"  # outside the datasets, in no watched folder
    report_days: Annotated[int, Meta(ge=1, le=36_600)] = 30
    report_after_sweep: bool = False
    # alerts
    alert_webhook_url: str = ""
    alert_min_interval_seconds: Annotated[float, Meta(ge=0, le=WEEK)] = 300.0
    alert_timeout_seconds: Annotated[float, Meta(gt=0, le=300)] = 5.0
    alert_retries: Annotated[int, Meta(ge=1, le=100)] = 3
    # metrics (Prometheus)
    metrics_address: str = ""
    metrics_textfile: str = ""
    # fleet: publishing outputs to a shared folder or bucket (README "Fleet")
    output_url: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""
    fleet_host: str = ""
    keep_local: bool = True
    publish_alert_age_seconds: Annotated[float, Meta(gt=0, le=366 * DAY)] = 3600.0

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

    @property
    def publishing(self) -> bool:
        """Whether outputs are published to `output_url` after they are written locally."""
        return bool(self.output_url)

    @property
    def host_dir(self) -> str | None:
        """The `host=<name>` level of every output path, or None when `fleet_host` is empty."""
        return f"host={self.fleet_host}" if self.fleet_host else None

    def __repr__(self) -> str:
        # secrets (a Slack webhook carries its token in the path), a URL's password or query never reach a
        # repr or a traceback
        def text(name: str, value: Any) -> str:
            if is_secret(name) and value:
                return "<redacted>"
            return repr(shown(name, value) if isinstance(value, str) else value)

        fields = ", ".join(f"{name}={text(name, getattr(self, name))}" for name in self.__struct_fields__)
        return f"Settings({fields})"


FIELDS: tuple[str, ...] = tuple(Settings.__struct_fields__)
_TYPES: dict[str, Any] = {f.name: f.type for f in msgspec.structs.fields(Settings)}

# What the running daemon takes on SIGHUP. Every other setting (root, folders, log file, metrics address,
# and any setting not named here) is kept until the next start: a part built from it at start (the
# watcher, the state, the log handler, a listener) would not follow a new value.
LIVE: frozenset[str] = frozenset(
    {
        "log_level",
        "compression",
        "compression_level",
        "row_group_size",
        "max_reject_fraction",
        "max_line_bytes",
        "settle_seconds",
        "sweep_time",
        "misfire_grace_seconds",
        "retry_attempts",
        "retry_max_wait_seconds",
        "conversion_timeout",
        "heartbeat_seconds",
        "storage_alert_gb",
        "daily_export_dataset",
        "daily_export_by",
        "report_file",
        "report_days",
        "report_after_sweep",
        "alert_webhook_url",
        "alert_min_interval_seconds",
        "alert_timeout_seconds",
        "alert_retries",
        "metrics_textfile",
        "publish_alert_age_seconds",
    }
)
# Secrets are never shown (config check, repr, logs, errors); a credential-like name is one even if
# it is not listed here.
SECRET_FIELDS: frozenset[str] = frozenset({"alert_webhook_url"})
_SECRET_NAME = re.compile(r"secret|password|passwd|token|credential|webhook|access_key|private_key|api_key")


def is_secret(name: str) -> bool:
    """True for a setting whose value is never shown."""
    return name in SECRET_FIELDS or _SECRET_NAME.search(name) is not None


def shown(name: str, value: Any) -> Any:
    """A setting's value as it may be shown: secrets redacted (a URL keeps its scheme and host), and a
    URL's password and query (signatures, tokens) redacted in any setting; a path as text."""
    if isinstance(value, Path):
        return str(value)
    if not isinstance(value, str) or not value:
        return value
    parts = urllib.parse.urlsplit(value) if "://" in value else None
    if is_secret(name):
        if parts is not None and parts.scheme and parts.hostname:
            return f"{parts.scheme}://{parts.hostname}/<redacted>"
        return "<redacted>"
    if parts is not None and (parts.password or parts.query):
        netloc = parts.hostname or ""
        if parts.username:
            netloc = f"{parts.username}:<redacted>@{netloc}" if parts.password else f"{parts.username}@{netloc}"
        if parts.port:
            netloc += f":{parts.port}"
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "<redacted>" if parts.query else "", ""))
    return value


def value_text(value: Any) -> str:
    """A plain value as TOML/JSON would write it (true, 2.0, "text")."""
    return msgspec.json.encode(value).decode()


# ----------------------------------------------------------------------------------- ranges
_EXPECTED_TEXT = {
    "timezone": "an IANA timezone name",
    "source_timezone": "an IANA timezone name",
    "sweep_time": 'a quoted "HH:MM" time',
    "alert_webhook_url": "an http(s) URL",
}


def expected(name: str) -> str:
    """What a setting must be, in words, from its declared type and range."""
    return _EXPECTED_TEXT.get(name) or _describe(_TYPES[name])


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *metas = typing.get_args(tp)
        return _describe_annotated(base, [m for m in metas if isinstance(m, Meta)])
    if origin is Literal:
        return "one of " + " | ".join(str(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return ", or ".join(_describe(arg) for arg in typing.get_args(tp))
    return {bool: "true or false", int: "a whole number", float: "a number", str: "text", Path: "a path"}.get(
        tp, str(tp)
    )


def _describe_annotated(base: Any, metas: list[Meta]) -> str:
    if base is str:
        return "a non-empty path (no NUL byte)"
    noun = "a whole number" if base is int else "a number"
    low = next((("from", m.ge) for m in metas if m.ge is not None), None) or next(
        (("above", m.gt) for m in metas if m.gt is not None), None
    )
    high = next((m.le for m in metas if m.le is not None), None)
    text = noun
    if low is not None and low[0] == "from" and high is not None:
        text += f" from {_number(low[1])} to {_number(high)}"
    else:
        if low is not None:
            text += f" {low[0]} {_number(low[1])}"
        if high is not None:
            text += f"{',' if low else ''} at most {_number(high)}"
    return text


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _semantic(name: str, value: Any, settings: Mapping[str, Any] | None) -> str | None:
    """What the type and range cannot say: known zones, HH:MM, an http(s) URL, a level the codec has."""
    try:
        if name in ("timezone", "source_timezone"):
            zone(value)
        elif name == "sweep_time":
            parse_sweep_time(value)
    except ConfigError as exc:
        return str(exc) if str(exc).startswith(name) else f"{name}: {exc}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{name} must be a finite number, got {value}"
    if name == "alert_webhook_url" and value:
        parsed = urllib.parse.urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            return "alert_webhook_url must be an http:// or https:// URL with a host"  # never echo a secret
    if name == "daily_export_by" and not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", value):
        return f"daily_export_by {value!r} is not HH:MM"
    if name in _FLEET_CHECKS and value not in ("", True):
        return _FLEET_CHECKS[name](value)
    if name == "metrics_address" and value:
        try:
            listen_address(value)
        except ConfigError as exc:
            return str(exc)
    if name == "metrics_textfile" and value and not value.endswith(".prom"):
        return "metrics_textfile must end in .prom (node_exporter's textfile collector reads only those)"
    if name == "compression_level" and isinstance(value, int) and settings is not None:
        codec = settings.get("compression", Settings.compression)
        low, high = _LEVELS.get(codec, (0, 22))
        if not low <= value <= high:
            return f"compression_level for {codec} must be {low}-{high} or 'auto', got {value}"
    return None


_LEVELS = {"zstd": (1, 22), "gzip": (0, 9), "brotli": (0, 11)}  # what polars accepts per codec


def _convert(name: str, raw: Any, settings: Mapping[str, Any] | None) -> tuple[Any, str | None]:
    """(value, None) when `raw` is a valid value for `name`, else (None, why), never echoing a secret.
    `settings` (the other values) is for the checks across settings; None skips them."""
    try:
        value = msgspec.convert(raw, _TYPES[name], strict=False, dec_hook=_dec_hook)
    except msgspec.ValidationError:
        got = "<redacted>" if is_secret(name) else (repr(raw) if isinstance(raw, str) else _raw_text(raw))
        return None, f"{name} must be {expected(name)}, got {got}"
    return value, _semantic(name, value, settings)


def _raw_text(value: Any) -> str:
    """A raw value as given, for an error line: JSON text, or the repr for NaN, infinity, TOML dates."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    try:
        return value_text(value)
    except (TypeError, msgspec.EncodeError):
        return repr(value)


def check(settings: Settings) -> list[str]:
    """Every problem of an already built Settings (each field against its range and rules)."""
    values = msgspec.structs.asdict(settings)
    return [why for name in FIELDS if (why := _convert(name, values[name], values)[1]) is not None]


def _dec_hook(type_: type, obj: Any) -> Any:
    if type_ is Path and isinstance(obj, str | Path):
        if "\x00" in str(obj):
            raise ValueError("NUL byte in a path")
        return Path(obj)
    raise NotImplementedError


# ----------------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class Origin:
    """Where a setting's value came from: `kind` flag | environment | file | default, and which one."""

    kind: Literal["flag", "environment", "file", "default"]
    where: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.where}".strip()


DEFAULT = Origin("default")


@dataclass(frozen=True)
class Loaded:
    """One resolution of the settings: the Settings (None when any problem), where each value came from,
    every problem (one line each), and warnings (unknown PARQUET_EXPORTER_* variables)."""

    settings: Settings | None
    origins: Mapping[str, Origin] = field(default_factory=dict)
    config_file: Path | None = None
    config_origin: Origin | None = None
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def table(self) -> list[tuple[str, str, Origin, bool]]:
        """(setting, value as shown, origin, live on SIGHUP) for every setting (empty when invalid)."""
        if self.settings is None:
            return []
        return [
            (name, shown(name, getattr(self.settings, name)), self.origins.get(name, DEFAULT), name in LIVE)
            for name in FIELDS
        ]

    def to_json(self, *, strict: bool = False) -> dict[str, Any]:
        """The machine form of `config check`: validity, the file, each setting with its source, problems."""
        problems = [*self.problems, *self.warnings] if strict else list(self.problems)
        return {
            "valid": not problems,
            "config_file": str(self.config_file) if self.config_file else None,
            "config_file_from": str(self.config_origin) if self.config_origin else None,
            "settings": {
                name: {"value": value, "source": origin.kind, "from": origin.where or None, "live": live}
                for name, value, origin, live in self.table()
            },
            "problems": problems,
            "warnings": [] if strict else list(self.warnings),
        }

    def lines(self) -> list[str]:
        """`config check` for people: the file, one line per setting (value, source, SIGHUP), a summary."""
        if self.settings is None:
            return []
        where = f"{self.config_file} (from {self.config_origin})" if self.config_file else "none"
        rows = [
            [name, value if isinstance(value, str) and value else value_text(value), str(origin), _RELOAD[live]]
            for name, value, origin, live in self.table()
        ]
        width = [max(len(row[i]) for row in [["setting", "value", "source", ""], *rows]) for i in range(3)]
        lines = [f"config file: {where}"]
        for row in [["setting", "value", "source", "on SIGHUP"], *rows]:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, width, strict=False)) + "  " + row[3])
        counts: dict[str, int] = {}
        for source in self.origins.values():
            counts[source.kind] = counts.get(source.kind, 0) + 1
        counts["default"] = len(FIELDS) - len(self.origins)
        summary = ", ".join(f"{counts[k]} {label}" for k, label in _COUNTED if counts.get(k))
        lines.append(f"✓ valid: {len(FIELDS)} settings ({summary})")
        return lines


_RELOAD = {True: "live", False: "restart"}
_COUNTED = (
    ("flag", "from flags"),
    ("environment", "from the environment"),
    ("file", "from the file"),
    ("default", "defaults"),
)


def read_config_file(path: Path) -> dict[str, Any]:
    """The `[parquet_exporter]` table of a TOML file (or its top level), read in bounded memory and time:
    a device, a pipe or a folder is refused before anything is read, more than MAX_CONFIG_BYTES is refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "a device or pipe"
        raise ConfigError(f"config file {path} is {kind}, not a regular file")
    with os.fdopen(fd, "rb") as fh:
        try:
            data = fh.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"config file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES // 1024} KiB: not a settings file")
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark (some editors write one) is not an error
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"config file {path}: nested too deeply") from None
    return document


def _file_values(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        document = read_config_file(path)
    except ConfigError as exc:
        problems.append(str(exc))
        return {}
    section = document.get("parquet_exporter", document)
    if not isinstance(section, dict):
        problems.append(f"config file {path}: [parquet_exporter] must be a table")
        return {}
    if section is not document:
        for key in document:
            if key != "parquet_exporter":
                hint = " (settings go below the [parquet_exporter] line)" if key in FIELDS else ""
                problems.append(f"config file {path}: unknown key '{key}' outside [parquet_exporter]{hint}")
    values = {}
    for key, value in section.items():
        if key in FIELDS:
            values[key] = value
        else:
            problems.append(f"config file {path}: unknown setting '{key}'{_did_you_mean(key)}")
    return values


def _did_you_mean(word: str) -> str:
    close = difflib.get_close_matches(word, FIELDS, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """One warning per PARQUET_EXPORTER_* variable that names no setting (a typo is otherwise silent)."""
    names = {ENV_PREFIX + key.upper() for key in FIELDS} | OTHER_VARIABLES
    found = []
    for var in sorted(v for v in env if v.startswith(ENV_PREFIX) and v not in names):
        close = difflib.get_close_matches(var.removeprefix(ENV_PREFIX).lower(), FIELDS, n=1, cutoff=0.6)
        hint = f" (did you mean {ENV_PREFIX}{close[0].upper()}?)" if close else ""
        found.append(f"{var} names no setting{hint}")
    return found


def load(
    flags: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Loaded:
    """Merge flag > environment > config file > default, collecting every problem instead of stopping."""
    env = os.environ if env is None else env
    problems: list[str] = []
    config_origin: Origin | None = Origin("flag", "--config") if config_file is not None else None
    if config_file is None and env.get(CONFIG_VARIABLE):
        config_file, config_origin = Path(env[CONFIG_VARIABLE]), Origin("environment", CONFIG_VARIABLE)
    layers: list[tuple[Origin, Mapping[str, Any]]] = []
    if config_file is not None:
        layers.append((Origin("file", str(config_file)), _file_values(config_file, problems)))
    for key in FIELDS:
        var = ENV_PREFIX + key.upper()
        if var in env:
            layers.append((Origin("environment", var), {key: env[var]}))
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    for key in given:
        if key not in FIELDS:
            problems.append(f"flag: unknown setting '{key}'{_did_you_mean(key)}")
    for key in FIELDS:
        if key in given:
            layers.append((Origin("flag", "--" + key.replace("_", "-")), {key: given[key]}))
    merged = {key: raw for _, layer in layers for key, raw in layer.items()}
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    for origin, layer in layers:  # every layer is checked, also a value a higher one overrides
        for key, raw in layer.items():
            value, why = _convert(key, raw, merged if merged[key] is raw else None)
            if why is not None:
                where = f"config file {origin.where}" if origin.kind == "file" else origin.where
                problems.append(f"{where}: {why}")
            values[key], origins[key] = value, origin
    if problems:
        return Loaded(None, origins, config_file, config_origin, tuple(problems), tuple(unknown_variables(env)))
    settings = Settings(**values)
    root = settings.root.expanduser().resolve()
    settings = msgspec.structs.replace(settings, root=root)
    return Loaded(settings, origins, config_file, config_origin, (), tuple(unknown_variables(env)))


def resolve(
    flags: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Merge flag > environment > config file > default into one validated Settings, or raise ConfigError
    with every problem on one line."""
    loaded = load(flags, config_file, env)
    if loaded.settings is None:
        raise ConfigError("; ".join(loaded.problems))
    return loaded.settings


def root_problem(settings: Settings) -> str | None:
    """Why the root cannot be the daemon's (`run` refuses it; `config check` reports it), or None."""
    if any((settings.root / top).is_dir() for top in ("g", "knowledge")):
        return None
    return f"{settings.root} has neither g/ nor knowledge/: is it the operations repository? Pass --root DIR"


# ----------------------------------------------------------------------------------- reload
@dataclass(frozen=True)
class Reload:
    """What a new configuration changes in a running daemon: the settings to run with from now on
    (restart-only settings keep their running value), the live keys that changed, the keys kept."""

    settings: Settings
    changed: tuple[str, ...]
    kept: tuple[str, ...]


def plan_reload(running: Settings, new: Settings, live: Callable[[str], bool] = LIVE.__contains__) -> Reload:
    """Split the differences between `running` and `new` into the live ones and the ones kept until a restart."""
    differs = [name for name in FIELDS if getattr(running, name) != getattr(new, name)]
    kept = tuple(name for name in differs if not live(name))
    changed = tuple(name for name in differs if live(name))
    applied = msgspec.structs.replace(new, **{name: getattr(running, name) for name in kept})
    return Reload(applied, changed, kept)


def listen_address(text: str) -> tuple[str, int]:
    """`IP:PORT` (an IPv6 address in brackets: `[::1]:9464`) as (host, port); ConfigError otherwise.

    Only an IP literal: a host name can resolve to several addresses, and the listener binds exactly one.
    """
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        version = 6
    else:
        version = 4
    try:
        if not sep or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
            raise ValueError
        if ipaddress.ip_address(host).version != version:
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"metrics_address {text!r} must be IP:PORT with a port 1-65535, e.g. 127.0.0.1:9464 or [::1]:9464"
        ) from None
    return host, int(port)


_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def _fleet_host_problem(value: str) -> str | None:
    if _HOST_NAME.fullmatch(value):
        return None
    return f"fleet_host must be letters, digits, '.', '_' or '-' (at most 63), got {value!r}"


def _keep_local_problem(value: bool) -> str | None:
    # Whether an output is current is answered from the local file (and its footer); without it every
    # sweep would convert and publish again. Refused until that question can be asked of the store.
    return "keep_local = false is not supported yet: the local copy decides what is current"


def _output_url_problem(value: str) -> str | None:
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme == "s3":
        if not parsed.hostname:
            return "output_url s3://bucket/prefix needs a bucket"
        if parsed.username or parsed.password or parsed.query:
            # credentials come only from the AWS variables and files; never echo what was given
            return "output_url must not carry credentials or a query: use the AWS variables or files"
    elif parsed.scheme not in ("", "file"):
        return f"output_url must be a folder, file://... or s3://bucket/prefix, not {parsed.scheme}://"
    return None


def _endpoint_problem(value: str) -> str | None:
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return "s3_endpoint_url must be an http:// or https:// URL with a host"
    if parsed.username or parsed.password:
        return "s3_endpoint_url must not carry credentials: use the AWS variables or files"
    return None


# The publishing settings' checks: a URL we can publish to, a host name that is one path level.
_FLEET_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "fleet_host": _fleet_host_problem,
    "keep_local": _keep_local_problem,
    "output_url": _output_url_problem,
    "s3_endpoint_url": _endpoint_problem,
}
