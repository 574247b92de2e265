"""Pure time arithmetic: date keys from file names, ISO weeks, partitions, the next sweep.

Every function here takes plain values and returns plain values, so it can be tested over
tables of fixed datetimes without a clock.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from daemon.errors import BadInputName, ConfigError


def parse_day_key(text: str) -> dt.date:
    """Return the date of a `YYYYMMDD` key, or raise BadInputName for an impossible date."""
    if len(text) != 8 or not (text.isascii() and text.isdigit()):
        raise BadInputName(f"'{text}' is not a YYYYMMDD date")
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as exc:
        raise BadInputName(f"'{text}' is not a real date ({exc})") from None


def parse_week_key(text: str) -> tuple[int, int]:
    """Return (iso_year, iso_week) of a `YYYYWW` key, or raise BadInputName for an impossible week."""
    if len(text) != 6 or not (text.isascii() and text.isdigit()):
        raise BadInputName(f"'{text}' is not a YYYYWW ISO week")
    year, week = int(text[:4]), int(text[4:])
    if year < 1:
        raise BadInputName(f"'{text}' is not a real ISO week (year 0 does not exist)")
    if not 1 <= week <= iso_weeks_in_year(year):
        raise BadInputName(f"'{text}' is not a real ISO week (year {year} has {iso_weeks_in_year(year)} weeks)")
    return year, week


def iso_weeks_in_year(year: int) -> int:
    """Number of ISO weeks (52 or 53) in ISO year `year`."""
    return dt.date(year, 12, 28).isocalendar().week


def iso_week_thursday(year: int, week: int) -> dt.date:
    """The Thursday of ISO week `week` of `year`: the day that decides the week's month."""
    return dt.date.fromisocalendar(year, week, 4)


def iso_week_of(day: dt.date) -> tuple[int, int]:
    """The (iso_year, iso_week) that contains `day`."""
    cal = day.isocalendar()
    return cal.year, cal.week


def partition_dir(day: dt.date) -> str:
    """The hive partition folder for a date: `year=YYYY/month=MM`."""
    return f"year={day.year:04d}/month={day.month:02d}"


def zone(name: str) -> ZoneInfo:
    """Resolve an IANA timezone name, or raise ConfigError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown timezone '{name}'") from None


def local_date(instant_utc: dt.datetime, tz: ZoneInfo) -> dt.date:
    """Calendar date in `tz` of a naive-UTC or aware instant."""
    if instant_utc.tzinfo is None:
        instant_utc = instant_utc.replace(tzinfo=dt.UTC)
    return instant_utc.astimezone(tz).date()


def parse_sweep_time(text: str) -> dt.time:
    """Parse `HH:MM` into a time, or raise ConfigError."""
    try:
        hour, minute = text.split(":")
        return dt.time(int(hour), int(minute))
    except ValueError:
        raise ConfigError(f"sweep_time '{text}' is not HH:MM") from None


def next_sweep(after: dt.datetime, at: dt.time, tz: ZoneInfo) -> dt.datetime:
    """The first wall-clock `at` in `tz` strictly after the aware instant `after`.

    On a day where `at` does not exist (a DST gap) the sweep runs that much later on the new clock
    (02:30 in a 02:00->03:00 gap runs at 03:30); on a day where it exists twice it runs at the first occurrence.
    """
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    # Compare in UTC: aware datetimes sharing one tzinfo compare by wall clock, ignoring fold.
    after = after.astimezone(dt.UTC)
    local = after.astimezone(tz)
    day = local.date()
    for offset in range(0, 3):
        candidate_day = day + dt.timedelta(days=offset)
        naive = dt.datetime.combine(candidate_day, at)
        candidate = naive.replace(tzinfo=tz, fold=0)
        # A wall time inside a DST gap does not round-trip; move past the gap.
        round_trip = candidate.astimezone(dt.UTC).astimezone(tz)
        if round_trip.replace(tzinfo=None) != naive:
            candidate = round_trip
        if candidate > after:
            return candidate
    raise AssertionError("unreachable: a sweep time exists within three days")  # pragma: no cover
