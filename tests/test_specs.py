"""Dataset specs are data: the committed schema and views match them, and only exact input names match."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from daemon.analytics.views import views_sql_file
from daemon.convert.inputs import InputFile, classify, key_from_name, output_path, rejects_path
from daemon.errors import BadInputName
from daemon.settings import Settings
from daemon.specs import BY_NAME, DATASETS, INDEX_ADVISOR, QUERY_PERF, QUERY_PERF_WEEKLY, DatasetSpec, schema_json

REPO = Path(__file__).resolve().parents[1]
REGENERATE = "out of date: run `parquet-exporter schema --write` and commit the result"


# ----------------------------------------------------------------------------------- drift
def test_parquet_schema_json_matches_specs() -> None:
    """config/parquet_schema.json is exactly what the specs generate."""
    committed = (REPO / "config" / "parquet_schema.json").read_text(encoding="utf-8")
    assert schema_json() == committed, f"config/parquet_schema.json is {REGENERATE}"


def test_views_sql_matches_specs() -> None:
    """config/views.sql is exactly what the specs generate."""
    committed = (REPO / "config" / "views.sql").read_text(encoding="utf-8")
    assert views_sql_file() == committed, f"config/views.sql is {REGENERATE}"


def test_schema_document_lists_every_dataset_with_its_columns() -> None:
    """The schema document has one entry per spec, columns in spec order, required CSV columns for CSV specs."""
    document = json.loads(schema_json())
    assert [spec.name for spec in DATASETS] == list(document["datasets"])
    for spec in DATASETS:
        entry = document["datasets"][spec.name]
        assert [[c.name, c.type] for c in spec.columns] == [[c["name"], c["type"]] for c in entry["columns"]]
        if spec.reader == "csv":
            assert [c.name for c in spec.input_columns if c.required] == entry["required_csv_columns"]
        else:
            assert entry["required_csv_columns"] is None


# ----------------------------------------------------------------------------------- specs
@pytest.mark.parametrize("spec", DATASETS, ids=lambda s: s.name)
def test_spec_shape(spec: DatasetSpec) -> None:
    """Each spec ends with a DATE date_partition, which is not an input column, and its examples match."""
    assert spec is BY_NAME[spec.name]
    assert ("date_partition", "DATE") == (spec.columns[-1].name, spec.columns[-1].type)
    assert "date_partition" not in [c.name for c in spec.input_columns]
    assert "timestamp" == spec.columns[0].name
    for pattern in spec.patterns:
        assert pattern.match(pattern.example) is not None


def test_output_names() -> None:
    """Outputs are named <dataset>_<key>.parquet."""
    assert "query_perf_20251028.parquet" == QUERY_PERF.output_name("20251028")
    assert "query_perf_weekly_202544.parquet" == QUERY_PERF_WEEKLY.output_name("202544")


def test_optional_columns_are_cpu_and_io_wait() -> None:
    """Only cpu_time_ms and io_wait_ms may be missing from a query_perf CSV."""
    assert ["cpu_time_ms", "io_wait_ms"] == [c.name for c in QUERY_PERF.input_columns if not c.required]


# ------------------------------------------------------------------------------- classify
@pytest.mark.parametrize(
    ("folder", "name", "dataset", "key"),
    [
        ("reports", "query_perf_daily_20251028.csv", "query_perf", "20251028"),
        ("reports", "query_perf_daily_20251301.csv", "query_perf", "20251301"),  # impossible date: still an input
        ("reports", "query_perf_weekly_202544.csv", "query_perf_weekly", "202544"),
        ("optimize", "index_advisor_report_20251028.json", "index_advisor", "20251028"),
        ("optimize", "index_advisor_report.json", "index_advisor", None),
        ("optimize", "optimization_summary_20251028.txt", "optimization_summary", "20251028"),
        ("optimize", "optimization_summary.txt", "optimization_summary", None),
    ],
)
def test_classify_matches_exact_names(
    settings: Settings, folder: str, name: str, dataset: str, key: str | None
) -> None:
    """An exact input name in its folder is classified with its dataset and the key text from the name."""
    directory = settings.reports_path if folder == "reports" else settings.optimize_path
    item = classify(directory / name, settings)
    assert item is not None
    assert (dataset, key, directory / name) == (item.spec.name, item.name_key, item.path)


@pytest.mark.parametrize(
    "name",
    [
        "query_perf_daily_20251028.csv.tmp",
        ".DS_Store",
        "~$query_perf_daily_20251028.csv",
        "Query_perf_daily_20251028.csv",
        "query_perf_daily_20251028.CSV",
        "query_perf_daily_2025102.csv",
        "query_perf_daily_202510281.csv",
        "query_perf_daily_20251028.csv~",
        ".query_perf_daily_20251028.csv.swp",
        "query_perf_daily_20251028 (1).csv",
        "query_perf_daily_2025-10-28.csv",
        "query_perf_daily_.csv",
        "query_perf_weekly_2025441.csv",
        "query_perf_daily_20251028.json",
    ],
)
def test_classify_ignores_near_misses_in_reports(settings: Settings, name: str) -> None:
    """Temporary, hidden, Office lock, differently-cased or mis-keyed names in reports/ are not inputs."""
    assert classify(settings.reports_path / name, settings) is None


@pytest.mark.parametrize(
    "name",
    [
        "index_advisor_report.json.tmp",
        "Index_advisor_report.json",
        "index_advisor_report_2025102.json",
        "index_advisor_report.JSON",
        "optimization_summary.txt.bak",
        "optimization_summary_20251028.log",
        "~$optimization_summary.txt",
    ],
)
def test_classify_ignores_near_misses_in_optimize(settings: Settings, name: str) -> None:
    """Near-miss names in optimize/ are not inputs."""
    assert classify(settings.optimize_path / name, settings) is None


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("optimize", "query_perf_daily_20251028.csv"),
        ("optimize", "query_perf_weekly_202544.csv"),
        ("reports", "index_advisor_report.json"),
        ("reports", "optimization_summary_20251028.txt"),
        ("reports/archive", "query_perf_daily_20251028.csv"),
        ("output", "query_perf_daily_20251028.csv"),
        ("root", "query_perf_daily_20251028.csv"),
    ],
)
def test_classify_requires_the_right_folder(settings: Settings, folder: str, name: str) -> None:
    """An input name in the wrong folder, a subfolder, the output folder or the root is not an input."""
    directories = {
        "reports": settings.reports_path,
        "optimize": settings.optimize_path,
        "reports/archive": settings.reports_path / "archive",
        "output": settings.output_path,
        "root": settings.root,
    }
    assert classify(directories[folder] / name, settings) is None


# ------------------------------------------------------------------------------- name keys
@pytest.mark.parametrize(
    ("spec_name", "key", "day", "partition"),
    [
        ("query_perf", "20251028", dt.date(2025, 10, 28), "year=2025/month=10"),
        ("query_perf_weekly", "202544", dt.date(2025, 10, 30), "year=2025/month=10"),
        ("query_perf_weekly", "202540", dt.date(2025, 10, 2), "year=2025/month=10"),  # Monday is 2025-09-29
        ("query_perf_weekly", "202601", dt.date(2026, 1, 1), "year=2026/month=01"),  # Monday is 2025-12-29
        ("index_advisor", "20240229", dt.date(2024, 2, 29), "year=2024/month=02"),
    ],
)
def test_key_from_name_and_output_path(
    settings: Settings, spec_name: str, key: str, day: dt.date, partition: str
) -> None:
    """A dated name's key decides the partition: the date itself, or the ISO week's Thursday."""
    spec = BY_NAME[spec_name]
    item = InputFile(spec, settings.root / "unused", key)
    resolved = key_from_name(item)
    assert (key, day) == (resolved.text, resolved.day)
    expected = settings.output_path / spec_name / partition / f"{spec_name}_{key}.parquet"
    assert expected == output_path(settings, spec, resolved)
    rejects = settings.output_path / "_rejects" / spec_name / partition / f"{spec_name}_{key}_rejects.parquet"
    assert rejects == rejects_path(settings, spec, resolved)


@pytest.mark.parametrize(
    ("spec", "key"), [(QUERY_PERF, "20251301"), (QUERY_PERF_WEEKLY, "202553"), (INDEX_ADVISOR, "20250229")]
)
def test_key_from_name_rejects_impossible_keys(settings: Settings, spec: DatasetSpec, key: str) -> None:
    """An impossible date or week in a matching name raises BadInputName."""
    with pytest.raises(BadInputName):
        key_from_name(InputFile(spec, settings.root / "unused", key))
