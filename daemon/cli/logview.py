"""`logs`: the JSON log for people: filter by level, event prefix and age; follow across rotation.

`logs -n N` reads the files from their end, backwards in blocks, and stops at the Nth matching line:
its time and memory follow N (and how far back the matches are), not the size of the log.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.cli.formats import printable

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
BLOCK_BYTES = 256 * 1024


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """`90s`, `15m`, `1h`, `2d`, `1w` ago, or an ISO 8601 instant (naive = UTC)."""
    match = _DURATION.fullmatch(text.strip())
    if match:
        return now - dt.timedelta(seconds=float(match[1]) * _UNIT[match[2]])
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Filter:
    level: str | None = None
    event_prefix: str | None = None
    since: dt.datetime | None = None

    def accepts(self, record: dict[str, Any]) -> bool:
        if self.level and LEVELS.get(str(record.get("level", "")).lower(), 0) < LEVELS[self.level]:
            return False
        if self.event_prefix and not str(record.get("event", "")).startswith(self.event_prefix):
            return False
        if self.since:
            try:
                at = dt.datetime.fromisoformat(str(record.get("timestamp", "")).replace("Z", "+00:00"))
            except ValueError:
                return False
            if at < self.since:
                return False
        return True


def parse_line(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def rotated_files(log_file: Path, backups: int) -> list[Path]:
    """The log and its rotated copies, oldest first."""
    files = [log_file.with_name(f"{log_file.name}.{i}") for i in range(backups, 0, -1)]
    return [f for f in [*files, log_file] if f.exists()]


def tail(log_file: Path, backups: int, n: int | None, flt: Filter) -> list[str]:
    """The last `n` matching lines, oldest first (every line when n is None, none when it is 0), reading
    across rotated files; for a count, from the newest line backwards until `n` lines matched."""
    if n is None:
        return list(_matching(_forward_lines(rotated_files(log_file, backups)), flt))
    found: list[str] = []
    if n == 0:
        return found
    needles = Needles.of(flt)
    for path in reversed(rotated_files(log_file, backups)):
        for raw in reversed_lines(path, needles=needles):
            if needles is not None and not needles.found(raw):
                continue
            line = raw.decode("utf-8", errors="replace")
            record = parse_line(line)
            if record is not None and flt.accepts(record):
                found.append(line)
                if len(found) == n:
                    return found[::-1]
    return found[::-1]


@dataclass(frozen=True)
class Needles:
    """Text that every line a filter accepts contains (its level's name, its event prefix as JSON writes it),
    so a block or a line without it is skipped before any JSON is parsed. Each group is alternatives, one
    of which must occur; a level is matched without regard to case, as the filter does."""

    groups: tuple[tuple[tuple[bytes, ...], bool], ...]

    @classmethod
    def of(cls, flt: Filter) -> Needles | None:
        groups: list[tuple[tuple[bytes, ...], bool]] = []
        if flt.level:
            names = tuple(f'"{name}"'.encode() for name, value in LEVELS.items() if value >= LEVELS[flt.level])
            groups.append((names, True))
        if flt.event_prefix:
            forms = {json.dumps(flt.event_prefix, ensure_ascii=a)[1:-1].encode() for a in (True, False)}
            groups.append((tuple(sorted(forms)), False))
        return cls(tuple(groups)) if groups else None

    def found(self, data: bytes) -> bool:
        folded: bytes | None = None
        for alternatives, fold in self.groups:
            if fold and folded is None:
                folded = data.lower()
            haystack = folded if fold and folded is not None else data
            if not any(a in haystack for a in alternatives):
                return False
        return True


def _matching(lines: Iterable[str], flt: Filter) -> Iterator[str]:
    for line in lines:
        record = parse_line(line)
        if record is not None and flt.accepts(record):
            yield line


def _forward_lines(paths: list[Path]) -> Iterator[str]:
    for path in paths:
        try:
            fh = path.open(encoding="utf-8", errors="replace")
        except FileNotFoundError:  # rotated away between the listing and now
            continue
        with fh:
            for line in fh:
                yield line.rstrip("\n")


def reversed_lines(path: Path, block: int = BLOCK_BYTES, needles: Needles | None = None) -> Iterator[bytes]:
    """The non-empty lines of `path`, last first, read backwards `block` bytes at a time: memory is a block
    and the longest line. The size is taken once, so lines appended meanwhile are not read. With `needles`,
    a block of whole lines that holds none of them is skipped without being split."""
    try:
        fh = path.open("rb")
    except FileNotFoundError:  # rotated away between the listing and now
        return
    with fh:
        end = fh.seek(0, os.SEEK_END)
        partial = b""
        while end > 0:
            start = max(0, end - block)
            fh.seek(start)
            data = fh.read(end - start) + partial
            end = start
            cut = data.find(b"\n") if start > 0 else -1  # before it: the end of a line that starts earlier
            if start > 0 and cut < 0:
                partial = data
                continue
            partial, data = data[: max(cut, 0)], data[cut + 1 :]
            if needles is not None and not needles.found(data):
                continue
            for raw in reversed(data.split(b"\n")):
                if raw:
                    yield raw
        if partial:
            yield partial


def follow(log_file: Path, flt: Filter, stop: Callable[[], bool], poll: float = 0.25) -> Iterator[str]:
    """Yield new matching lines as they are appended; reopen when the file is rotated or truncated."""
    fh = None
    inode = None
    from_end = True
    pending = b""

    def emit(raw: bytes) -> Iterator[str]:
        line = raw.decode("utf-8", errors="replace").rstrip("\n")
        record = parse_line(line)
        if record is not None and flt.accepts(record):
            yield line

    while not stop():
        if fh is None:
            try:
                fh = log_file.open("rb")
            except FileNotFoundError:
                time.sleep(poll)
                continue
            inode = os.fstat(fh.fileno()).st_ino
            if from_end:
                fh.seek(0, os.SEEK_END)
        chunk = fh.readline()
        if chunk:
            pending += chunk
            if pending.endswith(b"\n"):
                yield from emit(pending)
                pending = b""
            continue
        try:
            st = os.stat(log_file)
            rotated = st.st_ino != inode or st.st_size < fh.tell()
        except FileNotFoundError:
            rotated = True
        if rotated:
            for raw in fh:  # what the old file got between our last read and the rotation
                pending += raw
                if pending.endswith(b"\n"):
                    yield from emit(pending)
                    pending = b""
            fh.close()
            fh, from_end, pending = None, False, b""
            continue
        time.sleep(poll)
    if fh is not None:
        fh.close()


_COLOURS = {"debug": "dim", "info": "green", "warning": "yellow", "error": "bold red", "critical": "bold red"}


def human(line: str) -> tuple[str, str]:
    """A log line as `time LEVEL event key=value ...` (control characters escaped: see `printable`), and the
    rich style for its level."""
    record = parse_line(line) or {}
    level = str(record.pop("level", "?")).lower()
    stamp = str(record.pop("timestamp", ""))
    zone_marker = "Z" if stamp.endswith("Z") else stamp[-6:] if stamp[-6:-5] in ("+", "-") and len(stamp) > 19 else ""
    at = stamp[:19].replace("T", " ") + zone_marker  # the zone marker says these are UTC times, not local ones
    event = record.pop("event", "")
    fields = " ".join(f"{k}={v if not isinstance(v, dict | list) else json.dumps(v)}" for k, v in record.items())
    return printable(f"{at} {level.upper():<7} {event} {fields}".rstrip()), _COLOURS.get(level, "")
