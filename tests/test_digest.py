"""The source digest (SHA-256 and separator count, see daemon/convert/digest.py): on a thread, in a child forked before
polars loads, or in the program's spare child, the figures are the same, errors cross the pipe, a change
between the request and the read is seen, and no child is left behind."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.convert import digest as digest_module
from daemon.convert.digest import Digest, Prefetched, Spare, file_version
from tests.conftest import HEADER

ROW = '2025-10-28T00:00:00Z,h1,SELECT,1.5,10,1,true,"t, with comma",idx,0.5,0.25\n'


def write_source(path: Path, rows: int) -> bytes:
    data = (HEADER + "\n" + ROW * rows).encode()
    path.write_bytes(data)
    return data


def reaped(pid: int) -> bool:
    """True when `pid` is no child of this process any more (it was waited for)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_a_forked_digest_gives_the_threads_figures(tmp_path: Path) -> None:
    """Hash, separator count (commas outside quotes), version and `changed` agree with the thread's."""
    path = tmp_path / "source.csv"
    data = write_source(path, 20_000)
    forked = Digest.fork(path)
    assert forked._child is not None
    pid = forked._child[0]
    threaded = Digest.start(path).wait()
    forked.wait()
    assert forked.error is None
    assert not forked.changed
    assert forked.sha256 == threaded.sha256 == hashlib.sha256(data).hexdigest()
    assert forked.separators == threaded.separators == 10 * 20_001
    assert forked.version == threaded.version == file_version(os.stat(path))
    assert reaped(pid)
    assert forked.wait() is forked  # asked again (each figure asks): the same figures, no second read


def test_a_forked_digests_read_error_crosses_the_pipe_with_its_type(tmp_path: Path) -> None:
    """The child's OSError comes back as the same subclass (the exporter maps them to different errors)."""
    folder = tmp_path / "not-a-file.csv"
    folder.mkdir()
    forked = Digest.fork(folder).wait()
    assert isinstance(forked.error, IsADirectoryError)


def test_a_child_that_dies_silent_is_replaced_by_a_read_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the child writes nothing (it died), the parent reads the file itself: the figures are still right."""
    path = tmp_path / "source.csv"
    data = write_source(path, 100)

    def die(_: Digest) -> dict[str, object]:
        raise SystemExit  # in the child, before it writes a byte

    monkeypatch.setattr(Digest, "_figures", die)
    forked = Digest.fork(path).wait()
    assert forked.sha256 == hashlib.sha256(data).hexdigest()
    assert forked.separators == 10 * 101


def test_prefetched_hands_out_a_digest_once_and_only_for_an_unchanged_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file rewritten after the fork gets no prefetched digest (its child is stopped and reaped), an unchanged
    one gets its digest once, and `close()` reaps the children nobody took."""
    monkeypatch.setattr(digest_module, "PREFETCH_MIN_BYTES", 1)
    monkeypatch.delitem(sys.modules, "polars")  # as in the CLI before polars loads (the guard is tested below)
    kept, rewritten, untaken = (tmp_path / f"{name}.csv" for name in ("kept", "rewritten", "untaken"))
    for path in (kept, rewritten, untaken):
        write_source(path, 1_000)
    prefetched = Prefetched.fork([kept, rewritten, untaken, tmp_path / "missing.csv"])
    pids = {path: d._child[0] for path, d in prefetched._digests.items() if d._child is not None}
    assert set(pids) == {kept, rewritten, untaken}
    write_source(rewritten, 1_001)
    assert prefetched.take(rewritten) is None
    assert reaped(pids[rewritten])
    taken = prefetched.take(kept)
    assert taken is not None
    assert taken.wait().sha256 == hashlib.sha256(kept.read_bytes()).hexdigest()
    assert prefetched.take(kept) is None
    prefetched.close()
    assert reaped(pids[kept])
    assert reaped(pids[untaken])


def test_no_fork_once_polars_is_loaded_or_for_small_or_too_many_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With polars loaded (as here) nothing is forked: its threads make fork unsafe and there is nothing to
    overlap. Nor for files under PREFETCH_MIN_BYTES, or more than PREFETCH_MAX_FILES of them."""
    assert "polars" in sys.modules
    large, small = tmp_path / "large.csv", tmp_path / "small.csv"
    write_source(large, 20_000)
    write_source(small, 10)
    assert large.stat().st_size >= digest_module.PREFETCH_MIN_BYTES > small.stat().st_size
    assert Prefetched.fork([large])._digests == {}
    assert Spare.fork() is None
    monkeypatch.delitem(sys.modules, "polars")
    assert Prefetched.fork([small])._digests == {}
    assert Prefetched.fork([large] * (digest_module.PREFETCH_MAX_FILES + 1))._digests == {}
    with Prefetched.fork([large]) as prefetched:  # and the one case that forks, for contrast
        assert list(prefetched._digests) == [large]


def test_the_program_hands_a_large_source_to_its_spare_child_and_the_footer_carries_the_hash(root: Path) -> None:
    """`parquet-exporter export --date` of a 2 MB daily CSV: the program forks its spare before click or polars
    load, the export hands it the source (no second fork), the output's footer has the file's SHA-256, and the
    export is the fast path's (no rejects)."""
    source = root / "g/reports/query_perf_daily_20251028.csv"
    data = write_source(source, 20_000)
    record = root / "calls.jsonl"
    program = (
        "import json, sys\n"
        "from daemon.convert import digest\nfrom daemon.cli import program\n"
        "record = sys.argv[1]\n"
        "def note(*what):\n"
        "    with open(record, 'a') as out:\n"
        "        out.write(json.dumps([*what, 'polars' in sys.modules, 'click' in sys.modules]) + '\\n')\n"
        "spare_fork, assign, fork = digest.Spare.fork.__func__, digest.Spare.assign, digest.Digest.fork.__func__\n"
        "digest.Spare.fork = classmethod(lambda cls: (note('spare'), spare_fork(cls))[1])\n"
        "digest.Spare.assign = lambda self, path: (note('assign', str(path)), assign(self, path))[1]\n"
        "digest.Digest.fork = classmethod(lambda cls, path, spare=None: (note('fork'), fork(cls, path, spare))[1])\n"
        "sys.argv = ['parquet-exporter', *sys.argv[2:]]\n"
        "program.entry()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, str(record), "export", "--root", str(root), "--date", "2025-10-28", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (0, "") == (done.returncode, done.stderr)
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert [["spare", False, False], ["fork", False, True], ["assign", str(source), False, True]] == calls
    written = json.loads(done.stdout)["written"][0]
    assert (20_000, 0) == (written["rows_written"], written["rows_rejected"])
    import polars as pl

    footer = pl.read_parquet_metadata(root / written["output"])
    assert hashlib.sha256(data).hexdigest() == footer["parquet_exporter.source_sha256"]


def test_a_spare_forked_before_polars_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As the program does it (polars not loaded yet): the spare's figures are the thread's, and a used spare
    gives no second child; an unused spare is killed and reaped at once (it may still be loading NumPy)."""
    monkeypatch.delitem(sys.modules, "polars")
    path = tmp_path / "source.csv"
    data = write_source(path, 5_000)
    spare = Spare.fork()
    assert spare is not None
    forked = Digest.fork(path, spare)
    assert forked._child is not None
    assert spare.assign(path) is None
    pid = forked._child[0]
    forked.wait()
    assert (forked.sha256, forked.separators) == (hashlib.sha256(data).hexdigest(), 10 * 5_001)
    assert not forked.changed
    assert reaped(pid)
    unused = Spare.fork()
    assert unused is not None
    assert unused._child is not None
    unused_pid = unused._child[0]
    unused.close()
    assert reaped(unused_pid)


def test_a_file_changed_between_the_request_and_the_spares_read_is_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spare stats the file when it starts reading; a version other than the one stat'ed when the digest
    was asked for makes the digest `changed` (the exporter then retries, as for a change during the read)."""
    monkeypatch.delitem(sys.modules, "polars")
    path = tmp_path / "source.csv"
    write_source(path, 100)
    spare = Spare.fork()
    assert spare is not None
    digest = Digest(path)  # stat'ed now, as `Digest.fork` does
    write_source(path, 101)
    child = spare.assign(path)
    assert child is not None
    digest._forked, digest._child = True, child
    assert digest.wait().changed
