"""The daily sweep on APScheduler 3.x: a cron job in the configured timezone, coalesced, with a
misfire grace time so a machine that slept through 05:00 runs one sweep on waking, not seven.
The arithmetic itself (`timeutil.next_sweep`) is pure and tested on its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from daemon.settings import Settings
from daemon.timeutil import next_sweep, parse_sweep_time, zone


class SweepScheduler:
    """Calls `on_sweep()` daily at `sweep_time` in `timezone`."""

    def __init__(self, settings: Settings, on_sweep: Callable[[], None]) -> None:
        self.tz = zone(settings.timezone)
        self.at = parse_sweep_time(settings.sweep_time)
        self._scheduler = BackgroundScheduler(timezone=self.tz, daemon=True)
        self._scheduler.add_job(
            on_sweep,
            CronTrigger(hour=self.at.hour, minute=self.at.minute, timezone=self.tz),
            id="sweep",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=settings.misfire_grace_seconds,
        )

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def next_run(self, now: dt.datetime | None = None) -> dt.datetime:
        """The next sweep instant (from the pure function, so it is right before start() too)."""
        return next_sweep(now or dt.datetime.now(dt.UTC), self.at, self.tz)
