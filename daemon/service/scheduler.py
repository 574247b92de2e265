"""The daily sweep on APScheduler 3.x: a job in the configured timezone, coalesced, with a misfire
grace time so a machine that slept through 05:00 runs one sweep on waking, not seven.

The job's trigger is the pure `timeutil.next_sweep` (tested on its own), not APScheduler's CronTrigger:
across DST changes CronTrigger skips a day (00:00 in Europe/Berlin: nothing on 2025-03-31) or fires twice
(02:30 in Europe/Berlin on 2025-10-26), and it would disagree with the next sweep the heartbeat shows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from daemon.settings import Settings
from daemon.timeutil import next_sweep, parse_sweep_time, zone


class DailyAt(BaseTrigger):  # type: ignore[misc]  # APScheduler ships no type information
    """An APScheduler trigger that fires once a day at wall-clock `at` in `tz`, by `next_sweep`."""

    __slots__ = ("at", "tz")

    def __init__(self, at: dt.time, tz: ZoneInfo) -> None:
        self.at = at
        self.tz = tz

    def get_next_fire_time(self, previous_fire_time: dt.datetime | None, now: dt.datetime) -> dt.datetime:
        """The first sweep after the previous one, or (the first time) the first one at or after `now`."""
        if previous_fire_time is not None:
            return next_sweep(previous_fire_time, self.at, self.tz)
        return next_sweep(now - dt.timedelta(microseconds=1), self.at, self.tz)

    def __str__(self) -> str:
        return f"daily at {self.at:%H:%M} {self.tz.key}"

    def __repr__(self) -> str:
        return f"<DailyAt ({self})>"


class SweepScheduler:
    """Calls `on_sweep()` daily at `sweep_time` in `timezone`."""

    def __init__(self, settings: Settings, on_sweep: Callable[[], None]) -> None:
        self.tz = zone(settings.timezone)
        self.at = parse_sweep_time(settings.sweep_time)
        self.trigger = DailyAt(self.at, self.tz)
        self._scheduler = BackgroundScheduler(timezone=self.tz, daemon=True)
        self._scheduler.add_job(
            on_sweep,
            self.trigger,
            id="sweep",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=settings.misfire_grace_seconds,
        )

    def reschedule(self, settings: Settings) -> None:
        """Follow new settings (a reload): the next sweep moves to `sweep_time` in `timezone` at once."""
        self.tz = zone(settings.timezone)
        self.at = parse_sweep_time(settings.sweep_time)
        self.trigger = DailyAt(self.at, self.tz)
        self._scheduler.modify_job("sweep", misfire_grace_time=settings.misfire_grace_seconds)
        self._scheduler.reschedule_job("sweep", trigger=self.trigger)

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def next_run(self, now: dt.datetime | None = None) -> dt.datetime:
        """The next sweep instant (from the pure function, so it is right before start() too)."""
        return next_sweep(now or dt.datetime.now(dt.UTC), self.at, self.tz)
