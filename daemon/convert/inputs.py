"""Input discovery and keys: which files are inputs, which dataset they belong to, and their date key.

Names match exactly (case-sensitive); anything else in the input folders is ignored silently. An input is a
regular file, or a symbolic link named like one that leads nowhere (`broken_link`: it fails with that reason).
"""

from __future__ import annotations

import datetime as dt
import errno
import os
from dataclasses import dataclass
from pathlib import Path

from daemon.errors import BadInputName, UnreadableInput, map_error
from daemon.settings import Settings
from daemon.specs import DATASETS, DatasetSpec, InputPattern
from daemon.timeutil import (
    iso_week_of,
    iso_week_thursday,
    local_date,
    parse_day_key,
    parse_week_key,
    partition_dir,
    zone,
)


@dataclass(frozen=True)
class InputFile:
    """A file that matched a dataset's pattern; `name_key` is the key text from its name, if dated."""

    spec: DatasetSpec
    path: Path
    name_key: str | None

    @property
    def dated(self) -> bool:
        return self.name_key is not None


@dataclass(frozen=True)
class Key:
    """An input's key: its text in output names and the day that decides its partition."""

    text: str
    day: dt.date

    def covers(self, day: dt.date, kind: str) -> bool:
        if kind == "week":
            year, week = iso_week_of(day)
            return self.text == f"{year:04d}{week:02d}"
        return self.day == day


def folder_of(settings: Settings, pattern: InputPattern) -> Path:
    return settings.reports_path if pattern.folder == "reports" else settings.optimize_path


def classify(path: Path, settings: Settings) -> InputFile | None:
    """The InputFile for `path` if it is an input (right folder, exact name), else None."""
    for spec in DATASETS:
        for pattern in spec.patterns:
            if path.parent != folder_of(settings, pattern):
                continue
            match = pattern.match(path.name)
            if match:
                return InputFile(spec, path, match.group(1) if match.groups() else None)
    return None


def discover(settings: Settings) -> list[InputFile]:
    """Every input file under the input folders, sorted by dataset then name."""
    found: list[InputFile] = []
    folders = {settings.reports_path, settings.optimize_path}
    for folder in sorted(folders):
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            item = classify(Path(entry.path), settings)
            if item is not None and (_regular(entry) or broken_link(item.path) is not None):
                found.append(item)
    order = {spec.name: i for i, spec in enumerate(DATASETS)}
    found.sort(key=lambda f: (order[f.spec.name], f.path.name))
    return found


def _regular(entry: os.DirEntry[str]) -> bool:
    """A regular file (through links); a name that cannot be followed (a link loop) is not one."""
    try:
        return entry.is_file(follow_symlinks=True)
    except OSError:
        return False


def broken_link(path: Path) -> UnreadableInput | None:
    """Why `path` is a symbolic link that leads nowhere (dangling, or a loop), else None.

    Such a name is an input's failure with this reason, found by discovery and by the watcher alike:
    never an error that stops an export, nor a vanished file retried (or logged as deleted) forever.
    """
    try:
        os.stat(path)
    except OSError as exc:
        if not os.path.islink(path):
            return None
        if exc.errno == errno.ELOOP:
            found = map_error(exc, f"reading {path.name}", side="reading")
            return found if isinstance(found, UnreadableInput) else UnreadableInput(str(found))
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return UnreadableInput(f"a dangling symbolic link (its target {target!r} does not exist)")
    return None


def key_from_name(item: InputFile) -> Key:
    """The key of a dated input, from its name (raises BadInputName for impossible dates)."""
    assert item.name_key is not None
    if item.spec.key_kind == "week":
        year, week = parse_week_key(item.name_key)
        return Key(item.name_key, iso_week_thursday(year, week))
    day = parse_day_key(item.name_key)
    return Key(item.name_key, day)


def key_from_content(item: InputFile, data: bytes, settings: Settings) -> Key:
    """The key of an undated input: its report timestamp, first timestamped line, or mtime."""
    from daemon.convert import readers  # polars: loaded only for undated inputs (see `likely_csv_sources`)

    tz = zone(settings.timezone)
    source_tz = zone(settings.source_timezone)
    if item.spec.reader == "index_advisor":
        text = readers.index_advisor_timestamp(data)
        if text is None:
            raise UnreadableInput("report has no 'timestamp' to date it by")
        instant = readers.parse_instant(text, source_tz)
        if instant is None:
            raise UnreadableInput(f"report timestamp '{text[:40]}' is not ISO 8601")
        day = local_date(instant, tz)
    else:
        text = readers.first_summary_timestamp(data)
        instant = readers.parse_instant(text, source_tz) if text else None
        if instant is None:
            mtime = dt.datetime.fromtimestamp(item.path.stat().st_mtime, dt.UTC)
            day = local_date(mtime, tz)
        else:
            day = local_date(instant, tz)
    return Key(day.strftime("%Y%m%d"), day)


def resolve_key(item: InputFile, settings: Settings, data: bytes | None = None) -> Key:
    """The key of any input; reads the file for undated inputs when `data` is not given."""
    if item.dated:
        return key_from_name(item)
    if data is None:
        broken = broken_link(item.path)
        if broken is not None:
            raise broken
        try:
            data = item.path.read_bytes()
        except OSError as exc:
            raise UnreadableInput(f"cannot read: {exc.strerror or exc}") from None
    return key_from_content(item, data, settings)


def likely_csv_sources(
    settings: Settings, day: dt.date | None, historical: bool, datasets: frozenset[str]
) -> list[Path]:
    """The dated CSV inputs an export of `day` (or of the newest inputs) will most likely convert, found
    without loading polars, for `digest.Prefetched` (a guess: the exporter's plan decides; none when
    `historical`). This module imports nothing that loads polars, so the CLI can ask before it does."""
    if historical:
        return []
    newest: dict[str, tuple[Key, Path]] = {}
    found: list[Path] = []
    for item in discover(settings):
        if item.spec.reader != "csv" or not item.dated or (datasets and item.spec.name not in datasets):
            continue
        try:
            key = key_from_name(item)
        except BadInputName:
            continue
        if day is not None:
            if key.covers(day, item.spec.key_kind):
                found.append(item.path)
        else:
            best = newest.get(item.spec.name)
            if best is None or (key.day, key.text) > (best[0].day, best[0].text):
                newest[item.spec.name] = (key, item.path)
    return found if day is not None else [path for _, path in newest.values()]


def output_path(settings: Settings, spec: DatasetSpec, key: Key) -> Path:
    return settings.output_path / spec.name / partition_dir(key.day) / spec.output_name(key.text)


def rejects_path(settings: Settings, spec: DatasetSpec, key: Key) -> Path:
    return settings.rejects_path / spec.name / partition_dir(key.day) / f"{spec.name}_{key.text}_rejects.parquet"
