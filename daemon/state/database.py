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
from zoneinfo import ZoneInfo

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
CREATE TABLE IF NOT EXISTS outbox (
    key TEXT PRIMARY KEY,
    local TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    queued_unix REAL NOT NULL,
    attempts INTEGER NOT NULL,
    next_unix REAL NOT NULL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS published (
    key TEXT PRIMARY KEY,
    etag TEXT NOT NULL,
    size INTEGER NOT NULL,
    source_sha256 TEXT NOT NULL,
    published_at TEXT NOT NULL
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

    def daily_runs(self, since: str, timezone: str = "UTC") -> list[tuple[Any, ...]]:
        """Per calendar day in `timezone` from the instant `since` (ISO, UTC): written, failed, rows written,
        rows rejected (the report's days are its data's calendar, not UTC's)."""
        return self._local_rows(
            "SELECT local_day(at) AS day, sum(outcome = 'written'), sum(outcome = 'failed'),"
            " sum(coalesce(rows_written, 0)), sum(coalesce(rows_rejected, 0)) FROM runs WHERE at >= ?"
            " GROUP BY day ORDER BY day",
            (since,),
            timezone,
        )

    def processing(self, since: str, timezone: str = "UTC") -> list[tuple[Any, ...]]:
        """Written runs from `since`: their calendar day in `timezone` and their duration in milliseconds."""
        return self._local_rows(
            "SELECT local_day(at), duration_ms FROM runs WHERE at >= ? AND outcome = 'written'"
            " AND duration_ms IS NOT NULL ORDER BY id",
            (since,),
            timezone,
        )

    def freshness(self, since: str, timezone: str = "UTC") -> list[tuple[Any, ...]]:
        """Current outputs exported from `since`: the day of export in `timezone`, and the seconds from the
        source's last modification to the output's export (how long a report waited to be queryable)."""
        return self._local_rows(
            "SELECT local_day(o.exported_at), (julianday(o.exported_at) - 2440587.5) * 86400.0 - s.mtime_ns / 1e9"
            " FROM outputs o JOIN sources s ON s.source = o.source WHERE o.exported_at >= ? AND s.mtime_ns > 0",
            (since,),
            timezone,
        )

    def _local_rows(self, sql: str, params: tuple[object, ...], timezone: str) -> list[tuple[Any, ...]]:
        """Run `sql` with `local_day(at)`: the calendar date in `timezone` of a stored UTC instant."""
        tz = ZoneInfo(timezone)

        def local_day(at: str | None) -> str | None:
            if not at:
                return None
            instant = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
            return instant.astimezone(tz).date().isoformat()

        with self._lock:
            self._con.create_function("local_day", 1, local_day, deterministic=True)
            return self._con.execute(sql, params).fetchall()

    def compression_by_dataset(self) -> list[tuple[Any, ...]]:
        """Per dataset of the current outputs: source bytes, Parquet bytes, files, rows (the figures are
        byte-weighted from these sums, see `daemon.analytics.figures`)."""
        return self._rows(
            "SELECT dataset, sum(source_bytes), sum(parquet_bytes), count(*), sum(rows_written)"
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

    def daily_quality(self, since: str, timezone: str = "UTC") -> list[tuple[Any, ...]]:
        """Per calendar day (in `timezone`) of export from the instant `since`: rejected, duplicate, outside-day
        and negative rows, drifted files."""
        try:
            return self._local_rows(
                "SELECT local_day(at) AS day, sum(rows_rejected), sum(duplicate_rows), sum(outside_day),"
                " sum(negative_durations), sum(extra_columns <> '[]' OR missing_columns <> '[]') FROM quality"
                " WHERE at >= ? GROUP BY day ORDER BY day",
                (since,),
                timezone,
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

    # outbox: outputs waiting to be published to output_url ------------------------------------------
    def outbox_put(self, key: str, local: str, at_unix: float) -> None:
        """Queue `key` (due now); a key already queued keeps the time it was first queued."""
        self._rows(
            "INSERT INTO outbox (key, local, queued_at, queued_unix, attempts, next_unix, error)"
            " VALUES (?, ?, ?, ?, 0, 0, NULL)"
            " ON CONFLICT(key) DO UPDATE SET local = excluded.local, next_unix = 0",
            (key, local, now_utc(), at_unix),
        )

    def outbox_due(self, at_unix: float, limit: int = 1000) -> list[tuple[str, str, int]]:
        """(key, local, attempts) of the queued outputs due at `at_unix`, oldest first."""
        return [
            (str(k), str(p), int(n))
            for k, p, n in self._rows(
                "SELECT key, local, attempts FROM outbox WHERE next_unix <= ? ORDER BY queued_unix, key LIMIT ?",
                (at_unix, limit),
            )
        ]

    def outbox_retry(self, key: str, next_unix: float, error: str) -> None:
        self._rows(
            "UPDATE outbox SET attempts = attempts + 1, next_unix = ?, error = ? WHERE key = ?", (next_unix, error, key)
        )

    def outbox_done(self, key: str, *, etag: str, size: int, source_sha256: str) -> None:
        """`key` is published: out of the outbox, and what was published remembered (for the sweep's listing)."""
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._con.execute("DELETE FROM outbox WHERE key = ?", (key,))
                self._con.execute(
                    "INSERT OR REPLACE INTO published (key, etag, size, source_sha256, published_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (key, etag, size, source_sha256, now_utc()),
                )
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def outbox_drop(self, key: str) -> None:
        self._rows("DELETE FROM outbox WHERE key = ?", (key,))

    def outbox(self) -> list[dict[str, Any]]:
        """Every queued output, oldest first (what `status` lists)."""
        try:
            with self._lock:
                cur = self._con.execute(
                    "SELECT key, local, queued_at, queued_unix, attempts, error FROM outbox ORDER BY queued_unix, key"
                )
                names = [d[0] for d in cur.description]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []  # a read-only look at a state file written before publishing existed
            raise

    def outbox_summary(self) -> tuple[int, float | None]:
        """How many outputs are queued, and when (unix time) the oldest of them was queued."""
        try:
            rows = self._rows("SELECT count(*), min(queued_unix) FROM outbox")
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return 0, None
            raise
        count, oldest = rows[0]
        return int(count), (float(oldest) if oldest is not None else None)

    def published(self, key: str) -> tuple[str, int, str] | None:
        """(etag, size, source_sha256) of what this host last published at `key`."""
        rows = self._rows("SELECT etag, size, source_sha256 FROM published WHERE key = ?", (key,))
        return (str(rows[0][0]), int(rows[0][1]), str(rows[0][2])) if rows else None


def _check(con: sqlite3.Connection) -> None:
    """Raise sqlite3.DatabaseError when the database is damaged (SQLite's quick check, every page read once)."""
    rows = con.execute("PRAGMA quick_check").fetchall()
    if rows != [("ok",)]:
        raise sqlite3.DatabaseError(f"quick_check: {rows[0][0] if rows else 'no answer'}")


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _cols(cls: type[OutputRecord] | type[SourceRecord]) -> str:
    return ", ".join(f.name for f in fields(cls))
