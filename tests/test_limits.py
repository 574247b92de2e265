"""Every reader is linear in its input and bounded by `max_line_bytes`: a huge line or a file of zeros fails
fast (CSV, JSON) or is one rejected row with a cut raw value (summary), in bounded memory."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.convert.coerce import LINE, RAW, REASON, coerce
from daemon.convert.lines import long_line
from daemon.convert.readers import read_index_advisor, read_summary, split_words
from daemon.errors import UnreadableInput
from daemon.specs import DATASETS
from tests.conftest import HEADER, RunCli
from tests.csvconvert import convert_bytes
from tests.daemonproc import clean_env, cli

SUMMARY = next(spec for spec in DATASETS if spec.name == "optimization_summary")
ADVISOR = next(spec for spec in DATASETS if spec.name == "index_advisor")
MIB = 1024 * 1024
LIMIT = 4 * MIB  # the default max_line_bytes
# Peak RSS of the whole `export` process may exceed a small file's export by this much (the limit's bound).
MEMORY_MARGIN_MIB = 96
ROW = "2025-10-28T00:00:00Z,h,SELECT,1.5,7,1,true,t,i,1,1\n"

_MEASURE = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, file=sys.stderr); sys.exit(code)"
)


def _export(root: Path) -> tuple[dict[str, list[dict[str, object]]], int, float]:
    """`export --json` on `root` in a child process: its report, its peak RSS (MiB) and seconds."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cli("export", "--json", "--root", str(root))],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
        check=False,
    )
    seconds = time.perf_counter() - started
    return json.loads(done.stdout), int(done.stderr.strip().splitlines()[-1]), seconds


@pytest.fixture(scope="module")
def baseline_mib(tmp_path_factory: pytest.TempPathFactory) -> int:
    """Peak RSS of an export of one small valid daily CSV (the interpreter, polars, DuckDB, ...)."""
    root = tmp_path_factory.mktemp("baseline")
    (root / "g" / "reports").mkdir(parents=True)
    (root / "g" / "reports" / "query_perf_daily_20251028.csv").write_text(HEADER + "\n" + ROW * 100)
    report, peak, _ = _export(root)
    assert 1 == len(report["written"])
    return peak


def _daily(root: Path) -> Path:
    (root / "g" / "reports").mkdir(parents=True, exist_ok=True)
    return root / "g" / "reports" / "query_perf_daily_20251028.csv"


def test_a_file_of_zeros_fails_fast_in_bounded_memory(tmp_path: Path, baseline_mib: int) -> None:
    """200 MB of NUL bytes named like a daily CSV fails in seconds, naming line 1 and the NUL bytes, without
    the memory of holding it."""
    with _daily(tmp_path).open("wb") as fh:
        fh.truncate(200 * MIB)
    report, peak, seconds = _export(tmp_path)
    [failed] = report["failed"]
    assert (
        f"line 1 is longer than max_line_bytes ({LIMIT:,} bytes) (it holds NUL bytes: not a text file?)"
        == (failed["error"])
    )
    assert peak < baseline_mib + MEMORY_MARGIN_MIB, (peak, baseline_mib)
    assert seconds < 15, seconds


def test_a_long_line_in_a_csv_fails_in_bounded_memory(tmp_path: Path, baseline_mib: int) -> None:
    """A 100 MB line without a line end after two good rows fails the file naming line 4, in bounded memory."""
    with _daily(tmp_path).open("wb") as fh:
        fh.write((HEADER + "\n" + ROW * 2).encode())
        fh.write(b"x," * (50 * MIB))
    report, peak, seconds = _export(tmp_path)
    [failed] = report["failed"]
    assert f"line 4 is longer than max_line_bytes ({LIMIT:,} bytes)" == failed["error"]
    assert peak < baseline_mib + MEMORY_MARGIN_MIB, (peak, baseline_mib)
    assert seconds < 15, seconds


def test_a_summary_of_zeros_is_one_rejected_row_in_bounded_memory(tmp_path: Path, baseline_mib: int) -> None:
    """200 MB of NUL bytes named like a summary is one rejected row (raw cut to a KiB), holding the file's bytes
    once (the hash and the key need them) but never decoding or copying the line whole."""
    folder = tmp_path / "knowledge" / "optimize"
    folder.mkdir(parents=True)
    with (folder / "optimization_summary_20251028.txt").open("wb") as fh:
        fh.truncate(200 * MIB)
    report, peak, seconds = _export(tmp_path)
    assert [] == report["written"]  # the only row is rejected: more than max_reject_fraction
    [failed] = report["failed"]
    assert f"line longer than max_line_bytes ({LIMIT:,} bytes): {200 * MIB:,} bytes" in str(failed["error"])
    assert peak < baseline_mib + 200 + MEMORY_MARGIN_MIB, (peak, baseline_mib)
    assert seconds < 15, seconds


def test_a_line_within_the_limit_is_converted(tmp_path: Path, run_cli: RunCli) -> None:
    """A CSV line just under `max_line_bytes` is read as usual (the limit is not a guess of the file's size)."""
    path = _daily(tmp_path)
    path.write_text(HEADER + "\n" + ROW + ROW.replace(",h,", "," + "h" * (LIMIT - len(ROW)) + ",", 1))
    result = run_cli("export", "--json", "--root", tmp_path)
    [written] = json.loads(result.out)["written"]
    assert (2, 2) == (written["rows_in"], written["rows_written"])


def test_a_cr_only_csv_longer_than_the_limit_is_converted() -> None:
    """A CSV whose lines end in CR alone (one LF-less "line" of 4.6 MiB) is not mistaken for a long line."""
    rows = 90_000
    data = (HEADER + "\r" + ROW.replace("\n", "\r") * rows).encode()
    assert len(data) > LIMIT
    result = convert_bytes(data)
    assert (rows, 0) == (result.good.height, result.bad.height)


def test_summary_long_word_is_linear() -> None:
    """A 2 MB `note=` value (minutes before: shlex grew it a character at a time) reads in well under 5 s."""
    data = b"2025-10-28T00:00:00Z ev m=1 note=" + b"y" * (2 * MIB) + b"\n"
    started = time.perf_counter()
    coerced = coerce(read_summary(data, SUMMARY, max_line_bytes=LIMIT), SUMMARY, "Asia/Bangkok", "UTC")
    assert 1 == coerced.good.height
    assert 2 * MIB == len(json.loads(coerced.good["metadata"].item())["note"])
    assert time.perf_counter() - started < 5


def test_summary_label_without_colon_is_linear() -> None:
    """A 1 MB line of blanks with no colon (the label regex once re-scanned them) is rejected in under 5 s."""
    data = b"2025-10-28T00:00:00Z ev m=1\nA" + b" " * MIB + b"x\n"
    started = time.perf_counter()
    coerced = coerce(read_summary(data, SUMMARY, max_line_bytes=LIMIT), SUMMARY, "Asia/Bangkok", "UTC")
    assert (1, 1) == (coerced.good.height, coerced.bad.height)
    assert time.perf_counter() - started < 5


def test_summary_over_long_line_is_a_rejected_row_with_a_cut_raw() -> None:
    """A summary line over the limit is rejected with its size; its raw keeps the first KiB; the rest is written."""
    long_text = "2025-10-28T00:00:01Z ev m=2 note=" + "z" * 5000
    data = ("2025-10-28T00:00:00Z ev m=1\n" + long_text + "\nTables: 3\n").encode()
    coerced = coerce(read_summary(data, SUMMARY, max_line_bytes=4096), SUMMARY, "Asia/Bangkok", "UTC")
    assert [1.0, 3.0] == coerced.good["metric_value"].to_list()
    [(line, raw, reason)] = coerced.bad.select(LINE, RAW, REASON).rows()
    assert 2 == line
    assert f"line longer than max_line_bytes (4,096 bytes): {len(long_text):,} bytes" == reason
    assert raw.startswith(long_text[:1024])
    assert len(raw) < 1100


def test_summary_limit_through_export(tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    """`max_line_bytes` set by the environment rejects the over-long summary line and writes the others."""
    monkeypatch.setenv("PARQUET_EXPORTER_MAX_LINE_BYTES", "2048")
    (tmp_path / "knowledge" / "optimize").mkdir(parents=True)
    data = "2025-10-28T00:00:00Z ev m=1\n2025-10-28T00:00:01Z ev m=2 note=" + "q" * 3000 + "\n"
    (tmp_path / "knowledge" / "optimize" / "optimization_summary_20251028.txt").write_text(data)
    result = run_cli("export", "--json", "--root", tmp_path)
    [written] = json.loads(result.out)["written"]
    assert (2, 1, 1) == (written["rows_in"], written["rows_written"], written["rows_rejected"])
    rejects = pl.read_parquet(tmp_path / written["rejects"])
    assert rejects["raw"].item().endswith("(cut: the line has 3,033 bytes)")


def test_advisor_with_an_over_long_line_fails_with_its_number() -> None:
    """An advisor report (one document, read whole) with a line over the limit fails, naming the line."""
    data = b'{"timestamp": "2025-10-28T01:00:00Z",\n"recommendations": [{"table": "' + b"t" * 500 + b'"}]}'
    with pytest.raises(UnreadableInput, match=r"^line 2 is longer than max_line_bytes \(100 bytes\)$"):
        read_index_advisor(data, ADVISOR, max_line_bytes=100)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=["a", "=", '"', "'", "\\", " ", "\t", "\n", "\r", "é", "\x0b"], max_size=16))
def test_split_words_is_shlex(text: str) -> None:
    """The linear word splitter gives shlex.split's words (POSIX, no comments), or its error."""
    try:
        expected: object = shlex.split(text, comments=False, posix=True)
    except ValueError as exc:
        expected = str(exc)
    try:
        actual: object = split_words(text)
    except ValueError as exc:
        actual = str(exc)
    assert expected == actual


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80).map(lambda b: b.replace(b"\x01", b"\n").replace(b"\x02", b"\r")), st.integers(1, 12))
def test_long_line_finds_the_first_over_long_line(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, limit: int
) -> None:
    """The chunked scan names the same first over-long line as splitting the bytes at LF, CR LF or CR, from
    bytes and from a file."""
    lines = re.split(rb"\r\n|\r|\n", data)
    expected = next((n for n, line in enumerate(lines, 1) if len(line) > limit), None)
    path = tmp_path_factory.mktemp("scan") / "f"
    path.write_bytes(data)
    for source in (data, path):
        found = long_line(source, limit)
        assert expected == (found.number if found else None)
