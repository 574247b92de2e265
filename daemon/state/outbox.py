"""The outbox's rows in the state: an output queued for publishing when it is written (see `daemon.publish`).

Queuing is a row in the state, written by the ledger beside the output's own record, so an output is
never written without being queued; `daemon.publish.outbox.Publisher` drains the queue.
"""

from __future__ import annotations

import time
from pathlib import Path

from daemon.settings import Settings
from daemon.state.database import State


def remote_key(settings: Settings, local: Path) -> str | None:
    """The key of a local output below `output_url`: its path below the output folder (None outside it)."""
    try:
        return local.relative_to(settings.output_path).as_posix()
    except ValueError:
        return None


def enqueue(settings: Settings, state: State | None, locals_: list[Path], now: float | None = None) -> list[str]:
    """Queue outputs just written (the exporter's seam); nothing when not publishing. Returns their keys."""
    if not settings.publishing or state is None or state.readonly:
        return []
    at = time.time() if now is None else now
    keys = []
    for local in locals_:
        key = remote_key(settings, local)
        if key is not None:
            state.outbox_put(
                key, str(local.relative_to(settings.root)) if local.is_relative_to(settings.root) else str(local), at
            )
            keys.append(key)
    return keys


def pending_count(state: State) -> int:
    """`parquet_exporter_pending_uploads`: outputs written but not yet published."""
    return state.outbox_summary()[0]


def oldest_pending_age(state: State, now: float | None = None) -> float | None:
    """`parquet_exporter_oldest_pending_seconds`: age of the oldest of them (None when none waits)."""
    _, oldest = state.outbox_summary()
    return None if oldest is None else max((time.time() if now is None else now) - oldest, 0.0)
