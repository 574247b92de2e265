"""Faults at the file-system boundary: a read-only output folder, an unreadable source, and a source that is
deleted, truncated or replaced while it is being converted. Each ends in a clear error or a retry, never a
crash, and never in an output that mixes two versions of its source or names the wrong one in its footer.

The faults are injected between the exporter's steps by wrapping the functions it calls: `hash_source` /
`read_source` (the first read, looked up in `daemon.convert.exporter`), then the names the CSV entry point
(`daemon.convert.csv.convert_csv`) calls: `csv_head` (the header), then on the careful path (small files)
`scan_csv` (the line scan) and `stream_csv` (typing and writing the temporary file), or on the fast path (a
clean file; the careful-path tests make it decline) `stream_fast`; what happens after `convert_csv` returns
is the check before the rename.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import msgspec
import pytest
from structlog.testing import capture_logs

import daemon.convert.csv
import daemon.convert.digest
import daemon.convert.exporter
from daemon.convert.writer import read_metadata
from daemon.service.loop import Counters, Service
from daemon.settings import Settings
from daemon.specs import QUERY_PERF
from tests import daemonproc
from tests.conftest import HEADER, Mounted, RunCli
from tests.csvconvert import convert_bytes
from tests.test_service import ScriptedSource, running, wait_for

DAY = "20251028"
Logs = list[MutableMapping[str, Any]]


def csv_bytes(n: int, tag: str) -> bytes:
    """A query_perf daily CSV for DAY with `n` valid rows whose query_hash is `<tag><i:04d>`."""
    start = dt.datetime(2025, 10, 28)
    lines = [HEADER]
    for i in range(n):
        ts = start + dt.timedelta(seconds=i * 60)
        lines.append(f"{ts.isoformat()}Z,{tag}{i:04d},SELECT,{i + 0.5},{i * 3},{i},true,orders,idx_a,1.0,0.5")
    return ("\n".join(lines) + "\n").encode()


def advisor_bytes(n: int, tag: str) -> bytes:
    """A dated index-advisor report with `n` recommendations on tables `<tag><i>`."""
    recommendations = ",".join(f'{{"table": "{tag}{i}", "index": "idx_{i}", "priority": "high"}}' for i in range(n))
    return f'{{"timestamp": "2025-10-28T03:00:00Z", "recommendations": [{recommendations}]}}'.encode()


def daily_source(settings: Settings) -> Path:
    return settings.reports_path / f"query_perf_daily_{DAY}.csv"


def daily_output(settings: Settings) -> Path:
    return daemonproc.daily_output(settings.root, DAY)


def advisor_output(settings: Settings) -> Path:
    return settings.output_path / "index_advisor" / "year=2025" / "month=10" / f"index_advisor_{DAY}.parquet"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tags(path: Path, column: str = "query_hash") -> set[str]:
    """The distinct tags (letters before the digits) of an output's `column`."""
    frame = daemonproc.parquet_rows(path)
    assert frame is not None, f"{path} does not exist"
    return {value.rstrip("0123456789") for value in frame[column].to_list()}


def rows_of(path: Path) -> int:
    frame = daemonproc.parquet_rows(path)
    return -1 if frame is None else frame.height


def leftovers(settings: Settings) -> list[Path]:
    """Every file under the output folder that is not a published `.parquet`."""
    return [p for p in settings.output_path.rglob("*") if p.is_file() and not p.name.endswith(".parquet")]


def events(logs: Logs, name: str) -> Logs:
    return [e for e in logs if e["event"] == name]


def run_once(settings: Settings) -> tuple[Counters, Logs]:
    """One in-process `run --once` (start-up sweep with retries), with the log events it emitted."""
    with capture_logs() as logs:
        counters = Service(settings, source=ScriptedSource()).run(once=True)
    assert [] == events(logs, "export.internal_error")
    return counters, logs


def replace_file(path: Path, data: bytes, *, keep_mtime: bool = False) -> None:
    """Replace `path` by a new file (write beside it, rename over it), as a producer or `cp -p` does."""
    old = os.stat(path)
    tmp = path.with_name(path.name + ".incoming")
    tmp.write_bytes(data)
    if keep_mtime:
        os.utime(tmp, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(tmp, path)


Hook = Callable[[], None]


def on_first_call(monkeypatch: pytest.MonkeyPatch, module: object, name: str, *, before: Hook, after: Hook) -> None:
    """Wrap `module.name` so that its first call runs `before()` first and `after()` once it returned or raised."""
    real = getattr(module, name)
    calls: list[int] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        first = len(calls) == 1
        if first:
            before()
        try:
            return real(*args, **kwargs)
        finally:
            if first:
                after()

    monkeypatch.setattr(module, name, wrapped)


def nothing() -> None:
    return None


# ------------------------------------------------------------------------------ read-only output
def test_read_only_output_folder_fails_clearly_and_keeps_the_old_outputs(
    root: Path, settings: Settings, output_tmpfs: Mounted, run_cli: RunCli
) -> None:
    """With the output folder read-only, `export` fails each changed input with "Read-only file system",
    leaves the previous outputs whole and untouched, and exports the new content once it is writable."""
    source = daily_source(settings)
    advisor = settings.optimize_path / f"index_advisor_report_{DAY}.json"
    source.write_bytes(csv_bytes(5, "old"))
    advisor.write_bytes(advisor_bytes(2, "old"))
    assert 0 == run_cli("export", "--historical", "--root", root).code
    before = {p: p.read_bytes() for p in (daily_output(settings), advisor_output(settings))}

    source.write_bytes(csv_bytes(7, "new"))
    advisor.write_bytes(advisor_bytes(3, "new"))
    output_tmpfs.remount("ro")
    result = run_cli("export", "--historical", "--json", "--root", root)
    assert 1 == result.code
    failed = result.json()["failed"]
    assert 2 == len(failed)
    assert all("Read-only file system" in f["error"] for f in failed), failed
    assert "Traceback" not in result.err
    assert before == {p: p.read_bytes() for p in before}
    assert [] == leftovers(settings)

    output_tmpfs.remount("rw")
    assert 0 == run_cli("export", "--historical", "--root", root).code
    assert ({"new"}, 7) == (tags(daily_output(settings)), rows_of(daily_output(settings)))
    assert ({"new"}, 3) == (tags(advisor_output(settings), "table_name"), rows_of(advisor_output(settings)))
    assert sha256(source.read_bytes()) == read_metadata(daily_output(settings))["source_sha256"]


def test_daemon_keeps_running_on_a_read_only_output_folder_and_exports_at_the_daily_sweep(
    fast_settings: Settings, output_tmpfs: Mounted
) -> None:
    """The daemon logs one OutputError for a file it cannot write (no retry storm), keeps running, and the
    next daily sweep exports the file once the folder is writable again."""
    output_tmpfs.remount("ro")
    source = daily_source(fast_settings)
    events_source = ScriptedSource()
    service = Service(fast_settings, source=events_source)
    with capture_logs() as logs, running(service, events_source):
        source.write_bytes(csv_bytes(5, "new"))
        events_source.push(source)
        wait_for(lambda: service.counters.failed == 1, what="the failed conversion")
        [failed] = events(logs, "export.failed")
        assert ("OutputError", 0) == (failed["error_type"], service.counters.retries)
        assert "Read-only file system" in failed["error"]
        output_tmpfs.remount("rw")
        service.request_sweep("scheduled")
        wait_for(lambda: service.counters.written == 1, what="the daily sweep's export")
    assert ({"new"}, 5) == (tags(daily_output(fast_settings)), rows_of(daily_output(fast_settings)))
    assert [] == events(logs, "export.internal_error")
    assert [] == leftovers(fast_settings)


# ---------------------------------------------------------------------------- unreadable source
def test_unreadable_sources_fail_with_permission_denied_and_the_others_are_exported(
    root: Path, settings: Settings, run_cli: RunCli, make_unreadable: Callable[[Path], None]
) -> None:
    """An unreadable CSV and JSON report each fail with "permission denied" (no traceback) and a readable
    report beside them is exported; once readable again, `export` converts them."""
    locked_csv = daily_source(settings)
    locked_json = settings.optimize_path / f"index_advisor_report_{DAY}.json"
    readable = settings.reports_path / "query_perf_daily_20251027.csv"
    locked_csv.write_bytes(csv_bytes(5, "old"))
    locked_json.write_bytes(advisor_bytes(2, "old"))
    readable.write_bytes(csv_bytes(4, "ok"))
    make_unreadable(locked_csv)
    make_unreadable(locked_json)
    result = run_cli("export", "--historical", "--json", "--root", root)
    assert 1 == result.code
    report = result.json()
    assert {str(p.relative_to(root)): "permission denied reading the source" for p in (locked_csv, locked_json)} == {
        f["source"]: f["error"] for f in report["failed"]
    }
    assert [str(readable.relative_to(root))] == [w["source"] for w in report["written"]]
    assert "Traceback" not in result.err


def test_unreadable_source_in_a_sweep_is_one_failure_without_retries(
    fast_settings: Settings, make_unreadable: Callable[[Path], None]
) -> None:
    """In the daemon's sweep an unreadable source is recorded as an UnreadableInput failure at once (retrying
    cannot help), and the sweep goes on to the next input."""
    source = daily_source(fast_settings)
    source.write_bytes(csv_bytes(5, "old"))
    other = fast_settings.reports_path / "query_perf_daily_20251029.csv"
    other.write_bytes(csv_bytes(3, "ok"))
    make_unreadable(source)
    counters, logs = run_once(fast_settings)
    assert (1, 1, 0) == (counters.written, counters.failed, counters.retries)
    [failed] = events(logs, "export.failed")
    assert ("UnreadableInput", "permission denied reading the source") == (failed["error_type"], failed["error"])
    assert not daily_output(fast_settings).exists()


# ------------------------------------------------------------------- deleted while being read
def delete_hook(settings: Settings) -> Hook:
    return lambda: daily_source(settings).unlink()


def careful_path_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the fast path decline every file, as it does any file with a bad row, so the careful path runs."""
    monkeypatch.setattr(daemon.convert.csv, "stream_fast", lambda *args, **kwargs: None)


@pytest.mark.parametrize(
    ("module", "name", "fast"),
    [
        (daemon.convert.csv, "csv_head", False),
        (daemon.convert.csv, "scan_csv", False),
        (daemon.convert.csv, "stream_csv", False),
        (daemon.convert.csv, "stream_fast", True),
    ],
    ids=["before-the-header", "before-the-line-scan", "before-the-value-scan", "fast-before-the-scan"],
)
def test_source_deleted_while_being_read_is_a_source_change_not_a_crash(
    fast_settings: Settings, monkeypatch: pytest.MonkeyPatch, module: object, name: str, fast: bool
) -> None:
    """A CSV deleted after it was hashed fails as SourceChanged (retried, then given up with "vanished"),
    never as an internal error, and leaves no output and no temporary file."""
    settings = msgspec.structs.replace(fast_settings, retry_attempts=2)
    daily_source(settings).write_bytes(csv_bytes(5, "old"))
    if not fast:
        careful_path_only(monkeypatch)
    on_first_call(monkeypatch, module, name, before=delete_hook(settings), after=nothing)
    counters, logs = run_once(settings)
    assert (0, 1, 1) == (counters.written, counters.failed, counters.retries)
    [failed] = events(logs, "export.failed")
    assert "SourceChanged" == failed["error_type"]
    assert "vanished" in failed["error"]
    assert not daily_output(settings).exists()
    assert [] == leftovers(settings)


def test_json_report_deleted_after_it_was_read_is_exported_from_the_bytes_read(
    fast_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JSON report is read whole once: deleting it afterwards still yields an output of exactly those
    bytes, whose footer names their hash."""
    advisor = fast_settings.optimize_path / f"index_advisor_report_{DAY}.json"
    data = advisor_bytes(3, "old")
    advisor.write_bytes(data)
    on_first_call(monkeypatch, daemon.convert.exporter, "read_source", before=nothing, after=advisor.unlink)
    counters, _ = run_once(fast_settings)
    assert (1, 0) == (counters.written, counters.failed)
    assert ({"old"}, 3) == (tags(advisor_output(fast_settings), "table_name"), rows_of(advisor_output(fast_settings)))
    assert sha256(data) == read_metadata(advisor_output(fast_settings))["source_sha256"]


# ----------------------------------------------------------------- truncated while being read
def expected_rows(data: bytes) -> tuple[int, int]:
    """(rows written, rows rejected) for CSV bytes, converted as an export converts them: the reference."""
    result = convert_bytes(data, QUERY_PERF, "Asia/Bangkok", "UTC")
    return result.good.height, result.bad.height


BEFORE_THE_SCAN = {
    "careful": (daemon.convert.csv, "scan_csv"),
    "fast": (daemon.convert.csv, "stream_fast"),
}


@pytest.mark.parametrize("path", sorted(BEFORE_THE_SCAN))
def test_source_truncated_while_being_read_is_retried_and_exports_what_remains(
    fast_settings: Settings, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """A CSV truncated mid-line after it was hashed is retried, and the output is exactly the truncated
    file's rows (the cut line rejected), with the truncated file's hash in its footer."""
    source = daily_source(fast_settings)
    data = csv_bytes(10, "old")
    source.write_bytes(data)
    cut = data[: data.index(b"old0006") + 3]

    def truncate() -> None:
        with source.open("r+b") as fh:
            fh.truncate(len(cut))

    if path == "careful":
        careful_path_only(monkeypatch)
    on_first_call(monkeypatch, *BEFORE_THE_SCAN[path], before=truncate, after=nothing)
    counters, logs = run_once(fast_settings)
    assert (1, 0) == (counters.written, counters.failed)
    assert 1 <= counters.retries
    assert any("changed while" in e["error"] for e in events(logs, "export.retry"))
    assert (6, 1) == expected_rows(cut)
    assert ((6, 1), {"old"}) == ((counters.rows_written, counters.rows_rejected), tags(daily_output(fast_settings)))
    assert sha256(cut) == read_metadata(daily_output(fast_settings))["source_sha256"]


@pytest.mark.parametrize("path", sorted(BEFORE_THE_SCAN))
def test_source_rewritten_in_place_during_conversion_exports_the_finished_file(
    fast_settings: Settings, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """A producer that truncates and rewrites a CSV in place while it is converted (the scan sees half a
    header) makes the attempt a retried source change, not a permanent schema failure: the finished file is
    exported."""
    source = daily_source(fast_settings)
    source.write_bytes(csv_bytes(5, "old"))
    new = csv_bytes(8, "new")

    def truncate() -> None:
        with source.open("r+b") as fh:
            fh.truncate(40)  # half the header: "missing required column(s)" if taken at face value

    if path == "careful":
        careful_path_only(monkeypatch)
    on_first_call(monkeypatch, *BEFORE_THE_SCAN[path], before=truncate, after=lambda: source.write_bytes(new))
    counters, logs = run_once(fast_settings)
    assert (1, 0) == (counters.written, counters.failed)
    assert [] == events(logs, "export.failed")
    assert ({"new"}, 8) == (tags(daily_output(fast_settings)), rows_of(daily_output(fast_settings)))
    assert sha256(new) == read_metadata(daily_output(fast_settings))["source_sha256"]


# ------------------------------------------------------------------ replaced during conversion
REPLACE_POINTS = {  # (module, function, before or after its first call, on the fast path)
    "before-the-header": (daemon.convert.csv, "csv_head", "before", False),
    "before-the-line-scan": (daemon.convert.csv, "scan_csv", "before", False),
    "before-the-value-scan": (daemon.convert.csv, "stream_csv", "before", False),
    "before-the-rename": (daemon.convert.exporter, "convert_csv", "after", False),
    "fast-before-the-header": (daemon.convert.csv, "csv_head", "before", True),
    "fast-before-the-scan": (daemon.convert.csv, "stream_fast", "before", True),
    "fast-before-the-rename": (daemon.convert.exporter, "convert_csv", "after", True),
}


@pytest.mark.parametrize("keep_mtime", [False, True], ids=["new-mtime", "same-size-and-mtime"])
@pytest.mark.parametrize("point", sorted(REPLACE_POINTS))
def test_source_replaced_during_conversion_is_reexported_with_the_new_content(
    fast_settings: Settings, monkeypatch: pytest.MonkeyPatch, point: str, keep_mtime: bool
) -> None:
    """A CSV replaced between hashing and publishing, even by a file of the same size and mtime (`cp -p`),
    is retried: the output holds only the new rows and its footer names the new content's hash."""
    source = daily_source(fast_settings)
    old, new = csv_bytes(6, "old"), csv_bytes(6, "new")
    assert len(old) == len(new)
    source.write_bytes(old)
    module, name, when, fast = REPLACE_POINTS[point]
    if not fast:
        careful_path_only(monkeypatch)

    def replace() -> None:
        replace_file(source, new, keep_mtime=keep_mtime)

    hooks = {"before": replace, "after": nothing} if when == "before" else {"before": nothing, "after": replace}
    on_first_call(monkeypatch, module, name, **hooks)
    counters, _ = run_once(fast_settings)
    assert (1, 0) == (counters.written, counters.failed)
    assert 1 <= counters.retries
    output = daily_output(fast_settings)
    assert ({"new"}, 6) == (tags(output), rows_of(output))
    assert sha256(new) == read_metadata(output)["source_sha256"]
    assert [] == leftovers(fast_settings)


def test_json_report_replaced_after_it_was_read_is_exported_again_with_the_new_content(
    fast_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JSON report replaced right after it was read yields an output of the old bytes (its footer says
    so), and the next sweep sees the change and re-exports the new content."""
    advisor = fast_settings.optimize_path / f"index_advisor_report_{DAY}.json"
    old, new = advisor_bytes(2, "old"), advisor_bytes(4, "new")
    advisor.write_bytes(old)
    on_first_call(
        monkeypatch, daemon.convert.exporter, "read_source", before=nothing, after=lambda: replace_file(advisor, new)
    )
    first, _ = run_once(fast_settings)
    output = advisor_output(fast_settings)
    assert (1, {"old"}, 2) == (first.written, tags(output, "table_name"), rows_of(output))
    assert sha256(old) == read_metadata(output)["source_sha256"]
    second, _ = run_once(fast_settings)
    assert (1, {"new"}, 4) == (second.written, tags(output, "table_name"), rows_of(output))
    assert sha256(new) == read_metadata(output)["source_sha256"]


# ------------------------------------------------------------------------ not a regular file
def test_fifo_named_like_an_input_never_blocks_the_daemon(fast_settings: Settings) -> None:
    """A named pipe (or a directory) called like a report is ignored as discovery ignores it: opening it would
    block the single worker until conversion_timeout, but a real report written after it converts at once."""
    settings = msgspec.structs.replace(fast_settings, conversion_timeout=5.0)
    fifo = settings.reports_path / "query_perf_daily_20251027.csv"
    os.mkfifo(fifo)
    folder = settings.reports_path / "query_perf_daily_20251026.csv"
    folder.mkdir()
    source = daily_source(settings)
    events_source = ScriptedSource()
    service = Service(settings, source=events_source)
    with capture_logs() as logs, running(service, events_source):
        events_source.push(fifo)
        events_source.push(folder)
        source.write_bytes(csv_bytes(5, "new"))
        events_source.push(source)
        wait_for(lambda: service.counters.written == 1, timeout=2, what="the real report, not stuck behind the FIFO")
    assert (0, 0) == (service.counters.failed, service.counters.retries)
    assert [] == events(logs, "export.failed")
