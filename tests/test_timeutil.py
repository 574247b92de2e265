"""Pure time arithmetic over tables of fixed dates: keys, ISO weeks, partitions, local dates, the next sweep."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from daemon.errors import BadInputName, ConfigError
from daemon.timeutil import (
    iso_week_of,
    iso_week_thursday,
    iso_weeks_in_year,
    local_date,
    next_sweep,
    parse_day_key,
    parse_sweep_time,
    parse_week_key,
    partition_dir,
    zone,
)

UTC = dt.UTC
BANGKOK = ZoneInfo("Asia/Bangkok")
BERLIN = ZoneInfo("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    """An aware UTC datetime."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# ------------------------------------------------------------------------------------ day keys
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20251028", dt.date(2025, 10, 28)),
        ("20250101", dt.date(2025, 1, 1)),
        ("20251231", dt.date(2025, 12, 31)),
        ("20240229", dt.date(2024, 2, 29)),
        ("20000229", dt.date(2000, 2, 29)),
    ],
)
def test_parse_day_key_valid(text: str, expected: dt.date) -> None:
    """A real YYYYMMDD date parses to that date, leap days included."""
    assert expected == parse_day_key(text)


@pytest.mark.parametrize(
    "text",
    [
        "20251301",  # month 13
        "20250229",  # 2025 is not a leap year
        "19000229",  # 1900 is not a leap year
        "20251032",  # day 32
        "20250001",  # month 0
        "20250100",  # day 0
        "00000101",  # year 0
        "2025102",  # too short
        "202510280",  # too long
        "2025-10-",  # non-digits
        "2025102a",
        "",
    ],
)
def test_parse_day_key_rejects_impossible_dates(text: str) -> None:
    """An impossible or malformed YYYYMMDD key raises BadInputName, never ValueError."""
    with pytest.raises(BadInputName):
        parse_day_key(text)


# ----------------------------------------------------------------------------------- week keys
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("202544", (2025, 44)),
        ("202501", (2025, 1)),
        ("202552", (2025, 52)),
        ("202053", (2020, 53)),
        ("202653", (2026, 53)),
        ("201553", (2015, 53)),
    ],
)
def test_parse_week_key_valid(text: str, expected: tuple[int, int]) -> None:
    """A real YYYYWW ISO week parses to (iso_year, iso_week), week 53 only in 53-week years."""
    assert expected == parse_week_key(text)


@pytest.mark.parametrize(
    "text",
    [
        "202553",  # 2025 has 52 ISO weeks
        "202453",  # so has 2024
        "202500",  # week 0
        "202554",
        "202599",
        "000001",  # year 0 does not exist
        "20254",  # too short
        "2025440",  # too long
        "2025W4",  # non-digits
        "",
    ],
)
def test_parse_week_key_rejects_impossible_weeks(text: str) -> None:
    """An impossible or malformed YYYYWW key raises BadInputName, never ValueError."""
    with pytest.raises(BadInputName):
        parse_week_key(text)


@pytest.mark.parametrize(
    ("year", "expected"),
    [(2015, 53), (2020, 53), (2024, 52), (2025, 52), (2026, 53), (2032, 53)],
)
def test_iso_weeks_in_year(year: int, expected: int) -> None:
    """ISO years have 52 weeks, or 53 when they start (or, in leap years, end) on a Thursday."""
    assert expected == iso_weeks_in_year(year)


@pytest.mark.parametrize(
    ("year", "week", "expected"),
    [
        (2026, 1, dt.date(2026, 1, 1)),  # the week starts on Monday 2025-12-29
        (2025, 1, dt.date(2025, 1, 2)),  # the week starts on Monday 2024-12-30
        (2020, 53, dt.date(2020, 12, 31)),
        (2015, 53, dt.date(2015, 12, 31)),
        (2025, 44, dt.date(2025, 10, 30)),
        (2025, 40, dt.date(2025, 10, 2)),  # Monday 2025-09-29: the Thursday is in the next month
        (2024, 5, dt.date(2024, 2, 1)),  # Monday 2024-01-29: likewise
        (2025, 52, dt.date(2025, 12, 25)),
    ],
)
def test_iso_week_thursday(year: int, week: int, expected: dt.date) -> None:
    """The Thursday of an ISO week is the day that files the week under its month."""
    assert expected == iso_week_thursday(year, week)
    assert 3 == expected.weekday()


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2025, 10, 28), (2025, 44)),
        (dt.date(2024, 12, 30), (2025, 1)),  # Monday of 2025's first week
        (dt.date(2021, 1, 3), (2020, 53)),  # Sunday of 2020's last week
        (dt.date(2026, 1, 1), (2026, 1)),
    ],
)
def test_iso_week_of(day: dt.date, expected: tuple[int, int]) -> None:
    """Days near New Year belong to the ISO year of their week's Thursday."""
    assert expected == iso_week_of(day)


# ----------------------------------------------------------------------------------- partitions
@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2025, 10, 28), "year=2025/month=10"),
        (dt.date(2025, 1, 5), "year=2025/month=01"),
        (dt.date(2026, 12, 31), "year=2026/month=12"),
        (dt.date(999, 3, 1), "year=0999/month=03"),
    ],
)
def test_partition_dir(day: dt.date, expected: str) -> None:
    """A date's hive partition folder is year=YYYY/month=MM, zero-padded."""
    assert expected == partition_dir(day)


# ---------------------------------------------------------------------------------- local dates
@pytest.mark.parametrize(
    ("instant", "tz", "expected"),
    [
        (utc(2025, 10, 27, 20, 0), "Asia/Bangkok", dt.date(2025, 10, 28)),
        (utc(2025, 10, 27, 16, 59, 59), "Asia/Bangkok", dt.date(2025, 10, 27)),
        (utc(2025, 10, 27, 17, 0), "Asia/Bangkok", dt.date(2025, 10, 28)),
        (utc(2025, 10, 27, 20, 0), "UTC", dt.date(2025, 10, 27)),
        (utc(2025, 10, 28, 3, 0), "America/Los_Angeles", dt.date(2025, 10, 27)),
        (utc(2025, 12, 31, 23, 30), "Europe/Berlin", dt.date(2026, 1, 1)),
        (dt.datetime(2025, 10, 27, 20, 0), "Asia/Bangkok", dt.date(2025, 10, 28)),  # naive means UTC
        (dt.datetime(2025, 10, 28, 2, 0, tzinfo=BANGKOK), "UTC", dt.date(2025, 10, 27)),
    ],
)
def test_local_date(instant: dt.datetime, tz: str, expected: dt.date) -> None:
    """The calendar date of an instant in a timezone (naive instants are UTC)."""
    assert expected == local_date(instant, ZoneInfo(tz))


def test_zone_resolves_iana_names() -> None:
    """A known IANA name resolves to that ZoneInfo."""
    assert ZoneInfo("Asia/Bangkok") == zone("Asia/Bangkok")


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "", "../etc/passwd", "Asia/"])
def test_zone_rejects_unknown_names(name: str) -> None:
    """An unknown or malformed timezone name raises ConfigError naming it."""
    with pytest.raises(ConfigError, match="unknown timezone"):
        zone(name)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("05:00", dt.time(5, 0)), ("00:00", dt.time(0, 0)), ("23:59", dt.time(23, 59)), ("5:07", dt.time(5, 7))],
)
def test_parse_sweep_time_valid(text: str, expected: dt.time) -> None:
    """HH:MM parses to a wall-clock time."""
    assert expected == parse_sweep_time(text)


@pytest.mark.parametrize("text", ["24:00", "05:60", "05", "05:00:00", "ab:cd", "", "-1:00"])
def test_parse_sweep_time_invalid(text: str) -> None:
    """Anything that is not a valid HH:MM raises ConfigError."""
    with pytest.raises(ConfigError, match="sweep_time"):
        parse_sweep_time(text)


# ---------------------------------------------------------------------------------- next sweep
@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2025, 10, 27, 21, 0), utc(2025, 10, 27, 22, 0)),  # 04:00 in Bangkok -> 05:00 the same day
        (utc(2025, 10, 27, 21, 59, 59), utc(2025, 10, 27, 22, 0)),
        (utc(2025, 10, 27, 22, 0), utc(2025, 10, 28, 22, 0)),  # exactly at the sweep: strictly after
        (dt.datetime(2025, 10, 27, 22, 0, 0, 1, tzinfo=UTC), utc(2025, 10, 28, 22, 0)),
        (utc(2025, 10, 27, 17, 0), utc(2025, 10, 27, 22, 0)),  # Bangkok midnight
        (utc(2025, 10, 27, 16, 59), utc(2025, 10, 27, 22, 0)),  # still 2025-10-27 in Bangkok, sweep passed
        (utc(2025, 10, 27, 12, 0), utc(2025, 10, 27, 22, 0)),
        (utc(2025, 12, 31, 23, 0), utc(2026, 1, 1, 22, 0)),  # year change
        (utc(2024, 2, 28, 23, 0), utc(2024, 2, 29, 22, 0)),  # leap day
        (dt.datetime(2025, 10, 28, 5, 0, tzinfo=BANGKOK), utc(2025, 10, 28, 22, 0)),  # `after` in the sweep's tz
        (dt.datetime(2025, 10, 27, 17, 0, tzinfo=ZoneInfo("America/New_York")), utc(2025, 10, 27, 22, 0)),
    ],
)
def test_next_sweep_bangkok(after: dt.datetime, expected: dt.datetime) -> None:
    """05:00 Asia/Bangkok: the first such wall time strictly after `after`, in whatever zone `after` is given."""
    result = next_sweep(after, dt.time(5, 0), BANGKOK)
    assert expected == result.astimezone(UTC)
    assert dt.time(5, 0) == result.astimezone(BANGKOK).time()


def test_next_sweep_returns_time_in_the_sweep_zone() -> None:
    """The result is expressed in the sweep's timezone."""
    assert BANGKOK == next_sweep(utc(2025, 10, 27, 21, 0), dt.time(5, 0), BANGKOK).tzinfo


def test_next_sweep_dst_gap_resolves_past_the_gap() -> None:
    """On 2025-03-30 Berlin skips 02:00-03:00 CET->CEST; a 02:30 sweep runs once that day, after the gap."""
    after = utc(2025, 3, 29, 23, 0)  # 00:00 CET on the gap day
    result = next_sweep(after, dt.time(2, 30), BERLIN).astimezone(UTC)
    gap_end = utc(2025, 3, 30, 1, 0)  # 03:00 CEST
    assert dt.date(2025, 3, 30) == result.astimezone(BERLIN).date()
    assert gap_end <= result <= gap_end + dt.timedelta(minutes=30)
    assert dt.timedelta(hours=2) == result.astimezone(BERLIN).utcoffset()


def test_next_sweep_after_dst_gap_day_is_back_to_wall_clock() -> None:
    """The day after the gap the 02:30 sweep is again at 02:30 local (CEST)."""
    result = next_sweep(utc(2025, 3, 30, 2, 0), dt.time(2, 30), BERLIN)
    assert utc(2025, 3, 31, 0, 30) == result.astimezone(UTC)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2025, 10, 25, 23, 0), utc(2025, 10, 26, 0, 30)),  # 01:00 CEST -> first 02:30 (CEST, +02:00)
        (utc(2025, 10, 26, 0, 29), utc(2025, 10, 26, 0, 30)),
        (utc(2025, 10, 26, 0, 30), utc(2025, 10, 27, 1, 30)),  # at the first 02:30: not again at the second
        (utc(2025, 10, 26, 1, 0), utc(2025, 10, 27, 1, 30)),  # between the two 02:30s
        (utc(2025, 10, 26, 1, 30), utc(2025, 10, 27, 1, 30)),  # at the second 02:30 (CET)
        (dt.datetime(2025, 10, 26, 2, 15, fold=1, tzinfo=BERLIN), utc(2025, 10, 27, 1, 30)),  # 02:15 CET
        (dt.datetime(2025, 10, 26, 2, 15, fold=0, tzinfo=BERLIN), utc(2025, 10, 26, 0, 30)),  # 02:15 CEST
    ],
)
def test_next_sweep_fall_back_runs_at_first_occurrence(after: dt.datetime, expected: dt.datetime) -> None:
    """On 2025-10-26 Berlin repeats 02:00-03:00; a 02:30 sweep runs at the first 02:30 only, once."""
    assert expected == next_sweep(after, dt.time(2, 30), BERLIN).astimezone(UTC)


@pytest.mark.parametrize("tz_name", ["Europe/Berlin", "America/New_York", "Asia/Bangkok", "Australia/Lord_Howe"])
@pytest.mark.parametrize("at", [dt.time(2, 30), dt.time(5, 0), dt.time(0, 0)])
def test_next_sweep_is_strictly_after_and_within_a_day(tz_name: str, at: dt.time) -> None:
    """Every 20 minutes around both 2025 DST changes, the next sweep is after `after` and at most 25 h later."""
    tz = ZoneInfo(tz_name)
    starts = [utc(2025, 3, 28), utc(2025, 4, 4), utc(2025, 10, 24), utc(2025, 11, 1)]
    for start in starts:
        for step in range(3 * 24 * 3):
            after = start + dt.timedelta(minutes=20 * step)
            result = next_sweep(after, at, tz)
            assert result.astimezone(UTC) > after
            assert result.astimezone(UTC) - after <= dt.timedelta(hours=25)
            # The sweep is never more than a day away, and never skipped: the local date is today or tomorrow.
            local_day = after.astimezone(tz).date()
            assert result.astimezone(tz).date() in (local_day, local_day + dt.timedelta(days=1))


def test_next_sweep_rejects_naive_after() -> None:
    """A naive `after` is ambiguous and raises ValueError."""
    with pytest.raises(ValueError, match="timezone-aware"):
        next_sweep(dt.datetime(2025, 10, 28, 5, 0), dt.time(5, 0), BANGKOK)
