"""Which inputs an export converts: keys resolved, the selection applied, one input per output.

Pure: planning reads file names (and, for undated inputs, nothing yet) and returns what to convert
and the problems it found; it writes nothing. The exporter records the problems.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from daemon.convert.inputs import InputFile, Key, output_path, resolve_key
from daemon.errors import ExporterError
from daemon.settings import Settings
from daemon.specs import DatasetSpec

Mode = Literal["latest", "date", "historical"]


@dataclass(frozen=True)
class Selection:
    """Which inputs an export looks at."""

    mode: Mode = "latest"
    date: dt.date | None = None
    datasets: frozenset[str] = frozenset()

    def wants(self, spec: DatasetSpec) -> bool:
        return not self.datasets or spec.name in self.datasets


@dataclass(frozen=True)
class Planned:
    """One input chosen for its output."""

    item: InputFile
    key: Key
    output: Path


@dataclass(frozen=True)
class Superseded:
    """An input left out because another input makes the same output."""

    item: InputFile
    output: Path
    winner: InputFile


@dataclass
class Plan:
    """What to convert, and what planning found wrong (unkeyed inputs) or left out (superseded ones)."""

    chosen: list[Planned] = field(default_factory=list)
    unkeyed: list[tuple[InputFile, ExporterError]] = field(default_factory=list)
    superseded: list[Superseded] = field(default_factory=list)


def plan(settings: Settings, selection: Selection, items: Iterable[InputFile]) -> Plan:
    """Resolve keys, apply the selection, and pick one input per output (a dated name beats an undated one)."""
    result = Plan()
    planned: list[Planned] = []
    for item in items:
        if not selection.wants(item.spec):
            continue
        try:
            key = resolve_key(item, settings)
        except ExporterError as exc:
            if selection.mode != "date" or not item.dated:
                result.unkeyed.append((item, exc))
            continue
        if selection.mode == "date" and selection.date and not key.covers(selection.date, item.spec.key_kind):
            continue
        planned.append(Planned(item, key, output_path(settings, item.spec, key)))
    by_output: dict[Path, list[Planned]] = {}
    for p in planned:
        by_output.setdefault(p.output, []).append(p)
    chosen: list[Planned] = []
    for group in by_output.values():
        group.sort(key=lambda p: (not p.item.dated, p.item.path.name))
        chosen.append(group[0])
        result.superseded.extend(Superseded(loser.item, loser.output, group[0].item) for loser in group[1:])
    if selection.mode == "latest":
        latest: dict[str, Planned] = {}
        for p in chosen:
            current = latest.get(p.item.spec.name)
            if current is None or (p.key.day, p.key.text) > (current.key.day, current.key.text):
                latest[p.item.spec.name] = p
        chosen = list(latest.values())
    chosen.sort(key=lambda p: (p.item.spec.name, p.key.day, p.item.path.name))
    result.chosen = chosen
    return result
