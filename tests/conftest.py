"""Shared fixtures: a fresh repository root, its settings, and helpers that write report files."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import structlog

from daemon.settings import Settings, resolve

HEADER = (
    "timestamp,query_hash,query_type,execution_time_ms,rows_examined,rows_returned,"
    "cache_hit,table_name,index_used,cpu_time_ms,io_wait_ms"
)
SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPORA = SHARED / "corpora"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty repository root with the two input folders."""
    (tmp_path / "g" / "reports").mkdir(parents=True)
    (tmp_path / "knowledge" / "optimize").mkdir(parents=True)
    return tmp_path


@pytest.fixture
def settings(root: Path) -> Settings:
    """Default settings for `root`, ignoring the caller's environment."""
    return resolve({"root": root}, env={})


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def daily_rows(day: dt.date, n: int = 5) -> list[str]:
    """`n` valid query_perf CSV lines for `day` (UTC timestamps spread over the day)."""
    rows = []
    for i in range(n):
        ts = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=i * (86400 // max(n, 1)))
        rows.append(
            f"{ts.isoformat()}Z,h{i:04x},SELECT,{i * 1.5 + 0.25},{i * 10},{i},{'true' if i % 2 else 'false'},"
            f"table_{i % 3},idx_{i % 2},{i * 0.5},{i * 0.125}"
        )
    return rows


WriteCsv = Callable[..., Path]


@pytest.fixture
def write_daily(root: Path) -> WriteCsv:
    """Write `g/reports/query_perf_daily_<key>.csv` with the given lines (default: five valid rows)."""

    def write(key: str, lines: Sequence[str] | None = None, header: str = HEADER, newline: str = "\n") -> Path:
        if lines is None:
            lines = daily_rows(dt.datetime.strptime(key, "%Y%m%d").date())
        path = root / "g" / "reports" / f"query_perf_daily_{key}.csv"
        path.write_bytes((newline.join([header, *lines]) + newline).encode())
        return path

    return write


@pytest.fixture
def write_advisor(root: Path) -> Callable[..., Path]:
    """Write an index-advisor report (undated name unless `key` is given)."""

    def write(document: object, key: str | None = None) -> Path:
        name = f"index_advisor_report_{key}.json" if key else "index_advisor_report.json"
        path = root / "knowledge" / "optimize" / name
        path.write_text(json.dumps(document) if not isinstance(document, str) else document, encoding="utf-8")
        return path

    return write
