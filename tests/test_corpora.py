"""Public bad-input corpora (../shared/corpora): every file goes through one export and ends cleanly, and the
CSV reader splits csv-spectrum's acid tests exactly as their expected JSON says.

The corpora's tables are not query_perf reports, so their records are checked with the csv-module reader the
CSV entry point falls back to (`daemon.convert.csv.records.read_csv_records`), given a spec whose columns are
the table's own header (all text, all required).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from daemon.convert.coerce import ERROR, RECORD
from daemon.convert.csv.head import normalise_header, sniff_delimiter
from daemon.convert.csv.records import read_csv_records
from daemon.convert.readers import decode
from daemon.specs import Column, DatasetSpec
from tests.conftest import RunCli


def dated_copies(files: list[Path], folder: Path, template: str, first: dt.date) -> dict[str, Path]:
    """Copy each file to `folder` under `template` with a distinct date; returns {relative source: original}."""
    copies = {}
    for i, path in enumerate(files):
        name = template.format(first + dt.timedelta(days=i))
        shutil.copyfile(path, folder / name)
        copies[f"{folder.parent.name}/{folder.name}/{name}"] = path
    return copies


def test_every_corpus_file_ends_cleanly(root: Path, corpora: Path, run_cli: RunCli) -> None:
    """One `export --historical` over every corpus file: no crash or traceback, each input reported once,
    each failure a one-line reason (never an internal error), and valid JSON never refused as invalid."""
    json_files = sorted((corpora / "JSONTestSuite/test_parsing").glob("*.json"))
    csv_files = sorted((corpora / "csv-spectrum/csvs").glob("*.csv")) + sorted(
        (corpora / "csvkit-examples/examples").glob("*.csv")
    )
    assert len(json_files) >= 300
    assert len(csv_files) >= 70
    copies = dated_copies(
        json_files, root / "knowledge/optimize", "index_advisor_report_{:%Y%m%d}.json", dt.date(2001, 1, 1)
    )
    copies |= dated_copies(csv_files, root / "g/reports", "query_perf_daily_{:%Y%m%d}.csv", dt.date(2011, 1, 1))
    assert len(json_files) + len(csv_files) == len(copies)

    result = run_cli("export", "--historical", "--json", "--root", root)
    assert "Traceback" not in result.out + result.err
    report = result.json()
    assert (1 if report["failed"] else 0) == result.code
    seen = Counter(e["source"] for status in ("written", "skipped", "failed") for e in report[status])
    assert Counter(list(copies)) == seen

    errors = {e["source"]: e["error"] for e in report["failed"]}
    for source, error in errors.items():
        original = copies[source].name
        assert error.strip(), original
        assert not error.rstrip().endswith(":"), (original, error)  # a label with nothing after it says nothing
        assert "\n" not in error, original
        assert "\r" not in error, original
        assert not error.startswith("internal error"), (original, error)
        if original.startswith("y_"):  # valid JSON: may be refused for its shape, never as invalid
            assert not error.startswith(("invalid JSON", "not UTF-8", "JSON nested")), (original, error)
    for source, original in copies.items():
        if original.name.startswith("n_"):  # RFC 8259 says reject
            assert source in errors, original.name
    deep = next(s for s, p in copies.items() if p.name == "n_structure_100000_opening_arrays.json")
    assert "nested too deeply" in errors[deep]
    for entry in report["written"]:
        assert entry["rows_in"] == entry["rows_written"] + entry["rows_rejected"]


def spectrum_cases(corpora: Path) -> list[Path]:
    return sorted((corpora / "csv-spectrum/csvs").glob("*.csv"))


def table_spec(header: list[str]) -> DatasetSpec:
    """A spec whose columns are `header`'s names, every one required text: a file fits it only when its header
    splits into exactly these names."""
    return DatasetSpec(
        name="corpus",
        patterns=(),
        key_kind="day",
        reader="csv",
        columns=tuple(Column(normalise_header(name), "VARCHAR") for name in header),
        view="corpus",
    )


def split(data: bytes, header: list[str]) -> list[tuple[int, list[str | None]]]:
    """The (record number, values in `header`'s order) the csv-module reader splits `data` into; it must find
    exactly `header`'s columns and no record it cannot split."""
    spec = table_spec(header)
    table = read_csv_records(data, spec)
    assert isinstance(table.frame, pl.DataFrame)
    assert [] == table.extra_columns
    assert [] == table.frame.filter(pl.col(ERROR).is_not_null())[ERROR].to_list()
    names = [c.name for c in spec.columns]
    return [(row[0], list(row[1:])) for row in table.frame.select(RECORD, *names).iter_rows()]


def test_csv_spectrum_parses_as_expected(corpora: Path) -> None:
    """Each csv-spectrum CSV whose expected JSON is a header with equal-width rows splits into exactly those."""
    unfit = []
    for path in spectrum_cases(corpora):
        records = json.loads((corpora / "csv-spectrum/json" / f"{path.stem}.json").read_text(encoding="utf-8"))
        if not (isinstance(records, list) and records and all(isinstance(r, dict) for r in records)):
            unfit.append(path.stem)
            continue
        header = list(records[0])
        if not all(list(r) == header for r in records):
            unfit.append(path.stem)
            continue
        expected = [(n, list(r.values())) for n, r in enumerate(records, start=1)]
        assert expected == split(path.read_bytes(), header), path.name
    # Upstream's location_coordinates.json is a bare object (and a different phone number), not a parse.
    assert ["location_coordinates"] == unfit


@pytest.mark.parametrize(
    ("variant", "reference"),
    [
        ("csvkit-examples/examples/optional_quote_characters.csv", "csvkit-examples/examples/dummy.csv"),
        ("csvkit-examples/examples/dummy.tsv", "csvkit-examples/examples/dummy.csv"),
        ("csvkit-examples/examples/test_utf8_bom.csv", "csvkit-examples/examples/test_utf8.csv"),
        ("csvkit-examples/examples/test_utf16_little.csv", "csv-spectrum/csvs/utf8.csv"),
        ("csvkit-examples/examples/test_utf16_big.csv", "csv-spectrum/csvs/utf8.csv"),
        ("csv-spectrum/csvs/simple_crlf.csv", "csv-spectrum/csvs/simple.csv"),
    ],
)
def test_spellings_of_the_same_table_parse_equal(corpora: Path, variant: str, reference: str) -> None:
    """Quoting every field, tabs, a UTF-8 BOM, UTF-16 and CRLF do not change what the CSV reader yields."""
    text = decode((corpora / reference).read_bytes())
    header = next(csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text)))
    expected = split((corpora / reference).read_bytes(), header)
    assert expected, reference
    assert expected == split((corpora / variant).read_bytes(), header)
