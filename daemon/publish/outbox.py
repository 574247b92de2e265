"""The durable outbox: outputs are queued in the state when written and published when the store takes them.

`daemon.state.outbox.enqueue()` is the ledger's one call (cheap: a row in the state). `Publisher.drain()`
publishes what is due, oldest first, and on a failure backs that output off exponentially and stops the
drain (the store is likely down: the rest wait for the same back-off instead of each paying a timeout).
The daemon keeps converting meanwhile. `Publisher.reconcile()` (the sweep) compares local outputs with
the store, one listing per month folder: missing and outdated objects are queued, orphaned ones (no local
output) are reported, never deleted.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from daemon.convert.writer import is_temporary, read_metadata
from daemon.logconfig import get_logger
from daemon.publish.rule import publish_file
from daemon.publish.target import PublishError, Target
from daemon.publish.targets import open_target
from daemon.settings import Settings
from daemon.state.database import State
from daemon.state.outbox import enqueue, oldest_pending_age, pending_count, remote_key

__all__ = ["Publisher", "backoff", "enqueue", "oldest_pending_age", "pending_count", "remote_key"]

log = get_logger()

BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 300.0


def backoff(attempts: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after the `attempts`-th failure: doubling from 1 s to 5 min, with up to 25% jitter."""
    base = min(BACKOFF_FIRST_SECONDS * 2.0 ** max(attempts - 1, 0), BACKOFF_CAP_SECONDS)
    return base * (1 + 0.25 * rng())


@dataclass
class Drained:
    """What one drain did."""

    created: int = 0
    current: int = 0
    replaced: int = 0
    failed: int = 0
    dropped: int = 0
    pending: int = 0
    published: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def done(self) -> int:
        return self.created + self.current + self.replaced


@dataclass
class Reconciled:
    """What one reconciliation found (keys), and how many listings it cost."""

    missing: list[str] = field(default_factory=list)
    outdated: list[str] = field(default_factory=list)
    orphaned: list[str] = field(default_factory=list)
    listings: int = 0


class Publisher:
    """Publishes one root's outputs to its `output_url` through the state's outbox."""

    def __init__(
        self,
        settings: Settings,
        state: State,
        target: Target | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.state = state
        self.clock = clock
        self._target = target
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    @property
    def target(self) -> Target:
        if self._target is None:
            self._target = open_target(self.settings)
        return self._target

    def enqueue(self, local: Path) -> str | None:
        keys = enqueue(self.settings, self.state, [local], self.clock())
        return keys[0] if keys else None

    def _local(self, stored: str) -> Path:
        return self.settings.path(stored)

    # ------------------------------------------------------------------------------------ drain
    def drain(
        self, *, stop: threading.Event | None = None, force: bool = False, budget_seconds: float | None = None
    ) -> Drained:
        """Publish every due output; stops at the first store failure (backing off), when `stop` is set, or
        after `budget_seconds` (the daemon's loop has a heartbeat to write). `force` ignores the back-off (a
        one-shot export publishes at once)."""
        result = Drained()
        if not self.settings.publishing:
            return result
        started = time.monotonic()
        with self._lock:
            now = self.clock()
            if force or now >= self._blocked_until:
                for key, stored, attempts in self.state.outbox_due(float("inf") if force else now):
                    if stop is not None and stop.is_set():
                        break
                    if budget_seconds is not None and time.monotonic() - started > budget_seconds:
                        break
                    if not self._publish_one(key, stored, attempts, result):
                        break
            result.pending = self.state.outbox_summary()[0]
        return result

    def _publish_one(self, key: str, stored: str, attempts: int, result: Drained) -> bool:
        """Publish one queued output; False when the store failed (the drain stops)."""
        local = self._local(stored)
        if not local.exists():
            # replaced or removed locally (a rejects file no longer needed): nothing of ours to publish
            self.state.outbox_drop(key)
            result.dropped += 1
            log.info("publish.dropped", key=key, detail="local output is gone")
            return True
        meta = read_metadata(local)
        started = time.perf_counter()
        try:
            published = publish_file(self.target, key, local, meta)
        except PublishError as exc:
            wait = backoff(attempts + 1)
            self._blocked_until = self.clock() + wait
            self.state.outbox_retry(key, self.clock() + wait, str(exc))
            result.failed += 1
            result.error = str(exc)
            log.warning("publish.retry_later", key=key, attempt=attempts + 1, in_seconds=round(wait, 2), error=str(exc))
            return False
        self._blocked_until = 0.0
        size = local.stat().st_size
        self.state.outbox_done(key, etag=published.etag, size=size, source_sha256=meta.get("source_sha256", ""))
        setattr(result, published.result, getattr(result, published.result) + 1)
        result.published.append(key)
        log.info(
            "publish." + published.result,
            key=key,
            target=self.target.url,
            bytes=size,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return True

    # -------------------------------------------------------------------------------- reconcile
    def reconcile(self) -> Reconciled:
        """Queue local outputs the store lacks or holds an older version of; report the store's orphans.
        One listing per month folder this host has outputs in."""
        found = Reconciled()
        if not self.settings.publishing:
            return found
        folders: dict[str, dict[str, Path]] = {}
        base = self.settings.output_path
        for dirpath, _, names in os.walk(base):
            for name in names:
                if not name.endswith(".parquet") or is_temporary(Path(name)):
                    continue
                local = Path(dirpath) / name
                key = remote_key(self.settings, local)
                if key is None or "/" not in key:
                    continue
                folder = key.rsplit("/", 1)[0]
                if self.settings.host_dir and self.settings.host_dir not in folder.split("/"):
                    continue  # an output written before fleet_host was set: not in this host's layout
                folders.setdefault(folder, {})[key] = local
        queued = {str(row["key"]) for row in self.state.outbox()}
        for folder, locals_ in sorted(folders.items()):
            remote = self.target.list_folder(folder)
            found.listings += 1
            for key, local in sorted(locals_.items()):
                if key in queued:
                    continue
                if key not in remote:
                    found.missing.append(key)
                elif self._outdated(key, local, remote[key].etag):
                    found.outdated.append(key)
                else:
                    continue
                self.enqueue(local)
            found.orphaned.extend(k for k in sorted(remote) if k not in locals_ and k.endswith(".parquet"))
        return found

    def sweep(self, stop: threading.Event | None = None) -> tuple[Reconciled | None, Drained]:
        """The daily sweep's share: reconcile with the store, then publish what is queued. Never raises."""
        reconciled: Reconciled | None = None
        if not self.settings.publishing:
            return reconciled, Drained()
        try:
            reconciled = self.reconcile()
        except PublishError as exc:
            log.warning("publish.reconcile_failed", target=self.target.url, error=str(exc))
        drained = self.drain(stop=stop, force=True)  # a sweep tries every queued output once, due or not
        log.info(
            "publish.swept",
            target=self.target.url,
            listings=reconciled.listings if reconciled else None,
            missing=len(reconciled.missing) if reconciled else None,
            outdated=len(reconciled.outdated) if reconciled else None,
            orphaned=len(reconciled.orphaned) if reconciled else None,
            published=drained.done,
            pending=drained.pending,
        )
        for key in (reconciled.orphaned if reconciled else [])[:20]:
            log.info("publish.orphan", key=key, detail="in the store, not here; kept")
        return reconciled, drained

    def _outdated(self, key: str, local: Path, remote_etag: str) -> bool:
        """Whether the object is not what this host last published from the current local output."""
        last = self.state.published(key)
        if last is None or last[0] != remote_etag:
            return True  # published by someone else, or changed since: the rule compares footers
        return read_metadata(local).get("source_sha256", "") != last[2]

    # ---------------------------------------------------------------------------- for metrics
    def pending_count(self) -> int:
        return self.state.outbox_summary()[0]

    def oldest_pending_age(self, now: float | None = None) -> float | None:
        """Seconds since the oldest queued output was queued (None when nothing waits)."""
        _, oldest = self.state.outbox_summary()
        return None if oldest is None else max((self.clock() if now is None else now) - oldest, 0.0)
