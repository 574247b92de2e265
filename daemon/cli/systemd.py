"""Render the systemd unit template with real paths (used by scripts/install-systemd and the tests).

The unit's values come from the root's settings as the service will resolve them (its config file, no
environment of the installing shell): `Nice` is the `nice` setting, `WatchdogSec` a multiple of
`heartbeat_seconds`, and `ReadWritePaths` the root plus any output, state or log folder outside it.
"""

from __future__ import annotations

import argparse
import functools
import grp
import math
import os
import pwd
import sys
from pathlib import Path
from typing import Literal

from daemon.errors import ConfigError
from daemon.settings import Settings, resolve

PROJECT_DIR = Path(__file__).resolve().parents[2]
TEMPLATE = PROJECT_DIR / "systemd" / "parquet-exporter.service"
UNIT = "parquet-exporter.service"
Scope = Literal["user", "system"]
WANTED_BY: dict[Scope, str] = {"user": "default.target", "system": "multi-user.target"}
WATCHDOG_HEARTBEATS = 12
WATCHDOG_MIN_SECONDS = 60


def watchdog_seconds(heartbeat_seconds: float) -> int:
    """WatchdogSec for a heartbeat interval: WATCHDOG=1 comes with each heartbeat, so a dozen heartbeats fit
    in it (the worker beats while it converts; a sweep's stat-only stretch or a report holds it briefly),
    and never less than a minute, so a busy machine does not get the daemon killed."""
    return max(WATCHDOG_MIN_SECONDS, math.ceil(WATCHDOG_HEARTBEATS * heartbeat_seconds))


def _plain(value: str) -> str:
    """A value as systemd reads it literally: `%` starts a specifier, so it is doubled; no newline fits."""
    if "\n" in value or "\r" in value:
        raise ConfigError(f"a path with a line break cannot go into a systemd unit: {value!r}")
    return value.replace("%", "%%")


def _quoted(value: str, *, command: bool = False) -> str:
    """One word of a list (or, with `command`, of ExecStart, where `$` expands and is doubled): double-quoted,
    with `\\` and `"` escaped."""
    escaped = _plain(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped.replace("$", "$$") if command else escaped}"'


def _writable(settings: Settings) -> str:
    """The root, then each folder the daemon writes outside it ("-": systemd skips one that does not exist)."""
    root = settings.root
    outside: list[Path] = []
    for written in (settings.output_path, settings.state_path, settings.log_path.parent, settings.report_path.parent):
        folder = written.resolve()
        if not folder.is_relative_to(root) and folder not in outside:
            outside.append(folder)
    return " ".join([_quoted(str(root)), *("-" + _quoted(str(folder)) for folder in outside)])


def render_unit(
    root: Path,
    *,
    project_dir: Path = PROJECT_DIR,
    config: Path | None = None,
    scope: Scope = "user",
    template: Path = TEMPLATE,
) -> str:
    """The unit for `root`, every placeholder replaced; a line whose value is empty is left out."""
    config = config.expanduser().resolve() if config else None
    settings = resolve({"root": root}, config, env={})
    root = settings.root
    executable = project_dir.resolve() / ".venv" / "bin" / "parquet-exporter"
    owner = root.stat()
    user = pwd.getpwuid(owner.st_uid).pw_name if scope == "system" and owner.st_uid != 0 else None
    values: dict[str, str | None] = {
        "@EXEC_START@": " ".join(_quoted(word, command=True) for word in (str(executable), "run", "--root", str(root))),
        "@ROOT@": _plain(str(root)),
        "@CONFIG_ENVIRONMENT@": _quoted(f"PARQUET_EXPORTER_CONFIG={config}") if config else None,
        "@USER@": user,
        "@GROUP@": grp.getgrgid(owner.st_gid).gr_name if user else None,
        "@WATCHDOG_SEC@": str(watchdog_seconds(settings.heartbeat_seconds)),
        "@NICE@": str(settings.nice),
        "@READ_WRITE_PATHS@": _writable(settings),
        "@WANTED_BY@": WANTED_BY[scope],
    }
    lines = []
    for line in template.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            lines.append(line)
        elif not any(placeholder in line and value is None for placeholder, value in values.items()):
            lines.append(functools.reduce(lambda text, kv: text.replace(kv[0], kv[1] or ""), values.items(), line))
    return "\n".join(lines) + "\n"


def unit_path(scope: Scope, env: dict[str, str] | None = None) -> Path:
    """Where the unit is installed: the user's systemd folder, or /etc/systemd/system."""
    env = dict(os.environ) if env is None else env
    if scope == "system":
        return Path("/etc/systemd/system") / UNIT
    config_home = Path(env.get("XDG_CONFIG_HOME") or Path(env.get("HOME", "~")) / ".config").expanduser()
    return config_home / "systemd" / "user" / UNIT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the systemd unit for a root.")
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--scope", choices=("user", "system"), default="user")
    parser.add_argument("--path", action="store_true", help="Print where the unit is installed instead.")
    args = parser.parse_args(argv)
    if args.path:
        print(unit_path(args.scope))
        return 0
    try:
        text = render_unit(args.root, config=args.config, scope=args.scope)
    except (ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
