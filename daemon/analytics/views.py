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


def _empty_select(columns: tuple[Column, ...]) -> str:
    cols = ", ".join(f'CAST(NULL AS {c.type}) AS "{c.name}"' for c in columns)
    return f"SELECT {cols} WHERE false"


def _read_parquet(paths: str | list[str]) -> str:
    """A query over one glob (the SQL file for the duckdb CLI) or over a list of files, each a literal path."""
    arg = _quote(paths) if isinstance(paths, str) else "[" + ", ".join(_quote(p) for p in paths) + "]"
    return f"SELECT * FROM read_parquet({arg}, hive_partitioning = false, union_by_name = true)"


def _views(base: str, found: dict[str, list[str]] | None) -> list[str]:
    """CREATE VIEW statements, over `base/<dataset>/**/*.parquet` when `found` is None, else over the files
    listed in `found` (a dataset without files gets a typed empty view instead of failing).

    DuckDB reads `[`, `*`, `?` in a pattern as glob syntax, so a root named `ops [prod]` matches nothing;
    a listed file is taken as the path it is.
    """
    statements = []
    targets = [(spec.view, spec.name, spec.columns) for spec in DATASETS]
    targets.append((REJECTS_VIEW, "_rejects", REJECTS_COLUMNS))
    for view, folder, columns in targets:
        if found is None:
            body = _read_parquet(f"{base}/{folder}/**/*.parquet")
        elif found.get(folder):
            body = _read_parquet(found[folder])
        else:
            body = _empty_select(columns)
        statements.append(f"CREATE OR REPLACE VIEW {view} AS {body};")
    return statements


def views_sql_file() -> str:
    """The SQL shipped as `config/views.sql`, with the default paths relative to the root."""
    header = (
        "-- parquet-exporter views and macros for the duckdb CLI (generated: parquet-exporter schema --write).\n"
        "-- Run from the repository root: duckdb -init config/views.sql\n"
    )
    return header + "\n".join(_views(Settings().output_dir, None)) + "\n" + MACROS + "\n"


def _files(settings: Settings) -> dict[str, list[str]]:
    """Each dataset folder's Parquet files (the rejects' too), as literal paths."""
    out = {}
    for folder in [spec.name for spec in DATASETS] + ["_rejects"]:
        path = settings.output_path / folder
        out[folder] = [str(p) for p in sorted(path.rglob("*.parquet"))] if path.is_dir() else []
    return out


def connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the views and macros defined."""
    con = duckdb.connect()
    for statement in _views(str(settings.output_path), _files(settings)):
        con.execute(statement)
    con.execute(MACROS)
    return con


@dataclass
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    seconds: float


def run_query(settings: Settings, sql: str) -> QueryResult:
    with connect(settings) as con:
        started = time.perf_counter()
        cursor = con.execute(sql)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        elapsed = time.perf_counter() - started
        columns = [d[0] for d in description or []]
        return QueryResult(columns, [str(d[1]) for d in description or []], rows, elapsed)


@dataclass
class Validation:
    files: int = 0
    rows: int = 0
    problems: list[str] = field(default_factory=list)
    query_seconds: float | None = None
    query_rows: list[tuple[Any, ...]] = field(default_factory=list)


def validate(settings: Settings, state: State | None) -> Validation:
    """Check every output: DuckDB reads it, its types equal the schema, its row count equals the state."""
    result = Validation()
    with duckdb.connect() as con:
        for spec in DATASETS:
            expected = [(c.name, c.type) for c in spec.columns]
            folder = settings.output_path / spec.name
            for path in sorted(folder.rglob("*.parquet")) if folder.is_dir() else []:
                rel = str(path.relative_to(settings.root)) if path.is_relative_to(settings.root) else str(path)
                result.files += 1
                try:
                    described = con.execute(
                        f"DESCRIBE SELECT * FROM read_parquet({_quote(str(path))}, hive_partitioning = false)"
                    ).fetchall()
                    count = con.execute(f"SELECT COUNT(*) FROM read_parquet({_quote(str(path))})").fetchone()
                except duckdb.Error as exc:
                    result.problems.append(f"{rel}: DuckDB cannot read it: {str(exc).splitlines()[0]}")
                    continue
                actual = [(row[0], row[1]) for row in described]
                if actual != expected:
                    result.problems.append(f"{rel}: schema {actual} differs from {expected}")
                rows = int(count[0]) if count else 0
                result.rows += rows
                recorded = _recorded_rows(state, rel, path)
                if recorded is None:
                    result.problems.append(f"{rel}: no row count recorded in the state or the file's metadata")
                elif recorded != rows:
                    result.problems.append(f"{rel}: {rows} rows, but {recorded} recorded")
    with connect(settings) as con:
        started = time.perf_counter()
        try:
            result.query_rows = con.execute(VALIDATION_QUERY).fetchall()
        except duckdb.Error as exc:
            result.problems.append(f"validation query failed: {str(exc).splitlines()[0]}")
        result.query_seconds = time.perf_counter() - started
    return result


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
