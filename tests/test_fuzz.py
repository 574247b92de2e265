"""Hypothesis fuzzing of every parser: arbitrary bytes and structured mutations of valid reports.

Whatever the bytes, a reader (for a CSV: the production entry point, `daemon.convert.csv.convert_csv`, via
`tests.csvconvert.convert_bytes`) either raises one of the project's own errors (`ExporterError`) or puts
every record in exactly one of `good` and `bad`; and a whole export of the file is written (rows in = rows
written + rows rejected, both on disk) or failed with a one-line reason, never an internal error.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import hypothesis
import msgspec
import polars as pl
import pytest
from hypothesis import HealthCheck
from hypothesis import strategies as st
from structlog.testing import capture_logs

from daemon.convert import readers
from daemon.convert.coerce import RawTable, coerce
from daemon.convert.exporter import Exporter
from daemon.convert.inputs import classify
from daemon.errors import ExporterError, InputError
from daemon.settings import Settings, resolve
from daemon.specs import INDEX_ADVISOR, OPTIMIZATION_SUMMARY, QUERY_PERF, DatasetSpec
from tests.conftest import HEADER, daily_rows
from tests.csvconvert import convert_bytes

FUZZ = hypothesis.settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------------------- valid seeds
_ROWS = daily_rows(dt.date(2025, 10, 28), 3)
CSV_SEEDS = [
    "\n".join([HEADER, *_ROWS]).encode() + b"\n",
    ("\r\n".join([HEADER.replace(",", ";"), *(r.replace(",", ";") for r in _ROWS)]) + "\r\n").encode(),
    codecs.BOM_UTF8 + "\n".join([HEADER.replace(",", "\t"), _ROWS[0].replace(",", "\t")]).encode(),
    (
        HEADER + '\n2025-10-28T01:02:03+07:00,"h,1","SEL""ECT",1.5,2,1,yes,"multi\nline",,,\n'
        "2025-10-28 04:05,h2,SELECT,,,,,t,i,0.5,0.25\n"
    ).encode(),
    ("\n".join([HEADER, *_ROWS]) + "\n").encode("utf-16"),
]
ADVISOR_SEEDS = [
    json.dumps(
        {
            "timestamp": "2025-10-28T03:00:00Z",
            "recommendations": [
                {"table": "orders", "index": "idx_o", "priority": "high", "estimated_speedup": 3.5},
                {"table_name": "users", "recommended_index": "idx_u", "estimated_cost": 12, "status": None},
                {"table": "items", "query_pattern": "SELECT * FROM items WHERE sku = ?", "timestamp": "2025-10-28"},
            ],
        }
    ).encode(),
    b'{"timestamp": "2025-10-28T03:00:00+07:00", "recommendations": []}',
]
SUMMARY_SEEDS = [
    (
        b"# optimizer run\n"
        b"2025-10-28T03:00:00Z index_created count=3 table=orders note='two words'\n"
        b"[2025-10-28 03:05:00] vacuum duration_ms=12.5\n"
        b"Indexes created: 3\n"
        b"Average speedup (x): 2.75\n"
        b'{"timestamp": "2025-10-28T03:10:00Z", "event_type": "cache", "metric_name": "hit", "metric_value": 0.9,'
        b' "metadata": {"k": [1, 2]}, "extra": true}\n'
    ),
]
ALL_SEEDS = CSV_SEEDS + ADVISOR_SEEDS + SUMMARY_SEEDS

# ------------------------------------------------------------------------------------- mutations
SPECIAL = [
    b'"',
    b'""',
    b",",
    b";",
    b"\t",
    b"|",
    b"\n",
    b"\r",
    b"\r\n",
    b"\n\n",
    codecs.BOM_UTF8,
    codecs.BOM_UTF16_LE,
    codecs.BOM_UTF16_BE,
    b"\x00",
    b"\x1f",
    b"#",
    b"=",
    b":",
    b"{",
    b"}",
    b"[",
    b"]",
    b"\\",
    b"'",
    b" ",
    b"1e400",
    b"-1e400",
    b"9" * 40,
    b"-" + b"9" * 25,
    b"NaN",
    b"Infinity",
    b"-0",
    b"0x1F",
    b"1_000",
    b"[" * 3000,
    b"{" * 3000,
    b'{"a":' * 500,
    b"\xed\xa0\x80",  # an encoded surrogate: not UTF-8
    b"\xc3",  # half a two-byte sequence
    b"\xff",
    "😀".encode(),
    "ทดสอบ".encode(),
    b"9999-12-31T23:59:59-14:00",
    b"0001-01-01T00:00:00+14:00",
    b"99999-01-01",
    b"2025-03-30T02:30:00",
    b"2025-10-26T02:30:00",
    b"2024-02-29",
    b"2025-02-29T00:00:00Z",
    b"+99:99",
    b"Z",
    b"T",
    b"null",
    b"true",
    b"false",
    b'"timestamp"',
    b'"recommendations"',
    b"[]",
    b"{}",
]
tokens = st.one_of(st.sampled_from(SPECIAL), st.binary(min_size=1, max_size=8))


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A valid seed with one to six insertions, deletions, duplications, replacements or a truncation."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["insert", "delete", "duplicate", "replace", "truncate", "line"]))
        at = draw(st.integers(0, len(data)))
        if op == "insert":
            data[at:at] = draw(tokens)
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
        elif op == "replace":
            data[at : at + 1] = draw(tokens)
        elif op == "truncate":
            del data[at:]
        else:  # duplicate a whole line (a second header, a repeated record)
            lines = bytes(data).splitlines(keepends=True)
            if lines:
                i = draw(st.integers(0, len(lines) - 1))
                lines.insert(draw(st.integers(0, len(lines))), lines[i])
                data = bytearray(b"".join(lines))
    return bytes(data)


# ------------------------------------------------------------------- structured, valid-shaped files
TIMESTAMPS = [
    "2025-10-28T03:00:00Z",
    "2025-10-28 03:00",
    "2025-10-28",
    "2025-10-28T03:00:00.123456789Z",
    "2025-10-28T03:00:00+0700",
    "2025-10-28T03:00:00+07",
    "2025-10-28T03:00:00-00:00",
    "2025-10-28T03:00:00z",
    "2025-03-30T02:30:00",  # in Berlin's DST gap
    "2025-10-26T02:30:00",  # in Berlin's repeated hour
    "2024-02-29T12:00:00+05:30",
    "2025-02-29T00:00:00Z",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "99999-01-01",
    "2025-10-28T25:61:61Z",
    "2025-10-28T03:00:00+99:99",
    "2025-13-01",
    "+002025-10-28",
    "1730000000",
    "now",
    " ",
    "",
]
NUMBERS = [
    "0",
    "-0",
    "1.5",
    "1,5",
    ".5",
    "5.",
    "+3",
    " 12 ",
    "1e5",
    "1e400",
    "-1e400",
    "1e-400",
    "9" * 40,
    "-9223372036854775808",
    "9223372036854775807",
    "9223372036854775808",
    "NaN",
    "inf",
    "-Infinity",
    "0x1F",
    "1_000",
    "١٢٣",  # Arabic-Indic digits
    "１２",  # fullwidth digits
    "",
]
BOOLEANS = ["true", "FALSE", "t", "F", "1", "0", "yes", "No", "y", "2", ""]
TRICKY_TEXT = [
    "",
    " ",
    ",",
    ";",
    "\t",
    "|",
    '"',
    '""',
    "a,b",
    'say "hi"',
    "\n",
    "\r\n",
    "\x00",
    "ทดสอบ",
    "😀",
    "#",
    "=",
    "\ud800",  # half a surrogate pair: invalid UTF-8 in a CSV, an escape in JSON
]
texts = st.one_of(st.text(max_size=10), st.sampled_from(TRICKY_TEXT))
cells = {
    "TIMESTAMP": st.one_of(st.sampled_from(TIMESTAMPS), texts),
    "DOUBLE": st.one_of(st.sampled_from(NUMBERS), texts),
    "BIGINT": st.one_of(st.sampled_from(NUMBERS), st.integers(-(2**70), 2**70).map(str)),
    "BOOLEAN": st.one_of(st.sampled_from(BOOLEANS), texts),
    "VARCHAR": texts,
    "JSON": texts,
}


def one_in(n: int) -> st.SearchStrategy[bool]:
    """True about once in `n` draws (Hypothesis favours small integers, so not `integers(0, n - 1) == 0`)."""
    return st.sampled_from(range(n)).map(lambda i: i == n - 1)


def quoted(value: str, delimiter: str) -> str:
    if any(c in value for c in (delimiter, '"', "\n", "\r")) or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """A CSV shaped like a report: header names in any order and case (sometimes one missing, duplicated or
    extra), records of valid and hostile cells, ragged records, blank lines, any delimiter and newline."""
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    columns = list(draw(st.permutations([c for c in QUERY_PERF.input_columns])))
    shape = draw(st.sampled_from(["plain", "plain", "plain", "missing", "duplicate", "extra", "optional-gone"]))
    if shape == "missing":
        columns.pop(draw(st.integers(0, len(columns) - 1)))
    elif shape == "duplicate":
        columns.append(draw(st.sampled_from(columns)))
    elif shape == "optional-gone":
        columns = [c for c in columns if c.required]
    names = [draw(st.sampled_from([c.name, c.name.upper(), f" {c.name} ", f'"{c.name}"'])) for c in columns]
    if shape == "extra":
        names.insert(draw(st.integers(0, len(names))), draw(st.sampled_from(["extra", "", "Notes", "timestamp2"])))
    lines = [delimiter.join(names)]
    valid = [row.split(",") for row in _ROWS]
    spec_index = {c.name: i for i, c in enumerate(QUERY_PERF.input_columns)}
    for _ in range(draw(st.integers(0, 8))):
        base = draw(st.sampled_from(valid))
        values = [draw(cells[c.type]) if draw(one_in(3)) else base[spec_index[c.name]] for c in columns]
        width = draw(st.sampled_from([len(values)] * 6 + [len(values) - 1, len(values) + 1, 1]))
        values = (values + [""] * width)[:width]
        lines.append(delimiter.join(quoted(v, delimiter) for v in values))
        if draw(one_in(6)):
            lines.append(draw(st.sampled_from(["", "   ", delimiter * len(columns)])))
    text = newline.join(lines) + draw(st.sampled_from([newline, ""]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16"]))
    return text.encode(encoding, errors="surrogatepass")


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**80), 2**80),
        st.floats(allow_nan=False, allow_infinity=False),
        texts,
        st.sampled_from(TIMESTAMPS + NUMBERS),
    ),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(texts, children, max_size=3)),
    max_leaves=8,
)
ADVISOR_KEYS = [*(c.name for c in INDEX_ADVISOR.input_columns), *INDEX_ADVISOR.aliases, "extra", ""]


@st.composite
def advisor_files(draw: st.DrawFn) -> bytes:
    """An index-advisor report: a timestamp of any JSON type, and recommendations that are objects with
    known, aliased and unknown keys holding any JSON value, or not objects at all."""
    keys = st.one_of(st.sampled_from(ADVISOR_KEYS), texts)
    recommendation = st.one_of(
        st.dictionaries(keys, st.one_of(st.sampled_from(TIMESTAMPS + NUMBERS), json_values), max_size=6),
        json_values,
    )
    document: dict[str, object] = {
        "timestamp": draw(st.sampled_from(TIMESTAMPS)) if not draw(one_in(4)) else draw(json_values),
        "recommendations": draw(st.lists(recommendation, max_size=6)),
    }
    if draw(one_in(10)):
        document = {k: v for k, v in document.items() if k != draw(st.sampled_from(sorted(document)))}
    return json.dumps(document, ensure_ascii=draw(st.booleans())).encode(errors="surrogatepass")


@st.composite
def summary_files(draw: st.DrawFn) -> bytes:
    """A summary of lines in its three grammars (and none), with hostile timestamps, numbers, keys and JSON."""
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["event", "event", "label", "json", "comment", "blank", "junk"]))
        ts = draw(st.sampled_from(TIMESTAMPS))
        number = draw(st.sampled_from(NUMBERS))
        if kind == "event":
            pairs = " ".join(f"{draw(texts)}={quoted(draw(texts), ' ')}" for _ in range(draw(st.integers(0, 2))))
            bracket = draw(st.booleans())
            stamp = f"[{ts}]" if bracket else ts
            lines.append(f"{stamp} {draw(st.sampled_from(['vacuum', 'index_created', '']))} metric={number} {pairs}")
        elif kind == "label":
            lines.append(f"{draw(st.sampled_from(['Indexes created', 'Speedup (x)', 'a', '']))}: {number}")
        elif kind == "json":
            obj = draw(
                st.dictionaries(
                    st.sampled_from(["timestamp", "event_type", "metric_name", "metric_value", "metadata", "other"]),
                    json_values,
                    max_size=5,
                )
            )
            lines.append(json.dumps(obj))
        elif kind == "comment":
            lines.append("# " + draw(texts))
        elif kind == "blank":
            lines.append(draw(st.sampled_from(["", "   ", "\t"])))
        else:
            lines.append(draw(texts))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return newline.join(lines).encode("utf-8", errors="surrogatepass")


def inputs(own: list[bytes], structured: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, valid-shaped hostile files, and byte-level mutations of those and of valid seeds."""
    return st.one_of(
        st.binary(max_size=400),
        structured,
        structured,
        structured.flatmap(lambda data: mutated([data])),
        mutated(own),
        mutated(ALL_SEEDS),
    )


zones = st.sampled_from(["UTC", "Asia/Bangkok", "Europe/Berlin"])
source_zones = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"])


# ------------------------------------------------------------------------------------ properties
def check_reader(
    read: Callable[[bytes, DatasetSpec], RawTable], spec: DatasetSpec, data: bytes, tz: str, source_tz: str
) -> None:
    """`read` raises an ExporterError or returns a table that `coerce` splits without losing a record."""
    try:
        table = read(data, spec)
    except ExporterError as exc:
        check_reason(exc)
        return
    frame = table.frame.collect() if isinstance(table.frame, pl.LazyFrame) else table.frame
    result = coerce(table, spec, tz, source_tz)
    assert frame.height == result.good.height + result.bad.height
    check_rows(spec, result.good, result.bad)


def check_reason(exc: ExporterError) -> None:
    reason = str(exc)
    assert reason, "an error needs a reason"
    assert "\n" not in reason, "the reason is one line"


def check_rows(spec: DatasetSpec, good: pl.DataFrame, bad: pl.DataFrame) -> None:
    """Good rows have the schema's columns and a timestamp each; every rejected row has a reason."""
    assert list(spec.column_names) == good.columns
    assert 0 == bad["__reason"].null_count()
    assert 0 == good["timestamp"].null_count()


@FUZZ
@hypothesis.given(inputs(CSV_SEEDS, csv_files()), zones, source_zones)
def test_csv_reader_raises_only_exporter_errors_and_loses_no_record(data: bytes, tz: str, source_tz: str) -> None:
    """The CSV entry point on any bytes: an ExporterError, or rows in = good + bad, none lost (checked by
    `convert_bytes` against what the conversion counted)."""
    try:
        result = convert_bytes(data, QUERY_PERF, tz, source_tz)
    except ExporterError as exc:
        check_reason(exc)
        return
    check_rows(QUERY_PERF, result.good, result.bad)


@FUZZ
@hypothesis.given(inputs(ADVISOR_SEEDS, advisor_files()), zones, source_zones)
def test_index_advisor_reader_raises_only_exporter_errors_and_loses_no_record(
    data: bytes, tz: str, source_tz: str
) -> None:
    """`read_index_advisor` on any bytes: an ExporterError, or recommendations that coerce into good + bad."""
    check_reader(readers.read_index_advisor, INDEX_ADVISOR, data, tz, source_tz)


@FUZZ
@hypothesis.given(inputs(SUMMARY_SEEDS, summary_files()), zones, source_zones)
def test_summary_reader_raises_only_exporter_errors_and_loses_no_record(data: bytes, tz: str, source_tz: str) -> None:
    """`read_summary` on any bytes: an ExporterError, or lines that coerce into good + bad, none lost."""
    check_reader(readers.read_summary, OPTIMIZATION_SUMMARY, data, tz, source_tz)


def convert_csv_bytes(data: bytes, spec: DatasetSpec) -> object:
    return convert_bytes(data, spec, "Asia/Bangkok", "UTC")


@pytest.mark.parametrize(
    ("spec", "read"),
    [(QUERY_PERF, convert_csv_bytes), (INDEX_ADVISOR, readers.read_index_advisor)],
    ids=["csv", "index_advisor"],
)
@pytest.mark.parametrize("opener", [b"[", b"{", b'{"a":'])
def test_deep_nesting_is_an_exporter_error_or_rows(
    spec: DatasetSpec, read: Callable[[bytes, DatasetSpec], object], opener: bytes
) -> None:
    """100,000 nested openers end in an ExporterError (or, for the CSV entry point, a schema error), never a
    RecursionError or a crash."""
    with pytest.raises(ExporterError):
        read(opener * 100_000, spec)


def test_deep_nesting_on_a_summary_line_is_a_rejected_row() -> None:
    """A summary line of 100,000 nested `{"a":` is one rejected row saying the JSON is nested too deeply,
    and the good line beside it is kept."""
    data = b"2025-10-28T03:00:00Z vacuum duration_ms=1\n" + b'{"a":' * 100_000 + b"\n"
    result = coerce(readers.read_summary(data, OPTIMIZATION_SUMMARY), OPTIMIZATION_SUMMARY, "UTC", "UTC")
    assert (1, ["JSON nested too deeply"]) == (result.good.height, result.bad["__reason"].to_list())


@pytest.mark.parametrize(
    ("spec", "read", "data"),
    [
        (
            INDEX_ADVISOR,
            readers.read_index_advisor,
            b'{"timestamp": "2025-10-28T03:00:00Z", "recommendations": [{"table": "a\\ud800", "index": "i"}]}',
        ),
        (
            INDEX_ADVISOR,
            readers.read_index_advisor,
            b'{"timestamp": "2025-10-28T03:00:00Z", "recommendations": [{"\\udc00": 1, "table": "t"}]}',
        ),
        (
            INDEX_ADVISOR,
            readers.read_index_advisor,
            b'{"timestamp": "2025-10-28T03:00:00Z\\ud800", "recommendations": [{"table": "t"}]}',
        ),
        (
            OPTIMIZATION_SUMMARY,
            readers.read_summary,
            b'{"timestamp": "2025-10-28T03:00:00Z", "event_type": "x\\ud800", "metric_name": "m", "metric_value": 1}\n',
        ),
        (
            OPTIMIZATION_SUMMARY,
            readers.read_summary,
            b'{"timestamp": "2025-10-28T03:00:00Z", "event_type": "x",'
            b' "metric_name": "m", "metric_value": 1, "note": "\\ud800"}\n',
        ),
    ],
    ids=["advisor-value", "advisor-key", "advisor-timestamp", "summary-field", "summary-metadata"],
)
def test_lone_surrogate_escape_is_a_rejected_row_or_an_unreadable_file(
    spec: DatasetSpec, read: Callable[[bytes, DatasetSpec], RawTable], data: bytes
) -> None:
    """A JSON string escaping half a surrogate pair ("\\ud800") is no Unicode text: the reader rejects that
    record or fails the file with an ExporterError, never a UnicodeEncodeError."""
    try:
        table = read(data, spec)
    except ExporterError:
        return
    result = coerce(table, spec, "UTC", "UTC")
    assert 1 == result.good.height + result.bad.height


QUOTE_QUIRKS = [
    '2025-10-28T00:00:00Z,"h"x,SELECT,1,1,1,true,t,i,,',
    '2025-10-28T00:00:00Z,h,SELECT,1,1,1,true,t,"i" ,,',
    '2025-10-28T00:00:00Z,h",SELECT,1,1,1,true,t,"i,,',
]
QUIRK_IDS = ["text-after-closing-quote", "space-after-closing-quote", "quote-in-unquoted-field"]


@pytest.mark.parametrize("row", QUOTE_QUIRKS, ids=QUIRK_IDS)
def test_quote_quirk_is_read_not_a_polars_error(row: str) -> None:
    """A field with text after its closing quote, or a stray quote in an unquoted field, is read as the csv
    module reads it, or rejected as a row, never a polars ComputeError out of the CSV entry point."""
    data = (HEADER + "\n" + row + "\n").encode()
    result = convert_bytes(data, QUERY_PERF, "UTC", "UTC")
    assert 1 == result.good.height + result.bad.height


@pytest.mark.parametrize("row", QUOTE_QUIRKS, ids=QUIRK_IDS)
def test_quote_quirk_does_not_fail_the_export_as_an_output_error(fuzz_root: Settings, row: str) -> None:
    """Exporting a CSV with such a quote quirk writes it (the row kept or rejected), rather than failing the
    whole file with an output error about writing the Parquet file."""
    path = fuzz_root.root / INPUT_NAMES[QUERY_PERF.name]
    path.write_bytes((HEADER + "\n" + row + "\n").encode())
    item = classify(path, fuzz_root)
    assert item is not None
    with capture_logs():
        outcome = Exporter(fuzz_root, None).convert(item, force=True)
    assert ("written", 1) == (outcome.status, (outcome.rows_written or 0) + (outcome.rows_rejected or 0)), outcome.error


# ------------------------------------------------------------------------- the whole export path
@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A root reused by every example (one input name, rewritten each time); no reject limit, so every
    readable file is written and its counts can be checked."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "g" / "reports").mkdir(parents=True)
    (root / "knowledge" / "optimize").mkdir(parents=True)
    return msgspec.structs.replace(resolve({"root": root}, env={}), max_reject_fraction=1.0)


INPUT_NAMES = {
    QUERY_PERF.name: "g/reports/query_perf_daily_20251028.csv",
    INDEX_ADVISOR.name: "knowledge/optimize/index_advisor_report_20251028.json",
    OPTIMIZATION_SUMMARY.name: "knowledge/optimize/optimization_summary_20251028.txt",
}
EXPORT_INPUTS = {
    QUERY_PERF.name: inputs(CSV_SEEDS, csv_files()),
    INDEX_ADVISOR.name: inputs(ADVISOR_SEEDS, advisor_files()),
    OPTIMIZATION_SUMMARY.name: inputs(SUMMARY_SEEDS, summary_files()),
}


INPUT_ERRORS = {cls.__name__ for cls in InputError.__subclasses__()}


@st.composite
def export_inputs(draw: st.DrawFn) -> tuple[str, bytes]:
    """A dataset name and bytes to export as that dataset's input."""
    name = draw(st.sampled_from(sorted(INPUT_NAMES)))
    return name, draw(EXPORT_INPUTS[name])


@FUZZ
@hypothesis.given(export_inputs())
def test_export_of_any_file_is_written_with_every_row_accounted_for_or_failed(
    fuzz_root: Settings, dataset_and_data: tuple[str, bytes]
) -> None:
    """Exporting any bytes as any input kind (the CSV one streamed from disk) ends written, with rows in =
    rows written + rows rejected and both on disk, or failed with a one-line reason; never an internal error."""
    dataset, data = dataset_and_data
    path = fuzz_root.root / INPUT_NAMES[dataset]
    for other in INPUT_NAMES.values():
        (fuzz_root.root / other).unlink(missing_ok=True)
    path.write_bytes(data)
    item = classify(path, fuzz_root)
    assert item is not None
    with capture_logs() as logs:
        outcome = Exporter(fuzz_root, None).convert(item, force=True)
    assert [] == [e for e in logs if e["event"] == "export.internal_error"]
    if outcome.status == "failed":
        assert outcome.error
        assert "\n" not in outcome.error
        assert not outcome.error.startswith("internal error"), outcome.error
        [failed] = [e for e in logs if e["event"] == "export.failed"]
        assert failed["error_type"] in INPUT_ERRORS, "the output folder is fine: only the file can be at fault"
        return
    assert "written" == outcome.status
    assert outcome.rows_in == (outcome.rows_written or 0) + (outcome.rows_rejected or 0)
    assert outcome.output is not None
    assert outcome.rows_written == pl.read_parquet(fuzz_root.root / outcome.output).height
    rejected = pl.read_parquet(fuzz_root.root / outcome.rejects).height if outcome.rejects else 0
    assert outcome.rows_rejected == rejected


def test_export_fuzz_fixture_names_match_the_specs(fuzz_root: Settings) -> None:
    """Each fuzzed input name is classified as the dataset it is meant for."""
    for dataset, name in INPUT_NAMES.items():
        item = classify(Path(fuzz_root.root / name), fuzz_root)
        assert item is not None
        assert dataset == item.spec.name
