"""Dataset specs as data: what each input kind looks like and what it becomes.

Everything else (readers, writer, `parquet_schema.json`, the DuckDB views) is derived from
`DATASETS`. Change a schema here, bump its `schema_version`, regenerate with `schema --write`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["TIMESTAMP", "VARCHAR", "DOUBLE", "BIGINT", "BOOLEAN", "DATE", "JSON"]
KeyKind = Literal["day", "week"]
ReaderKind = Literal["csv", "index_advisor", "summary"]
Folder = Literal["reports", "optimize"]


@dataclass(frozen=True)
class Column:
    """One output column: its name, its DuckDB type, and whether a CSV input must carry it."""

    name: str
    type: ColumnType
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class InputPattern:
    """A file name pattern in one input folder; group 1, when it matches, is the key text."""

    folder: Folder
    regex: str
    example: str

    def match(self, name: str) -> re.Match[str] | None:
        return re.fullmatch(self.regex, name)


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: inputs, key kind, reader, schema, and the DuckDB view over its outputs."""

    name: str
    patterns: tuple[InputPattern, ...]
    key_kind: KeyKind
    reader: ReaderKind
    columns: tuple[Column, ...]
    view: str
    schema_version: int = 1
    aliases: dict[str, str] = field(default_factory=dict)
    description: str = ""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def input_columns(self) -> tuple[Column, ...]:
        """Columns that come from the input (all but the derived `date_partition`)."""
        return tuple(c for c in self.columns if c.name != "date_partition")

    def output_name(self, key_text: str) -> str:
        return f"{self.name}_{key_text}.parquet"


_QUERY_PERF_COLUMNS = (
    Column("timestamp", "TIMESTAMP", description="UTC instant of the query"),
    Column("query_hash", "VARCHAR"),
    Column("query_type", "VARCHAR"),
    Column("execution_time_ms", "DOUBLE"),
    Column("rows_examined", "BIGINT"),
    Column("rows_returned", "BIGINT"),
    Column("cache_hit", "BOOLEAN"),
    Column("table_name", "VARCHAR"),
    Column("index_used", "VARCHAR"),
    Column("cpu_time_ms", "DOUBLE", required=False),
    Column("io_wait_ms", "DOUBLE", required=False),
    Column("date_partition", "DATE", description="calendar date of timestamp in the configured timezone"),
)

QUERY_PERF = DatasetSpec(
    name="query_perf",
    patterns=(InputPattern("reports", r"query_perf_daily_([0-9]{8})\.csv", "query_perf_daily_20251028.csv"),),
    key_kind="day",
    reader="csv",
    columns=_QUERY_PERF_COLUMNS,
    view="query_performance",
    description="Daily query-performance rollups.",
)

QUERY_PERF_WEEKLY = DatasetSpec(
    name="query_perf_weekly",
    patterns=(InputPattern("reports", r"query_perf_weekly_([0-9]{6})\.csv", "query_perf_weekly_202544.csv"),),
    key_kind="week",
    reader="csv",
    columns=_QUERY_PERF_COLUMNS,
    view="query_performance_weekly",
    description="Weekly query-performance rollups (ISO weeks), filed under the month of the week's Thursday.",
)

INDEX_ADVISOR = DatasetSpec(
    name="index_advisor",
    patterns=(
        InputPattern("optimize", r"index_advisor_report_([0-9]{8})\.json", "index_advisor_report_20251028.json"),
        InputPattern("optimize", r"index_advisor_report\.json", "index_advisor_report.json"),
    ),
    key_kind="day",
    reader="index_advisor",
    columns=(
        Column("timestamp", "TIMESTAMP"),
        Column("table_name", "VARCHAR"),
        Column("recommended_index", "VARCHAR"),
        Column("query_pattern", "VARCHAR"),
        Column("estimated_speedup", "DOUBLE"),
        Column("estimated_cost", "DOUBLE"),
        Column("priority", "VARCHAR"),
        Column("status", "VARCHAR"),
        Column("date_partition", "DATE"),
    ),
    view="index_recommendations",
    aliases={"table": "table_name", "index": "recommended_index"},
    description="Index-advisor recommendations, one row per recommendation.",
)

OPTIMIZATION_SUMMARY = DatasetSpec(
    name="optimization_summary",
    patterns=(
        InputPattern("optimize", r"optimization_summary_([0-9]{8})\.txt", "optimization_summary_20251028.txt"),
        InputPattern("optimize", r"optimization_summary\.txt", "optimization_summary.txt"),
    ),
    key_kind="day",
    reader="summary",
    columns=(
        Column("timestamp", "TIMESTAMP"),
        Column("event_type", "VARCHAR"),
        Column("metric_name", "VARCHAR"),
        Column("metric_value", "DOUBLE"),
        Column("metadata", "JSON"),
        Column("date_partition", "DATE"),
    ),
    view="optimization_events",
    description="Optimizer events and summary metrics, one row per line.",
)

DATASETS: tuple[DatasetSpec, ...] = (QUERY_PERF, QUERY_PERF_WEEKLY, INDEX_ADVISOR, OPTIMIZATION_SUMMARY)
BY_NAME: dict[str, DatasetSpec] = {spec.name: spec for spec in DATASETS}

REJECTS_COLUMNS: tuple[Column, ...] = (
    Column("dataset", "VARCHAR"),
    Column("source", "VARCHAR", description="source path relative to the root"),
    Column("source_sha256", "VARCHAR"),
    Column("line", "BIGINT", description="1-based line where the record starts (NULL for JSON reports)"),
    Column("record", "BIGINT", description="1-based record number in the file"),
    Column("raw", "VARCHAR", description="the record's raw text"),
    Column("reason", "VARCHAR"),
    Column("rejected_at", "TIMESTAMP"),
)
REJECTS_VIEW = "rejects"
SCHEMA_DOC_VERSION = 1


def schema_document() -> dict[str, object]:
    """The content of `config/parquet_schema.json`, generated from the specs."""

    def cols(columns: tuple[Column, ...]) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for c in columns:
            entry: dict[str, object] = {"name": c.name, "type": c.type, "nullable": True}
            if c.description:
                entry["description"] = c.description
            out.append(entry)
        return out

    return {
        "version": SCHEMA_DOC_VERSION,
        "layout": "<output_dir>/<dataset>/year=YYYY/month=MM/<dataset>_<key>.parquet",
        "datasets": {
            spec.name: {
                "description": spec.description,
                "schema_version": spec.schema_version,
                "inputs": [f"{p.folder}/{p.example}" for p in spec.patterns],
                "key": spec.key_kind,
                "view": spec.view,
                "columns": cols(spec.columns),
                "required_csv_columns": [c.name for c in spec.input_columns if c.required]
                if spec.reader == "csv"
                else None,
            }
            for spec in DATASETS
        },
        "rejects": {"layout": "<output_dir>/_rejects/<dataset>/year=YYYY/month=MM/", "columns": cols(REJECTS_COLUMNS)},
    }


def schema_json() -> str:
    return json.dumps(schema_document(), indent=2) + "\n"
