"""DuckDB over the Parquet datasets: the work order's views and macros, `validate`, and `query`.

The views are generated from the specs; `config/views.sql` is the same SQL for the duckdb CLI
(run it from the root: `duckdb -init config/views.sql`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from daemon.convert.writer import read_metadata
from daemon.settings import Settings
from daemon.specs import DATASETS, REJECTS_COLUMNS, REJECTS_VIEW, Column
from daemon.state.database import State

VALIDATION_QUERY = """
SELECT
  date_partition,
  COUNT(*) as query_count,
  AVG(execution_time_ms) as avg_execution_ms,
  MAX(execution_time_ms) as max_execution_ms
FROM query_performance
GROUP BY date_partition
ORDER BY date_partition DESC
LIMIT 30
""".strip()

MACROS = """
CREATE OR REPLACE MACRO avg_query_time(days) AS (
  SELECT AVG(execution_time_ms) FROM query_performance WHERE date_partition >= CURRENT_DATE - CAST(days AS INTEGER)
);
CREATE OR REPLACE MACRO slow_queries(threshold_ms) AS TABLE
  SELECT * FROM query_performance WHERE execution_time_ms > threshold_ms ORDER BY execution_time_ms DESC;
""".strip()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# The partition folders' keys as columns, typed: without hive_types DuckDB guesses per machine (VARCHAR when
# a month 01-09 exists, BIGINT when only 10-12 do), so `WHERE month = 1` would work on one root and fail on another.
HIVE = "hive_partitioning = true, hive_types = {'year': INTEGER, 'month': INTEGER}"
PARTITION_COLUMNS = ("year", "month")
FOLDERS = (*(spec.name for spec in DATASETS), "_rejects")  # every dataset folder, the rejects' too
HIVE_WITH_HOST = "hive_partitioning = true, hive_types = {'host': VARCHAR, 'year': INTEGER, 'month': INTEGER}"


def _empty_select(columns: tuple[Column, ...], hosts: bool = False) -> str:
    cols = ", ".join(f'CAST(NULL AS {c.type}) AS "{c.name}"' for c in columns)
    keys = ", ".join(f'CAST(NULL AS INTEGER) AS "{k}"' for k in PARTITION_COLUMNS)
    host = ', CAST(NULL AS VARCHAR) AS "host"' if hosts else ""
    return f"SELECT {cols}{host}, {keys} WHERE false"


def _views(base: str, files: dict[str, list[str]] | None = None, hosts: bool = False) -> list[str]:
    """CREATE VIEW statements, over `base/<dataset>/**/*.parquet` when `files` is None (the SQL file for the
    duckdb CLI), else over the files listed (a dataset without files gets a typed empty view instead of
    failing; `validate` leaves out the unreadable ones). With `hosts`, every view also has a `host` column
    from the `host=<name>` level.

    DuckDB reads `[`, `*`, `?` in a pattern as glob syntax, so a root named `ops [prod]` matches nothing;
    a listed file is taken as the path it is.
    """
    statements = []
    targets = [(spec.view, spec.name, spec.columns) for spec in DATASETS]
    targets.append((REJECTS_VIEW, "_rejects", REJECTS_COLUMNS))
    hive = HIVE_WITH_HOST if hosts else HIVE
    for view, folder, columns in targets:
        if files is None:
            source: str | None = _quote(f"{base}/{folder}/**/*.parquet")
        else:
            listed = files.get(folder, [])
            source = "[" + ", ".join(_quote(f) for f in listed) + "]" if listed else None
        if source is None:
            body = _empty_select(columns, hosts)
        else:
            body = f"SELECT * FROM read_parquet({source}, {hive}, union_by_name = true)"
        statements.append(f"CREATE OR REPLACE VIEW {view} AS {body};")
    return statements


def views_sql_file() -> str:
    """The SQL shipped as `config/views.sql`, with the default paths relative to the root."""
    header = (
        "-- parquet-exporter views and macros for the duckdb CLI (generated: parquet-exporter schema --write).\n"
        "-- Run from the repository root: duckdb -init config/views.sql\n"
    )
    return header + "\n".join(_views(Settings().output_dir, None)) + "\n" + MACROS + "\n"


@dataclass(frozen=True)
class Dataset:
    """Where the views read: the local output folder, a published folder, or a bucket (`fs` set)."""

    base: str
    fs: Any = None  # an s3fs filesystem for an s3:// base

    def files(self, folder: str) -> list[str]:
        """Every Parquet file below `folder`, as paths DuckDB opens (s3://... for a bucket)."""
        if self.fs is not None:
            found = self.fs.find(f"{self.base}/{folder}")
            return sorted(f"s3://{p}" for p in found if p.endswith(".parquet"))
        path = Path(self.base) / folder
        return [str(p) for p in sorted(path.rglob("*.parquet"))] if path.is_dir() else []


def dataset(settings: Settings) -> Dataset:
    """The dataset the views read: the published one when `output_url` is set (every host), else local."""
    if not settings.output_url:
        return Dataset(str(settings.output_path))
    from daemon.publish.targets import open_target, storage_options

    target = open_target(settings)
    if not target.url.startswith("s3://"):
        return Dataset(str(getattr(target, "root", settings.output_path)))
    import s3fs

    # a fresh listing at every connection: the daemon's report after a sweep must see files published since
    fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False, **storage_options(settings))
    return Dataset(target.url, fs)


def connect(settings: Settings, files: dict[str, list[str]] | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the views and macros defined (over `files` where given)."""
    con = duckdb.connect()
    data = dataset(settings)
    if data.fs is not None:
        con.register_filesystem(data.fs)
    # relative paths in a query (read_parquet('knowledge/...')) mean the root's files, wherever one runs it from
    con.execute(f"SET file_search_path = {_quote(str(settings.root))}")
    listed = files if files is not None else {folder: data.files(folder) for folder in FOLDERS}
    for statement in _views(data.base, listed, hosts=bool(settings.fleet_host)):
        con.execute(statement)
    con.execute(MACROS)
    return con


@dataclass
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    seconds: float
    total: int = 0  # rows the query returned; more than len(rows) when capped by `max_rows`


def run_query(settings: Settings, sql: str, max_rows: int | None = None) -> QueryResult:
    """Run `sql` with the views defined and relative file paths resolved against the root; keep at most
    `max_rows` rows and count the rest in batches (drawing 20,000 rows on a terminal took 44 s)."""
    with connect(settings) as con:
        started = time.perf_counter()
        cursor = con.execute(sql)
        description = cursor.description
        rows: list[tuple[Any, ...]] = []
        total = 0
        if description and max_rows is None:
            rows = cursor.fetchall()
            total = len(rows)
        elif description:
            rows = cursor.fetchmany(max_rows) if max_rows else []
            total = len(rows)
            while batch := cursor.fetchmany(10_000):
                total += len(batch)
        elapsed = time.perf_counter() - started
        columns = [d[0] for d in description or []]
        return QueryResult(columns, [str(d[1]) for d in description or []], rows, elapsed, total)


@dataclass
class Validation:
    files: int = 0
    rows: int = 0
    problems: list[str] = field(default_factory=list)
    query_seconds: float | None = None
    query_rows: list[tuple[Any, ...]] = field(default_factory=list)


def validate_outputs(settings: Settings, state: State | None) -> Validation:
    """Check every output: DuckDB reads it, its types equal the schema, its row count equals the state (or a
    published file's footer); every output the state records exists locally. A bad file is one problem naming
    it, and the checks go on after it."""
    result = Validation()
    readable: dict[str, list[str]] = {}
    seen: set[str] = set()
    data = dataset(settings)
    targets = [(spec.name, [(c.name, c.type) for c in spec.columns]) for spec in DATASETS]
    targets.append(("_rejects", [(c.name, c.type) for c in REJECTS_COLUMNS]))
    with duckdb.connect() as con:
        if data.fs is not None:
            con.register_filesystem(data.fs)
        for name, expected in targets:
            readable[name] = []
            for file in data.files(name):
                path = Path(file)
                rel = str(path.relative_to(settings.root)) if path.is_relative_to(settings.root) else file
                seen.add(rel)
                result.files += 1
                try:
                    described = con.execute(
                        f"DESCRIBE SELECT * FROM read_parquet({_quote(file)}, hive_partitioning = false)"
                    ).fetchall()
                    count = con.execute(
                        f"SELECT COUNT(*) FROM read_parquet({_quote(file)}, hive_partitioning = false)"
                    ).fetchone()
                except duckdb.Error as exc:
                    result.problems.append(f"{rel}: DuckDB cannot read it: {_first_line(exc)}")
                    continue
                readable[name].append(file)
                actual = [(row[0], row[1]) for row in described]
                if actual != expected:
                    result.problems.append(f"{rel}: schema {actual} differs from {expected}")
                rows = int(count[0]) if count else 0
                if name == "_rejects":
                    continue  # rejects carry no recorded count: readable with the right columns is the check
                result.rows += rows
                recorded = _recorded_rows(state, rel, path) if data.fs is None else _footer_rows(con, file)
                if recorded is None:
                    result.problems.append(f"{rel}: no row count recorded in the state or the file's metadata")
                elif recorded != rows:
                    result.problems.append(f"{rel}: {rows} rows, but {recorded} recorded")
    if not settings.output_url:  # the state records this host's local outputs
        for record in state.outputs() if state is not None else []:
            if record.output not in seen:
                result.problems.append(f"{record.output}: recorded in the state but missing")
    started = time.perf_counter()
    try:
        with connect(settings, readable) as con:
            result.query_rows = con.execute(VALIDATION_QUERY).fetchall()
    except duckdb.Error as exc:
        result.problems.append(f"validation query failed: {_first_line(exc)}")
    result.query_seconds = time.perf_counter() - started
    return result


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0]


def _footer_rows(con: duckdb.DuckDBPyConnection, name: str) -> int | None:
    """rows_written from a published file's footer (a bucket's files are not in this host's state)."""
    row = con.execute(
        f"SELECT decode(value) FROM parquet_kv_metadata({_quote(name)})"
        " WHERE decode(key) = 'parquet_exporter.rows_written'"
    ).fetchone()
    try:
        return int(row[0]) if row else None
    except (TypeError, ValueError):
        return None


def _recorded_rows(state: State | None, rel: str, path: Path) -> int | None:
    if state is not None:
        record = state.output(rel)
        if record is not None:
            return record.rows_written
    meta = read_metadata(path)
    try:
        return int(meta["rows_written"])
    except (KeyError, ValueError):
        return None
