"""The settle logic with a fake clock and a fake `stat`: when a written file counts as finished."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.service.watcher import Settler, Signature, stat_signature

SETTLE = 1.0
A = Path("/reports/query_perf_daily_20251028.csv")
B = Path("/reports/query_perf_daily_20251029.csv")


class FakeClock:
    """A monotonic clock that only moves when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeStat:
    """`stat` over a dict of path -> (size, mtime_ns); a missing path is a vanished file."""

    def __init__(self) -> None:
        self.files: dict[Path, Signature] = {}
        self.calls = 0

    def __call__(self, path: Path) -> Signature | None:
        self.calls += 1
        return self.files.get(path)

    def write(self, path: Path, size: int, clock: FakeClock) -> None:
        self.files[path] = (size, int(clock.now * 1e9))


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at t = 0."""
    return FakeClock()


@pytest.fixture
def stat() -> FakeStat:
    """A fake file system with no files."""
    return FakeStat()


@pytest.fixture
def settler(clock: FakeClock, stat: FakeStat) -> Settler:
    """A settler with a one-second settle time over the fake clock and stat."""
    return Settler(SETTLE, clock, stat)


def test_ready_only_after_signature_held_still(settler: Settler, clock: FakeClock, stat: FakeStat) -> None:
    """A touched file is not ready before settle_seconds and is ready (once) at settle_seconds."""
    stat.write(A, 100, clock)
    settler.touch(A)
    clock.advance(SETTLE - 0.01)
    assert ([], []) == settler.poll()
    clock.advance(0.01)
    assert ([A], []) == settler.poll()
    assert 0 == len(settler)
    clock.advance(10)
    assert ([], []) == settler.poll()


def test_change_seen_by_poll_restarts_the_settle_time(settler: Settler, clock: FakeClock, stat: FakeStat) -> None:
    """A size/mtime change noticed by poll() (no event needed) restarts the wait from that moment."""
    stat.write(A, 100, clock)
    settler.touch(A)
    clock.advance(0.8)
    stat.write(A, 200, clock)
    assert ([], []) == settler.poll()
    clock.advance(SETTLE - 0.01)
    assert ([], []) == settler.poll()
    clock.advance(0.01)
    assert ([A], []) == settler.poll()


def test_change_seen_by_touch_restarts_the_settle_time(settler: Settler, clock: FakeClock, stat: FakeStat) -> None:
    """An event for a file whose stat changed restarts the wait from the event."""
    stat.write(A, 100, clock)
    settler.touch(A)
    clock.advance(0.75)
    stat.write(A, 150, clock)
    settler.touch(A)
    clock.advance(0.5)
    assert ([], []) == settler.poll()
    clock.advance(0.5)
    assert ([A], []) == settler.poll()


def test_events_without_a_change_do_not_postpone(settler: Settler, clock: FakeClock, stat: FakeStat) -> None:
    """Repeated events for an unchanged file keep the original start, so the file is not starved."""
    stat.write(A, 100, clock)
    settler.touch(A)
    for _ in range(7):
        clock.advance(0.125)
        settler.touch(A)
    clock.advance(0.125)
    assert ([A], []) == settler.poll()


@pytest.mark.parametrize("with_events", [True, False], ids=["events-per-chunk", "no-events"])
def test_chunked_writer_is_never_ready_mid_write(
    settler: Settler, clock: FakeClock, stat: FakeStat, with_events: bool
) -> None:
    """A writer adding a chunk every 0.6 s (less than settle) is only ready one settle after its last chunk."""
    stat.write(A, 0, clock)
    settler.touch(A)
    ready_at: list[float] = []
    last_chunk = 0.0
    for step in range(1, 101):  # 10 s in 0.1 s polls
        clock.now = round(step * 0.1, 6)
        if step % 6 == 0 and step <= 60:  # chunks at 0.6 s ... 6.0 s
            stat.write(A, 1000 * step, clock)
            last_chunk = clock.now
            if with_events:
                settler.touch(A)
        ready, vanished = settler.poll()
        assert [] == vanished
        if ready:
            ready_at.append(clock.now)
    assert [pytest.approx(last_chunk + SETTLE)] == ready_at
    assert (60_000, int(6.0 * 1e9)) == stat.files[A]


def test_burst_of_200_touches_is_one_ready_path(settler: Settler, clock: FakeClock, stat: FakeStat) -> None:
    """200 events on one path (as FSEvents or inotify deliver for one save) yield exactly one ready path."""
    stat.write(A, 100, clock)
    for _ in range(200):
        settler.touch(A)
    assert 1 == len(settler)
    clock.advance(SETTLE)
    assert ([A], []) == settler.poll()
    assert ([], []) == settler.poll()


def test_burst_spread_over_time_with_changes_is_one_ready_path(
    settler: Settler, clock: FakeClock, stat: FakeStat
) -> None:
    """200 events over 2 s with the file growing each time still end as one ready path, after the last change."""
    ready: list[Path] = []
    for i in range(200):
        clock.advance(0.01)
        stat.write(A, 10 * (i + 1), clock)
        settler.touch(A)
        ready += settler.poll()[0]
    assert [] == ready
    clock.advance(SETTLE)
    assert ([A], []) == settler.poll()


def test_vanished_path_is_reported_and_forgotten(settler: Settler, clock: FakeClock, stat: FakeStat) -> None:
    """A pending path whose file disappeared is reported as vanished once, never as ready."""
    stat.write(A, 100, clock)
    stat.write(B, 100, clock)
    settler.touch(A)
    settler.touch(B)
    del stat.files[A]
    clock.advance(SETTLE)
    assert ([B], [A]) == settler.poll()
    assert ([], []) == settler.poll()


def test_file_appearing_after_the_event_settles_from_its_appearance(
    settler: Settler, clock: FakeClock, stat: FakeStat
) -> None:
    """An event that arrives before the file exists settles from when poll() first sees the file."""
    settler.touch(A)
    clock.advance(0.5)
    stat.write(A, 100, clock)
    assert ([], []) == settler.poll()
    clock.advance(SETTLE)
    assert ([A], []) == settler.poll()


def test_forget_drops_a_pending_path(settler: Settler, clock: FakeClock, stat: FakeStat) -> None:
    """forget() removes a path so it is neither ready nor vanished later."""
    stat.write(A, 100, clock)
    settler.touch(A)
    settler.forget(A)
    settler.forget(B)  # forgetting an unknown path is fine
    clock.advance(SETTLE)
    assert ([], []) == settler.poll()


def test_next_due(settler: Settler, clock: FakeClock, stat: FakeStat) -> None:
    """next_due() is None when idle, else the time until the earliest path could be ready (never negative)."""
    assert settler.next_due() is None
    stat.write(A, 100, clock)
    settler.touch(A)
    assert pytest.approx(SETTLE) == settler.next_due()
    clock.advance(0.4)
    stat.write(B, 100, clock)
    settler.touch(B)
    assert pytest.approx(0.6) == settler.next_due()
    clock.advance(0.6)
    assert pytest.approx(0.0) == settler.next_due()
    clock.advance(5)
    assert 0.0 == settler.next_due()
    assert ([A, B], []) == settler.poll()
    assert settler.next_due() is None


def test_zero_settle_is_ready_on_the_next_poll(clock: FakeClock, stat: FakeStat) -> None:
    """settle_seconds = 0 makes a stable file ready on the first poll."""
    settler = Settler(0.0, clock, stat)
    stat.write(A, 1, clock)
    settler.touch(A)
    assert ([A], []) == settler.poll()


def test_stat_signature_of_real_files(tmp_path: Path) -> None:
    """stat_signature() is (size, mtime_ns) of an existing file and None for a missing one."""
    path = tmp_path / "x.csv"
    path.write_bytes(b"abc")
    st = path.stat()
    assert (3, st.st_mtime_ns) == stat_signature(path)
    assert stat_signature(tmp_path / "missing.csv") is None
