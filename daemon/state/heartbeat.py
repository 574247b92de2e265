"""The heartbeat: a small JSON file in the state folder, rewritten by the daemon every few seconds.

It is how `status` and `health` (other processes) learn whether the daemon is up and what it is doing.
The format, one object: `pid`, `running` (false once it stopped cleanly), `started`, `updated` (UTC,
ISO 8601 with `Z`), `last_event`, `last_sweep`, `next_sweep`, `pending` (files settling), `counters`, and
`watch`: per input folder (relative to the root) `{"state": "watching" | "lost", "since": UTC, "reason"}`
(lost: the folder was removed, moved away or replaced; watched again once it is back).
Written atomically (a temporary file renamed over it); a failed write is skipped, never fatal.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from pathlib import Path

FILE_NAME = "heartbeat.json"


def heartbeat_path(state_dir: Path) -> Path:
    return state_dir / FILE_NAME


def write_heartbeat(state_dir: Path, document: dict[str, object]) -> None:
    """Replace the heartbeat with `document`; a state folder that cannot be written is skipped this time."""
    path = heartbeat_path(state_dir)
    tmp = path.with_name(f".{FILE_NAME}.tmp-{os.getpid()}")
    with contextlib.suppress(OSError):
        tmp.write_text(json.dumps(document), encoding="utf-8")
        os.replace(tmp, path)


def read_heartbeat(state_dir: Path) -> dict[str, object] | None:
    """The last heartbeat, or None when there is none or it cannot be read."""
    try:
        data = json.loads(heartbeat_path(state_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def heartbeat_age(document: dict[str, object], now: dt.datetime | None = None) -> float | None:
    """Seconds since the heartbeat was written (None when its `updated` is missing or malformed)."""
    updated = document.get("updated")
    if not isinstance(updated, str):
        return None
    try:
        at = dt.datetime.fromisoformat(updated.replace("Z", "+00:00"))
    except ValueError:
        return None
    return ((now or dt.datetime.now(dt.UTC)) - at).total_seconds()
