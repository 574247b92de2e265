"""The embedded SQLite state: what each output was made from, the last seen stat of each source,
and the run history. Losing this file loses no correctness: outputs carry their own metadata.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS outputs (
    output TEXT PRIMARY KEY,
    dataset TEXT NOT NULL,
    source TEXT NOT NULL,
    source_sha256 TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    rows_in INTEGER NOT NULL,
    rows_written INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL,
    source_bytes INTEGER NOT NULL,
    parquet_bytes INTEGER NOT NULL,
    exported_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    source TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    output TEXT,
    status TEXT NOT NULL,
    error TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    dataset TEXT,
    source TEXT NOT NULL,
    output TEXT,
    outcome TEXT NOT NULL,
    rows_in INTEGER,
    rows_written INTEGER,
    rows_rejected INTEGER,
    source_bytes INTEGER,
    parquet_bytes INTEGER,
    duration_ms REAL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS runs_at ON runs(at);
"""


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class OutputRecord:
    """What an output was made from."""

    output: str
    dataset: str
    source: str
    source_sha256: str
    schema_version: int
    rows_in: int
    rows_written: int
    rows_rejected: int
    source_bytes: int
    parquet_bytes: int
    exported_at: str


@dataclass(frozen=True)
class SourceRecord:
    """The last seen stat and outcome of a source file."""

    source: str
    size: int
    mtime_ns: int
    sha256: str
    output: str | None
    status: str
    error: str | None
    updated_at: str


class State:
    """A thin wrapper over the SQLite state file; paths are stored relative to the root."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._lock = threading.RLock()
        if readonly:
            # A read-only connection to a WAL database creates -wal and -shm files it cannot remove, so a
            # dry run would leave files behind. No -wal means no writer has the database open: read it as
            # immutable, which creates nothing. A live writer has already created both files.
            wal = path.with_name(path.name + "-wal")
            options = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
            self._con = sqlite3.connect(
                f"{path.resolve().as_uri()}?{options}", uri=True, timeout=30, isolation_level=None
            )
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=NORMAL")
        self._con.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement under the lock (the daemon's worker threads share this connection)."""
        with self._lock:
            return self._con.execute(sql, params).fetchall()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # outputs -----------------------------------------------------------------------------------
    def output(self, output: str) -> OutputRecord | None:
        rows = self._rows(f"SELECT {_cols(OutputRecord)} FROM outputs WHERE output = ?", (output,))
        return OutputRecord(*rows[0]) if rows else None

    def outputs(self) -> list[OutputRecord]:
        return [OutputRecord(*row) for row in self._rows(f"SELECT {_cols(OutputRecord)} FROM outputs ORDER BY output")]

    def put_output(self, record: OutputRecord) -> None:
        values = astuple(record)
        self._rows(
            f"INSERT OR REPLACE INTO outputs ({_cols(OutputRecord)}) VALUES ({', '.join('?' * len(values))})", values
        )

    # sources -----------------------------------------------------------------------------------
    def source(self, source: str) -> SourceRecord | None:
        rows = self._rows(f"SELECT {_cols(SourceRecord)} FROM sources WHERE source = ?", (source,))
        return SourceRecord(*rows[0]) if rows else None

    def put_source(self, record: SourceRecord) -> None:
        values = astuple(record)
        self._rows(
            f"INSERT OR REPLACE INTO sources ({_cols(SourceRecord)}) VALUES ({', '.join('?' * len(values))})", values
        )

    def failures(self) -> list[SourceRecord]:
        rows = self._rows(f"SELECT {_cols(SourceRecord)} FROM sources WHERE status = 'failed' ORDER BY source")
        return [SourceRecord(*row) for row in rows]

    # runs --------------------------------------------------------------------------------------
    def add_run(
        self,
        *,
        dataset: str | None,
        source: str,
        output: str | None,
        outcome: str,
        rows_in: int | None = None,
        rows_written: int | None = None,
        rows_rejected: int | None = None,
        source_bytes: int | None = None,
        parquet_bytes: int | None = None,
        duration_ms: float | None = None,
        error: str | None = None,
    ) -> None:
        self._rows(
            "INSERT INTO runs (at, dataset, source, output, outcome, rows_in, rows_written, rows_rejected,"
            " source_bytes, parquet_bytes, duration_ms, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                now_utc(),
                dataset,
                source,
                output,
                outcome,
                rows_in,
                rows_written,
                rows_rejected,
                source_bytes,
                parquet_bytes,
                duration_ms,
                error,
            ),
        )

    def runs(self, limit: int = 20) -> list[dict[str, object]]:
        with self._lock:
            cur = self._con.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _cols(cls: type[OutputRecord] | type[SourceRecord]) -> str:
    return ", ".join(f.name for f in fields(cls))
