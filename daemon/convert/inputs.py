"""Input discovery and keys: which files are inputs, which dataset they belong to, and their date key.

Names match exactly (case-sensitive); anything else in the input folders is not an input. `ignored`
says why a name is not one, for the daemon's log: a warning for a near miss (`.CSV`, upper case,
`2025-10-31` in the name, `.csv.gz`, `.tsv`, an input of the other folder), info for any other name, debug
for the known noise (editor and system files, temporaries, hidden files, our own outputs). An input is a
regular file, or a symbolic link named like one that leads nowhere (`broken_link`: it fails with that reason).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import re
from collections import OrderedDict
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


# Editor, system and download leftovers, temporaries, hidden files and what this program writes.
_NOISE = re.compile(
    r"\..*|.*~|\#.*\#|4913|~\$.*|Thumbs\.db|desktop\.ini"
    r"|.*\.(?:sw[a-p]|tmp|temp|part|partial|crdownload|download|bak|orig|lock|parquet|html)",
    re.IGNORECASE,
)
_STEM = re.compile(r"[^A-Za-z_]")  # where a pattern's literal start ends (`query_perf_daily_` in its regex)


def _shape(pattern: InputPattern) -> str:
    """A pattern as people read it: `query_perf_daily_YYYYMMDD.csv`."""
    return pattern.regex.replace("([0-9]{8})", "YYYYMMDD").replace("([0-9]{6})", "YYYYWW").replace("\\.", ".")


def ignored(path: Path, settings: Settings) -> tuple[str, str] | None:
    """(level, reason) for a file in an input folder that is not an input; None for an input or a path
    outside the input folders."""
    folders = {settings.reports_path, settings.optimize_path}
    if path.parent not in folders or classify(path, settings) is not None:
        return None
    name = path.name
    if _NOISE.fullmatch(name):
        return "debug", "not an input: editor, system, temporary or output file"
    folded = re.sub(r"[-\s]", "_", name.lower())
    for spec in DATASETS:
        for pattern in spec.patterns:
            if folder_of(settings, pattern) != path.parent:
                if pattern.match(name):
                    home = folder_of(settings, pattern)
                    where = home.relative_to(settings.root) if home.is_relative_to(settings.root) else home
                    return "warning", f"name matches {_shape(pattern)}, which belongs in {where}/"
                continue
            stem = _STEM.split(pattern.regex, maxsplit=1)[0].rstrip("_")
            if stem and folded.startswith(stem):
                return "warning", f"name does not match {_shape(pattern)}"
    return "info", "name does not match any input pattern"


def not_inputs(settings: Settings) -> list[Path]:
    """The regular files in the input folders that are not inputs (for `ignored`), sorted."""
    found: list[Path] = []
    for folder in sorted({settings.reports_path, settings.optimize_path}):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=True) and classify(Path(entry.path), settings) is None:
                    found.append(Path(entry.path))
    return sorted(found)


class OncePerName:
    """Remembers the last `limit` paths it was shown: `first(path)` is True once per path, in bounded memory."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._seen: OrderedDict[Path, None] = OrderedDict()

    def first(self, path: Path) -> bool:
        if path in self._seen:
            self._seen.move_to_end(path)
            return False
        self._seen[path] = None
        if len(self._seen) > self.limit:
            self._seen.popitem(last=False)
        return True


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
        text = readers.index_advisor_timestamp(data, settings.max_line_bytes)
        if text is None:
            raise UnreadableInput("report has no 'timestamp' to date it by")
        instant = readers.parse_instant(text, source_tz)
        if instant is None:
            raise UnreadableInput(f"report timestamp '{text[:40]}' is not ISO 8601")
        day = local_date(instant, tz)
    else:
        text = readers.first_summary_timestamp(data, settings.max_line_bytes)
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


def _partition(settings: Settings, key: Key) -> str:
    """`year=YYYY/month=MM`, after `host=<name>/` when `fleet_host` is set (the layout a fleet shares)."""
    host = settings.host_dir
    return f"{host}/{partition_dir(key.day)}" if host else partition_dir(key.day)


def output_path(settings: Settings, spec: DatasetSpec, key: Key) -> Path:
    return settings.output_path / spec.name / _partition(settings, key) / spec.output_name(key.text)


def rejects_path(settings: Settings, spec: DatasetSpec, key: Key) -> Path:
    return settings.rejects_path / spec.name / _partition(settings, key) / f"{spec.name}_{key.text}_rejects.parquet"
