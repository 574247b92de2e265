"""The embedded SQLite state: what each output was made from, the last seen stat of each source,
and the run history. Losing this file loses no correctness: outputs carry their own metadata.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import threading
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

from daemon.errors import OutputError
from daemon.logconfig import get_logger

log = get_logger()

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
CREATE TABLE IF NOT EXISTS quality (
    run_id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    dataset TEXT NOT NULL,
    source TEXT NOT NULL,
    output TEXT NOT NULL,
    rows INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL,
    duplicate_rows INTEGER NOT NULL,
    outside_day INTEGER NOT NULL,
    negative_durations INTEGER NOT NULL,
    null_counts TEXT NOT NULL,
    extra_columns TEXT NOT NULL,
    missing_columns TEXT NOT NULL,
    seconds REAL
);
"""
# Every table is CREATE ... IF NOT EXISTS: a state file from an older version gains the new tables the first
# time it is opened for writing, and a read-only reader of such a file sees no rows (see `quality()`).


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
    """A thin wrapper over the SQLite state file; paths are stored relative to the root.

    The state is a cache of facts the outputs' footers also hold, so it never stops the exporter: a damaged
    file (SQLite cannot read it, or `PRAGMA quick_check` finds damage) is set aside under a dated name, kept,
    logged `state.damaged`, and a new one is started (the ledger refills it from the footers). A read-only
    reader of a damaged file reads an empty state (`damaged` says why). A folder that cannot be written is an
    OutputError naming it. `lost()` and `reopen()` let the daemon recover a state folder deleted under it.
    """

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self.damaged: str | None = None
        self._lock = threading.RLock()
        self._identity: tuple[int, int] | None = None
        self._con = self._open()

    def _open(self) -> sqlite3.Connection:
        path = self.path
        if self.readonly:
            # A read-only connection to a WAL database creates -wal and -shm files it cannot remove, so a
            # dry run would leave files behind. No -wal means no writer has the database open: read it as
            # immutable, which creates nothing. A live writer has already created both files.
            wal = path.with_name(path.name + "-wal")
            options = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
            con = sqlite3.connect(f"{path.resolve().as_uri()}?{options}", uri=True, timeout=30, isolation_level=None)
            try:
                _check(con)
            except sqlite3.OperationalError:
                con.close()
                raise
            except sqlite3.DatabaseError as exc:
                con.close()
                self.damaged = _first_line(exc)
                con = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                con.executescript(SCHEMA)
            return con
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                con = self._connect()
            except sqlite3.OperationalError:
                raise
            except sqlite3.DatabaseError as exc:
                self._set_aside(exc)
                con = self._connect()
        except (OSError, sqlite3.OperationalError) as exc:
            raise OutputError(f"cannot write the state {path}: {_first_line(exc)}") from None
        with contextlib.suppress(OSError):
            st = os.stat(path)
            self._identity = (st.st_dev, st.st_ino)
        return con

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.executescript(SCHEMA)
            _check(con)
        except BaseException:
            con.close()
            raise
        return con

    def _set_aside(self, exc: sqlite3.DatabaseError) -> None:
        """Rename the damaged file (and its -wal and -shm) to `<name>.damaged-<UTC time>`: kept for a look."""
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        os.replace(self.path, aside)
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            with contextlib.suppress(FileNotFoundError):
                os.replace(side, side.with_name(f"{side.name}.damaged-{stamp}"))
        log.error(
            "state.damaged",
            state=str(self.path),
            set_aside=str(aside),
            error=_first_line(exc),
            detail="a new state is started and refilled from the outputs' footers",
        )

    def lost(self) -> bool:
        """Whether the file this connection writes is no longer at `path` (its folder was deleted or replaced)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return True
        return self._identity is not None and self._identity != (st.st_dev, st.st_ino)

    def reopen(self) -> None:
        """Close and open `path` again (creating the folder and a new database when they are gone)."""
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._con.close()
            self._con = self._open()

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
        """The sources whose last conversion failed or was abandoned (status 'failed' or 'abandoned')."""
        rows = self._rows(
            f"SELECT {_cols(SourceRecord)} FROM sources WHERE status IN ('failed', 'abandoned') ORDER BY source"
        )
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
    ) -> int:
        """Append one run; returns its id."""
        with self._lock:
            cur = self._con.execute(
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
            return int(cur.lastrowid or 0)

    def runs(self, limit: int = 20) -> list[dict[str, object]]:
        with self._lock:
            cur = self._con.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def daily_runs(self, since: str) -> list[tuple[Any, ...]]:
        """Per UTC day from `since` (YYYY-MM-DD): written, failed, rows written, rows rejected."""
        return self._rows(
            "SELECT substr(at, 1, 10) AS day, sum(outcome = 'written'), sum(outcome = 'failed'),"
            " sum(coalesce(rows_written, 0)), sum(coalesce(rows_rejected, 0)) FROM runs WHERE at >= ?"
            " GROUP BY day ORDER BY day",
            (since,),
        )

    def compression_by_dataset(self) -> list[tuple[Any, ...]]:
        """Per dataset of the current outputs: 1 - parquet / source bytes, files, rows."""
        return self._rows(
            "SELECT dataset, 1.0 - CAST(sum(parquet_bytes) AS REAL) / sum(source_bytes), count(*), sum(rows_written)"
            " FROM outputs WHERE source_bytes > 0 GROUP BY dataset ORDER BY dataset"
        )

    # quality -----------------------------------------------------------------------------------
    def put_quality(self, run_id: int, *, dataset: str, source: str, output: str, quality: dict[str, Any]) -> None:
        """Store the data-quality metrics of the output written by run `run_id`."""
        self._rows(
            "INSERT OR REPLACE INTO quality (run_id, at, dataset, source, output, rows, rows_rejected, duplicate_rows,"
            " outside_day, negative_durations, null_counts, extra_columns, missing_columns, seconds)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                run_id,
                now_utc(),
                dataset,
                source,
                output,
                quality["rows"],
                quality["rows_rejected"],
                quality["duplicate_rows"],
                quality["outside_day"],
                quality["negative_durations"],
                json.dumps(quality["null_counts"], sort_keys=True),
                json.dumps(quality["extra_columns"]),
                json.dumps(quality["missing_columns"]),
                quality["seconds"],
            ),
        )

    def daily_quality(self, since: str) -> list[tuple[Any, ...]]:
        """Per UTC day of export from `since`: rejected, duplicate, outside-day and negative rows, drifted files."""
        try:
            return self._rows(
                "SELECT substr(at, 1, 10) AS day, sum(rows_rejected), sum(duplicate_rows), sum(outside_day),"
                " sum(negative_durations), sum(extra_columns <> '[]' OR missing_columns <> '[]') FROM quality"
                " WHERE at >= ? GROUP BY day ORDER BY day",
                (since,),
            )
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise

    def quality(self, limit: int = 20, *, latest_per_output: bool = False) -> list[dict[str, Any]]:
        """The newest quality rows (optionally only the latest per output); none from an older state file."""
        where = "WHERE run_id IN (SELECT max(run_id) FROM quality GROUP BY output)" if latest_per_output else ""
        try:
            with self._lock:
                cur = self._con.execute(f"SELECT * FROM quality {where} ORDER BY run_id DESC LIMIT ?", (limit,))
                names = [d[0] for d in cur.description]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []  # a read-only look at a state file written before quality was recorded
            raise


def _check(con: sqlite3.Connection) -> None:
    """Raise sqlite3.DatabaseError when the database is damaged (SQLite's quick check, every page read once)."""
    rows = con.execute("PRAGMA quick_check").fetchall()
    if rows != [("ok",)]:
        raise sqlite3.DatabaseError(f"quick_check: {rows[0][0] if rows else 'no answer'}")


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _cols(cls: type[OutputRecord] | type[SourceRecord]) -> str:
    return ", ".join(f.name for f in fields(cls))
